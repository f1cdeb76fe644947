/**
 * The inbox and reconciliation storage. Mongoose stays in here; callers get plain objects.
 */
import mongoose from 'mongoose';
import type { ProviderId } from '../payments/types.js';
import { Reconciliation, WebhookEvent, type WebhookStatus } from './models.js';

export interface StoredEvent {
  id: string;
  provider: ProviderId;
  eventId: string;
  type: string;
  eventCreatedAt: Date;
  rawBody: string;
  status: WebhookStatus;
  attempts: number;
  lastError?: string;
  receivedAt: Date;
  processedAt?: Date;
  nextAttemptAt?: Date;
  leaseUntil?: Date;
  outcomes?: Array<{ fact: string; ref: string; result: string }>;
}

export interface NewEvent {
  provider: ProviderId;
  eventId: string;
  type: string;
  eventCreatedAt: Date;
  rawBody: string;
}

export interface ListFilter {
  status?: WebhookStatus;
  provider?: ProviderId;
  type?: string;
  limit?: number;
}

/** The operations inbox: `dead` is a failed event with no retry left (the dead letter). */
export interface InboxFilter {
  status?: WebhookStatus | 'dead';
  provider?: ProviderId;
  limit?: number;
}

export type InboxEvent = Omit<StoredEvent, 'rawBody'>;

export interface ReconciliationRecord {
  startedAt: Date;
  finishedAt: Date;
  since: Date;
  until: Date;
  providers: Array<{ provider: ProviderId; checked: number; error?: string }>;
  missing: Array<{
    provider: ProviderId;
    paymentId: string;
    amountMinor: number;
    currency: string;
    occurredAt: Date;
  }>;
  mismatched: Array<{
    provider: ProviderId;
    paymentId: string;
    /** What differs: the amount or currency, the refunded amount, or a dispute's state. */
    field: 'amount' | 'refunded' | 'dispute';
    providerValue: string;
    ledgerValue: string;
  }>;
  clean: boolean;
}

/** The store is not connected: fail at once (the provider retries) rather than queue writes for later. */
export class StoreUnavailableError extends Error {
  constructor() {
    super('The database is not connected.');
    this.name = 'StoreUnavailableError';
  }
}

const isDuplicateKey = (err: unknown) => (err as { code?: number })?.code === 11000;

type Lean = Record<string, unknown> & { _id: mongoose.Types.ObjectId };

function toStored(doc: Lean): StoredEvent {
  const d = doc as unknown as Omit<StoredEvent, 'id'> & { _id: mongoose.Types.ObjectId };
  const { _id, ...rest } = d;
  const out: StoredEvent = { ...rest, id: String(_id) };
  for (const key of Object.keys(out) as Array<keyof StoredEvent>) {
    if (out[key] === null || out[key] === undefined) delete out[key];
  }
  return out;
}

/** Who may take an event: nobody holds it, or the holder's lease ran out (it crashed or hung). */
const claimable = (
  now: Date,
  statuses: WebhookStatus[],
  ownedBy?: string,
): mongoose.QueryFilter<unknown> => ({
  $or: [
    { status: { $in: statuses } },
    { status: 'processing', leaseUntil: { $lt: now } },
    ...(ownedBy ? [{ status: 'processing', lockedBy: ownedBy }] : []),
  ],
});

export function createWebhookRepository() {
  function ensureConnected(): void {
    // readyState 1 = connected. Mongoose would otherwise buffer writes until it reconnects, and a
    // provider waiting on us is better served by a quick 503 and its own retry.
    if (mongoose.connection.readyState !== 1) throw new StoreUnavailableError();
  }
  // The hot path writes through the driver (the documents are built here, fully typed), which
  // costs far less than mongoose documents; the unique index must exist before the first insert.
  let indexes: Promise<unknown> | undefined;
  const ready = () =>
    (indexes ??= WebhookEvent.init().catch((err: unknown) => ((indexes = undefined), Promise.reject(err))));

  return {
    ensureConnected,

    /**
     * Stores a new event, either already claimed by `worker` (so the receiving process needs no
     * second round trip to start on it) or, when there is nothing to do, as `ignored`. Returns the
     * existing document when the event was seen before.
     */
    async insert(
      event: NewEvent,
      as: { status: 'ignored' } | { status: 'processing'; worker: string; leaseUntil: Date },
    ): Promise<{ inserted: true; event: StoredEvent } | { inserted: false; existing: StoredEvent | null }> {
      ensureConnected();
      await ready();
      const now = new Date();
      const doc = {
        _id: new mongoose.Types.ObjectId(),
        ...event,
        receivedAt: now,
        ...(as.status === 'ignored'
          ? { status: 'ignored', attempts: 1, processedAt: now }
          : { status: 'processing', attempts: 1, lockedBy: as.worker, leaseUntil: as.leaseUntil }),
      };
      try {
        await WebhookEvent.collection.insertOne(doc);
        return { inserted: true, event: toStored(doc) };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const existing = await WebhookEvent.findOne({
          provider: event.provider,
          eventId: event.eventId,
        }).lean();
        return { inserted: false, existing: existing ? toStored(existing) : null };
      }
    },

    /** Atomically takes an event for processing; null when someone else holds it (or it is done). */
    async claim(
      id: string,
      worker: string,
      leaseUntil: Date,
      /** reclaimOwn: this worker held it but its attempt has ended (e.g. the store dropped mid-event). */
      options: { includeFinished?: boolean; reclaimOwn?: boolean } = {},
    ): Promise<StoredEvent | null> {
      ensureConnected();
      const statuses: WebhookStatus[] = options.includeFinished
        ? ['received', 'failed', 'processed', 'ignored']
        : ['received', 'failed'];
      const doc = await WebhookEvent.findOneAndUpdate(
        { $and: [{ _id: id }, claimable(new Date(), statuses, options.reclaimOwn ? worker : undefined)] },
        { $set: { status: 'processing', lockedBy: worker, leaseUntil }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      ).lean();
      return doc ? toStored(doc) : null;
    },

    /** Extends the lease of an event this worker holds; false when it no longer holds it. */
    async renew(id: string, worker: string, leaseUntil: Date): Promise<boolean> {
      ensureConnected();
      const result = await WebhookEvent.collection.updateOne(
        { _id: new mongoose.Types.ObjectId(id), status: 'processing', lockedBy: worker },
        { $set: { leaseUntil } },
      );
      return result.modifiedCount === 1;
    },

    async finish(
      id: string,
      worker: string,
      status: 'processed' | 'ignored',
      outcomes: StoredEvent['outcomes'],
    ): Promise<void> {
      ensureConnected();
      await WebhookEvent.collection.updateOne(
        { _id: new mongoose.Types.ObjectId(id), lockedBy: worker },
        {
          $set: { status, processedAt: new Date(), ...(outcomes?.length ? { outcomes } : {}) },
          $unset: { lockedBy: 1, leaseUntil: 1, nextAttemptAt: 1, lastError: 1 },
        },
      );
    },

    async fail(id: string, worker: string, error: string, nextAttemptAt: Date | null): Promise<void> {
      ensureConnected();
      await WebhookEvent.updateOne(
        { _id: id, lockedBy: worker },
        {
          $set: {
            status: 'failed',
            lastError: error.slice(0, 2000),
            ...(nextAttemptAt ? { nextAttemptAt } : {}),
          },
          $unset: { lockedBy: 1, leaseUntil: 1, ...(nextAttemptAt ? {} : { nextAttemptAt: 1 }) },
        },
      );
    },

    /** Events the sweep should pick up: failed and due, stuck in `received`, or with an expired lease. */
    async findDue(
      now: Date,
      receivedBefore: Date,
      limit: number,
    ): Promise<Array<{ id: string; provider: ProviderId; eventId: string }>> {
      ensureConnected();
      const docs = await WebhookEvent.find({
        $or: [
          { status: 'failed', nextAttemptAt: { $lte: now } },
          { status: 'received', receivedAt: { $lt: receivedBefore } },
          { status: 'processing', leaseUntil: { $lt: now } },
        ],
      })
        .sort({ receivedAt: 1 })
        .limit(limit)
        .select('_id provider eventId')
        .lean();
      return docs.map((d) => ({ id: String(d._id), provider: d.provider, eventId: d.eventId }));
    },

    /** Events still to apply (received, processing, failed and due again) and dead letters; two indexed counts. */
    async inboxCounts(): Promise<{ backlog: number; deadLetters: number }> {
      ensureConnected();
      const [backlog, deadLetters] = await Promise.all([
        WebhookEvent.countDocuments({
          $or: [
            { status: { $in: ['received', 'processing'] } },
            { status: 'failed', nextAttemptAt: { $exists: true } },
          ],
        }),
        WebhookEvent.countDocuments({ status: 'failed', nextAttemptAt: { $exists: false } }),
      ]);
      return { backlog, deadLetters };
    },

    /** By our document id or by the provider's event id. */
    async find(idOrEventId: string): Promise<StoredEvent | null> {
      ensureConnected();
      const doc = mongoose.isValidObjectId(idOrEventId)
        ? await WebhookEvent.findById(idOrEventId).lean()
        : await WebhookEvent.findOne({ eventId: idOrEventId }).lean();
      return doc ? toStored(doc) : null;
    },

    async list(filter: ListFilter): Promise<StoredEvent[]> {
      ensureConnected();
      const query: Record<string, unknown> = {};
      if (filter.status) query.status = filter.status;
      if (filter.provider) query.provider = filter.provider;
      if (filter.type) query.type = filter.type;
      const docs = await WebhookEvent.find(query)
        .sort({ receivedAt: -1 })
        .limit(Math.min(Math.max(filter.limit ?? 50, 1), 1000))
        .lean();
      return docs.map((d) => toStored(d as Lean));
    },

    /**
     * Drops the raw payloads of finished events received before `before`; the event, its status
     * and what it did to the ledger stay as the audit trail. Returns how many were pruned.
     */
    async pruneRawBodies(before: Date): Promise<number> {
      ensureConnected();
      const result = await WebhookEvent.collection.updateMany(
        {
          receivedAt: { $lt: before },
          status: { $in: ['processed', 'ignored'] },
          rawPrunedAt: { $exists: false },
        },
        { $set: { rawBody: '', rawPrunedAt: new Date() } },
      );
      return result.modifiedCount;
    },

    // ----- personal data (readers' rights: erasure) ---------------------------------------------

    /**
     * Events whose raw payload mentions any of `terms` (case-insensitive), received since `since`
     * when given; pruned payloads are skipped. Erasure reads these to scrub a person out of them.
     */
    async mentioning(
      terms: string[],
      options: { since?: Date; limit?: number } = {},
    ): Promise<Array<{ id: string; rawBody: string }>> {
      ensureConnected();
      const wanted = [...new Set(terms.filter((t) => t.length >= 3))];
      if (wanted.length === 0) return [];
      const pattern = wanted.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
      const docs = await WebhookEvent.collection
        .find(
          {
            rawBody: { $regex: pattern, $options: 'i' },
            ...(options.since ? { receivedAt: { $gte: options.since } } : {}),
          },
          { projection: { rawBody: 1 } },
        )
        .limit(options.limit ?? 10_000)
        .toArray();
      return docs.map((d) => ({ id: String(d._id), rawBody: String(d.rawBody) }));
    },

    /** Replaces a raw payload only while it is still the one read (a guarded update). */
    async replaceRawBody(id: string, expected: string, next: string): Promise<boolean> {
      ensureConnected();
      const result = await WebhookEvent.collection.updateOne(
        { _id: new mongoose.Types.ObjectId(id), rawBody: expected },
        { $set: { rawBody: next } },
      );
      return result.modifiedCount === 1;
    },

    async saveReconciliation(record: ReconciliationRecord): Promise<string> {
      ensureConnected();
      const doc = await Reconciliation.create(record);
      return String(doc._id);
    },

    // ----- operations pages (read only) ---------------------------------------------------------

    /** Newest first, without the raw payloads (an event page shows one). */
    async inbox(filter: InboxFilter): Promise<InboxEvent[]> {
      ensureConnected();
      const query: Record<string, unknown> = {};
      if (filter.status === 'dead')
        Object.assign(query, { status: 'failed', nextAttemptAt: { $exists: false } });
      else if (filter.status) query.status = filter.status;
      if (filter.provider) query.provider = filter.provider;
      const docs = await WebhookEvent.find(query, { rawBody: 0 })
        .sort({ receivedAt: -1 })
        .limit(Math.min(Math.max(filter.limit ?? 100, 1), 500))
        .lean();
      return docs.map((d) => {
        const { rawBody: _raw, ...event } = toStored({ rawBody: '', ...(d as Lean) });
        return event;
      });
    },

    /** How many events are in each status; `dead` counts the failed ones with no retry left. */
    async statusCounts(): Promise<Record<WebhookStatus | 'dead', number>> {
      ensureConnected();
      const grouped = await WebhookEvent.aggregate<{ _id: WebhookStatus; n: number }>([
        { $group: { _id: '$status', n: { $sum: 1 } } },
      ]);
      const counts = { received: 0, processing: 0, processed: 0, ignored: 0, failed: 0, dead: 0 };
      for (const g of grouped) counts[g._id] = g.n;
      counts.dead = await WebhookEvent.countDocuments({
        status: 'failed',
        nextAttemptAt: { $exists: false },
      });
      return counts;
    },

    /** The latest reconciliation runs, newest first. */
    async latestReconciliations(limit = 10): Promise<Array<ReconciliationRecord & { id: string }>> {
      ensureConnected();
      const docs = await Reconciliation.find({})
        .sort({ startedAt: -1 })
        .limit(Math.min(Math.max(limit, 1), 100))
        .lean();
      return docs.map((d) => {
        const { _id, ...record } = d as unknown as ReconciliationRecord & { _id: mongoose.Types.ObjectId };
        return { ...record, id: String(_id) };
      });
    },

    async findReconciliation(id: string): Promise<(ReconciliationRecord & { id: string }) | null> {
      ensureConnected();
      if (!mongoose.isValidObjectId(id)) return null;
      const doc = await Reconciliation.findById(id).lean();
      if (!doc) return null;
      const { _id, ...record } = doc as unknown as ReconciliationRecord & { _id: mongoose.Types.ObjectId };
      return { ...record, id: String(_id) };
    },
  };
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>;
