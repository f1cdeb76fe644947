/** What each figure means, shown on the report page and in the JSON (ChartMogul's and Stripe's definitions). */
export const definitions = {
  gross:
    'Gross donations: every successful payment, at the date it was paid, before refunds, disputes and fees.',
  refunds:
    'Refunds: money we paid back, at the date of the refund (each linked to its original payment in the export).',
  disputes:
    'Disputes: chargebacks decided against us, at the date of the decision, net of disputes later won (reversals). Open disputes and inquiries that closed move no money.',
  fees: 'Provider fees: what Stripe (balance transaction fee) and PayPal (PayPal fee) charged, as they reported it.',
  net: 'Net: gross − refunds − disputes (net) − fees.',
  mrr: 'MRR: the monthly amount of every paying monthly subscription of both providers (yearly prices ÷ 12, quantity and interval honoured). A past-due subscription counts for at most the configured grace days; a cancelled one until the end of the period paid for.',
  movements:
    'MRR movements: new (first paying month), expansion and contraction (amount changes), churn (a subscription stops paying: at the end of the paid period, or when past due beyond the grace days), reactivation (a churned subscription pays again).',
  active: 'Active recurring supporters: paying monthly subscriptions at the end of the day.',
  supporterChurn: 'Supporter churn rate: subscriptions churned in the period ÷ active at its start.',
  grossMrrChurn: 'Gross MRR churn: (churn + contraction) ÷ MRR at the start of the period.',
  netMrrChurn:
    'Net MRR churn: (churn + contraction − expansion − reactivation) ÷ MRR at the start; negative when growth outweighs losses.',
  arpu: 'ARPU: MRR ÷ active recurring supporters, at the end of the period.',
  involuntary:
    'Involuntary churn: MRR lost to failed renewals (past due beyond the grace days); recovered: the part of it that paid again later.',
  pendingChurn:
    'Pending churn: cancellations already made that take effect after the period (at the end of what was paid for).',
  attribution:
    'By article: payments and new supporters whose donation started from the panel under that article.',
  converted:
    'Converted total: a secondary figure only, at the configured rate; the per-currency figures are the record.',
} as const;
