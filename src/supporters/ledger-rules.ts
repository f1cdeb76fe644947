/**
 * The ledger's rules as pure functions: given what is recorded and a new fact, the change to make.
 * No I/O here; ledger.ts reads through the repository, asks these rules, and writes the answer with
 * a guarded update. Every money movement a fact implies is named by a deterministic key, so writing
 * it twice (a retry, a second process, the sweep) is the same as writing it once.
 */
import { z } from 'zod';
import type {
  Payer,
  PaymentDisputed,
  PaymentRefunded,
  ProviderId,
  SubscriptionStatus,
} from '../payments/types.js';

// ---------------------------------------------------------------------------------------------
// Money movements of a payment
// ---------------------------------------------------------------------------------------------

export type MovementType = 'payment' | 'refund' | 'dispute' | 'dispute_reversal';

/** One change of money on a payment, as it goes into the ledger entries and the rollups. */
export interface Movement {
  key: string;
  type: MovementType;
  /** Signed: money in is positive, money out (refunds, lost disputes) negative. */
  amountMinor: number;
  /** The provider's fee for this movement (a cost, positive), when reported. */
  feeMinor: number;
  at: Date;
  /** The provider's id for the refund or dispute behind the movement. */
  ref?: string;
}

export type DisputeStatus = PaymentDisputed['status'];

export interface DisputeState {
  id: string;
  status: DisputeStatus;
  amountMinor: number;
  /** When the dispute reached its current status. */
  at: Date;
  /** Money this dispute has taken out of the payment (0 unless lost). */
  takenMinor: number;
  /** How many money movements the dispute has made (names the next one). */
  moves: number;
}

export type PaymentStatus = 'succeeded' | 'partially_refunded' | 'refunded' | 'disputed' | 'dispute_lost';

/** A recorded payment as the rules need it. */
export interface PaymentState {
  provider: ProviderId;
  paymentId: string;
  amountMinor: number;
  currency: string;
  refundedMinor: number;
  /** Money out through lost disputes. */
  lostMinor: number;
  refunds: Array<{ id: string; amountMinor: number; at: Date }>;
  disputes: DisputeState[];
}

export interface PaymentChange {
  refundedMinor: number;
  lostMinor: number;
  refunds: PaymentState['refunds'];
  disputes: DisputeState[];
  status: PaymentStatus;
  movements: Movement[];
}

export function paymentStatus(
  state: Pick<PaymentState, 'amountMinor' | 'refundedMinor' | 'lostMinor' | 'disputes'>,
): PaymentStatus {
  if (state.disputes.some((d) => d.status === 'open')) return 'disputed';
  const net = state.amountMinor - state.refundedMinor - state.lostMinor;
  if (state.lostMinor > 0 && net <= 0) return 'dispute_lost';
  if (net <= 0) return 'refunded';
  if (state.refundedMinor > 0 || state.lostMinor > 0) return 'partially_refunded';
  return 'succeeded';
}

export const paymentMovementKey = (provider: ProviderId, paymentId: string) =>
  `payment:${provider}:${paymentId}`;

/** The movement a new payment makes. */
export function paymentMovement(
  provider: ProviderId,
  paymentId: string,
  amountMinor: number,
  feeMinor: number,
  at: Date,
): Movement {
  return { key: paymentMovementKey(provider, paymentId), type: 'payment', amountMinor, feeMinor, at };
}

/**
 * A refund: individual refunds are deduplicated by id, running totals (Stripe's amount_refunded)
 * only ever grow. Nothing is refunded beyond what is left after lost disputes. Null: nothing new.
 */
export function applyRefund(state: PaymentState, fact: PaymentRefunded): PaymentChange | null {
  const refunds = [...state.refunds];
  let refunded = state.refundedMinor;
  const known = fact.refund ? refunds.some((r) => r.id === fact.refund!.id) : true;
  if (fact.refund && !known) {
    refunds.push({ id: fact.refund.id, amountMinor: fact.refund.amount.amountMinor, at: fact.occurredAt });
    refunded += fact.refund.amount.amountMinor;
  }
  if (fact.refundedTotal && fact.refundedTotal.currency === state.currency) {
    refunded = Math.max(refunded, fact.refundedTotal.amountMinor);
  }
  refunded = Math.min(refunded, state.amountMinor - state.lostMinor);
  const delta = refunded - state.refundedMinor;
  if (delta <= 0 && known) return null;
  const movements: Movement[] = [];
  if (delta > 0) {
    const ref = fact.refund?.id ?? fact.latestRefundId;
    movements.push({
      key: fact.refund
        ? `refund:${state.provider}:${fact.refund.id}`
        : `refund:${state.provider}:${state.paymentId}:to:${refunded}`,
      type: 'refund',
      amountMinor: -delta,
      feeMinor: 0,
      at: fact.occurredAt,
      ...(ref ? { ref } : {}),
    });
  }
  const next = { ...state, refundedMinor: Math.max(refunded, state.refundedMinor), refunds };
  return {
    refundedMinor: next.refundedMinor,
    lostMinor: state.lostMinor,
    refunds,
    disputes: state.disputes,
    status: paymentStatus(next),
    movements,
  };
}

/**
 * A dispute moves money only when decided: lost takes the disputed amount out (never more than
 * is left after refunds), a later win brings back what the loss took. A decided dispute never
 * reopens; of two decisions, the later one stands (an appeal), whatever order they arrive in.
 */
export function applyDispute(state: PaymentState, fact: PaymentDisputed): PaymentChange | null {
  const current = state.disputes.find((d) => d.id === fact.disputeId);
  if (current) {
    if (current.status === fact.status) return null;
    if (fact.status === 'open') return null;
    if (current.status !== 'open' && fact.occurredAt.getTime() <= current.at.getTime()) return null;
  }
  const claimed =
    fact.amount && fact.amount.currency === state.currency && fact.amount.amountMinor > 0
      ? fact.amount.amountMinor
      : (current?.amountMinor ?? state.amountMinor);
  const next: DisputeState = {
    id: fact.disputeId,
    status: fact.status,
    amountMinor: claimed,
    at: fact.occurredAt,
    takenMinor: current?.takenMinor ?? 0,
    moves: current?.moves ?? 0,
  };
  let lost = state.lostMinor;
  const movements: Movement[] = [];
  const wasOut = next.takenMinor > 0;
  if (fact.status === 'lost' && !wasOut) {
    const take = Math.min(claimed, state.amountMinor - state.refundedMinor - state.lostMinor);
    if (take > 0) {
      next.moves += 1;
      next.takenMinor = take;
      lost += take;
      movements.push({
        key: `dispute:${state.provider}:${fact.disputeId}:${next.moves}`,
        type: 'dispute',
        amountMinor: -take,
        feeMinor: fact.fee && fact.fee.currency === state.currency ? fact.fee.amountMinor : 0,
        at: fact.occurredAt,
        ref: fact.disputeId,
      });
    }
  } else if (fact.status !== 'lost' && wasOut) {
    next.moves += 1;
    lost -= next.takenMinor;
    movements.push({
      key: `dispute:${state.provider}:${fact.disputeId}:${next.moves}`,
      type: 'dispute_reversal',
      amountMinor: next.takenMinor,
      feeMinor: 0,
      at: fact.occurredAt,
      ref: fact.disputeId,
    });
    next.takenMinor = 0;
  }
  const disputes = current
    ? state.disputes.map((d) => (d.id === fact.disputeId ? next : d))
    : [...state.disputes, next];
  const after = { ...state, lostMinor: lost, disputes };
  return {
    refundedMinor: state.refundedMinor,
    lostMinor: lost,
    refunds: state.refunds,
    disputes,
    status: paymentStatus(after),
    movements,
  };
}

// ---------------------------------------------------------------------------------------------
// Payer data from providers: untrusted text
// ---------------------------------------------------------------------------------------------

const NAME_LIMIT = 80;
const emailSchema = z.email();

/** One line, no control characters, bounded; undefined when nothing readable is left. */
export function normaliseName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  // eslint-disable-next-line no-control-regex
  const flat = name.normalize('NFC').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  const single = flat.replace(/\s+/g, ' ').trim();
  if (!single) return undefined;
  return single.length <= NAME_LIMIT ? single : `${single.slice(0, NAME_LIMIT - 1).trimEnd()}…`;
}

/** A name is only put in a message to a (possibly unverified) address when it cannot carry a link. */
export function nameIsSafeForMessages(name: string | undefined): boolean {
  if (!name) return false;
  return !/(https?:|www\.|[a-z0-9-]+\.(com|net|org|io|info|xyz|ru|top|link|click)\b|@|\/\/)/i.test(name);
}

export const normaliseEmail = (email: string) => email.trim().toLowerCase();

/** A valid, normalised email, or undefined: payers' emails come from providers and are checked like any input. */
export function validEmail(email: string | undefined): string | undefined {
  if (!email || email.length > 254) return undefined;
  const normalised = normaliseEmail(email);
  return emailSchema.safeParse(normalised).success ? normalised : undefined;
}

/** The payer with a valid email, a safe name and a bounded customer id. */
export function normalisePayer(payer: Payer | undefined): Payer {
  if (!payer) return {};
  const email = validEmail(payer.email);
  const name = normaliseName(payer.name);
  const customerId =
    payer.customerId && /^[A-Za-z0-9_-]{1,64}$/.test(payer.customerId) ? payer.customerId : undefined;
  return { ...(email ? { email } : {}), ...(name ? { name } : {}), ...(customerId ? { customerId } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

/** How far along a status is: a fact never moves a subscription backwards; cancelled is final. */
const statusRank: Record<SubscriptionStatus, number> = {
  pending: 0,
  active: 1,
  past_due: 1,
  suspended: 1,
  cancelled: 2,
};

/** What the subscription rules read and write. */
export interface SubscriptionState {
  status: SubscriptionStatus;
  statusChangedAt: Date;
  amountMinor?: number;
  currency?: string;
  amountAt?: Date;
  planId: string;
  currentPeriodEnd?: Date;
  endsAt?: Date | null;
  endsAtChangedAt?: Date;
  pastDueSince?: Date;
  activatedAt?: Date;
  cancelledAt?: Date;
  /** The subscription's MRR-relevant states in order; the MRR movements are derived from it. */
  history: SubscriptionSnapshot[];
}

export interface SubscriptionSnapshot {
  at: Date;
  status: SubscriptionStatus;
  amountMinor?: number;
  currency?: string;
  endsAt?: Date | null;
  pastDueSince?: Date;
}

export interface SubscriptionMove {
  status: SubscriptionStatus;
  at: Date;
  amount?: { amountMinor: number; currency: string };
  planId?: string;
  currentPeriodEnd?: Date;
  endsAt?: Date | null;
}

const after = (a: Date | undefined, b: Date | undefined) => !!a && (!b || a.getTime() > b.getTime());
const notBefore = (a: Date, b: Date | undefined) => !b || a.getTime() >= b.getTime();
const sameTime = (a: Date | null | undefined, b: Date | null | undefined) =>
  (a ?? null) === (b ?? null) || (!!a && !!b && a.getTime() === b.getTime());

/**
 * Applies a move to a subscription, field by field and only forward: status by rank and then by
 * time; the amount and the scheduled end by time; the paid period only ever later; the plan only
 * from unknown. Returns the new state, or null when nothing changes.
 */
export function moveSubscription(
  current: SubscriptionState | null,
  move: SubscriptionMove,
): SubscriptionState | null {
  const base: SubscriptionState = current ?? {
    status: 'pending',
    statusChangedAt: new Date(0),
    planId: 'unknown',
    history: [],
  };
  const next: SubscriptionState = { ...base, history: [...base.history] };
  let changed = current === null;

  const statusForward =
    statusRank[move.status] > statusRank[base.status] ||
    (statusRank[move.status] === statusRank[base.status] &&
      move.status !== base.status &&
      base.status !== 'cancelled' &&
      notBefore(move.at, base.statusChangedAt));
  if (statusForward) {
    next.status = move.status;
    next.statusChangedAt = move.at;
    if (move.status === 'active' && !base.activatedAt) next.activatedAt = move.at;
    if (move.status === 'cancelled') next.cancelledAt = move.at;
    if (move.status === 'past_due')
      next.pastDueSince = base.status === 'past_due' ? base.pastDueSince : move.at;
    else delete next.pastDueSince;
    changed = true;
  }
  if (
    move.amount &&
    move.amount.amountMinor > 0 &&
    notBefore(move.at, base.amountAt) &&
    (move.amount.amountMinor !== base.amountMinor || move.amount.currency !== base.currency)
  ) {
    next.amountMinor = move.amount.amountMinor;
    next.currency = move.amount.currency;
    next.amountAt = move.at;
    changed = true;
  }
  if (move.planId && move.planId !== 'unknown' && base.planId === 'unknown') {
    next.planId = move.planId;
    changed = true;
  }
  if (after(move.currentPeriodEnd, base.currentPeriodEnd)) {
    next.currentPeriodEnd = move.currentPeriodEnd;
    changed = true;
  }
  // A cancellation without a known end ends the subscription when it was cancelled.
  const endsAt =
    move.endsAt !== undefined
      ? move.endsAt
      : move.status === 'cancelled' && statusForward
        ? move.at
        : undefined;
  if (endsAt !== undefined && notBefore(move.at, base.endsAtChangedAt) && !sameTime(endsAt, base.endsAt)) {
    // Once cancelled, the end can move but never be unscheduled.
    if (!(endsAt === null && next.status === 'cancelled')) {
      next.endsAt = endsAt;
      next.endsAtChangedAt = move.at;
      changed = true;
    }
  }
  if (!changed) return null;

  const snapshot: SubscriptionSnapshot = {
    // History stays in order: a late fact that still moves the state forward counts from the last change on.
    at: new Date(Math.max(move.at.getTime(), next.history.at(-1)?.at.getTime() ?? 0)),
    status: next.status,
    ...(next.amountMinor !== undefined ? { amountMinor: next.amountMinor, currency: next.currency } : {}),
    ...(next.endsAt !== undefined ? { endsAt: next.endsAt } : {}),
    ...(next.pastDueSince ? { pastDueSince: next.pastDueSince } : {}),
  };
  const last = next.history.at(-1);
  const mrrRelevant =
    !last ||
    last.status !== snapshot.status ||
    last.amountMinor !== snapshot.amountMinor ||
    last.currency !== snapshot.currency ||
    !sameTime(last.endsAt, snapshot.endsAt);
  if (mrrRelevant) next.history.push(snapshot);
  return next;
}

// ---------------------------------------------------------------------------------------------
// MRR movements (ChartMogul's definitions): derived from a subscription's history
// ---------------------------------------------------------------------------------------------

export type MrrMovementType = 'new' | 'expansion' | 'contraction' | 'churn' | 'reactivation';

export interface MrrMovement {
  /** Stable for the same movement: type, time and size. */
  base: string;
  type: MrrMovementType;
  /** Signed change of monthly recurring revenue. */
  deltaMinor: number;
  /** Change in the number of paying subscriptions (+1 new/reactivation, −1 churn). */
  countDelta: number;
  currency: string;
  at: Date;
  /** Churn: caused by failed payments rather than a cancellation. Reactivation: recovers such a churn. */
  involuntary?: boolean;
}

export interface MrrOptions {
  /** A past-due subscription counts in MRR for this many days, then as (involuntary) churn. */
  pastDueGraceDays: number;
}

/** The monthly revenue a snapshot stands for at time t. */
function contributionAt(
  s: SubscriptionSnapshot,
  t: number,
  options: MrrOptions,
): { amount: number; involuntary: boolean } {
  const amount = s.amountMinor ?? 0;
  const ended = s.endsAt ? t >= s.endsAt.getTime() : false;
  switch (s.status) {
    case 'pending':
      return { amount: 0, involuntary: false };
    case 'suspended':
      return { amount: 0, involuntary: true };
    case 'active':
      return { amount: ended ? 0 : amount, involuntary: false };
    case 'past_due': {
      const since = (s.pastDueSince ?? s.at).getTime();
      if (t >= since + options.pastDueGraceDays * 86_400_000) return { amount: 0, involuntary: true };
      return { amount: ended ? 0 : amount, involuntary: false };
    }
    case 'cancelled':
      return { amount: s.endsAt && !ended ? amount : 0, involuntary: false };
  }
}

/**
 * Walks the history and every moment it implies (a scheduled end, a past-due grace running out)
 * and returns each change of MRR as a movement, future ones included: a scheduled cancellation is
 * churn on the day it takes effect; if it is undone first, the movement disappears from the set.
 */
export function mrrMovements(history: SubscriptionSnapshot[], options: MrrOptions): MrrMovement[] {
  const points: Array<{ t: number; snapshot: SubscriptionSnapshot }> = [];
  history.forEach((snapshot, i) => {
    const start = snapshot.at.getTime();
    const end = history[i + 1]?.at.getTime() ?? Number.POSITIVE_INFINITY;
    points.push({ t: start, snapshot });
    const derived = [
      snapshot.endsAt?.getTime(),
      snapshot.status === 'past_due'
        ? (snapshot.pastDueSince ?? snapshot.at).getTime() + options.pastDueGraceDays * 86_400_000
        : undefined,
    ];
    for (const t of derived) if (t !== undefined && t > start && t < end) points.push({ t, snapshot });
  });
  points.sort((a, b) => a.t - b.t);

  const movements: MrrMovement[] = [];
  let current = 0;
  let everPaid = false;
  let lastChurnInvoluntary = false;
  let currency = '';
  for (const { t, snapshot } of points) {
    const { amount, involuntary } = contributionAt(snapshot, t, options);
    currency = snapshot.currency ?? currency;
    if (amount === current || !currency) continue;
    const at = new Date(t);
    let type: MrrMovementType;
    let countDelta = 0;
    let flag: boolean | undefined;
    if (current === 0) {
      type = everPaid ? 'reactivation' : 'new';
      countDelta = 1;
      if (everPaid && lastChurnInvoluntary) flag = true;
    } else if (amount === 0) {
      type = 'churn';
      countDelta = -1;
      lastChurnInvoluntary = involuntary;
      if (involuntary) flag = true;
    } else {
      type = amount > current ? 'expansion' : 'contraction';
    }
    const deltaMinor = amount - current;
    movements.push({
      base: `${type}:${at.toISOString()}:${deltaMinor}`,
      type,
      deltaMinor,
      countDelta,
      currency,
      at,
      ...(flag ? { involuntary: true } : {}),
    });
    everPaid = true;
    current = amount;
  }
  return movements;
}

export type KeyedMrrMovement = MrrMovement & { key: string; undoes?: string };

/**
 * What to write so that the recorded MRR movements become `next`: new ones are added, vanished
 * ones undone by their opposite at the same moment (so every rollup they touched nets to zero).
 * Keys carry the subscription's version, so a movement that comes back after an undo is new.
 */
export function diffMrrMovements(
  recorded: KeyedMrrMovement[],
  next: MrrMovement[],
  keyPrefix: string,
): { write: KeyedMrrMovement[]; active: KeyedMrrMovement[] } {
  const want = new Set(next.map((m) => m.base));
  const have = new Set(recorded.map((r) => r.base));
  const added = next.filter((m) => !have.has(m.base)).map((m) => ({ ...m, key: `${keyPrefix}:${m.base}` }));
  const undone = recorded
    .filter((r) => !want.has(r.base))
    .map((r): KeyedMrrMovement => ({
      ...r,
      key: `${keyPrefix}:undo:${r.base}`,
      undoes: r.key,
      deltaMinor: -r.deltaMinor,
      countDelta: -r.countDelta,
    }));
  return { write: [...undone, ...added], active: [...recorded.filter((r) => want.has(r.base)), ...added] };
}
