/**
 * The ledger service: the one place that applies a payment fact to supporters, donations,
 * ledger entries, subscriptions and the daily rollups. Each fact is read through the repository,
 * decided by the pure rules (ledger-rules.ts) and written with a guarded update; everything the
 * write implies elsewhere (entries, totals, rollups, MRR) is then "settled" step by step, each
 * step idempotent by key or mark, so any later delivery, the return visit or the sweep finishes
 * what a crash interrupted, and a race between two processes changes nothing twice.
 */
import type { Logger } from '../log.js';
import { CONFLICT, retryOnConflict } from '../db/guarded-update.js';
import type {
  Money,
  PaymentDisputed,
  PaymentFact,
  PaymentFailed,
  PaymentRefunded,
  PaymentSucceeded,
  ProviderId,
  SubscriptionMoved,
} from '../payments/types.js';
import {
  applyDispute,
  applyRefund,
  diffMrrMovements,
  moveSubscription,
  mrrMovements,
  normalisePayer,
  paymentMovement,
  validEmail,
  type KeyedMrrMovement,
  type Movement,
  type PaymentChange,
  type SubscriptionMove,
  type SubscriptionState,
} from './ledger-rules.js';
import type {
  DonationRecord,
  LedgerEntryRecord,
  LedgerRepository,
  RollupBucket,
  SubscriptionRecord,
  SupporterRecord,
} from './repository.js';

export type ApplyResult =
  /** The fact changed the ledger. */
  | 'applied'
  /** Already recorded (or a state it can no longer move back to): nothing changed. */
  | 'duplicate'
  /** Refers to a payment we have not recorded yet; try again after the payment arrives. */
  | 'waiting';

export interface ApplyOutcome {
  result: ApplyResult;
  donationId?: string;
}

/** What the ledger needs to know about a checkout we started (the donations feature owns them). */
export interface CheckoutLink {
  id: string;
  planId: string;
  interval: 'once' | 'month';
  amount: Money;
  articleSlug?: string;
  email?: string;
}

export interface CheckoutLinks {
  find(checkoutId: string): Promise<CheckoutLink | null>;
  /** The checkout led to money (or an active subscription). */
  markCompleted(checkoutId: string): Promise<void>;
  /** A payment attempt of the checkout failed. */
  markFailed(checkoutId: string, reason: string): Promise<void>;
}

export interface LedgerDeps {
  logger: Logger;
  repository: LedgerRepository;
  checkouts: CheckoutLinks;
  plans: ReadonlyArray<{ id: string; interval: 'once' | 'month' }>;
  reporting: { timeZones: readonly string[]; pastDueGraceDays: number };
  /** Called when a payment reaches its supporter (receipts); never allowed to fail the payment path. */
  onPaymentCredited?: (donationId: string) => void;
}

export interface Ledger {
  apply(fact: PaymentFact): Promise<ApplyOutcome>;
  /** Finishes whatever a crash left unsettled (entries, totals, rollups, MRR) for records older than `olderThanMs`. */
  settlePending(olderThanMs?: number): Promise<number>;
  repository: LedgerRepository;
}

const dayFormatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar day of a moment in a time zone, as YYYY-MM-DD. */
export function dayIn(zone: string, at: Date): string {
  let format = dayFormatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dayFormatters.set(zone, format);
  }
  return format.format(at);
}

/** What a ledger entry adds to its day's rollup. */
export function rollupIncrement(
  entry: Pick<LedgerEntryRecord, 'type' | 'amountMinor' | 'feeMinor'>,
): Record<string, number> {
  switch (entry.type) {
    case 'payment':
      return { grossMinor: entry.amountMinor, count: 1, feeMinor: entry.feeMinor };
    case 'refund':
      return { refundedMinor: -entry.amountMinor, refundCount: 1, feeMinor: entry.feeMinor };
    case 'dispute':
      return { disputeLostMinor: -entry.amountMinor, disputeLostCount: 1, feeMinor: entry.feeMinor };
    case 'dispute_reversal':
      return { disputeReversedMinor: entry.amountMinor, disputeReversedCount: 1, feeMinor: entry.feeMinor };
  }
}

/** What an MRR movement adds to its day's rollup; an undo adds the opposite. */
export function mrrRollupIncrement(m: KeyedMrrMovement): Record<string, number> {
  const sign = m.undoes ? -1 : 1;
  const size = Math.abs(m.deltaMinor);
  const inc: Record<string, number> = { mrrDeltaMinor: m.deltaMinor, subscriptionsDelta: m.countDelta };
  switch (m.type) {
    case 'new':
      inc.mrrNewMinor = sign * size;
      inc.subscriptionsNew = sign;
      break;
    case 'expansion':
      inc.mrrExpansionMinor = sign * size;
      break;
    case 'contraction':
      inc.mrrContractionMinor = sign * size;
      break;
    case 'churn':
      inc.mrrChurnMinor = sign * size;
      inc.subscriptionsChurned = sign;
      if (m.involuntary) inc.mrrInvoluntaryChurnMinor = sign * size;
      break;
    case 'reactivation':
      inc.mrrReactivationMinor = sign * size;
      inc.subscriptionsReactivated = sign;
      if (m.involuntary) inc.mrrRecoveredMinor = sign * size;
      break;
  }
  return inc;
}

export function createLedger(deps: LedgerDeps): Ledger {
  const { repository: repo, checkouts, reporting } = deps;
  const logger = deps.logger.child({ component: 'ledger' });
  const intervalOf = new Map(deps.plans.map((p) => [p.id, p.interval]));

  const bucketsOf = (
    at: Date,
    d: { currency: string; provider: ProviderId; planId: string },
  ): RollupBucket[] =>
    reporting.timeZones.map((zone) => ({
      zone,
      day: dayIn(zone, at),
      currency: d.currency,
      provider: d.provider,
      planId: d.planId,
    }));

  /** The same increment in every reporting zone's bucket; says per zone whether it applied or was already counted. */
  function incrementEverywhere(
    at: Date,
    d: { currency: string; provider: ProviderId; planId: string },
    marks: string[],
    inc: Record<string, number>,
  ): Promise<Array<'applied' | 'already'>> {
    return Promise.all(bucketsOf(at, d).map((bucket) => repo.incrementRollupOnce(bucket, marks, inc)));
  }

  function notifyCredited(donationId: string): void {
    try {
      deps.onPaymentCredited?.(donationId);
    } catch (err) {
      logger.warn({ err, donationId }, 'post-payment hook failed; the payment stays recorded');
    }
  }

  /** Supporter for a payer, when the payer (or the checkout) gives a usable email. */
  async function supporterFor(
    provider: ProviderId,
    payerIn: PaymentSucceeded['payer'] | undefined,
    fallbackEmail?: string,
  ): Promise<string | undefined> {
    const payer = normalisePayer(payerIn);
    const email = payer.email ?? validEmail(fallbackEmail);
    if (!email) return undefined;
    const { id } = await repo.upsertSupporter(email, {
      provider,
      ...(payer.name ? { name: payer.name } : {}),
      ...(payer.customerId ? { customerId: payer.customerId } : {}),
    });
    return id;
  }

  // ----- settling: from a payment's movements to entries, totals and rollups ---------------

  /**
   * A newly credited payment may be the supporter's earliest: then it, and no other, counts them
   * as a new supporter in its day's rollup. Claims that place (guarded on the first payment read)
   * and says whether this payment holds it, and which payments held it before and may still have
   * their count to move away (every one of them, not only the last: the process that displaced
   * one may have died before moving its count, and a still earlier payment displaced it in turn).
   */
  async function claimNewSupporter(
    supporterId: string,
    entry: { key: string; at: Date },
    known?: { firstPayment: SupporterRecord['firstPayment'] },
  ): Promise<{ isFirst: boolean; displaced: string[] }> {
    let seen = known;
    return retryOnConflict('first payment of a supporter', async () => {
      const first = (seen ?? { firstPayment: (await repo.findSupporter(supporterId))?.firstPayment })
        .firstPayment;
      seen = undefined;
      if (first && first.key !== entry.key && first.at.getTime() <= entry.at.getTime())
        return { isFirst: false, displaced: first.displaced ?? [] };
      if (first?.key === entry.key) return { isFirst: true, displaced: first.displaced ?? [] };
      const claimed = await repo.claimFirstPayment(supporterId, entry, first);
      if (!claimed) return CONFLICT;
      return { isFirst: true, displaced: claimed.displaced ?? [] };
    });
  }

  /**
   * The new-supporter count leaves a payment that turned out not to be the first: net zero there.
   * Its bucket is read from the payment itself, not from its ledger entry: that entry is written
   * last, so it may not exist yet (the payment is being settled by another process right now, or
   * its process died before writing it), and the count must move all the same. Once moved, the
   * supporter forgets it; until then whoever settles one of their payments moves it (by marks,
   * so a second mover changes nothing).
   */
  async function moveNewSupporterCountFrom(supporterId: string, previousKey: string): Promise<void> {
    const [, provider, ...rest] = previousKey.split(':');
    const previous = provider ? await repo.findDonation(provider as ProviderId, rest.join(':')) : null;
    if (!previous) return;
    // Counted (if its own count never landed) and taken back, each once by mark.
    await incrementEverywhere(previous.occurredAt, previous, [`new:${supporterId}:${previousKey}`], {
      newSupporters: 1,
    });
    await incrementEverywhere(previous.occurredAt, previous, [`unnew:${supporterId}:${previousKey}`], {
      newSupporters: -1,
    });
    await repo.setEntry(previousKey, { newSupporter: false });
    await repo.forgetDisplacedFirstPayment(supporterId, previousKey);
  }

  /**
   * Brings one movement of a payment to the supporter's totals, the rollups and its ledger entry.
   * Every step is idempotent by key or mark, so a retry or a second process repeats only steps
   * that change nothing; the entry is written last, with what was done.
   */
  async function settleMovement(donation: DonationRecord, movement: Movement): Promise<boolean> {
    const bucket = { currency: donation.currency, provider: donation.provider, planId: donation.planId };
    const supporterId = donation.supporterId;
    const isPayment = movement.type === 'payment';
    let claim: { isFirst: boolean; displaced: string[] } = { isFirst: false, displaced: [] };
    if (supporterId) {
      const after = await repo.creditSupporterOnce(supporterId, movement.key, {
        currency: donation.currency,
        amountMinor: movement.amountMinor,
        ...(isPayment ? { payment: { at: movement.at } } : {}),
      });
      if (isPayment)
        claim = await claimNewSupporter(
          supporterId,
          { key: movement.key, at: movement.at },
          after ?? undefined,
        );
    }
    const newMark = supporterId ? `new:${supporterId}:${movement.key}` : '';
    const increment = rollupIncrement({
      type: movement.type,
      amountMinor: movement.amountMinor,
      feeMinor: movement.feeMinor,
    });
    // Usually one write per zone: the movement and, for a supporter's first payment, the count,
    // each once by its own mark. The movement may have been counted before its supporter was
    // known; the count may have been moved away already by an earlier payment that arrived
    // meanwhile (it counts and takes back this one's count, by the same mark).
    await Promise.all(
      bucketsOf(movement.at, bucket).map((b) =>
        repo.incrementRollupParts(b, [
          { mark: movement.key, inc: increment },
          ...(claim.isFirst ? [{ mark: newMark, inc: { newSupporters: 1 } }] : []),
        ]),
      ),
    );
    if (supporterId) {
      for (const key of claim.displaced)
        if (key !== movement.key) await moveNewSupporterCountFrom(supporterId, key);
    }
    await repo.recordEntry(
      {
        key: movement.key,
        type: movement.type,
        donationId: donation.id,
        provider: donation.provider,
        providerPaymentId: donation.providerPaymentId,
        ...(movement.ref ? { providerRef: movement.ref } : {}),
        planId: donation.planId,
        interval: donation.interval,
        ...(donation.subscriptionId ? { subscriptionId: donation.subscriptionId } : {}),
        ...(donation.articleSlug ? { articleSlug: donation.articleSlug } : {}),
        amountMinor: movement.amountMinor,
        feeMinor: movement.feeMinor,
        currency: donation.currency,
        occurredAt: movement.at,
        paymentOccurredAt: donation.occurredAt,
      },
      {
        'effects.rollup': true,
        ...(supporterId ? { supporterId, 'effects.supporter': true as const } : {}),
        // Said either way: a retry after a crash may find an entry marked while this payment
        // still held the first place, which it has lost since.
        ...(supporterId && isPayment ? { newSupporter: claim.isFirst } : {}),
      },
    );
    // An earlier payment may have taken the first place while this one was being settled, and
    // found no entry to unmark yet: the entry is marked by what the supporter says now.
    if (claim.isFirst && supporterId) {
      const first = (await repo.findSupporter(supporterId))?.firstPayment;
      if (first && first.key !== movement.key) await repo.setEntry(movement.key, { newSupporter: false });
    }
    return !!supporterId && isPayment;
  }

  /** Settles the movements not yet settled (all of them after a supporter was attached). */
  async function settleDonation(donation: DonationRecord): Promise<void> {
    let credited = false;
    const done = new Set(donation.settledKeys);
    for (const movement of donation.movements) {
      if (done.has(movement.key)) continue;
      if (await settleMovement(donation, movement)) credited = true;
    }
    if (donation.checkoutId) await checkouts.markCompleted(donation.checkoutId);
    await repo.markDonationSettled(
      donation.id,
      donation.version,
      donation.movements.map((m) => m.key),
    );
    if (credited) notifyCredited(donation.id);
  }

  // ----- payments ---------------------------------------------------------------------------

  async function paymentSucceeded(fact: PaymentSucceeded): Promise<ApplyOutcome> {
    const existing = await repo.findDonation(fact.provider, fact.paymentId);
    if (existing) return completeExisting(existing, fact);

    const checkout = fact.checkoutId ? await checkouts.find(fact.checkoutId) : null;
    const subscription = fact.subscriptionId
      ? await repo.findSubscription(fact.provider, fact.subscriptionId)
      : null;
    const planId =
      checkout?.planId ??
      fact.planId ??
      (subscription?.planId !== 'unknown' ? subscription?.planId : undefined) ??
      'unknown';
    const interval =
      checkout?.interval ?? intervalOf.get(planId) ?? (fact.kind === 'recurring' ? 'month' : 'once');
    // Money arrived either way; a price other than the one started is kept and flagged for finance.
    const amountMismatch =
      !!checkout &&
      fact.kind === 'one_off' &&
      (checkout.amount.amountMinor !== fact.amount.amountMinor ||
        checkout.amount.currency !== fact.amount.currency);
    if (amountMismatch) {
      logger.warn(
        { provider: fact.provider, paymentId: fact.paymentId, checkoutId: fact.checkoutId },
        'payment amount differs from what was started; recorded and flagged',
      );
    }
    const supporterId =
      (await supporterFor(fact.provider, fact.payer, checkout?.email)) ?? subscription?.supporterId;
    const feeMinor = fact.fee && fact.fee.currency === fact.amount.currency ? fact.fee.amountMinor : 0;
    const donation = await repo.insertDonation({
      provider: fact.provider,
      providerPaymentId: fact.paymentId,
      ...(supporterId ? { supporterId } : {}),
      ...(checkout ? { checkoutId: checkout.id } : {}),
      ...((checkout?.articleSlug ?? subscription?.articleSlug)
        ? { articleSlug: checkout?.articleSlug ?? subscription?.articleSlug }
        : {}),
      planId,
      interval,
      kind: fact.kind,
      ...(fact.subscriptionId ? { subscriptionId: fact.subscriptionId } : {}),
      amountMinor: fact.amount.amountMinor,
      currency: fact.amount.currency,
      ...(fact.fee ? { feeMinor } : {}),
      status: 'succeeded',
      refundedMinor: 0,
      lostMinor: 0,
      refunds: [],
      disputes: [],
      amountMismatch,
      occurredAt: fact.occurredAt,
      movements: [
        paymentMovement(fact.provider, fact.paymentId, fact.amount.amountMinor, feeMinor, fact.occurredAt),
      ],
    });
    if (!donation) {
      // Another delivery of the same payment won the insert a moment ago.
      const winner = await repo.findDonation(fact.provider, fact.paymentId);
      if (!winner) throw new Error(`payment ${fact.paymentId} vanished after a duplicate insert`);
      return completeExisting(winner, fact);
    }
    await settleDonation(donation);
    // A renewal that went through brings a past-due subscription back to active.
    if (fact.subscriptionId) {
      await applySubscriptionMove(
        fact.provider,
        fact.subscriptionId,
        { status: 'active', at: fact.occurredAt },
        {
          onlyFrom: ['past_due'],
        },
      );
    }
    return { result: 'applied', donationId: donation.id };
  }

  /** A later fact about a recorded payment may know its payer: a payment without one gets it now. */
  async function completeExisting(existing: DonationRecord, fact: PaymentSucceeded): Promise<ApplyOutcome> {
    let donation = existing;
    if (!donation.supporterId) {
      const checkout = donation.checkoutId ? await checkouts.find(donation.checkoutId) : null;
      const subscription = donation.subscriptionId
        ? await repo.findSubscription(donation.provider, donation.subscriptionId)
        : null;
      const supporterId =
        (await supporterFor(fact.provider, fact.payer, checkout?.email)) ?? subscription?.supporterId;
      if (supporterId && (await repo.attachSupporter(donation.id, supporterId))) {
        donation = (await repo.findDonationById(donation.id)) ?? donation;
        await settleDonation(donation);
        return { result: 'applied', donationId: donation.id };
      }
    }
    if (!donation.settled) await settleDonation(donation);
    return { result: 'duplicate', donationId: donation.id };
  }

  /** Refunds and disputes: read, ask the rules, write guarded on the version read; retry on conflict. */
  async function changePayment(
    provider: ProviderId,
    paymentId: string,
    decide: (donation: DonationRecord) => PaymentChange | null,
  ): Promise<ApplyOutcome> {
    return retryOnConflict(`payment ${paymentId}`, async (): Promise<ApplyOutcome | typeof CONFLICT> => {
      const donation = await repo.findDonation(provider, paymentId);
      if (!donation) return { result: 'waiting' };
      const change = decide(donation);
      if (!change) {
        if (!donation.settled) await settleDonation(donation);
        return { result: 'duplicate', donationId: donation.id };
      }
      const updated = await repo.updateDonation(donation.id, donation.version, change);
      if (!updated) return CONFLICT;
      await settleDonation(updated);
      return { result: 'applied', donationId: donation.id };
    });
  }

  const paymentRefunded = (fact: PaymentRefunded) =>
    changePayment(fact.provider, fact.paymentId, (d) =>
      applyRefund({ ...d, paymentId: d.providerPaymentId }, fact),
    );

  const paymentDisputed = (fact: PaymentDisputed) =>
    changePayment(fact.provider, fact.paymentId, (d) =>
      applyDispute({ ...d, paymentId: d.providerPaymentId }, fact),
    );

  async function paymentFailed(fact: PaymentFailed): Promise<ApplyOutcome> {
    if (fact.checkoutId) await checkouts.markFailed(fact.checkoutId, fact.reason);
    return { result: fact.checkoutId ? 'applied' : 'duplicate' };
  }

  // ----- subscriptions ----------------------------------------------------------------------

  const stateOf = (s: SubscriptionRecord): SubscriptionState => ({
    status: s.status,
    statusChangedAt: s.statusChangedAt,
    planId: s.planId,
    history: s.history,
    ...(s.amountMinor !== undefined ? { amountMinor: s.amountMinor, currency: s.currency! } : {}),
    ...(s.amountAt ? { amountAt: s.amountAt } : {}),
    ...(s.currentPeriodEnd ? { currentPeriodEnd: s.currentPeriodEnd } : {}),
    ...(s.endsAt !== undefined ? { endsAt: s.endsAt } : {}),
    ...(s.endsAtChangedAt ? { endsAtChangedAt: s.endsAtChangedAt } : {}),
    ...(s.pastDueSince ? { pastDueSince: s.pastDueSince } : {}),
    ...(s.activatedAt ? { activatedAt: s.activatedAt } : {}),
    ...(s.cancelledAt ? { cancelledAt: s.cancelledAt } : {}),
  });

  async function settleSubscription(sub: SubscriptionRecord): Promise<void> {
    const applied: string[] = [];
    for (const movement of sub.movements) {
      const stored = await repo.recordMrrMovement({
        ...movement,
        subscriptionId: sub.id,
        provider: sub.provider,
        planId: sub.planId,
        ...(sub.supporterId ? { supporterId: sub.supporterId } : {}),
        ...(sub.articleSlug ? { articleSlug: sub.articleSlug } : {}),
      });
      if (!stored.applied) {
        await incrementEverywhere(
          movement.at,
          { currency: movement.currency, provider: sub.provider, planId: sub.planId },
          [movement.key],
          mrrRollupIncrement(movement),
        );
        await repo.markMrrMovementApplied(movement.key);
      }
      applied.push(movement.key);
    }
    if (sub.checkoutId && sub.status === 'active') await checkouts.markCompleted(sub.checkoutId);
    await repo.markSubscriptionSettled(sub.id, sub.version, applied);
  }

  async function applySubscriptionMove(
    provider: ProviderId,
    subscriptionId: string,
    move: SubscriptionMove,
    extra: {
      payer?: PaymentSucceeded['payer'];
      checkoutId?: string;
      onlyFrom?: SubscriptionRecord['status'][];
    } = {},
  ): Promise<ApplyOutcome> {
    let attached: string | undefined;
    const outcome = await retryOnConflict(
      `subscription ${subscriptionId}`,
      async (): Promise<ApplyOutcome | typeof CONFLICT> => {
        const current = await repo.findSubscription(provider, subscriptionId);
        if (extra.onlyFrom && (!current || !extra.onlyFrom.includes(current.status))) {
          return { result: 'duplicate' };
        }
        const checkout =
          !current?.checkoutId && extra.checkoutId ? await checkouts.find(extra.checkoutId) : null;
        const planMove = { ...move, ...(checkout ? { planId: checkout.planId } : {}) };
        if (!planMove.amount && checkout && !current?.amountMinor) planMove.amount = checkout.amount;
        const next = moveSubscription(current ? stateOf(current) : null, planMove);
        const supporterId = current?.supporterId
          ? undefined
          : await supporterFor(provider, extra.payer, checkout?.email);
        if (!next && !supporterId && !checkout) {
          if (current && !current.settled) await settleSubscription(current);
          return { result: 'duplicate' };
        }
        const state = next ?? stateOf(current!);
        const prefix = `mrr:${provider}:${subscriptionId}:v${current ? current.version + 1 : 0}`;
        const { write, active } = diffMrrMovements(
          current?.mrr ?? [],
          mrrMovements(state.history, reporting),
          prefix,
        );
        const fields = {
          ...state,
          mrr: active,
          ...(supporterId ? { supporterId } : {}),
          ...(checkout
            ? {
                checkoutId: checkout.id,
                ...(checkout.articleSlug ? { articleSlug: checkout.articleSlug } : {}),
              }
            : {}),
        };
        const written = current
          ? await repo.updateSubscription(current.id, current.version, fields, write)
          : await repo.insertSubscription(provider, subscriptionId, { ...fields, movements: write });
        if (!written) return CONFLICT;
        attached = supporterId;
        await settleSubscription(written);
        return { result: 'applied' };
      },
    );
    // Payments that arrived before their subscription's supporter was known are credited now.
    if (attached) {
      for (const donation of await repo.donationsWithoutSupporter(provider, subscriptionId)) {
        if (await repo.attachSupporter(donation.id, attached)) {
          const fresh = await repo.findDonationById(donation.id);
          if (fresh) await settleDonation(fresh);
        }
      }
    }
    return outcome;
  }

  const subscriptionMoved = (fact: SubscriptionMoved) =>
    applySubscriptionMove(
      fact.provider,
      fact.subscriptionId,
      {
        status: fact.status,
        at: fact.occurredAt,
        ...(fact.amount ? { amount: fact.amount } : {}),
        ...(fact.planId ? { planId: fact.planId } : {}),
        ...(fact.currentPeriodEnd ? { currentPeriodEnd: fact.currentPeriodEnd } : {}),
        ...(fact.endsAt !== undefined ? { endsAt: fact.endsAt } : {}),
      },
      {
        ...(fact.payer ? { payer: fact.payer } : {}),
        ...(fact.checkoutId ? { checkoutId: fact.checkoutId } : {}),
      },
    );

  return {
    repository: repo,
    async apply(fact) {
      switch (fact.type) {
        case 'payment.succeeded':
          return paymentSucceeded(fact);
        case 'payment.refunded':
          return paymentRefunded(fact);
        case 'payment.disputed':
          return paymentDisputed(fact);
        case 'payment.failed':
          return paymentFailed(fact);
        case 'subscription.moved':
          return subscriptionMoved(fact);
      }
    },
    async settlePending(olderThanMs = 60_000) {
      const before = new Date(Date.now() - olderThanMs);
      let settled = 0;
      for (const donation of await repo.unsettledDonations(before, 100)) {
        await settleDonation(donation);
        settled += 1;
      }
      for (const sub of await repo.unsettledSubscriptions(before, 100)) {
        await settleSubscription(sub);
        settled += 1;
      }
      return settled;
    },
  };
}
