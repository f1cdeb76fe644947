/**
 * Remembers which PayPal catalog product and billing plan serve each (amount, currency, interval),
 * so a plan is provisioned once and not on every monthly checkout. Several processes may provision
 * the same key at the same moment: the first stored plan wins and everyone uses it.
 */
import mongoose from 'mongoose';
import type { PayPalPlanStore } from './index.js';

const paypalPlanSchema = new mongoose.Schema(
  {
    key: { type: String, required: true, unique: true },
    planId: { type: String, required: true },
    productId: { type: String },
  },
  { collection: 'paypalplans', timestamps: { createdAt: true, updatedAt: false } },
);

export const PayPalPlan =
  (mongoose.models.PayPalPlan as mongoose.Model<mongoose.InferSchemaType<typeof paypalPlanSchema>>) ??
  mongoose.model('PayPalPlan', paypalPlanSchema);

function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

export function createMongoPayPalPlanStore(): PayPalPlanStore {
  return {
    async find(key) {
      const doc = await PayPalPlan.findOne({ key }, { planId: 1 }).lean();
      return doc?.planId ?? null;
    },
    async save(key, planId, productId) {
      const insert: Record<string, string> = { key, planId };
      if (productId) insert.productId = productId;
      try {
        const doc = await PayPalPlan.findOneAndUpdate(
          { key },
          { $setOnInsert: insert },
          { upsert: true, returnDocument: 'after', projection: { planId: 1 } },
        ).lean();
        if (doc?.planId) return doc.planId;
      } catch (err) {
        // Two upserts racing on a unique key: the loser gets a duplicate-key error, and the
        // winner's document is there to read.
        if (!isDuplicateKey(err)) throw err;
      }
      const winner = await PayPalPlan.findOne({ key }, { planId: 1 }).lean();
      if (!winner) throw new Error(`PayPal plan for ${key} vanished while saving it`);
      return winner.planId;
    },
  };
}
