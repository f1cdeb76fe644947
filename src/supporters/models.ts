/**
 * Schemas of the ledger's collections. Only repository.ts builds models from them; every other
 * file gets plain objects through the repository.
 */
import { Schema, type InferSchemaType, type Types } from 'mongoose';
import { providerIds } from '../payments/types.js';

/** One reader who gave, found again by normalised email. Totals are per currency, in minor units. */
export const supporterSchema = new Schema(
  {
    email: { type: String, required: true, lowercase: true, trim: true },
    name: { type: String },
    providerCustomerIds: { stripe: String, paypal: String },
    firstSupportedAt: { type: Date },
    lastSupportedAt: { type: Date },
    /** The ledger entry of the supporter's earliest payment: the one that counts them as new. */
    /** `displaced`: entries that held the place before, whose count may still have to move away. */
    firstPayment: { key: String, at: Date, displaced: { type: [String], default: undefined } },
    /** e.g. { USD: 1500 } — minor units per currency, net of refunds and lost disputes. */
    totals: { type: Schema.Types.Mixed, default: {} },
    donationCount: { type: Number, default: 0 },
    /** Manage links issued before this moment no longer work (a newer link was mailed). */
    linksValidFrom: { type: Date },
    erasedAt: { type: Date },
    /** Ledger entries already counted in the totals (each counted exactly once). */
    marks: { type: [String], default: [], select: false },
  },
  { timestamps: true, minimize: false },
);
supporterSchema.index({ email: 1 }, { unique: true });

const movementSchema = new Schema(
  {
    key: { type: String, required: true },
    type: { type: String, required: true, enum: ['payment', 'refund', 'dispute', 'dispute_reversal'] },
    amountMinor: { type: Number, required: true },
    feeMinor: { type: Number, default: 0 },
    at: { type: Date, required: true },
    ref: { type: String },
  },
  { _id: false },
);

/** One successful provider payment and everything that happened to its money since. */
export const donationSchema = new Schema(
  {
    provider: { type: String, required: true, enum: providerIds },
    providerPaymentId: { type: String, required: true },
    supporterId: { type: Schema.Types.ObjectId },
    checkoutId: { type: Schema.Types.ObjectId },
    articleSlug: { type: String },
    planId: { type: String, required: true },
    interval: { type: String, required: true, enum: ['once', 'month'] },
    kind: { type: String, required: true, enum: ['one_off', 'recurring'] },
    subscriptionId: { type: String },
    amountMinor: { type: Number, required: true, min: 0 },
    currency: { type: String, required: true },
    feeMinor: { type: Number },
    status: {
      type: String,
      required: true,
      enum: ['succeeded', 'partially_refunded', 'refunded', 'disputed', 'dispute_lost'],
    },
    refundedMinor: { type: Number, default: 0 },
    lostMinor: { type: Number, default: 0 },
    refunds: {
      type: [{ id: String, amountMinor: Number, at: Date, _id: false }],
      default: [],
    },
    disputes: {
      type: [
        {
          id: String,
          status: String,
          amountMinor: Number,
          at: Date,
          takenMinor: Number,
          moves: Number,
          _id: false,
        },
      ],
      default: [],
    },
    /** The payment said a different amount than was started; kept, flagged for finance. */
    amountMismatch: { type: Boolean, default: false },
    occurredAt: { type: Date, required: true },
    /** Every money movement of this payment, written with the state that caused it (an outbox). */
    movements: { type: [movementSchema], default: [] },
    /** False while a movement or the supporter still has to reach the entries, totals and rollups. */
    settled: { type: Boolean, default: false },
    /** Movements already settled (reset when a supporter is attached). */
    settledKeys: { type: [String], default: [] },
    /** Guards every read-modify-write of this document. */
    version: { type: Number, default: 0 },
    receipt: {
      status: { type: String, enum: ['pending', 'sent', 'skipped'], default: 'pending' },
      attempts: { type: Number, default: 0 },
      nextAttemptAt: { type: Date },
      lastError: { type: String },
      sentAt: { type: Date },
    },
  },
  { timestamps: true },
);
donationSchema.index({ provider: 1, providerPaymentId: 1 }, { unique: true });
donationSchema.index({ supporterId: 1, occurredAt: -1 });
donationSchema.index({ provider: 1, subscriptionId: 1 });
donationSchema.index({ 'receipt.status': 1, 'receipt.nextAttemptAt': 1 });
donationSchema.index({ settled: 1, updatedAt: 1 });
donationSchema.index({ occurredAt: 1 });

/**
 * The ledger entries: one per money movement (payment, refund, lost dispute, dispute reversal),
 * append-only, each linked to its payment. Reports, exports and the nightly check read these.
 */
export const ledgerEntrySchema = new Schema(
  {
    key: { type: String, required: true },
    type: { type: String, required: true, enum: ['payment', 'refund', 'dispute', 'dispute_reversal'] },
    donationId: { type: Schema.Types.ObjectId, required: true },
    provider: { type: String, required: true, enum: providerIds },
    providerPaymentId: { type: String, required: true },
    providerRef: { type: String },
    supporterId: { type: Schema.Types.ObjectId },
    planId: { type: String, required: true },
    interval: { type: String, required: true, enum: ['once', 'month'] },
    subscriptionId: { type: String },
    articleSlug: { type: String },
    amountMinor: { type: Number, required: true },
    feeMinor: { type: Number, default: 0 },
    currency: { type: String, required: true },
    occurredAt: { type: Date, required: true },
    paymentOccurredAt: { type: Date, required: true },
    /** This entry made its supporter new (their earliest payment). */
    newSupporter: { type: Boolean, default: false },
    effects: {
      rollup: { type: Boolean, default: false },
      supporter: { type: Boolean, default: false },
    },
  },
  { versionKey: false },
);
ledgerEntrySchema.index({ key: 1 }, { unique: true });
ledgerEntrySchema.index({ occurredAt: 1 });
ledgerEntrySchema.index({ donationId: 1 });

const mrrMovementFields = {
  key: { type: String, required: true },
  base: { type: String, required: true },
  type: {
    type: String,
    required: true,
    enum: ['new', 'expansion', 'contraction', 'churn', 'reactivation'],
  },
  deltaMinor: { type: Number, required: true },
  countDelta: { type: Number, required: true },
  currency: { type: String, required: true },
  at: { type: Date, required: true },
  involuntary: { type: Boolean },
  /** For an undo: the key of the movement it takes back. */
  undoes: { type: String },
};

/** Recurring support. Status only moves forward; cancelled is final. */
export const subscriptionSchema = new Schema(
  {
    provider: { type: String, required: true, enum: providerIds },
    providerSubscriptionId: { type: String, required: true },
    supporterId: { type: Schema.Types.ObjectId },
    checkoutId: { type: Schema.Types.ObjectId },
    articleSlug: { type: String },
    planId: { type: String, default: 'unknown' },
    amountMinor: { type: Number },
    currency: { type: String },
    amountAt: { type: Date },
    status: {
      type: String,
      required: true,
      enum: ['pending', 'active', 'past_due', 'suspended', 'cancelled'],
    },
    statusChangedAt: { type: Date, required: true },
    currentPeriodEnd: { type: Date },
    /** When the support ends (a cancellation takes effect at the end of what was paid for). */
    endsAt: { type: Date, default: undefined },
    endsAtChangedAt: { type: Date },
    pastDueSince: { type: Date },
    activatedAt: { type: Date },
    cancelledAt: { type: Date },
    history: {
      type: [
        {
          at: Date,
          status: String,
          amountMinor: Number,
          currency: String,
          endsAt: Date,
          pastDueSince: Date,
          _id: false,
        },
      ],
      default: [],
    },
    /** The MRR movements currently standing for this subscription. */
    mrr: { type: [new Schema(mrrMovementFields, { _id: false })], default: [] },
    /** MRR movements written with the state that caused them, still to reach the rollups (an outbox). */
    movements: { type: [new Schema(mrrMovementFields, { _id: false })], default: [] },
    settled: { type: Boolean, default: false },
    version: { type: Number, default: 0 },
  },
  { timestamps: true },
);
subscriptionSchema.index({ provider: 1, providerSubscriptionId: 1 }, { unique: true });
subscriptionSchema.index({ supporterId: 1 });
subscriptionSchema.index({ status: 1 });
subscriptionSchema.index({ settled: 1, updatedAt: 1 });

/** MRR movements, append-only (an undo is a movement of its own). */
export const mrrMovementSchema = new Schema(
  {
    ...mrrMovementFields,
    subscriptionId: { type: Schema.Types.ObjectId, required: true },
    provider: { type: String, required: true, enum: providerIds },
    planId: { type: String, required: true },
    supporterId: { type: Schema.Types.ObjectId },
    articleSlug: { type: String },
  },
  { versionKey: false },
);
mrrMovementSchema.index({ key: 1 }, { unique: true });
mrrMovementSchema.index({ at: 1 });

/**
 * Daily totals per reporting time zone, currency, provider and plan, moved with $inc exactly
 * once per ledger entry or MRR movement (its key is kept in `marks`), so reports cost O(days).
 */
export const rollupSchema = new Schema(
  {
    zone: { type: String, required: true },
    day: { type: String, required: true },
    currency: { type: String, required: true },
    provider: { type: String, required: true },
    planId: { type: String, required: true },
    grossMinor: { type: Number, default: 0 },
    count: { type: Number, default: 0 },
    feeMinor: { type: Number, default: 0 },
    refundedMinor: { type: Number, default: 0 },
    refundCount: { type: Number, default: 0 },
    disputeLostMinor: { type: Number, default: 0 },
    disputeLostCount: { type: Number, default: 0 },
    disputeReversedMinor: { type: Number, default: 0 },
    disputeReversedCount: { type: Number, default: 0 },
    newSupporters: { type: Number, default: 0 },
    mrrNewMinor: { type: Number, default: 0 },
    mrrExpansionMinor: { type: Number, default: 0 },
    mrrContractionMinor: { type: Number, default: 0 },
    mrrChurnMinor: { type: Number, default: 0 },
    mrrReactivationMinor: { type: Number, default: 0 },
    mrrInvoluntaryChurnMinor: { type: Number, default: 0 },
    mrrRecoveredMinor: { type: Number, default: 0 },
    subscriptionsNew: { type: Number, default: 0 },
    subscriptionsChurned: { type: Number, default: 0 },
    subscriptionsReactivated: { type: Number, default: 0 },
    /** Net change of paying subscriptions: the running sum is the active count on any day. */
    subscriptionsDelta: { type: Number, default: 0 },
    /** Net change of MRR: the running sum is the MRR on any day. */
    mrrDeltaMinor: { type: Number, default: 0 },
    marks: { type: [String], default: [], select: false },
  },
  { timestamps: false, versionKey: false },
);
rollupSchema.index({ zone: 1, day: 1, currency: 1, provider: 1, planId: 1 }, { unique: true });

export type SupporterDoc = InferSchemaType<typeof supporterSchema> & { _id: Types.ObjectId };
export type DonationDoc = InferSchemaType<typeof donationSchema> & { _id: Types.ObjectId };
export type LedgerEntryDoc = InferSchemaType<typeof ledgerEntrySchema> & { _id: Types.ObjectId };
export type SubscriptionDoc = InferSchemaType<typeof subscriptionSchema> & { _id: Types.ObjectId };
export type MrrMovementDoc = InferSchemaType<typeof mrrMovementSchema> & { _id: Types.ObjectId };
export type RollupDoc = InferSchemaType<typeof rollupSchema> & { _id: Types.ObjectId };
