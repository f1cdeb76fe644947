import mongoose, { Schema, type InferSchemaType } from 'mongoose';

/** What a reader started: links a return visit or a webhook back to the reader's intent. */
const checkoutSchema = new Schema(
  {
    planId: { type: String, required: true },
    interval: { type: String, required: true, enum: ['once', 'month'] },
    provider: { type: String, required: true, enum: ['stripe', 'paypal'] },
    amountMinor: { type: Number, required: true, min: 1 },
    currency: { type: String, required: true },
    providerRef: { type: String },
    state: {
      type: String,
      required: true,
      enum: ['started', 'redirected', 'completed', 'cancelled', 'failed'],
      default: 'started',
    },
    failureReason: { type: String },
    completedAt: { type: Date },
  },
  { timestamps: true },
);
checkoutSchema.index({ provider: 1, providerRef: 1 });
checkoutSchema.index({ createdAt: 1 });

export const Checkout = mongoose.model('Checkout', checkoutSchema);
export type CheckoutDoc = InferSchemaType<typeof checkoutSchema> & { _id: mongoose.Types.ObjectId };
