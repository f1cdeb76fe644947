/**
 * Checkouts: what a reader started. The only file that knows the model; returns plain objects.
 * Every state change is a conditional update guarded by the states it may come from.
 */
import mongoose, { Schema, type Connection } from 'mongoose';
import { modelOf } from '../db/model.js';
import { providerIds, type Money, type PlanInterval, type ProviderId } from '../payments/types.js';
import { checkoutStates, openStates, statesBefore, type CheckoutState } from './checkout-states.js';

export const checkoutSchema = new Schema(
  {
    planId: { type: String, required: true },
    interval: { type: String, required: true, enum: ['once', 'month'] },
    provider: { type: String, required: true, enum: providerIds },
    amountMinor: { type: Number, required: true, min: 1 },
    currency: { type: String, required: true },
    /** Unguessable reference handed to browsers (return and cancel links); never the document id. */
    ref: { type: String, required: true },
    providerRef: { type: String, required: true },
    articleSlug: { type: String },
    email: { type: String },
    /** The reader's consent id (rf_consent) when they started: linked to the supporter once paid. */
    consentId: { type: String },
    state: { type: String, required: true, enum: checkoutStates },
    failureReason: { type: String },
    completedAt: { type: Date },
    /** When the sweep next asks the provider about a checkout whose reader never came back. */
    nextCheckAt: { type: Date },
    checks: { type: Number, default: 0 },
  },
  { timestamps: true },
);
checkoutSchema.index({ ref: 1 }, { unique: true });
checkoutSchema.index({ provider: 1, providerRef: 1 });
checkoutSchema.index({ state: 1, nextCheckAt: 1 });
checkoutSchema.index({ createdAt: 1 });

export interface CheckoutRecord {
  id: string;
  ref: string;
  planId: string;
  interval: PlanInterval;
  provider: ProviderId;
  amount: Money;
  providerRef: string;
  articleSlug?: string;
  email?: string;
  consentId?: string;
  state: CheckoutState;
  failureReason?: string;
  createdAt: Date;
  completedAt?: Date;
  checks: number;
}

export type NewCheckout = Omit<
  CheckoutRecord,
  'state' | 'createdAt' | 'completedAt' | 'checks' | 'failureReason'
> & {
  nextCheckAt: Date;
};

function toRecord(d: Record<string, unknown>): CheckoutRecord {
  const out: CheckoutRecord = {
    id: String(d._id),
    ref: d.ref as string,
    planId: d.planId as string,
    interval: d.interval as PlanInterval,
    provider: d.provider as ProviderId,
    amount: { amountMinor: d.amountMinor as number, currency: d.currency as string },
    providerRef: d.providerRef as string,
    state: d.state as CheckoutState,
    createdAt: d.createdAt as Date,
    checks: (d.checks as number | undefined) ?? 0,
  };
  if (d.articleSlug) out.articleSlug = d.articleSlug as string;
  if (d.email) out.email = d.email as string;
  if (d.consentId) out.consentId = d.consentId as string;
  if (d.failureReason) out.failureReason = d.failureReason as string;
  if (d.completedAt) out.completedAt = d.completedAt as Date;
  return out;
}

export function createCheckoutRepository(connection: Connection) {
  const Checkouts = modelOf(connection, 'Checkout', checkoutSchema);

  async function move(
    filter: Record<string, unknown>,
    to: CheckoutState,
    extra: Record<string, unknown> = {},
  ): Promise<boolean> {
    const result = await Checkouts.updateOne(
      { ...filter, state: { $in: statesBefore(to) } },
      {
        $set: { state: to, ...(to === 'completed' ? { completedAt: new Date() } : {}), ...extra },
        ...(to === 'redirected' || to === 'failed' ? {} : { $unset: { nextCheckAt: 1 } }),
      },
    );
    return result.modifiedCount === 1;
  }

  return {
    async create(checkout: NewCheckout & { id: string }): Promise<void> {
      await Checkouts.create({
        _id: checkout.id,
        ref: checkout.ref,
        planId: checkout.planId,
        interval: checkout.interval,
        provider: checkout.provider,
        amountMinor: checkout.amount.amountMinor,
        currency: checkout.amount.currency,
        providerRef: checkout.providerRef,
        ...(checkout.articleSlug ? { articleSlug: checkout.articleSlug } : {}),
        ...(checkout.email ? { email: checkout.email } : {}),
        ...(checkout.consentId ? { consentId: checkout.consentId } : {}),
        state: 'redirected',
        nextCheckAt: checkout.nextCheckAt,
      });
    },

    async findById(id: string): Promise<CheckoutRecord | null> {
      if (!mongoose.isValidObjectId(id)) return null;
      const doc = await Checkouts.findById(id).lean();
      return doc ? toRecord(doc) : null;
    },

    async findByRef(ref: string): Promise<CheckoutRecord | null> {
      const doc = await Checkouts.findOne({ ref: String(ref) }).lean();
      return doc ? toRecord(doc) : null;
    },

    /** Moves a checkout to `to` if its current state allows it; false when it does not (or it is already there). */
    moveTo(id: string, to: CheckoutState, extra: { failureReason?: string } = {}): Promise<boolean> {
      if (!mongoose.isValidObjectId(id)) return Promise.resolve(false);
      return move({ _id: new mongoose.Types.ObjectId(id) }, to, extra);
    },

    /** Open checkouts the sweep should ask the provider about now. */
    async dueForCheck(now: Date, limit: number): Promise<CheckoutRecord[]> {
      const docs = await Checkouts.find({ state: { $in: openStates }, nextCheckAt: { $lte: now } })
        .sort({ nextCheckAt: 1 })
        .limit(limit)
        .lean();
      return docs.map((d) => toRecord(d as Record<string, unknown>));
    },

    // ----- personal data (readers' rights: export and erasure) -----------------------------------

    /** Checkouts a reader started with this email or that led to these payments' checkouts. */
    async ofPerson(email: string, checkoutIds: string[]): Promise<CheckoutRecord[]> {
      const ids = checkoutIds.filter((id) => mongoose.isValidObjectId(id));
      const docs = await Checkouts.find({ $or: [{ email: String(email) }, { _id: { $in: ids } }] })
        .sort({ createdAt: 1 })
        .lean();
      return docs.map((d) => toRecord(d as Record<string, unknown>));
    },

    /**
     * Erasure: the email on these checkouts becomes the pseudonym and their consent id goes (the
     * link between a consent id and a person); plan, amount and state stay. Idempotent.
     */
    async forgetPerson(email: string, checkoutIds: string[], pseudonym: string): Promise<number> {
      const ids = checkoutIds.filter((id) => mongoose.isValidObjectId(id));
      const mine = { $or: [{ email: String(email) }, { _id: { $in: ids } }] };
      const renamed = await Checkouts.updateMany(
        { $and: [mine, { email: { $exists: true, $ne: pseudonym } }] },
        { $set: { email: pseudonym } },
      );
      const unlinked = await Checkouts.updateMany(
        { $and: [mine, { consentId: { $exists: true } }] },
        { $unset: { consentId: 1 } },
      );
      return renamed.modifiedCount + unlinked.modifiedCount;
    },

    /** Pushes the next check back; guarded on the number of checks seen, so two sweeps check once. */
    async scheduleCheck(id: string, seenChecks: number, at: Date): Promise<boolean> {
      const result = await Checkouts.updateOne(
        { _id: id, checks: seenChecks, state: { $in: openStates } },
        { $set: { nextCheckAt: at }, $inc: { checks: 1 } },
      );
      return result.modifiedCount === 1;
    },
  };
}

export type CheckoutRepository = ReturnType<typeof createCheckoutRepository>;
