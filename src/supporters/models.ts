import mongoose, { Schema, type InferSchemaType } from 'mongoose';

/** One reader who gave, found again by normalised email. Totals are per currency, in minor units. */
const supporterSchema = new Schema(
  {
    email: { type: String, required: true, lowercase: true, trim: true },
    name: { type: String },
    providerCustomerIds: { stripe: String, paypal: String },
    firstSupportedAt: { type: Date, required: true },
    lastSupportedAt: { type: Date, required: true },
    /** e.g. { USD: 1500 } — minor units per currency. */
    totals: { type: Schema.Types.Mixed, default: {} },
    donationCount: { type: Number, default: 0 },
    erasedAt: { type: Date },
    /** Ledger changes already counted in the totals (see ledger.ts: effects are applied once). */
    marks: { type: [String], default: [], select: false },
  },
  { timestamps: true, minimize: false },
);
supporterSchema.index({ email: 1 }, { unique: true });

const refundSchema = new Schema(
  { id: { type: String, required: true }, amountMinor: { type: Number, required: true }, at: Date },
  { _id: false },
);
const disputeSchema = new Schema(
  { id: { type: String, required: true }, status: { type: String, required: true }, at: Date },
  { _id: false },
);

const adjustmentSchema = new Schema(
  {
    mark: { type: String, required: true },
    deltaMinor: { type: Number, required: true },
    day: { type: String, required: true },
    applied: { type: Boolean, default: false },
  },
  { _id: false },
);

/** The ledger: one entry per successful provider payment. Nothing here is ever deleted. */
const donationSchema = new Schema(
  {
    provider: { type: String, required: true, enum: ['stripe', 'paypal'] },
    providerPaymentId: { type: String, required: true },
    supporterId: { type: Schema.Types.ObjectId, ref: 'Supporter' },
    checkoutId: { type: Schema.Types.ObjectId },
    planId: { type: String, required: true },
    kind: { type: String, required: true, enum: ['one_off', 'recurring'] },
    subscriptionId: { type: String },
    amountMinor: { type: Number, required: true, min: 0 },
    currency: { type: String, required: true },
    status: {
      type: String,
      required: true,
      enum: ['succeeded', 'partially_refunded', 'refunded', 'disputed'],
    },
    refundedMinor: { type: Number, default: 0 },
    refunds: { type: [refundSchema], default: [] },
    disputes: { type: [disputeSchema], default: [] },
    /** The provider said a different amount than we started; kept, flagged for finance. */
    amountMismatch: { type: Boolean, default: false },
    /** This payment made its supporter new (counted in the day's rollup). */
    newSupporter: { type: Boolean, default: false },
    /** Which of the entry's effects elsewhere are done; a retry finishes the rest. */
    effects: {
      supporter: { type: Boolean, default: false },
      rollup: { type: Boolean, default: false },
      links: { type: Boolean, default: false },
    },
    /** Refund amounts still to be (or already) taken off rollups and totals, each exactly once. */
    adjustments: { type: [adjustmentSchema], default: [] },
    occurredAt: { type: Date, required: true },
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
donationSchema.index({ 'receipt.status': 1, 'receipt.nextAttemptAt': 1 });
donationSchema.index({ occurredAt: 1 });

/** Recurring support. Status only moves forward; cancelled is final. */
const subscriptionSchema = new Schema(
  {
    provider: { type: String, required: true, enum: ['stripe', 'paypal'] },
    providerSubscriptionId: { type: String, required: true },
    supporterId: { type: Schema.Types.ObjectId, ref: 'Supporter' },
    checkoutId: { type: Schema.Types.ObjectId },
    planId: { type: String, default: 'unknown' },
    amountMinor: { type: Number },
    currency: { type: String },
    status: {
      type: String,
      required: true,
      enum: ['pending', 'active', 'past_due', 'suspended', 'cancelled'],
    },
    statusChangedAt: { type: Date, required: true },
    currentPeriodEnd: { type: Date },
    activatedAt: { type: Date },
    cancelledAt: { type: Date },
  },
  { timestamps: true },
);
subscriptionSchema.index({ provider: 1, providerSubscriptionId: 1 }, { unique: true });
subscriptionSchema.index({ supporterId: 1 });
subscriptionSchema.index({ status: 1 });

/** Daily totals for reports, moved with $inc exactly when a ledger entry changes. */
const rollupSchema = new Schema(
  {
    day: { type: String, required: true },
    currency: { type: String, required: true },
    provider: { type: String, required: true },
    planId: { type: String, required: true },
    grossMinor: { type: Number, default: 0 },
    refundedMinor: { type: Number, default: 0 },
    count: { type: Number, default: 0 },
    refundCount: { type: Number, default: 0 },
    newSupporters: { type: Number, default: 0 },
    /** Ledger changes already counted here, so a retried change is never counted twice. */
    marks: { type: [String], default: [], select: false },
  },
  { timestamps: false },
);
rollupSchema.index({ day: 1, currency: 1, provider: 1, planId: 1 }, { unique: true });

export const Supporter = mongoose.model('Supporter', supporterSchema);
export const Donation = mongoose.model('Donation', donationSchema);
export const Subscription = mongoose.model('Subscription', subscriptionSchema);
export const Rollup = mongoose.model('Rollup', rollupSchema);

export type SupporterDoc = InferSchemaType<typeof supporterSchema> & { _id: mongoose.Types.ObjectId };
export type DonationDoc = InferSchemaType<typeof donationSchema> & { _id: mongoose.Types.ObjectId };
export type SubscriptionDoc = InferSchemaType<typeof subscriptionSchema> & { _id: mongoose.Types.ObjectId };
