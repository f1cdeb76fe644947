/**
 * The ledger service: the one place that applies a payment fact to supporters, donations,
 * subscriptions and the daily rollups. Every fact is idempotent by (provider, provider object id)
 * through unique indexes, so a return visit and a webhook — or a webhook delivered twice, or out of
 * order — end in the same state.
 */
import mongoose from 'mongoose';
import type { Logger } from '../log.js';
import type {
  ProviderId,
  PaymentDisputed,
  PaymentFact,
  PaymentFailed,
  PaymentRefunded,
  PaymentSucceeded,
  SubscriptionActivated,
  SubscriptionStatusChanged,
} from '../payments/types.js';
import { Checkout } from '../donations/checkout-model.js';
import { Donation, Rollup, Subscription, Supporter, type DonationDoc } from './models.js';

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

export interface Ledger {
  apply(fact: PaymentFact): Promise<ApplyOutcome>;
}

export interface LedgerDeps {
  logger: Logger;
  /** Called after a new donation is recorded (receipts); never allowed to fail the payment path. */
  onDonationRecorded?: (donationId: string) => void;
}

const isDuplicateKey = (err: unknown) => (err as { code?: number })?.code === 11000;
export const normaliseEmail = (email: string) => email.trim().toLowerCase();
const dayOf = (date: Date) => date.toISOString().slice(0, 10);

type Effects = { supporter?: boolean | null; rollup?: boolean | null; links?: boolean | null };

/** Subscription states by how far along they are: a fact never moves one backwards. */
const subscriptionRank = { pending: 0, active: 1, past_due: 1, suspended: 1, cancelled: 2 } as const;
type SubscriptionStatus = keyof typeof subscriptionRank;

function checkoutObjectId(checkoutId: string | undefined): mongoose.Types.ObjectId | undefined {
  return checkoutId && mongoose.isValidObjectId(checkoutId)
    ? new mongoose.Types.ObjectId(checkoutId)
    : undefined;
}

export function createLedger(deps: LedgerDeps): Ledger {
  const { logger } = deps;

  async function upsertSupporter(
    payer: { email?: string; name?: string; customerId?: string },
    provider: ProviderId,
    at: Date,
  ): Promise<{ id: mongoose.Types.ObjectId; isNew: boolean } | undefined> {
    if (!payer.email) return undefined;
    const email = normaliseEmail(payer.email);
    const set = {
      ...(payer.name ? { name: payer.name } : {}),
      ...(payer.customerId ? { [`providerCustomerIds.${provider}`]: payer.customerId } : {}),
    };
    const update = {
      $setOnInsert: { email, firstSupportedAt: at, lastSupportedAt: at },
      ...(Object.keys(set).length ? { $set: set } : {}),
    };
    for (let attempt = 0; ; attempt += 1) {
      try {
        const result = await Supporter.findOneAndUpdate({ email }, update, {
          upsert: true,
          returnDocument: 'after',
          includeResultMetadata: true,
          projection: { _id: 1 },
        });
        const doc = result.value;
        if (!doc) return undefined;
        return { id: doc._id as mongoose.Types.ObjectId, isNew: !result.lastErrorObject?.updatedExisting };
      } catch (err) {
        // Two first donations from one reader at once: one insert wins, the other updates it.
        if (isDuplicateKey(err) && attempt < 2) continue;
        throw err;
      }
    }
  }

  /**
   * Applies an $inc to another document exactly once: the mark travels with the change in one
   * atomic update, so a retry after a crash finds the mark and changes nothing.
   */
  async function incOnce(
    model: typeof Supporter | typeof Rollup,
    filter: Record<string, unknown>,
    mark: string,
    update: Record<string, unknown>,
    upsert: boolean,
  ): Promise<void> {
    try {
      await (model as typeof Rollup).updateOne(
        { ...filter, marks: { $ne: mark } },
        { ...update, $push: { marks: mark } },
        { upsert },
      );
    } catch (err) {
      // The upsert met the existing bucket that already carries the mark: already applied.
      if (!isDuplicateKey(err)) throw err;
    }
  }

  const rollupKey = (day: string, d: { currency: string; provider: string; planId: string }) => ({
    day,
    currency: d.currency,
    provider: d.provider,
    planId: d.planId,
  });

  /**
   * Everything a ledger entry implies elsewhere — supporter totals, daily rollups, refunds' effects.
   * Each step is recorded on the donation once done and is itself idempotent, so whichever delivery
   * comes next (a retry, the return visit, the sweep) finishes what a crash interrupted.
   */
  async function completeEffects(donationId: mongoose.Types.ObjectId, known?: DonationDoc): Promise<void> {
    const d = known ?? (await Donation.findById(donationId).lean());
    if (!d) return;
    const id = String(d._id);
    const effects: Effects = d.effects ?? {};
    // Each step below is idempotent on its own (marks), so one flag update at the end suffices.
    const done: Record<string, boolean> = {};
    if (!effects.supporter && d.supporterId) {
      await incOnce(
        Supporter,
        { _id: d.supporterId },
        `pay:${id}`,
        {
          $inc: { [`totals.${d.currency}`]: d.amountMinor, donationCount: 1 },
          $max: { lastSupportedAt: d.occurredAt },
          $min: { firstSupportedAt: d.occurredAt },
        },
        false,
      );
      done['effects.supporter'] = true;
    }
    if (!effects.rollup) {
      await incOnce(
        Rollup,
        rollupKey(dayOf(d.occurredAt), d),
        `pay:${id}`,
        { $inc: { grossMinor: d.amountMinor, count: 1, newSupporters: d.newSupporter ? 1 : 0 } },
        true,
      );
      done['effects.rollup'] = true;
    }
    if (!effects.links) {
      if (d.checkoutId) {
        await Checkout.updateOne(
          { _id: d.checkoutId, state: { $in: ['started', 'redirected', 'cancelled', 'failed'] } },
          { $set: { state: 'completed', completedAt: new Date() } },
        );
      }
      if (d.subscriptionId && d.supporterId) {
        await Subscription.updateOne(
          { provider: d.provider, providerSubscriptionId: d.subscriptionId, supporterId: { $exists: false } },
          { $set: { supporterId: d.supporterId } },
        );
      }
      done['effects.links'] = true;
    }
    if (Object.keys(done).length) await Donation.updateOne({ _id: d._id }, { $set: done });
    if (done['effects.links'] || (done['effects.supporter'] && d.receipt?.status === 'pending')) {
      try {
        deps.onDonationRecorded?.(id);
      } catch (err) {
        logger.warn({ err, donationId: id }, 'post-payment hook failed; the payment stays recorded');
      }
    }
    for (const adjustment of d.adjustments ?? []) {
      if (adjustment.applied) continue;
      await incOnce(
        Rollup,
        rollupKey(adjustment.day, d),
        adjustment.mark,
        { $inc: { refundedMinor: adjustment.deltaMinor, refundCount: 1 } },
        true,
      );
      if (d.supporterId) {
        await incOnce(
          Supporter,
          { _id: d.supporterId },
          adjustment.mark,
          { $inc: { [`totals.${d.currency}`]: -adjustment.deltaMinor } },
          false,
        );
      }
      await Donation.updateOne(
        { _id: d._id, 'adjustments.mark': adjustment.mark },
        { $set: { 'adjustments.$.applied': true } },
      );
    }
  }

  /** Renewals carry no email: they belong to whoever holds the subscription. */
  async function subscriberOf(fact: PaymentSucceeded): Promise<mongoose.Types.ObjectId | undefined> {
    if (!fact.subscriptionId) return undefined;
    const sub = await Subscription.findOne({
      provider: fact.provider,
      providerSubscriptionId: fact.subscriptionId,
    }).lean();
    return sub?.supporterId ?? undefined;
  }

  /** Payments that arrived before their subscription's supporter was known are credited now. */
  async function creditEarlierPayments(
    provider: ProviderId,
    subscriptionId: string,
    supporterId: mongoose.Types.ObjectId,
  ): Promise<void> {
    const orphans = await Donation.find({ provider, subscriptionId, supporterId: { $exists: false } })
      .select('_id')
      .lean();
    for (const { _id } of orphans) {
      const claimed = await Donation.updateOne(
        { _id, supporterId: { $exists: false } },
        { $set: { supporterId, 'effects.supporter': false } },
      );
      if (claimed.modifiedCount) await completeEffects(_id);
    }
  }

  async function paymentSucceeded(fact: PaymentSucceeded): Promise<ApplyOutcome> {
    const existing = await Donation.findOne({ provider: fact.provider, providerPaymentId: fact.paymentId })
      .select('_id effects adjustments.applied')
      .lean();
    if (existing) {
      const e: Effects = existing.effects ?? {};
      if (!e.supporter || !e.rollup || !e.links) await completeEffects(existing._id);
      return { result: 'duplicate', donationId: String(existing._id) };
    }

    const checkoutId = checkoutObjectId(fact.checkoutId);
    const checkout = checkoutId ? await Checkout.findById(checkoutId).lean() : null;
    let planId = checkout?.planId ?? fact.planId ?? 'unknown';
    if (planId === 'unknown' && fact.subscriptionId) {
      const sub = await Subscription.findOne({
        provider: fact.provider,
        providerSubscriptionId: fact.subscriptionId,
      }).lean();
      if (sub?.planId) planId = sub.planId;
    }
    // Money arrived either way; a price other than the one started is kept and flagged for finance.
    const amountMismatch =
      !!checkout &&
      fact.kind === 'one_off' &&
      (checkout.amountMinor !== fact.amount.amountMinor || checkout.currency !== fact.amount.currency);
    if (amountMismatch) {
      logger.warn(
        { provider: fact.provider, paymentId: fact.paymentId, checkoutId: fact.checkoutId },
        'payment amount differs from what was started; recorded and flagged',
      );
    }
    const supporter = await upsertSupporter(fact.payer, fact.provider, fact.occurredAt);
    const supporterId = supporter?.id ?? (await subscriberOf(fact));

    let donation;
    try {
      // The exactly-once point: the unique (provider, providerPaymentId) index.
      donation = await Donation.create({
        provider: fact.provider,
        providerPaymentId: fact.paymentId,
        supporterId,
        checkoutId,
        planId,
        kind: fact.kind,
        subscriptionId: fact.subscriptionId,
        amountMinor: fact.amount.amountMinor,
        currency: fact.amount.currency,
        status: 'succeeded',
        amountMismatch,
        newSupporter: supporter?.isNew ?? false,
        occurredAt: fact.occurredAt,
        receipt: { status: 'pending', nextAttemptAt: new Date() },
      });
    } catch (err) {
      if (isDuplicateKey(err)) return { result: 'duplicate' };
      throw err;
    }
    await completeEffects(donation._id, donation.toObject() as DonationDoc);
    return { result: 'applied', donationId: String(donation._id) };
  }

  async function findDonation(provider: ProviderId, paymentId: string) {
    return Donation.findOne({ provider, providerPaymentId: paymentId }).lean();
  }

  function statusFor(amountMinor: number, refundedMinor: number, openDispute: boolean) {
    if (openDispute) return 'disputed' as const;
    if (refundedMinor >= amountMinor) return 'refunded' as const;
    if (refundedMinor > 0) return 'partially_refunded' as const;
    return 'succeeded' as const;
  }

  async function paymentRefunded(fact: PaymentRefunded): Promise<ApplyOutcome> {
    // Optimistic concurrency: compute from what we read, write only if nobody moved it meanwhile.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const donation = await findDonation(fact.provider, fact.paymentId);
      if (!donation) return { result: 'waiting' };
      const donationId = String(donation._id);
      const before = donation.refundedMinor ?? 0;
      const push: Array<{ id: string; amountMinor: number; at: Date }> = [];
      let refunded = before;
      if (fact.refund && !(donation.refunds ?? []).some((r) => r.id === fact.refund!.id)) {
        push.push({ id: fact.refund.id, amountMinor: fact.refund.amount.amountMinor, at: fact.occurredAt });
        refunded += fact.refund.amount.amountMinor;
      }
      if (fact.refundedTotal) refunded = Math.max(refunded, fact.refundedTotal.amountMinor);
      if (fact.reversal) refunded = Math.max(refunded, donation.amountMinor);
      refunded = Math.min(refunded, donation.amountMinor);
      const delta = refunded - before;
      if (delta <= 0 && push.length === 0) {
        if ((donation.adjustments ?? []).some((a) => !a.applied)) await completeEffects(donation._id);
        return { result: 'duplicate', donationId };
      }
      const openDispute = (donation.disputes ?? []).some((d) => d.status === 'open');
      // The refund and what it must do to the totals are written together, in one document.
      const adjustment =
        delta > 0
          ? [
              {
                mark: `refund:${donationId}:${refunded}`,
                deltaMinor: delta,
                day: dayOf(fact.occurredAt),
                applied: false,
              },
            ]
          : [];
      const updated = await Donation.updateOne(
        { _id: donation._id, refundedMinor: before, 'refunds.id': { $nin: push.map((r) => r.id) } },
        {
          $set: { refundedMinor: refunded, status: statusFor(donation.amountMinor, refunded, openDispute) },
          $push: { refunds: { $each: push }, adjustments: { $each: adjustment } },
        },
      );
      if (updated.modifiedCount === 0) continue;
      await completeEffects(donation._id);
      return { result: 'applied', donationId };
    }
    throw new Error(`refund for ${fact.paymentId} kept conflicting with concurrent updates`);
  }

  async function paymentDisputed(fact: PaymentDisputed): Promise<ApplyOutcome> {
    const donation = await findDonation(fact.provider, fact.paymentId);
    if (!donation) return { result: 'waiting' };
    const disputes: Array<{ id: string; status: string; at?: Date | null }> = (donation.disputes ?? []).map(
      (d) => ({
        id: d.id,
        status: d.status,
        at: d.at ?? null,
      }),
    );
    const current = disputes.find((d) => d.id === fact.disputeId);
    // A closed dispute never reopens.
    if (current && (current.status === fact.status || current.status !== 'open')) {
      return { result: 'duplicate', donationId: String(donation._id) };
    }
    if (current) current.status = fact.status;
    else disputes.push({ id: fact.disputeId, status: fact.status, at: fact.occurredAt });
    const open = disputes.some((d) => d.status === 'open');
    await Donation.updateOne(
      { _id: donation._id },
      { $set: { disputes, status: statusFor(donation.amountMinor, donation.refundedMinor ?? 0, open) } },
    );
    return { result: 'applied', donationId: String(donation._id) };
  }

  async function moveSubscription(
    provider: ProviderId,
    subscriptionId: string,
    status: SubscriptionStatus,
    at: Date,
    extra: Record<string, unknown>,
    insertDefaults: Record<string, unknown>,
  ): Promise<ApplyOutcome> {
    const filter = { provider, providerSubscriptionId: subscriptionId };
    try {
      await Subscription.updateOne(
        filter,
        { $setOnInsert: { ...filter, status: 'pending', statusChangedAt: new Date(0), ...insertDefaults } },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    if (Object.keys(extra).length) await Subscription.updateOne(filter, { $set: extra });
    const current = await Subscription.findOne(filter).lean();
    if (!current) throw new Error(`subscription ${subscriptionId} vanished`);
    const from = current.status as SubscriptionStatus;
    const forward =
      subscriptionRank[status] > subscriptionRank[from] ||
      (subscriptionRank[status] === subscriptionRank[from] &&
        status !== from &&
        from !== 'cancelled' &&
        at >= current.statusChangedAt);
    if (!forward) return { result: 'duplicate' };
    const moved = await Subscription.updateOne(
      { ...filter, status: from, statusChangedAt: current.statusChangedAt },
      {
        $set: {
          status,
          statusChangedAt: at,
          ...(status === 'active' && !current.activatedAt ? { activatedAt: at } : {}),
          ...(status === 'cancelled' ? { cancelledAt: at } : {}),
        },
      },
    );
    return { result: moved.modifiedCount ? 'applied' : 'duplicate' };
  }

  async function subscriptionActivated(fact: SubscriptionActivated): Promise<ApplyOutcome> {
    const checkoutId = checkoutObjectId(fact.checkoutId);
    const checkout = checkoutId ? await Checkout.findById(checkoutId).lean() : null;
    const supporter = await upsertSupporter(fact.payer, fact.provider, fact.occurredAt);
    const amount =
      fact.amount ??
      (checkout ? { amountMinor: checkout.amountMinor, currency: checkout.currency } : undefined);
    const details: Record<string, unknown> = {
      ...(amount ? { amountMinor: amount.amountMinor, currency: amount.currency } : {}),
      ...(supporter ? { supporterId: supporter.id } : {}),
      ...(checkoutId ? { checkoutId } : {}),
      ...(fact.currentPeriodEnd ? { currentPeriodEnd: fact.currentPeriodEnd } : {}),
      planId: checkout?.planId ?? fact.planId ?? 'unknown',
    };
    const outcome = await moveSubscription(
      fact.provider,
      fact.subscriptionId,
      'active',
      fact.occurredAt,
      details,
      {},
    );
    if (supporter) await creditEarlierPayments(fact.provider, fact.subscriptionId, supporter.id);
    if (checkoutId) {
      await Checkout.updateOne(
        { _id: checkoutId, state: { $in: ['started', 'redirected', 'cancelled'] } },
        { $set: { state: 'completed', completedAt: new Date() } },
      );
    }
    return outcome;
  }

  async function subscriptionStatusChanged(fact: SubscriptionStatusChanged): Promise<ApplyOutcome> {
    return moveSubscription(
      fact.provider,
      fact.subscriptionId,
      fact.status,
      fact.occurredAt,
      fact.currentPeriodEnd ? { currentPeriodEnd: fact.currentPeriodEnd } : {},
      {},
    );
  }

  async function paymentFailed(fact: PaymentFailed): Promise<ApplyOutcome> {
    const checkoutId = checkoutObjectId(fact.checkoutId);
    if (!checkoutId) return { result: 'duplicate' };
    const updated = await Checkout.updateOne(
      { _id: checkoutId, state: { $in: ['started', 'redirected'] } },
      { $set: { state: 'failed', failureReason: fact.reason } },
    );
    return { result: updated.modifiedCount ? 'applied' : 'duplicate' };
  }

  return {
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
        case 'subscription.activated':
          return subscriptionActivated(fact);
        case 'subscription.status_changed':
          return subscriptionStatusChanged(fact);
      }
    },
  };
}
