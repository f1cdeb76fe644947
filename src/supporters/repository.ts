/**
 * The ledger's storage: the only file that knows its mongoose models. Every method returns plain
 * objects; every change of a recorded document is a guarded update (its version, or a condition
 * on the field it changes), so callers can retry on conflict without ever writing twice.
 */
import mongoose, { type Connection } from 'mongoose';
import type { Document, UpdateFilter } from 'mongodb';
import { modelOf } from '../db/model.js';
import { isDuplicateKey } from '../db/guarded-update.js';
import type { ProviderId, SubscriptionStatus } from '../payments/types.js';
import type {
  DisputeState,
  KeyedMrrMovement,
  Movement,
  PaymentStatus,
  SubscriptionSnapshot,
} from './ledger-rules.js';
import {
  donationSchema,
  ledgerEntrySchema,
  mrrMovementSchema,
  rollupSchema,
  subscriptionSchema,
  supporterSchema,
} from './models.js';

type Id = mongoose.Types.ObjectId;

export interface SupporterRecord {
  id: string;
  email: string;
  name?: string;
  totals: Record<string, number>;
  donationCount: number;
  firstSupportedAt?: Date;
  lastSupportedAt?: Date;
  /**
   * The entry of the earliest payment, which counts the supporter as new; `displaced` lists the
   * entries that held that place before and whose count may not have been moved away yet.
   */
  firstPayment?: { key: string; at: Date; displaced?: string[] };
  providerCustomerIds: Partial<Record<ProviderId, string>>;
  linksValidFrom?: Date;
  erasedAt?: Date;
}

export interface DonationRecord {
  id: string;
  provider: ProviderId;
  providerPaymentId: string;
  supporterId?: string;
  checkoutId?: string;
  articleSlug?: string;
  planId: string;
  interval: 'once' | 'month';
  kind: 'one_off' | 'recurring';
  subscriptionId?: string;
  amountMinor: number;
  currency: string;
  feeMinor?: number;
  status: PaymentStatus;
  refundedMinor: number;
  lostMinor: number;
  refunds: Array<{ id: string; amountMinor: number; at: Date }>;
  disputes: DisputeState[];
  amountMismatch: boolean;
  occurredAt: Date;
  movements: Movement[];
  /** Movements whose effects are all applied (a later settle skips them). */
  settledKeys: string[];
  settled: boolean;
  version: number;
  receipt: { status: 'pending' | 'sent' | 'skipped'; attempts: number; nextAttemptAt?: Date; sentAt?: Date };
}

export type NewDonation = Omit<DonationRecord, 'id' | 'settled' | 'settledKeys' | 'version' | 'receipt'>;

export interface LedgerEntryRecord {
  key: string;
  type: Movement['type'];
  donationId: string;
  provider: ProviderId;
  providerPaymentId: string;
  providerRef?: string;
  supporterId?: string;
  planId: string;
  interval: 'once' | 'month';
  subscriptionId?: string;
  articleSlug?: string;
  amountMinor: number;
  feeMinor: number;
  currency: string;
  occurredAt: Date;
  paymentOccurredAt: Date;
  newSupporter: boolean;
  effects: { rollup: boolean; supporter: boolean };
}

export interface SubscriptionRecord {
  id: string;
  provider: ProviderId;
  providerSubscriptionId: string;
  supporterId?: string;
  checkoutId?: string;
  articleSlug?: string;
  planId: string;
  amountMinor?: number;
  currency?: string;
  amountAt?: Date;
  status: SubscriptionStatus;
  statusChangedAt: Date;
  currentPeriodEnd?: Date;
  endsAt?: Date | null;
  endsAtChangedAt?: Date;
  pastDueSince?: Date;
  activatedAt?: Date;
  cancelledAt?: Date;
  history: SubscriptionSnapshot[];
  mrr: KeyedMrrMovement[];
  movements: KeyedMrrMovement[];
  settled: boolean;
  version: number;
}

export type SubscriptionFields = Omit<
  SubscriptionRecord,
  'id' | 'provider' | 'providerSubscriptionId' | 'settled' | 'version'
>;

/** One rollup document's figures (see models.ts). */
export type RollupRow = RollupBucket & Record<RollupField, number | undefined>;

export const rollupFields = [
  'grossMinor',
  'count',
  'feeMinor',
  'refundedMinor',
  'refundCount',
  'disputeLostMinor',
  'disputeLostCount',
  'disputeReversedMinor',
  'disputeReversedCount',
  'newSupporters',
  'mrrNewMinor',
  'mrrExpansionMinor',
  'mrrContractionMinor',
  'mrrChurnMinor',
  'mrrReactivationMinor',
  'mrrInvoluntaryChurnMinor',
  'mrrRecoveredMinor',
  'subscriptionsNew',
  'subscriptionsChurned',
  'subscriptionsReactivated',
  'subscriptionsDelta',
  'mrrDeltaMinor',
] as const;
export type RollupField = (typeof rollupFields)[number];

/** What the ledger export shows of an entry. */
export type ExportedEntry = Pick<
  LedgerEntryRecord,
  | 'key'
  | 'type'
  | 'donationId'
  | 'provider'
  | 'providerPaymentId'
  | 'planId'
  | 'interval'
  | 'amountMinor'
  | 'feeMinor'
  | 'currency'
  | 'occurredAt'
  | 'paymentOccurredAt'
> & { providerRef: string | undefined; supporterId: string | undefined; articleSlug: string | undefined };

/** What the nightly check reads of an entry. */
export type CheckedEntry = Pick<
  LedgerEntryRecord,
  | 'key'
  | 'type'
  | 'provider'
  | 'planId'
  | 'currency'
  | 'amountMinor'
  | 'feeMinor'
  | 'occurredAt'
  | 'newSupporter'
> & { articleSlug: string | undefined; applied: boolean };

/** What the nightly check reads of an MRR movement. */
export type CheckedMrrMovement = KeyedMrrMovement & {
  provider: ProviderId;
  planId: string;
  applied: boolean;
};

/** The bucket a rollup increment lands in. */
export interface RollupBucket {
  zone: string;
  day: string;
  currency: string;
  provider: ProviderId;
  planId: string;
}

/**
 * The driver's update types cannot express pushes and increments on documents whose shape it does
 * not know; the shapes are ours (models.ts), so updates are built as plain objects and handed over here.
 */
const upd = (update: Record<string, unknown>) => update as unknown as UpdateFilter<Document>;

const oid = (id: string | Id) => (typeof id === 'string' ? new mongoose.Types.ObjectId(id) : id);
const str = (id: unknown) => (id === undefined || id === null ? undefined : String(id));

/** Drops null/undefined fields a lean read leaves, so records only carry what is known. */
function clean<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) {
    if (value[key] === null || value[key] === undefined) delete value[key];
  }
  return value;
}

export function createLedgerRepository(connection: Connection) {
  const Supporters = modelOf(connection, 'Supporter', supporterSchema);
  const Donations = modelOf(connection, 'Donation', donationSchema);
  const Entries = modelOf(connection, 'LedgerEntry', ledgerEntrySchema);
  const Subscriptions = modelOf(connection, 'Subscription', subscriptionSchema);
  const MrrMovements = modelOf(connection, 'MrrMovement', mrrMovementSchema);
  const Rollups = modelOf(connection, 'Rollup', rollupSchema);
  // The driver's own collections: no casting or defaults between the rules and the stored bytes.
  const raw = {
    supporters: Supporters.collection,
    donations: Donations.collection,
    entries: Entries.collection,
    subscriptions: Subscriptions.collection,
    mrrMovements: MrrMovements.collection,
    rollups: Rollups.collection,
  } satisfies Record<string, mongoose.Collection>;
  // The hot paths write through the driver (the documents are built here, fully typed); the
  // unique indexes they rely on must exist first.
  let ready: Promise<unknown> | undefined;
  const indexes = () =>
    (ready ??= Promise.all([Entries.init(), Rollups.init(), MrrMovements.init(), Donations.init()]).catch(
      (err: unknown) => {
        ready = undefined;
        throw err;
      },
    ));

  const toSupporter = (d: Record<string, unknown>): SupporterRecord =>
    clean({
      id: String(d._id),
      email: d.email as string,
      name: d.name as string | undefined,
      totals: (d.totals as Record<string, number> | undefined) ?? {},
      donationCount: (d.donationCount as number | undefined) ?? 0,
      firstSupportedAt: d.firstSupportedAt as Date | undefined,
      lastSupportedAt: d.lastSupportedAt as Date | undefined,
      firstPayment: (d.firstPayment as SupporterRecord['firstPayment'])?.key
        ? clean({ ...(d.firstPayment as NonNullable<SupporterRecord['firstPayment']>) })
        : undefined,
      providerCustomerIds: clean({ ...((d.providerCustomerIds as object | undefined) ?? {}) }),
      linksValidFrom: d.linksValidFrom as Date | undefined,
      erasedAt: d.erasedAt as Date | undefined,
    });

  const toDonation = (d: Record<string, unknown>): DonationRecord => {
    const out = clean({ ...d }) as unknown as DonationRecord & { _id?: unknown; __v?: unknown };
    out.id = String(d._id);
    out.supporterId = str(d.supporterId);
    out.checkoutId = str(d.checkoutId);
    out.refunds = ((d.refunds as DonationRecord['refunds'] | undefined) ?? []).map((r) => ({ ...r }));
    out.disputes = ((d.disputes as DisputeState[] | undefined) ?? []).map((x) => ({
      ...x,
      takenMinor: x.takenMinor ?? 0,
      moves: x.moves ?? 0,
    }));
    out.movements = ((d.movements as Movement[] | undefined) ?? []).map((m) => clean({ ...m }));
    out.settledKeys = [...((d.settledKeys as string[] | undefined) ?? [])];
    out.refundedMinor = (d.refundedMinor as number | undefined) ?? 0;
    out.lostMinor = (d.lostMinor as number | undefined) ?? 0;
    out.version = (d.version as number | undefined) ?? 0;
    out.settled = d.settled === true;
    out.amountMismatch = d.amountMismatch === true;
    out.interval =
      (d.interval as DonationRecord['interval'] | undefined) ?? (d.kind === 'recurring' ? 'month' : 'once');
    out.receipt = (d.receipt as DonationRecord['receipt'] | undefined) ?? { status: 'pending', attempts: 0 };
    delete out._id;
    delete out.__v;
    return clean(out);
  };

  const toSubscription = (d: Record<string, unknown>): SubscriptionRecord => {
    const out = clean({ ...d }) as unknown as SubscriptionRecord & { _id?: unknown; __v?: unknown };
    out.id = String(d._id);
    out.supporterId = str(d.supporterId);
    out.checkoutId = str(d.checkoutId);
    out.history = ((d.history as SubscriptionSnapshot[] | undefined) ?? []).map((h) => clean({ ...h }));
    out.mrr = ((d.mrr as KeyedMrrMovement[] | undefined) ?? []).map((m) => clean({ ...m }));
    out.movements = ((d.movements as KeyedMrrMovement[] | undefined) ?? []).map((m) => clean({ ...m }));
    out.version = (d.version as number | undefined) ?? 0;
    out.settled = d.settled === true;
    out.planId = (d.planId as string | undefined) ?? 'unknown';
    if (d.endsAt === null) out.endsAt = null;
    delete out._id;
    delete out.__v;
    return clean(out);
  };

  const toEntry = (d: Record<string, unknown>): LedgerEntryRecord => {
    const out = clean({ ...d }) as unknown as LedgerEntryRecord & { _id?: unknown };
    out.donationId = String(d.donationId);
    out.supporterId = str(d.supporterId);
    out.effects = {
      rollup: (d.effects as { rollup?: boolean } | undefined)?.rollup === true,
      supporter: (d.effects as { supporter?: boolean } | undefined)?.supporter === true,
    };
    out.newSupporter = d.newSupporter === true;
    out.feeMinor = (d.feeMinor as number | undefined) ?? 0;
    delete out._id;
    return clean(out);
  };

  return {
    // ----- supporters -------------------------------------------------------------------------

    /**
     * Finds the supporter with this email or creates them. A name is only ever set on creation: a
     * payment never overwrites what a supporter is called (that is the supporter's own action).
     */
    async upsertSupporter(
      email: string,
      details: { name?: string; provider: ProviderId; customerId?: string },
    ): Promise<{ id: string; created: boolean }> {
      const update = {
        $setOnInsert: { email, ...(details.name ? { name: details.name } : {}) },
        ...(details.customerId
          ? { $set: { [`providerCustomerIds.${details.provider}`]: details.customerId } }
          : {}),
      };
      for (let attempt = 0; ; attempt += 1) {
        try {
          const result = await raw.supporters.findOneAndUpdate({ email }, upd(update), {
            upsert: true,
            returnDocument: 'after',
            includeResultMetadata: true,
            projection: { _id: 1 },
          });
          const doc = result.value as { _id: Id } | null;
          if (!doc) throw new Error(`supporter ${email} could not be stored`);
          return { id: String(doc._id), created: !result.lastErrorObject?.updatedExisting };
        } catch (err) {
          // Two first payments from one reader at once: one insert wins, the other finds it.
          if (isDuplicateKey(err) && attempt < 3) continue;
          throw err;
        }
      }
    },

    async findSupporter(id: string): Promise<SupporterRecord | null> {
      if (!mongoose.isValidObjectId(id)) return null;
      const doc = await Supporters.findById(id).lean();
      return doc ? toSupporter(doc) : null;
    },

    async findSupporterByEmail(email: string): Promise<SupporterRecord | null> {
      const doc = await Supporters.findOne({ email }).lean();
      return doc ? toSupporter(doc) : null;
    },

    /**
     * The issue time for a new manage link that replaces every earlier one: at least `earliest`,
     * and strictly after the links now valid; links issued before it stop working. Guarded on the
     * value read, so two new links at once still come out one after the other.
     */
    async issueReplacingLink(
      supporterId: string,
      earliest: Date,
      /** What the caller read of the supporter a moment ago (saves a read; a stale value only retries). */
      seen?: { linksValidFrom?: Date },
    ): Promise<Date> {
      for (let attempt = 0; attempt < 10; attempt += 1) {
        let current: Date | undefined;
        if (attempt === 0 && seen) {
          current = seen.linksValidFrom;
        } else {
          const doc = await raw.supporters.findOne(
            { _id: oid(supporterId) },
            { projection: { linksValidFrom: 1 } },
          );
          if (!doc) throw new Error(`supporter ${supporterId} not found`);
          current = doc.linksValidFrom as Date | undefined;
        }
        const at = new Date(Math.max(earliest.getTime(), (current?.getTime() ?? 0) + 1000));
        const result = await raw.supporters.updateOne(
          { _id: oid(supporterId), linksValidFrom: current ?? { $exists: false } },
          upd({ $set: { linksValidFrom: at } }),
        );
        if (result.modifiedCount === 1) return at;
      }
      throw new Error(`manage links of ${supporterId} kept changing`);
    },

    /**
     * Credits a ledger entry to a supporter exactly once: the mark travels with the change in one
     * atomic update, so a retry after a crash finds the mark and changes nothing.
     */
    async creditSupporterOnce(
      supporterId: string,
      mark: string,
      change: { currency: string; amountMinor: number; payment?: { at: Date } },
    ): Promise<{ firstPayment: SupporterRecord['firstPayment'] } | null> {
      // Returns the supporter's first payment as it stands, so the caller needs no second read.
      const doc = await raw.supporters.findOneAndUpdate(
        { _id: oid(supporterId), marks: { $ne: mark } },
        upd({
          $inc: {
            [`totals.${change.currency}`]: change.amountMinor,
            ...(change.payment ? { donationCount: 1 } : {}),
          },
          ...(change.payment
            ? { $max: { lastSupportedAt: change.payment.at }, $min: { firstSupportedAt: change.payment.at } }
            : {}),
          $push: { marks: mark },
        }),
        { projection: { firstPayment: 1 }, returnDocument: 'after' },
      );
      if (!doc) return null;
      const first = doc.firstPayment as SupporterRecord['firstPayment'] | undefined;
      return { firstPayment: first?.key ? clean({ ...first }) : undefined };
    },

    /**
     * Makes `entry` the supporter's first payment if they have none yet or it is earlier than the
     * one recorded, keeping which one it replaced. Guarded on the value read.
     */
    async claimFirstPayment(
      supporterId: string,
      entry: { key: string; at: Date },
      seen: SupporterRecord['firstPayment'],
    ): Promise<SupporterRecord['firstPayment'] | null> {
      // A first payment is only ever replaced by an earlier one, so its key never comes back and
      // guarding on the key alone guards the whole value read (its `displaced` list too).
      const guard = seen ? { 'firstPayment.key': seen.key } : { 'firstPayment.key': { $exists: false } };
      const displaced = seen ? [...new Set([...(seen.displaced ?? []), seen.key])] : [];
      const firstPayment = { key: entry.key, at: entry.at, ...(displaced.length ? { displaced } : {}) };
      const result = await raw.supporters.updateOne(
        { _id: oid(supporterId), ...guard },
        upd({ $set: { firstPayment } }),
      );
      return result.modifiedCount === 1 ? firstPayment : null;
    },

    /** A displaced first payment's count has been moved away: nobody needs to move it again. */
    async forgetDisplacedFirstPayment(supporterId: string, key: string): Promise<void> {
      await raw.supporters.updateOne(
        { _id: oid(supporterId) },
        upd({ $pull: { 'firstPayment.displaced': key } }),
      );
    },

    // ----- donations --------------------------------------------------------------------------

    async findDonation(provider: ProviderId, paymentId: string): Promise<DonationRecord | null> {
      const doc = await raw.donations.findOne({ provider, providerPaymentId: paymentId });
      return doc ? toDonation(doc) : null;
    },

    async findDonationById(id: string): Promise<DonationRecord | null> {
      if (!mongoose.isValidObjectId(id)) return null;
      const doc = await raw.donations.findOne({ _id: oid(id) });
      return doc ? toDonation(doc) : null;
    },

    /** The exactly-once point of a payment: the unique (provider, providerPaymentId) index. */
    async insertDonation(donation: NewDonation): Promise<DonationRecord | null> {
      await indexes();
      const now = new Date();
      const doc: Record<string, unknown> = {
        _id: new mongoose.Types.ObjectId(),
        ...donation,
        ...(donation.supporterId ? { supporterId: oid(donation.supporterId) } : {}),
        ...(donation.checkoutId && mongoose.isValidObjectId(donation.checkoutId)
          ? { checkoutId: oid(donation.checkoutId) }
          : {}),
        settled: false,
        version: 0,
        receipt: { status: 'pending', attempts: 0, nextAttemptAt: now },
        createdAt: now,
        updatedAt: now,
      };
      if (!doc.checkoutId || typeof doc.checkoutId === 'string') delete doc.checkoutId;
      for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
      try {
        await raw.donations.insertOne(doc);
        return toDonation(doc);
      } catch (err) {
        if (isDuplicateKey(err)) return null;
        throw err;
      }
    },

    /** Writes the rules' answer for a payment, only if nobody changed it since `version` was read. */
    async updateDonation(
      id: string,
      version: number,
      change: {
        refundedMinor: number;
        lostMinor: number;
        refunds: DonationRecord['refunds'];
        disputes: DisputeState[];
        status: PaymentStatus;
        movements: Movement[];
      },
    ): Promise<DonationRecord | null> {
      const doc = await raw.donations.findOneAndUpdate(
        { _id: oid(id), version },
        upd({
          $set: {
            refundedMinor: change.refundedMinor,
            lostMinor: change.lostMinor,
            refunds: change.refunds,
            disputes: change.disputes,
            status: change.status,
            settled: false,
            updatedAt: new Date(),
          },
          $push: { movements: { $each: change.movements } },
          $inc: { version: 1 },
        }),
        { returnDocument: 'after' },
      );
      return doc ? toDonation(doc) : null;
    },

    /** Gives a payment recorded without a payer its supporter; only ever once. */
    async attachSupporter(id: string, supporterId: string): Promise<boolean> {
      const result = await raw.donations.updateOne(
        { _id: oid(id), supporterId: { $exists: false } },
        // Every movement now has a supporter to reach: all of them are settled again.
        upd({
          $set: { supporterId: oid(supporterId), settled: false, settledKeys: [], updatedAt: new Date() },
          $inc: { version: 1 },
        }),
      );
      return result.modifiedCount === 1;
    },

    /** Settled at `version`: its movements `keys` have all reached entries, totals and rollups. */
    async markDonationSettled(id: string, version: number, keys: string[]): Promise<void> {
      await raw.donations.updateOne(
        { _id: oid(id), version },
        upd({ $set: { settled: true, settledKeys: keys } }),
      );
    },

    async unsettledDonations(updatedBefore: Date, limit: number): Promise<DonationRecord[]> {
      const docs = await Donations.collection
        .find({ settled: false, updatedAt: { $lt: updatedBefore } })
        .limit(limit)
        .toArray();
      return docs.map((d) => toDonation(d as Record<string, unknown>));
    },

    async donationsWithoutSupporter(provider: ProviderId, subscriptionId: string): Promise<DonationRecord[]> {
      const docs = await Donations.collection
        .find({ provider, subscriptionId, supporterId: { $exists: false } })
        .toArray();
      return docs.map((d) => toDonation(d as Record<string, unknown>));
    },

    async donationsOf(supporterId: string, limit = 500): Promise<DonationRecord[]> {
      if (!mongoose.isValidObjectId(supporterId)) return [];
      const docs = await Donations.collection
        .find({ supporterId: oid(supporterId) })
        .sort({ occurredAt: -1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => toDonation(d as Record<string, unknown>));
    },

    /** The ledger's view of some provider payments, for reconciliation (read only). */
    async paymentsForReconciliation(
      provider: ProviderId,
      paymentIds: string[],
    ): Promise<
      Map<
        string,
        Pick<DonationRecord, 'amountMinor' | 'currency' | 'refundedMinor' | 'lostMinor' | 'disputes'>
      >
    > {
      const docs = await Donations.collection
        .find({ provider, providerPaymentId: { $in: paymentIds } })
        .project({
          providerPaymentId: 1,
          amountMinor: 1,
          currency: 1,
          refundedMinor: 1,
          lostMinor: 1,
          disputes: 1,
        })
        .toArray();
      return new Map(
        docs.map((d) => {
          const r = toDonation(d);
          return [
            r.providerPaymentId,
            {
              amountMinor: r.amountMinor,
              currency: r.currency,
              refundedMinor: r.refundedMinor,
              lostMinor: r.lostMinor,
              disputes: r.disputes,
            },
          ];
        }),
      );
    },

    // ----- receipts ---------------------------------------------------------------------------

    /** Leases one due receipt so two processes never send it at once. */
    async leaseReceipt(id: string, now: Date, leaseMs: number): Promise<DonationRecord | null> {
      const doc = await raw.donations.findOneAndUpdate(
        { _id: oid(id), 'receipt.status': 'pending', 'receipt.nextAttemptAt': { $lte: now } },
        upd({
          $set: { 'receipt.nextAttemptAt': new Date(now.getTime() + leaseMs) },
          $inc: { 'receipt.attempts': 1 },
        }),
        { returnDocument: 'after' },
      );
      return doc ? toDonation(doc) : null;
    },

    /** Receipts not yet sent (the metrics); one indexed count. */
    async countPendingReceipts(): Promise<number> {
      return Donations.collection.countDocuments({ 'receipt.status': 'pending' });
    },

    async dueReceipts(now: Date, limit: number): Promise<string[]> {
      const docs = await Donations.collection
        .find({ 'receipt.status': 'pending', 'receipt.nextAttemptAt': { $lte: now } })
        .project({ _id: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => String(d._id));
    },

    async receiptLater(id: string, at: Date, error?: string): Promise<void> {
      await raw.donations.updateOne(
        { _id: oid(id), 'receipt.status': 'pending' },
        upd({
          $set: {
            'receipt.nextAttemptAt': at,
            ...(error ? { 'receipt.lastError': error.slice(0, 200) } : {}),
          },
        }),
      );
    },

    async receiptDone(id: string, status: 'sent' | 'skipped'): Promise<void> {
      await raw.donations.updateOne(
        { _id: oid(id) },
        upd({
          $set: { 'receipt.status': status, ...(status === 'sent' ? { 'receipt.sentAt': new Date() } : {}) },
          $unset: { 'receipt.lastError': '' },
        }),
      );
    },

    // ----- ledger entries ---------------------------------------------------------------------

    /** Writes an entry once (by key), with what settling it did; a repeat only sets the flags again. */
    async recordEntry(
      entry: Omit<LedgerEntryRecord, 'effects' | 'newSupporter' | 'supporterId'>,
      done: Partial<{
        supporterId: string;
        newSupporter: boolean;
        'effects.rollup': true;
        'effects.supporter': true;
      }>,
    ): Promise<void> {
      await indexes();
      const { key, ...rest } = entry;
      const onInsert: Record<string, unknown> = { ...rest, donationId: oid(entry.donationId) };
      for (const field of Object.keys(onInsert)) if (onInsert[field] === undefined) delete onInsert[field];
      const set: Record<string, unknown> = {
        ...done,
        ...(done.supporterId ? { supporterId: oid(done.supporterId) } : {}),
      };
      if (!('newSupporter' in set)) onInsert.newSupporter = false;
      if (!('effects.rollup' in set)) onInsert['effects.rollup'] = false;
      if (!('effects.supporter' in set)) onInsert['effects.supporter'] = false;
      await raw.entries.updateOne(
        { key },
        upd({ $setOnInsert: onInsert, ...(Object.keys(set).length ? { $set: set } : {}) }),
        {
          upsert: true,
        },
      );
    },

    async findEntry(key: string): Promise<LedgerEntryRecord | null> {
      const doc = await raw.entries.findOne({ key });
      return doc ? toEntry(doc) : null;
    },

    async setEntry(
      key: string,
      set: Partial<{
        supporterId: string;
        newSupporter: boolean;
        'effects.rollup': true;
        'effects.supporter': true;
      }>,
    ): Promise<void> {
      const $set: Record<string, unknown> = { ...set };
      if (set.supporterId) $set.supporterId = oid(set.supporterId);
      await raw.entries.updateOne({ key }, upd({ $set }));
    },

    // ----- subscriptions ----------------------------------------------------------------------

    async findSubscription(provider: ProviderId, subscriptionId: string): Promise<SubscriptionRecord | null> {
      const doc = await raw.subscriptions.findOne({ provider, providerSubscriptionId: subscriptionId });
      return doc ? toSubscription(doc) : null;
    },

    async findSubscriptionById(id: string): Promise<SubscriptionRecord | null> {
      if (!mongoose.isValidObjectId(id)) return null;
      const doc = await raw.subscriptions.findOne({ _id: oid(id) });
      return doc ? toSubscription(doc) : null;
    },

    async subscriptionsOf(supporterId: string): Promise<SubscriptionRecord[]> {
      if (!mongoose.isValidObjectId(supporterId)) return [];
      const docs = await Subscriptions.collection
        .find({ supporterId: oid(supporterId) })
        .sort({ createdAt: -1 })
        .toArray();
      return docs.map((d) => toSubscription(d as Record<string, unknown>));
    },

    /** Inserts a subscription first seen now; null when another writer inserted it first. */
    async insertSubscription(
      provider: ProviderId,
      subscriptionId: string,
      fields: SubscriptionFields,
    ): Promise<SubscriptionRecord | null> {
      const now = new Date();
      const doc: Record<string, unknown> = {
        _id: new mongoose.Types.ObjectId(),
        provider,
        providerSubscriptionId: subscriptionId,
        ...fields,
        ...(fields.supporterId ? { supporterId: oid(fields.supporterId) } : {}),
        ...(fields.checkoutId && mongoose.isValidObjectId(fields.checkoutId)
          ? { checkoutId: oid(fields.checkoutId) }
          : {}),
        settled: false,
        version: 0,
        createdAt: now,
        updatedAt: now,
      };
      if (typeof doc.checkoutId === 'string') delete doc.checkoutId;
      for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
      try {
        await raw.subscriptions.insertOne(doc);
        return toSubscription(doc);
      } catch (err) {
        if (isDuplicateKey(err)) return null;
        throw err;
      }
    },

    /** Writes the rules' answer for a subscription, only if nobody changed it since `version`. */
    async updateSubscription(
      id: string,
      version: number,
      fields: Partial<SubscriptionFields>,
      newMovements: KeyedMrrMovement[],
    ): Promise<SubscriptionRecord | null> {
      const $set: Record<string, unknown> = { ...fields, settled: false, updatedAt: new Date() };
      if (fields.supporterId) $set.supporterId = oid(fields.supporterId);
      if (fields.checkoutId) {
        if (mongoose.isValidObjectId(fields.checkoutId)) $set.checkoutId = oid(fields.checkoutId);
        else delete $set.checkoutId;
      }
      for (const key of Object.keys($set)) if ($set[key] === undefined) delete $set[key];
      const doc = await raw.subscriptions.findOneAndUpdate(
        { _id: oid(id), version },
        upd({ $set, $push: { movements: { $each: newMovements } }, $inc: { version: 1 } }),
        { returnDocument: 'after' },
      );
      return doc ? toSubscription(doc) : null;
    },

    async markSubscriptionSettled(id: string, version: number, applied: string[]): Promise<void> {
      await raw.subscriptions.updateOne(
        { _id: oid(id), version },
        upd({ $set: { settled: true }, $pull: { movements: { key: { $in: applied } } } }),
      );
    },

    async unsettledSubscriptions(updatedBefore: Date, limit: number): Promise<SubscriptionRecord[]> {
      const docs = await Subscriptions.collection
        .find({ settled: false, updatedAt: { $lt: updatedBefore } })
        .limit(limit)
        .toArray();
      return docs.map((d) => toSubscription(d as Record<string, unknown>));
    },

    /** Records an MRR movement once (by key); says whether its rollup effect is still to do. */
    async recordMrrMovement(
      movement: KeyedMrrMovement & {
        subscriptionId: string;
        provider: ProviderId;
        planId: string;
        supporterId?: string;
        articleSlug?: string;
      },
    ): Promise<{ applied: boolean }> {
      await indexes();
      const { key, ...rest } = movement;
      const doc: Record<string, unknown> = {
        ...rest,
        subscriptionId: oid(movement.subscriptionId),
        ...(movement.supporterId ? { supporterId: oid(movement.supporterId) } : {}),
      };
      for (const k of Object.keys(doc)) if (doc[k] === undefined) delete doc[k];
      const stored = await raw.mrrMovements.findOneAndUpdate(
        { key },
        upd({ $setOnInsert: { ...doc, applied: false } }),
        { upsert: true, returnDocument: 'after' },
      );
      return { applied: stored?.applied === true };
    },

    async markMrrMovementApplied(key: string): Promise<void> {
      await raw.mrrMovements.updateOne({ key }, upd({ $set: { applied: true } }));
    },

    // ----- rollups ----------------------------------------------------------------------------

    /**
     * Adds to a rollup bucket exactly once per mark. The first increment of a new bucket is an
     * upsert; when two processes create the same bucket at once, the loser's insert fails with a
     * duplicate key although its increment was never applied — so it is retried as an update of
     * the bucket that now exists, and only a bucket that carries the mark counts as done.
     */
    async incrementRollupOnce(
      bucket: RollupBucket,
      marks: string[],
      inc: Record<string, number>,
    ): Promise<'applied' | 'already'> {
      await indexes();
      const [mark] = marks;
      if (!mark) throw new Error('a rollup increment needs a mark');
      const changes = Object.fromEntries(Object.entries(inc).filter(([, v]) => v !== 0));
      // The first mark names the change; others travel with it in the same atomic update.
      const filter = { ...bucket, marks: { $ne: mark } };
      const update = upd({ $inc: changes, $push: { marks: { $each: marks } } });
      try {
        const result = await raw.rollups.updateOne(filter, update, { upsert: true });
        if (result.modifiedCount === 1 || result.upsertedCount === 1) return 'applied';
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const retried = await raw.rollups.updateOne(filter, update);
        if (retried.modifiedCount === 1) return 'applied';
      }
      const counted = await raw.rollups.countDocuments({ ...bucket, marks: mark }, { limit: 1 });
      if (counted === 0) throw new Error(`rollup ${bucket.zone} ${bucket.day} kept refusing ${mark}`);
      return 'already';
    },

    /**
     * Several marked increments of one bucket, each applied at most once by its own mark: in one
     * atomic update while none of the marks is there yet (the usual case), else part by part. A
     * rider that travelled with another change is never counted again because that change had not
     * landed yet (a new-supporter count that a later claim already moved away, say).
     */
    async incrementRollupParts(
      bucket: RollupBucket,
      parts: Array<{ mark: string; inc: Record<string, number> }>,
    ): Promise<Array<'applied' | 'already'>> {
      if (parts.length === 1)
        return [await this.incrementRollupOnce(bucket, [parts[0]!.mark], parts[0]!.inc)];
      await indexes();
      const marks = parts.map((p) => p.mark);
      const changes: Record<string, number> = {};
      for (const part of parts)
        for (const [field, by] of Object.entries(part.inc))
          if (by !== 0) changes[field] = (changes[field] ?? 0) + by;
      const filter = { ...bucket, marks: { $nin: marks } };
      const update = upd({ $inc: changes, $push: { marks: { $each: marks } } });
      try {
        const result = await raw.rollups.updateOne(filter, update, { upsert: true });
        if (result.modifiedCount === 1 || result.upsertedCount === 1) return parts.map(() => 'applied');
      } catch (err) {
        // The bucket exists and holds one of the marks (or another process created it meanwhile).
        if (!isDuplicateKey(err)) throw err;
      }
      const out: Array<'applied' | 'already'> = [];
      for (const part of parts) out.push(await this.incrementRollupOnce(bucket, [part.mark], part.inc));
      return out;
    },

    // ----- reporting reads (reports and the nightly check read the ledger through these) --------

    /** Rollup rows of a zone for days from..to (inclusive, YYYY-MM-DD), without their marks. */
    async rollupsBetween(zone: string, fromDay: string, toDay: string): Promise<RollupRow[]> {
      const docs = await raw.rollups
        .find({ zone, day: { $gte: fromDay, $lte: toDay } }, { projection: { marks: 0, _id: 0 } })
        .toArray();
      return docs as unknown as RollupRow[];
    },

    /** MRR and paying subscriptions per currency, provider and plan as of the start of `day`. */
    async mrrBefore(
      zone: string,
      day: string,
    ): Promise<
      Array<{
        currency: string;
        provider: ProviderId;
        planId: string;
        mrrMinor: number;
        subscriptions: number;
      }>
    > {
      const docs = await raw.rollups
        .aggregate([
          { $match: { zone, day: { $lt: day } } },
          {
            $group: {
              _id: { currency: '$currency', provider: '$provider', planId: '$planId' },
              mrrMinor: { $sum: '$mrrDeltaMinor' },
              subscriptions: { $sum: '$subscriptionsDelta' },
            },
          },
        ])
        .toArray();
      return docs.map((d) => ({
        ...(d._id as { currency: string; provider: ProviderId; planId: string }),
        mrrMinor: d.mrrMinor as number,
        subscriptions: d.subscriptions as number,
      }));
    },

    /**
     * Ledger entries in [from, to), oldest first, a batch of the driver's at a time (a million
     * never sit in memory). Each entry is built plainly, field by field: an export reads a million.
     */
    async *entryBatchesBetween(
      from: Date,
      to: Date,
      filter: { currency?: string } = {},
    ): AsyncIterable<ExportedEntry[]> {
      const cursor = raw.entries
        .find({
          occurredAt: { $gte: from, $lt: to },
          ...(filter.currency ? { currency: filter.currency } : {}),
        })
        .sort({ occurredAt: 1 })
        .batchSize(2000);
      try {
        while (await cursor.hasNext()) {
          yield cursor.readBufferedDocuments().map((d): ExportedEntry => ({
            key: d.key as string,
            type: d.type as Movement['type'],
            donationId: String(d.donationId),
            provider: d.provider as ProviderId,
            providerPaymentId: d.providerPaymentId as string,
            providerRef: typeof d.providerRef === 'string' ? d.providerRef : undefined,
            supporterId: d.supporterId ? String(d.supporterId) : undefined,
            planId: d.planId as string,
            interval: d.interval as ExportedEntry['interval'],
            articleSlug: typeof d.articleSlug === 'string' ? d.articleSlug : undefined,
            amountMinor: d.amountMinor as number,
            feeMinor: (d.feeMinor as number | undefined) ?? 0,
            currency: d.currency as string,
            occurredAt: d.occurredAt as Date,
            paymentOccurredAt: d.paymentOccurredAt as Date,
          }));
        }
      } finally {
        // A client that goes away mid-export ends the loop early: the server-side cursor goes too.
        await cursor.close();
      }
    },

    /**
     * Every ledger entry, in whatever order the store keeps them, a driver batch at a time, with
     * what the nightly re-derivation needs and whether its rollup increment is done. No sort and
     * no projection: the store only walks what it has (a sort of millions would hold it up).
     */
    async *entriesForCheck(): AsyncIterable<CheckedEntry[]> {
      const cursor = raw.entries.find({}).batchSize(5000);
      try {
        while (await cursor.hasNext()) {
          yield cursor.readBufferedDocuments().map((d): CheckedEntry => ({
            key: d.key as string,
            type: d.type as Movement['type'],
            provider: d.provider as ProviderId,
            planId: d.planId as string,
            currency: d.currency as string,
            amountMinor: d.amountMinor as number,
            feeMinor: (d.feeMinor as number | undefined) ?? 0,
            occurredAt: d.occurredAt as Date,
            newSupporter: d.newSupporter === true,
            articleSlug: typeof d.articleSlug === 'string' ? d.articleSlug : undefined,
            applied: (d.effects as { rollup?: boolean } | undefined)?.rollup === true,
          }));
        }
      } finally {
        await cursor.close();
      }
    },

    /** Every MRR movement, a batch at a time, with whether its rollup increment is done. */
    async *mrrMovementsForCheck(): AsyncIterable<CheckedMrrMovement[]> {
      const cursor = raw.mrrMovements.find({}).batchSize(5000);
      try {
        while (await cursor.hasNext()) {
          yield cursor.readBufferedDocuments().map((d): CheckedMrrMovement => ({
            key: d.key as string,
            base: d.base as string,
            type: d.type as KeyedMrrMovement['type'],
            deltaMinor: d.deltaMinor as number,
            countDelta: d.countDelta as number,
            currency: d.currency as string,
            at: d.at as Date,
            provider: d.provider as ProviderId,
            planId: d.planId as string,
            applied: d.applied === true,
            ...(d.involuntary === true ? { involuntary: true } : {}),
            ...(typeof d.undoes === 'string' ? { undoes: d.undoes } : {}),
          }));
        }
      } finally {
        await cursor.close();
      }
    },

    /** Every stored rollup row (without marks), a batch at a time, for the nightly comparison. */
    async *storedRollups(): AsyncIterable<RollupRow[]> {
      const cursor = raw.rollups.find({}, { projection: { marks: 0, _id: 0 } }).batchSize(5000);
      try {
        while (await cursor.hasNext()) yield cursor.readBufferedDocuments() as unknown as RollupRow[];
      } finally {
        await cursor.close();
      }
    },

    /** The keys of the payments from an article's panel in [from, to) (what a repair claims). */
    async paymentKeysFromArticle(
      articleSlug: string,
      currency: string,
      from: Date,
      to: Date,
    ): Promise<string[]> {
      const docs = await raw.entries
        .find(
          { articleSlug, type: 'payment', currency, occurredAt: { $gte: from, $lt: to } },
          { projection: { key: 1 } },
        )
        .toArray();
      return docs.map((d) => d.key as string);
    },

    /** The payment movement of a payment (what article attribution counts). */
    async paymentEntryOf(donationId: string): Promise<LedgerEntryRecord | null> {
      if (!mongoose.isValidObjectId(donationId)) return null;
      const doc = await raw.entries.findOne({ donationId: oid(donationId), type: 'payment' });
      return doc ? toEntry(doc) : null;
    },

    /** Emails (or erasure markers) of some supporters, for exports. */
    async supporterEmails(ids: string[]): Promise<Map<string, { email: string; erased: boolean }>> {
      const valid = ids.filter((id) => mongoose.isValidObjectId(id)).map((id) => oid(id));
      if (valid.length === 0) return new Map();
      const docs = await raw.supporters
        .find({ _id: { $in: valid } }, { projection: { email: 1, erasedAt: 1 } })
        .toArray();
      return new Map(docs.map((d) => [String(d._id), { email: d.email as string, erased: !!d.erasedAt }]));
    },

    /** Current status of some payments, for exports. */
    async donationStatuses(ids: string[]): Promise<Map<string, PaymentStatus>> {
      const valid = ids.filter((id) => mongoose.isValidObjectId(id)).map((id) => oid(id));
      if (valid.length === 0) return new Map();
      const docs = await raw.donations.find({ _id: { $in: valid } }, { projection: { status: 1 } }).toArray();
      return new Map(docs.map((d) => [String(d._id), d.status as PaymentStatus]));
    },

    /**
     * Sets a past rollup bucket to re-derived values, only if it still holds every value read
     * (guarded): the nightly check repairs drift without racing live increments, each of which
     * changes at least one figure. `seen` and `derived` name every figure; a bucket that did not
     * exist is created, unless a live increment created it meanwhile.
     */
    async repairRollup(
      bucket: RollupBucket,
      seen: Record<RollupField, number>,
      derived: Record<RollupField, number>,
    ): Promise<boolean> {
      const guard = Object.fromEntries(
        rollupFields.map((field) => [field, seen[field] === 0 ? { $in: [0, null] } : seen[field]]),
      );
      const result = await raw.rollups.updateOne({ ...bucket, ...guard }, upd({ $set: { ...derived } }));
      if (result.matchedCount === 1) return true;
      if (rollupFields.some((field) => seen[field] !== 0)) return false;
      try {
        const created = await raw.rollups.updateOne(
          bucket,
          upd({ $setOnInsert: { ...derived, marks: [] } }),
          { upsert: true },
        );
        return created.upsertedCount === 1;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },

    // ----- personal data (readers' rights: export and erasure) ------------------------------------
    // Reads a supporter's whole record for their export, and the erasure's writes: the person's
    // name, email and provider customer ids go; every amount, date and provider reference stays.

    /** Everything the ledger holds about one supporter, for their export (art. 15 and 20). */
    async personalDataOf(supporterId: string): Promise<{
      supporter: SupporterRecord & { createdAt?: Date };
      donations: DonationRecord[];
      entries: LedgerEntryRecord[];
      subscriptions: SubscriptionRecord[];
    } | null> {
      if (!mongoose.isValidObjectId(supporterId)) return null;
      const doc = await raw.supporters.findOne({ _id: oid(supporterId) }, { projection: { marks: 0 } });
      if (!doc) return null;
      const [donations, subscriptions] = await Promise.all([
        raw.donations
          .find({ supporterId: oid(supporterId) })
          .sort({ occurredAt: 1 })
          .toArray(),
        raw.subscriptions
          .find({ supporterId: oid(supporterId) })
          .sort({ createdAt: 1 })
          .toArray(),
      ]);
      const donationIds = donations.map((d) => d._id);
      const entries = donationIds.length
        ? await raw.entries
            .find({ donationId: { $in: donationIds } })
            .sort({ occurredAt: 1 })
            .toArray()
        : [];
      const supporter = toSupporter(doc);
      return {
        supporter: { ...supporter, ...(doc.createdAt ? { createdAt: doc.createdAt as Date } : {}) },
        donations: donations.map((d) => toDonation(d as Record<string, unknown>)),
        entries: entries.map((e) => toEntry(e as Record<string, unknown>)),
        subscriptions: subscriptions.map((s) => toSubscription(s as Record<string, unknown>)),
      };
    },

    /**
     * Erasure: the supporter's email becomes `pseudonym`, their name and provider customer ids go,
     * `erasedAt` is set and every manage link stops working. Totals, first/last support and the
     * payment count stay (they are sums of the kept ledger entries). Only the first call changes
     * anything; a retry finds it done.
     */
    async pseudonymiseSupporter(supporterId: string, pseudonym: string, at: Date): Promise<boolean> {
      const result = await raw.supporters.updateOne(
        { _id: oid(supporterId), erasedAt: { $exists: false } },
        upd({
          $set: { email: pseudonym, erasedAt: at, linksValidFrom: at, updatedAt: at },
          $unset: { name: '', providerCustomerIds: '' },
        }),
      );
      return result.modifiedCount === 1;
    },

    /** Erasure: a failed receipt's error text may quote the address it was sent to. */
    async forgetReceiptErrors(supporterId: string): Promise<number> {
      const result = await raw.donations.updateMany(
        { supporterId: oid(supporterId), 'receipt.lastError': { $exists: true } },
        upd({ $unset: { 'receipt.lastError': '' } }),
      );
      return result.modifiedCount;
    },

    /** The raw collections, for the nightly check's record and for tests of the repository itself. */
    collections: {
      rollups: () => raw.rollups,
    },
  };
}

export type LedgerRepository = ReturnType<typeof createLedgerRepository>;
