/**
 * Direct access to the ledger's collections for assertions, through the same (default) mongoose
 * connection the runtime uses. Tests read what is stored; they never write around the services
 * unless the test says why (moving time, simulating a crash).
 */
import mongoose from 'mongoose';
import { modelOf } from '../../src/db/model.js';
import { checkoutSchema } from '../../src/donations/repository.js';
import {
  type DonationDoc,
  type LedgerEntryDoc,
  type MrrMovementDoc,
  type RollupDoc,
  type SubscriptionDoc,
  type SupporterDoc,
  donationSchema,
  ledgerEntrySchema,
  mrrMovementSchema,
  rollupSchema,
  subscriptionSchema,
  supporterSchema,
} from '../../src/supporters/models.js';

const connection = mongoose.connection;

// Typed with the schemas' inferred document types for assertions (the app's repositories map by hand).
const typed = <T>(name: string, schema: mongoose.Schema) =>
  modelOf(connection, name, schema) as unknown as mongoose.Model<T>;
export const Supporter = typed<SupporterDoc>('Supporter', supporterSchema);
export const Donation = typed<DonationDoc>('Donation', donationSchema);
export const LedgerEntry = typed<LedgerEntryDoc>('LedgerEntry', ledgerEntrySchema);
export const Subscription = typed<SubscriptionDoc>('Subscription', subscriptionSchema);
export const MrrMovement = typed<MrrMovementDoc>('MrrMovement', mrrMovementSchema);
export const Rollup = typed<RollupDoc>('Rollup', rollupSchema);
export const Checkout = modelOf(connection, 'Checkout', checkoutSchema);

/** A stored document's fields, for assertions (records are loosely typed on purpose). */
export type Stored = Record<string, unknown> & { _id: mongoose.Types.ObjectId };

/** Anything with mongoose's findOne(...).lean(): the typed models above. */
interface Findable {
  findOne(filter: Record<string, unknown>): { lean(): PromiseLike<unknown> };
}

export async function one(model: Findable, filter: Record<string, unknown>): Promise<Stored | null> {
  return (await model.findOne(filter).lean()) as Stored | null;
}

/** The sum of a rollup field over the buckets matching `filter` (UTC zone unless given). */
export async function rollupSum(field: string, filter: Record<string, unknown> = {}): Promise<number> {
  const docs = (await Rollup.find({ zone: 'UTC', ...filter }).lean()) as Stored[];
  return docs.reduce((sum, d) => sum + ((d[field] as number | undefined) ?? 0), 0);
}
