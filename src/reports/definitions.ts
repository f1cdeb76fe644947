/**
 * What each figure means, shown on the report page and in the JSON. The wording follows
 * ChartMogul's and Stripe's definitions, so finance recognises them; where we differ, it says so.
 */
export const definitions = {
  gross:
    'Gross donations: every successful payment, on the day it was paid, before refunds, disputes and fees.',
  refunds:
    'Refunds: money paid back, on the day of the refund (the export links each to its original payment).',
  disputes:
    'Disputes: chargebacks decided against us, on the day of the decision, net of disputes we later won (reversals). Open disputes and inquiries that closed move no money.',
  fees: 'Provider fees: what Stripe (balance transaction fee) and PayPal (PayPal fee) charged, as they reported it, on the day of the movement they belong to.',
  net: 'Net: gross − refunds − disputes (net) − fees.',
  newSupporters: 'New supporters: people whose first payment ever fell in the period.',
  mrr: 'MRR: the monthly amount of every paying monthly subscription of both providers (a yearly price ÷ 12; quantity and interval count honoured). A past-due subscription counts for at most the configured grace days; a cancelled one until the end of the period paid for.',
  movements:
    'MRR movements: new (first paying month), expansion and contraction (amount changes), churn (a subscription stops paying: at the end of the paid period, or when past due beyond the grace days), reactivation (a churned subscription pays again).',
  active:
    'Active recurring supporters: paying monthly subscriptions at the end of the period (a supporter with two subscriptions counts twice).',
  supporterChurn: 'Supporter churn rate: subscriptions churned in the period ÷ active at its start.',
  grossMrrChurn: 'Gross MRR churn: (churn + contraction) ÷ MRR at the start of the period.',
  netMrrChurn:
    'Net MRR churn: (churn + contraction − expansion − reactivation) ÷ MRR at the start; negative when growth outweighs losses.',
  arpu: 'ARPU: MRR ÷ active recurring supporters, at the end of the period.',
  involuntary:
    'Involuntary churn: MRR lost to failed renewals (past due beyond the grace days); recovered: MRR of such subscriptions that paid again, in the period.',
  pendingChurn:
    'Pending churn: cancellations already made that take effect after today (churn is recorded at the end of what was paid for); shown apart: past-due subscriptions whose grace runs out after today unless they pay.',
  kinds:
    'One-off and monthly: by the plan the donation was started with; other: payments whose plan we did not start (created at the provider).',
  attribution:
    'By article: payments and new supporters whose donation started from the panel under that article; conversion = those payments ÷ the article’s page views in the period, where views were counted (no cookie, no identifier).',
  converted:
    'Converted totals: secondary figures only, at the configured rate, naming its source and date; the per-currency figures are the record.',
  period:
    'Days are calendar days in the chosen time zone; a period that ends after today ends today. Payments on a day are those whose provider time falls in it.',
} as const;
