/**
 * Direct access to the ledger's collections for assertions, through the same (default) mongoose
 * connection the runtime uses. Tests read what is stored; they never write around the services
 * unless the test says why (moving time, simulating a crash).
 */
import mongoose from 'mongoose';
import { modelOf } from '../../src/db/model.js';
import { checkoutSchema } from '../../src/donations/repository.js';
import {
  donationSchema,
  ledgerEntrySchema,
  mrrMovementSchema,
  rollupSchema,
  subscriptionSchema,
  supporterSchema,
} from '../../src/supporters/models.js';

const connection = mongoose.connection;

export const Supporter = modelOf(connection, 'Supporter', supporterSchema);
export const Donation = modelOf(connection, 'Donation', donationSchema);
export const LedgerEntry = modelOf(connection, 'LedgerEntry', ledgerEntrySchema);
export const Subscription = modelOf(connection, 'Subscription', subscriptionSchema);
export const MrrMovement = modelOf(connection, 'MrrMovement', mrrMovementSchema);
export const Rollup = modelOf(connection, 'Rollup', rollupSchema);
export const Checkout = modelOf(connection, 'Checkout', checkoutSchema);

/** A stored document's fields, for assertions (records are loosely typed on purpose). */
export type Stored = Record<string, unknown> & { _id: mongoose.Types.ObjectId };

export async function one(
  model: mongoose.Model<Record<string, unknown>>,
  filter: Record<string, unknown>,
): Promise<Stored | null> {
  return (await model.findOne(filter).lean()) as Stored | null;
}

/** The sum of a rollup field over the buckets matching `filter` (UTC zone unless given). */
export async function rollupSum(field: string, filter: Record<string, unknown> = {}): Promise<number> {
  const docs = (await Rollup.find({ zone: 'UTC', ...filter }).lean()) as Stored[];
  return docs.reduce((sum, d) => sum + ((d[field] as number | undefined) ?? 0), 0);
}
