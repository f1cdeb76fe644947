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
import { Donation, Rollup, Subscription, Supporter } from './models.js';

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
    amount?: { amountMinor: number; currency: string },
  ): Promise<{ id: mongoose.Types.ObjectId; isNew: boolean } | undefined> {
    if (!payer.email) return undefined;
    const email = normaliseEmail(payer.email);
    const update: Record<string, unknown> = {
      $setOnInsert: { email, firstSupportedAt: at },
      $max: { lastSupportedAt: at },
      $min: {},
      ...(payer.name || payer.customerId
        ? {
            $set: {
              ...(payer.name ? { name: payer.name } : {}),
              ...(payer.customerId ? { [`providerCustomerIds.${provider}`]: payer.customerId } : {}),
            },
          }
        : {}),
      ...(amount ? { $inc: { [`totals.${amount.currency}`]: amount.amountMinor, donationCount: 1 } } : {}),
    };
    delete update.$min;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const result = await Supporter.findOneAndUpdate({ email }, update, {
          upsert: true,
          returnDocument: 'after',
          includeResultMetadata: true,
        });
        const doc = result.value;
        if (!doc) return undefined;
        return { id: doc._id, isNew: !result.lastErrorObject?.updatedExisting };
      } catch (err) {
        // Two first donations from one reader at once: one insert wins, the other updates it.
        if (isDuplicateKey(err) && attempt < 2) continue;
        throw err;
      }
    }
  }

  /** Renewals carry no email: they belong to whoever holds the subscription. */
  async function creditSubscriber(
    fact: PaymentSucceeded,
  ): Promise<{ id: mongoose.Types.ObjectId; isNew: boolean } | undefined> {
    if (!fact.subscriptionId) return undefined;
    const sub = await Subscription.findOne({
      provider: fact.provider,
      providerSubscriptionId: fact.subscriptionId,
    }).lean();
    if (!sub?.supporterId) return undefined;
    await Supporter.updateOne(
      { _id: sub.supporterId },
      {
        $inc: { [`totals.${fact.amount.currency}`]: fact.amount.amountMinor, donationCount: 1 },
        $max: { lastSupportedAt: fact.occurredAt },
      },
    );
    return { id: sub.supporterId, isNew: false };
  }

  /** Payments that arrived before their subscription's supporter was known are credited now. */
  async function creditEarlierPayments(
    provider: ProviderId,
    subscriptionId: string,
    supporterId: mongoose.Types.ObjectId,
  ): Promise<void> {
    for (;;) {
      const donation = await Donation.findOneAndUpdate(
        { provider, subscriptionId, supporterId: { $exists: false } },
        { $set: { supporterId } },
        { returnDocument: 'after' },
      ).lean();
      if (!donation) return;
      await Supporter.updateOne(
        { _id: supporterId },
        {
          $inc: { [`totals.${donation.currency}`]: donation.amountMinor, donationCount: 1 },
          $max: { lastSupportedAt: donation.occurredAt },
        },
      );
      if (donation.receipt?.status === 'pending') deps.onDonationRecorded?.(String(donation._id));
    }
  }

  async function paymentSucceeded(fact: PaymentSucceeded): Promise<ApplyOutcome> {
    const existing = await Donation.findOne({ provider: fact.provider, providerPaymentId: fact.paymentId })
      .select('_id')
      .lean();
    if (existing) return { result: 'duplicate', donationId: String(existing._id) };

    const checkoutId = checkoutObjectId(fact.checkoutId);
    const checkout = checkoutId ? await Checkout.findById(checkoutId).lean() : null;
    let planId = checkout?.planId ?? fact.planId ?? 'unknown';
    let subscriptionPlan: string | undefined;
    if (!checkout && fact.subscriptionId) {
      const sub = await Subscription.findOne({
        provider: fact.provider,
        providerSubscriptionId: fact.subscriptionId,
      }).lean();
      subscriptionPlan = sub?.planId ?? undefined;
      if (subscriptionPlan && planId === 'unknown') planId = subscriptionPlan;
    }
    // Recurring renewals carry the same price as the checkout that started them.
    const amountMismatch =
      !!checkout &&
      (checkout.amountMinor !== fact.amount.amountMinor || checkout.currency !== fact.amount.currency);
    if (amountMismatch) {
      logger.warn(
        { provider: fact.provider, paymentId: fact.paymentId, checkoutId: fact.checkoutId },
        'payment amount differs from what was started; recorded and flagged',
      );
    }

    let donation;
    try {
      donation = await Donation.create({
        provider: fact.provider,
        providerPaymentId: fact.paymentId,
        checkoutId,
        planId,
        kind: fact.kind,
        subscriptionId: fact.subscriptionId,
        amountMinor: fact.amount.amountMinor,
        currency: fact.amount.currency,
        status: 'succeeded',
        amountMismatch,
        occurredAt: fact.occurredAt,
        receipt: { status: 'pending', nextAttemptAt: new Date() },
      });
    } catch (err) {
      if (isDuplicateKey(err)) return { result: 'duplicate' };
      throw err;
    }

    // The insert above is the exactly-once point; what follows derives from it.
    const supporter =
      (await upsertSupporter(fact.payer, fact.provider, fact.occurredAt, fact.amount)) ??
      (await creditSubscriber(fact));
    if (supporter) await Donation.updateOne({ _id: donation._id }, { $set: { supporterId: supporter.id } });
    await Rollup.updateOne(
      { day: dayOf(fact.occurredAt), currency: fact.amount.currency, provider: fact.provider, planId },
      { $inc: { grossMinor: fact.amount.amountMinor, count: 1, newSupporters: supporter?.isNew ? 1 : 0 } },
      { upsert: true },
    );
    if (checkoutId) {
      await Checkout.updateOne(
        { _id: checkoutId, state: { $in: ['started', 'redirected', 'cancelled', 'failed'] } },
        { $set: { state: 'completed', completedAt: new Date() } },
      );
    }
    if (fact.subscriptionId && supporter) {
      await Subscription.updateOne(
        {
          provider: fact.provider,
          providerSubscriptionId: fact.subscriptionId,
          supporterId: { $exists: false },
        },
        { $set: { supporterId: supporter.id } },
      );
    }
    const donationId = String(donation._id);
    try {
      deps.onDonationRecorded?.(donationId);
    } catch (err) {
      logger.warn({ err, donationId }, 'post-payment hook failed; the payment stays recorded');
    }
    return { result: 'applied', donationId };
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
      const refunds = donation.refunds ?? [];
      let refunded = donation.refundedMinor ?? 0;
      const push: Array<{ id: string; amountMinor: number; at: Date }> = [];
      if (fact.refund) {
        if (!refunds.some((r) => r.id === fact.refund!.id)) {
          push.push({ id: fact.refund.id, amountMinor: fact.refund.amount.amountMinor, at: fact.occurredAt });
          refunded += fact.refund.amount.amountMinor;
        }
      }
      if (fact.refundedTotal) refunded = Math.max(refunded, fact.refundedTotal.amountMinor);
      if (fact.reversal) refunded = Math.max(refunded, donation.amountMinor);
      refunded = Math.min(refunded, donation.amountMinor);
      const delta = refunded - (donation.refundedMinor ?? 0);
      if (delta <= 0 && push.length === 0) return { result: 'duplicate', donationId: String(donation._id) };
      const openDispute = (donation.disputes ?? []).some((d) => d.status === 'open');
      const updated = await Donation.updateOne(
        {
          _id: donation._id,
          refundedMinor: donation.refundedMinor ?? 0,
          'refunds.id': { $nin: push.map((r) => r.id) },
        },
        {
          $set: { refundedMinor: refunded, status: statusFor(donation.amountMinor, refunded, openDispute) },
          ...(push.length ? { $push: { refunds: { $each: push } } } : {}),
        },
      );
      if (updated.modifiedCount === 0) continue;
      if (delta > 0) {
        await Rollup.updateOne(
          {
            day: dayOf(fact.occurredAt),
            currency: donation.currency,
            provider: donation.provider,
            planId: donation.planId,
          },
          { $inc: { refundedMinor: delta, refundCount: 1 } },
          { upsert: true },
        );
        if (donation.supporterId) {
          await Supporter.updateOne(
            { _id: donation.supporterId },
            { $inc: { [`totals.${donation.currency}`]: -delta } },
          );
        }
      }
      return { result: 'applied', donationId: String(donation._id) };
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
