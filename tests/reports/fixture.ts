/**
 * A small ledger whose November 2026 figures are worked out by hand (below, beside each fact),
 * applied through the ledger service as the providers' facts would be: one-off payments from
 * articles' panels, refunds (one of an October payment), a dispute lost and won back, one lost
 * for good, two currencies, a plan change up and one down, a failed renewal later recovered,
 * a cancellation within the month and a scheduled one after "today" (10 December 2026).
 *
 * Every fact is at 12:00 UTC (the same day in New York) except P0, paid on 1 December at 03:00
 * UTC: still 30 November in New York.
 */
import type { PaymentFact, PaymentSucceeded, SubscriptionMoved } from '../../src/payments/types.js';
import type { Runtime } from '../../src/runtime.js';
import { Checkout } from '../helpers/ledger.js';

export const TODAY = new Date('2026-12-10T12:00:00Z');
export const NOVEMBER = { from: '2026-11-01', to: '2026-11-30' };
export const ARTICLE_A = 'coastal-marsh-returns-after-sea-wall-is-opened';
export const ARTICLE_B = 'city-budget-vote';

const at = (day: string, time = '12:00:00') => new Date(`${day}T${time}Z`);
let refs = 0;

async function checkout(
  provider: 'stripe' | 'paypal',
  planId: string,
  interval: 'once' | 'month',
  amountMinor: number,
  currency: string,
  articleSlug: string,
): Promise<string> {
  refs += 1;
  const doc = await Checkout.create({
    planId,
    interval,
    provider,
    amountMinor,
    currency,
    ref: `fixture-ref-${refs}-abcdefghijklmnop`,
    providerRef: `fixture-provider-ref-${refs}`,
    state: 'redirected',
    articleSlug,
  });
  return String(doc._id);
}

const pay = (
  p: Partial<PaymentSucceeded> & Pick<PaymentSucceeded, 'paymentId' | 'provider' | 'amount' | 'occurredAt'>,
): PaymentSucceeded => ({
  type: 'payment.succeeded',
  kind: 'one_off',
  payer: {},
  ...p,
});

const move = (
  provider: 'stripe' | 'paypal',
  subscriptionId: string,
  status: SubscriptionMoved['status'],
  occurredAt: Date,
  extra: Partial<SubscriptionMoved> = {},
): SubscriptionMoved => ({
  type: 'subscription.moved',
  provider,
  subscriptionId,
  status,
  occurredAt,
  ...extra,
});

const usd = (amountMinor: number) => ({ amountMinor, currency: 'USD' });
const eur = (amountMinor: number) => ({ amountMinor, currency: 'EUR' });

/** Applies the fixture; answers the facts in the order applied (the CSV test compares against them). */
export async function applyFixture(runtime: Runtime): Promise<PaymentFact[]> {
  const facts: PaymentFact[] = [];
  const apply = async (fact: PaymentFact) => {
    facts.push(fact);
    const outcome = await runtime.ledger.apply(fact);
    if (outcome.result === 'waiting') throw new Error(`fixture fact waits: ${JSON.stringify(fact)}`);
  };
  const monthly = { kind: 'recurring' as const, planId: 'monthly-supporter' };

  // ---- October: four subscriptions start (USD MRR 2400 from 3 subscriptions, EUR 2000 from 1).
  await apply(
    move('stripe', 'sub_S1', 'active', at('2026-10-05'), {
      amount: usd(1000),
      planId: 'monthly-supporter',
      payer: { email: 'dana@example.com' },
    }),
  );
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'in_S1_oct',
      amount: usd(1000),
      occurredAt: at('2026-10-05'),
      subscriptionId: 'sub_S1',
      payer: { email: 'dana@example.com' },
      ...monthly,
    }),
  );
  await apply(
    move('paypal', 'I-S2', 'active', at('2026-10-10'), {
      amount: usd(800),
      planId: 'monthly-supporter',
      payer: { email: 'eli@example.com' },
    }),
  );
  await apply(
    pay({
      provider: 'paypal',
      paymentId: 'SALE-S2-oct',
      amount: usd(800),
      occurredAt: at('2026-10-10'),
      subscriptionId: 'I-S2',
      payer: { email: 'eli@example.com' },
      ...monthly,
    }),
  );
  await apply(
    move('stripe', 'sub_S3', 'active', at('2026-10-15'), {
      amount: eur(2000),
      planId: 'monthly-supporter',
      payer: { email: 'fran@example.com' },
    }),
  );
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'in_S3_oct',
      amount: eur(2000),
      occurredAt: at('2026-10-15'),
      subscriptionId: 'sub_S3',
      payer: { email: 'fran@example.com' },
      ...monthly,
    }),
  );
  await apply(
    move('stripe', 'sub_S4', 'active', at('2026-10-20'), {
      amount: usd(600),
      planId: 'monthly-supporter',
      payer: { email: 'gus@example.com' },
    }),
  );
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'in_S4_oct',
      amount: usd(600),
      occurredAt: at('2026-10-20'),
      subscriptionId: 'sub_S4',
      payer: { email: 'gus@example.com' },
      ...monthly,
    }),
  );

  // ---- November, USD.
  // P1: one-off 5000 from article A (Stripe fee 175), reader Ava new; 1000 of it refunded on the 16th.
  const c1 = await checkout('stripe', 'contributor', 'once', 5000, 'USD', ARTICLE_A);
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'pi_P1',
      amount: usd(5000),
      fee: usd(175),
      occurredAt: at('2026-11-02'),
      checkoutId: c1,
      payer: { email: 'ava@example.com' },
    }),
  );
  // The October payment of S1 refunded in part (500), on 3 November: counts in November.
  await apply({
    type: 'payment.refunded',
    provider: 'stripe',
    paymentId: 'in_S1_oct',
    refund: { id: 're_S1_oct', amount: usd(500) },
    occurredAt: at('2026-11-03'),
  });
  // S4 lowers its amount 600 → 400 (contraction 200).
  await apply(move('stripe', 'sub_S4', 'active', at('2026-11-03'), { amount: usd(400) }));
  // S1 renews (fee 59), then raises its amount 1000 → 1500 (expansion 500).
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'in_S1_nov',
      amount: usd(1000),
      fee: usd(59),
      occurredAt: at('2026-11-05'),
      subscriptionId: 'sub_S1',
      payer: { email: 'dana@example.com' },
      ...monthly,
    }),
  );
  await apply(move('stripe', 'sub_S4', 'cancelled', at('2026-11-06'), { endsAt: at('2026-11-20') }));
  await apply(move('stripe', 'sub_S1', 'active', at('2026-11-10'), { amount: usd(1500) }));
  // S2's renewal fails on the 10th: past due, counted for 14 days, churned (involuntary) on the 24th.
  await apply(move('paypal', 'I-S2', 'past_due', at('2026-11-10')));
  // P2: one-off 2500 by PayPal from article B (fee 100), reader Ben new; disputed, lost on the 20th
  // (dispute fee 1500), won back on the 28th.
  const c2 = await checkout('paypal', 'contributor', 'once', 2500, 'USD', ARTICLE_B);
  await apply(
    pay({
      provider: 'paypal',
      paymentId: 'CAP-P2',
      amount: usd(2500),
      fee: usd(100),
      occurredAt: at('2026-11-12'),
      checkoutId: c2,
      payer: { email: 'ben@example.com' },
    }),
  );
  await apply({
    type: 'payment.refunded',
    provider: 'stripe',
    paymentId: 'pi_P1',
    refund: { id: 're_P1', amount: usd(1000) },
    occurredAt: at('2026-11-16'),
  });
  await apply({
    type: 'payment.disputed',
    provider: 'paypal',
    paymentId: 'CAP-P2',
    disputeId: 'PP-D-P2',
    status: 'open',
    amount: usd(2500),
    occurredAt: at('2026-11-14'),
  });
  await apply({
    type: 'payment.disputed',
    provider: 'paypal',
    paymentId: 'CAP-P2',
    disputeId: 'PP-D-P2',
    status: 'lost',
    amount: usd(2500),
    fee: usd(1500),
    occurredAt: at('2026-11-20'),
  });
  await apply({
    type: 'payment.disputed',
    provider: 'paypal',
    paymentId: 'CAP-P2',
    disputeId: 'PP-D-P2',
    status: 'won',
    amount: usd(2500),
    occurredAt: at('2026-11-28'),
  });
  // S5: new monthly support from article A's panel, 700 by PayPal (fee 30), reader Hal new.
  const c5 = await checkout('paypal', 'monthly-supporter', 'month', 700, 'USD', ARTICLE_A);
  await apply(
    move('paypal', 'I-S5', 'active', at('2026-11-22'), {
      amount: usd(700),
      checkoutId: c5,
      payer: { email: 'hal@example.com' },
    }),
  );
  await apply(
    pay({
      provider: 'paypal',
      paymentId: 'SALE-S5-nov',
      amount: usd(700),
      fee: usd(30),
      occurredAt: at('2026-11-22'),
      subscriptionId: 'I-S5',
      checkoutId: c5,
      payer: { email: 'hal@example.com' },
      kind: 'recurring',
    }),
  );
  // S2 pays again on the 27th: reactivation, recovered from involuntary churn.
  await apply(
    pay({
      provider: 'paypal',
      paymentId: 'SALE-S2-nov',
      amount: usd(800),
      occurredAt: at('2026-11-27'),
      subscriptionId: 'I-S2',
      payer: { email: 'eli@example.com' },
      ...monthly,
    }),
  );

  // ---- November, EUR.
  // S3 renews (fee 80) and schedules its cancellation for 15 December: pending churn of 2000.
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'in_S3_nov',
      amount: eur(2000),
      fee: eur(80),
      occurredAt: at('2026-11-15'),
      subscriptionId: 'sub_S3',
      payer: { email: 'fran@example.com' },
      ...monthly,
    }),
  );
  await apply(move('stripe', 'sub_S3', 'active', at('2026-11-20'), { endsAt: at('2026-12-15') }));
  // P3: one-off 3000 EUR from article B (fee 120), reader Cleo new; dispute lost for good on the 25th.
  const c3 = await checkout('stripe', 'contributor', 'once', 3000, 'EUR', ARTICLE_B);
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'pi_P3',
      amount: eur(3000),
      fee: eur(120),
      occurredAt: at('2026-11-14'),
      checkoutId: c3,
      payer: { email: 'cleo@example.com' },
    }),
  );
  await apply({
    type: 'payment.disputed',
    provider: 'stripe',
    paymentId: 'pi_P3',
    disputeId: 'dp_P3',
    status: 'lost',
    amount: eur(3000),
    occurredAt: at('2026-11-25'),
  });

  // ---- P0: a payment the app did not start (plan unknown), 1200 USD, reader Ivy new: 1 December in
  // UTC, still 30 November in New York.
  await apply(
    pay({
      provider: 'stripe',
      paymentId: 'pi_P0',
      amount: usd(1200),
      occurredAt: at('2026-12-01', '03:00:00'),
      payer: { email: 'ivy@example.com' },
    }),
  );

  await runtime.reports.attribution.idle();
  return facts;
}

/** November 2026 in UTC, worked out by hand from the facts above. */
export const expectedUtc = {
  USD: {
    // P1 5000 + P2 2500 + S1 1000 + S5 700 + S2 800
    grossMinor: 10_000,
    payments: 5,
    // re_S1_oct 500 + re_P1 1000
    refundsMinor: 1500,
    refunds: 2,
    disputesLostMinor: 2500,
    disputesReversedMinor: 2500,
    disputesNetMinor: 0,
    // 175 + 59 + 100 + 1500 (dispute fee) + 30
    feesMinor: 1864,
    netMinor: 10_000 - 1500 - 0 - 1864,
    newSupporters: 3,
    mrr: {
      startMinor: 2400,
      // 2400 − 200 + 500 − 400 − 800 + 700 + 800
      endMinor: 3000,
      newMinor: 700,
      expansionMinor: 500,
      contractionMinor: 200,
      churnMinor: 1200,
      reactivationMinor: 800,
      involuntaryChurnMinor: 800,
      recoveredMinor: 800,
    },
    subscriptions: { activeStart: 3, activeEnd: 3, new: 1, churned: 2, reactivated: 1 },
    rates: { supporterChurn: 2 / 3, grossMrrChurn: 1400 / 2400, netMrrChurn: 100 / 2400 },
    arpuMinor: 1000,
    // P1 5000 − 1000 − 175 = 3825; P2 2500 − 2500 + 2500 − 100 − 1500 = 900
    oneOff: { grossMinor: 7500, count: 2, netMinor: 4725 },
    // S1 1000 − 59 − 500 (the refund of October) = 441; S5 700 − 30 = 670; S2 800
    monthly: { grossMinor: 2500, count: 3, netMinor: 1911 },
    pending: { churnMinor: 0, involuntaryChurnMinor: 0, subscriptions: 0 },
  },
  EUR: {
    grossMinor: 5000,
    payments: 2,
    refundsMinor: 0,
    disputesLostMinor: 3000,
    disputesReversedMinor: 0,
    disputesNetMinor: 3000,
    feesMinor: 200,
    netMinor: 5000 - 3000 - 200,
    newSupporters: 1,
    mrr: { startMinor: 2000, endMinor: 2000 },
    subscriptions: { activeStart: 1, activeEnd: 1, churned: 0 },
    arpuMinor: 2000,
    pending: { churnMinor: 2000, involuntaryChurnMinor: 0, subscriptions: 1 },
  },
} as const;
