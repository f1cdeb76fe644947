/**
 * The ledger the scenario must leave behind, computed from the plan alone: each payment's money
 * and state, the movements it makes, supporters' totals, every zone's daily rollups, subscriptions
 * and the MRR that is independent of arrival order, and the report's figures.
 */
import { dayIn, type PlannedPayment, type Scenario } from './scenario.js';

export type PaymentStatus = 'succeeded' | 'partially_refunded' | 'refunded' | 'disputed' | 'dispute_lost';

export interface ExpectedPayment {
  provider: string;
  paymentId: string;
  amountMinor: number;
  currency: string;
  kind: string;
  planId: string;
  interval: 'once' | 'month';
  refundedMinor: number;
  lostMinor: number;
  status: PaymentStatus;
  email: string | undefined;
  subscriptionId: string | undefined;
  /** The decisions on the payment's disputes, sorted. */
  disputes: string[];
}

export interface Movement {
  type: 'payment' | 'refund' | 'dispute';
  amountMinor: number;
  feeMinor: number;
  at: Date;
  /** How many ledger entries the movement is (a capped pair of refunds is one figure, two entries). */
  entries: number;
  payment: PlannedPayment;
}

/** The money fields of a rollup; MRR fields are checked as sums (see scenario.ts). */
export const moneyFields = [
  'grossMinor',
  'count',
  'feeMinor',
  'refundedMinor',
  'refundCount',
  'disputeLostMinor',
  'disputeLostCount',
  'disputeReversedMinor',
  'disputeReversedCount',
  'newSupporters',
] as const;
export type MoneyField = (typeof moneyFields)[number];
export type RollupFigures = Record<MoneyField, number>;

export interface ExpectedSupporter {
  email: string;
  totals: Record<string, number>;
  donationCount: number;
  first: Date;
  last: Date;
}

export interface ExpectedSubscription {
  provider: string;
  id: string;
  status: 'active' | 'cancelled';
  amountMinor: number;
  currency: string;
  planId: string;
  email: string;
  endsAt: Date | undefined;
}

export interface ExpectedLedger {
  payments: ExpectedPayment[];
  entries: { count: number; byType: Record<Movement['type'], { count: number; amountMinor: number }> };
  supporters: Map<string, ExpectedSupporter>;
  subscriptions: ExpectedSubscription[];
  /** zone|day|currency|provider|planId → figures. */
  rollups: Map<string, RollupFigures>;
  /** zone|currency|provider|planId → the sum over all days of MRR change and of active count change. */
  mrrTotals: Map<string, { mrrDeltaMinor: number; subscriptionsDelta: number }>;
  /** zone → currency → MRR and active subscriptions at the end of today, and churn still to come. */
  mrrToday: Map<string, Map<string, { mrrMinor: number; active: number; pendingChurnMinor: number }>>;
}

const empty = (): RollupFigures => Object.fromEntries(moneyFields.map((f) => [f, 0])) as RollupFigures;

export const rollupKey = (zone: string, day: string, currency: string, provider: string, planId: string) =>
  `${zone}|${day}|${currency}|${provider}|${planId}`;

/** What a payment's money comes to, by the rules finance expects. */
export function settle(p: PlannedPayment): {
  refundedMinor: number;
  lostMinor: number;
  status: PaymentStatus;
} {
  const refunded = Math.min(
    p.refunds.reduce((s, r) => s + r.amountMinor, 0),
    p.amountMinor,
  );
  const lost = p.disputes.filter((d) => d.outcome === 'lost').reduce((s, d) => s + d.amountMinor, 0);
  const net = p.amountMinor - refunded - lost;
  const status: PaymentStatus =
    lost > 0 && net <= 0
      ? 'dispute_lost'
      : net <= 0
        ? 'refunded'
        : refunded > 0 || lost > 0
          ? 'partially_refunded'
          : 'succeeded';
  return { refundedMinor: refunded, lostMinor: lost, status };
}

export function movementsOf(p: PlannedPayment): Movement[] {
  const out: Movement[] = [
    { type: 'payment', amountMinor: p.amountMinor, feeMinor: p.feeMinor, at: p.at, entries: 1, payment: p },
  ];
  if (p.capped) {
    // Both refunds land on one day in every zone; together they are the whole payment.
    out.push({
      type: 'refund',
      amountMinor: -p.amountMinor,
      feeMinor: 0,
      at: p.refunds[0]!.at,
      entries: p.refunds.length,
      payment: p,
    });
  } else {
    for (const r of p.refunds)
      out.push({
        type: 'refund',
        amountMinor: -r.amountMinor,
        feeMinor: 0,
        at: r.at,
        entries: 1,
        payment: p,
      });
  }
  for (const d of p.disputes) {
    if (d.outcome !== 'lost') continue;
    out.push({
      type: 'dispute',
      amountMinor: -d.amountMinor,
      feeMinor: d.feeMinor,
      at: d.decidedAt,
      entries: 1,
      payment: p,
    });
  }
  return out;
}

export function expectedLedger(scenario: Scenario, zones: readonly string[], now: Date): ExpectedLedger {
  const payments: ExpectedPayment[] = scenario.payments.map((p) => ({
    provider: p.provider,
    paymentId: p.paymentId,
    amountMinor: p.amountMinor,
    currency: p.currency,
    kind: p.kind,
    planId: p.planId,
    interval:
      p.planId === 'contributor' || (p.planId === 'unknown' && p.kind === 'one_off') ? 'once' : 'month',
    ...settle(p),
    email: p.email,
    subscriptionId: p.subscriptionId,
    disputes: p.disputes.map((d) => d.outcome).sort(),
  }));

  const entries: ExpectedLedger['entries'] = {
    count: 0,
    byType: {
      payment: { count: 0, amountMinor: 0 },
      refund: { count: 0, amountMinor: 0 },
      dispute: { count: 0, amountMinor: 0 },
    },
  };
  const rollups = new Map<string, RollupFigures>();
  const bump = (key: string, field: MoneyField, by: number) => {
    const figures = rollups.get(key) ?? empty();
    figures[field] += by;
    rollups.set(key, figures);
  };
  const supporters = new Map<string, ExpectedSupporter>();
  const firstPayment = new Map<string, PlannedPayment>();

  for (const p of scenario.payments) {
    for (const m of movementsOf(p)) {
      entries.count += m.entries;
      entries.byType[m.type].count += m.entries;
      entries.byType[m.type].amountMinor += m.amountMinor;
      for (const zone of zones) {
        const key = rollupKey(zone, dayIn(zone, m.at), p.currency, p.provider, p.planId);
        if (m.type === 'payment') {
          bump(key, 'grossMinor', m.amountMinor);
          bump(key, 'count', 1);
        } else if (m.type === 'refund') {
          bump(key, 'refundedMinor', -m.amountMinor);
          bump(key, 'refundCount', m.entries);
        } else {
          bump(key, 'disputeLostMinor', -m.amountMinor);
          bump(key, 'disputeLostCount', 1);
        }
        bump(key, 'feeMinor', m.feeMinor);
      }
      if (p.email) {
        const s = supporters.get(p.email) ?? {
          email: p.email,
          totals: {},
          donationCount: 0,
          first: p.at,
          last: p.at,
        };
        s.totals[p.currency] = (s.totals[p.currency] ?? 0) + m.amountMinor;
        if (m.type === 'payment') {
          s.donationCount += 1;
          if (p.at < s.first) s.first = p.at;
          if (p.at > s.last) s.last = p.at;
        }
        supporters.set(p.email, s);
      }
    }
    if (p.email) {
      const known = firstPayment.get(p.email);
      if (!known || p.at < known.at) firstPayment.set(p.email, p);
    }
  }
  for (const p of firstPayment.values()) {
    for (const zone of zones)
      bump(rollupKey(zone, dayIn(zone, p.at), p.currency, p.provider, p.planId), 'newSupporters', 1);
  }

  const subscriptions: ExpectedSubscription[] = scenario.subscriptions.map((s) => ({
    provider: s.provider,
    id: s.id,
    status: s.cancelledAt ? 'cancelled' : 'active',
    amountMinor: s.amountMinor,
    currency: s.currency,
    planId: s.planId,
    email: s.email,
    endsAt: s.endsAt,
  }));

  const mrrTotals = new Map<string, { mrrDeltaMinor: number; subscriptionsDelta: number }>();
  const mrrToday = new Map<
    string,
    Map<string, { mrrMinor: number; active: number; pendingChurnMinor: number }>
  >();
  for (const zone of zones) {
    const today = dayIn(zone, now);
    const perCurrency = new Map<string, { mrrMinor: number; active: number; pendingChurnMinor: number }>();
    for (const s of scenario.subscriptions) {
      const key = `${zone}|${s.currency}|${s.provider}|${s.planId}`;
      const totals = mrrTotals.get(key) ?? { mrrDeltaMinor: 0, subscriptionsDelta: 0 };
      if (!s.cancelledAt) {
        totals.mrrDeltaMinor += s.amountMinor;
        totals.subscriptionsDelta += 1;
      }
      mrrTotals.set(key, totals);
      const figures = perCurrency.get(s.currency) ?? { mrrMinor: 0, active: 0, pendingChurnMinor: 0 };
      const stillPaid = !s.endsAt || dayIn(zone, s.endsAt) > today;
      if (stillPaid) {
        figures.mrrMinor += s.amountMinor;
        figures.active += 1;
      }
      if (s.endsAt && dayIn(zone, s.endsAt) > today) figures.pendingChurnMinor += s.amountMinor;
      perCurrency.set(s.currency, figures);
    }
    mrrToday.set(zone, perCurrency);
  }

  return { payments, entries, supporters, subscriptions, rollups, mrrTotals, mrrToday };
}
