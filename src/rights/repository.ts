/**
 * Storage of the readers' rights: the request log (`rightsrequests`, append-only) and the erasure
 * records (`erasures`, one per supporter: the marker that makes an erasure resumable). The only
 * file that knows these models; callers get plain objects.
 */
import { Schema, type Connection } from 'mongoose';
import { modelOf } from '../db/model.js';

export const rightsRequestTypes = [
  'link_requested',
  'link_sent',
  'export_downloaded',
  'erasure_requested',
  'erasure_done',
] as const;
export type RightsRequestType = (typeof rightsRequestTypes)[number];

export const rightsChannels = ['email_link', 'manage_link', 'request_form'] as const;
export type RightsChannel = (typeof rightsChannels)[number];

/**
 * One line of the log: what was asked or done, when, through which channel, for which (keyed hash
 * of an) address. Never the address itself: the log outlives an erasure.
 */
const rightsRequestSchema = new Schema(
  {
    at: { type: Date, required: true },
    type: { type: String, required: true, enum: rightsRequestTypes },
    via: { type: String, required: true, enum: rightsChannels },
    emailHash: { type: String, required: true },
    supporterId: { type: String },
    /** link_requested: whether the address belonged to a supporter (the reader is never told). */
    known: { type: Boolean },
  },
  { versionKey: false },
);
rightsRequestSchema.index({ at: -1 });
rightsRequestSchema.index({ emailHash: 1, at: -1 });
rightsRequestSchema.index({ supporterId: 1, at: -1 });

export const erasureSteps = [
  'subscriptions',
  'supporter',
  'checkouts',
  'consent',
  'webhooks',
  'confirmation',
  'outbox',
] as const;
export type ErasureStep = (typeof erasureSteps)[number];

/**
 * One erasure: marked before its first step, each step added to `done` when it is over, the
 * person's own values (`subject`) kept only until the last step and then removed. What remains
 * afterwards (keyed hashes, provider references the ledger keeps anyway) lets late webhook
 * deliveries about the same payments be scrubbed too.
 */
const erasureSchema = new Schema(
  {
    _id: { type: String, required: true },
    status: { type: String, required: true, enum: ['running', 'done'] },
    via: { type: String, required: true, enum: rightsChannels },
    requestedAt: { type: Date, required: true },
    emailHash: { type: String, required: true },
    pseudonymEmail: { type: String, required: true },
    subject: {
      email: String,
      name: String,
      otherEmails: { type: [String], default: undefined },
      customerIds: { type: [String], default: undefined },
    },
    hashes: { emails: [String], values: [String] },
    refs: { type: [String], default: [] },
    done: { type: [String], default: [] },
    kept: { payments: Number, ledgerEntries: Number, subscriptions: Number },
    attempts: { type: Number, default: 0 },
    leaseUntil: { type: Date },
    lastError: { type: String },
    finishedAt: { type: Date },
  },
  { versionKey: false },
);
erasureSchema.index({ status: 1, leaseUntil: 1 });
erasureSchema.index({ finishedAt: 1 });

export interface RightsRequest {
  at: Date;
  type: RightsRequestType;
  via: RightsChannel;
  emailHash: string;
  supporterId?: string;
  known?: boolean;
}

export interface ErasureRecord {
  supporterId: string;
  status: 'running' | 'done';
  via: RightsChannel;
  requestedAt: Date;
  emailHash: string;
  pseudonymEmail: string;
  subject?: { email: string; name?: string; otherEmails?: string[]; customerIds?: string[] };
  hashes: { emails: string[]; values: string[] };
  refs: string[];
  done: ErasureStep[];
  kept?: { payments: number; ledgerEntries: number; subscriptions: number };
  attempts: number;
  leaseUntil?: Date;
  lastError?: string;
  finishedAt?: Date;
}

export type NewErasure = Omit<ErasureRecord, 'status' | 'done' | 'attempts' | 'finishedAt' | 'lastError'>;

type Raw = Record<string, unknown>;

function toErasure(d: Raw): ErasureRecord {
  const out: ErasureRecord = {
    supporterId: String(d._id),
    status: d.status as ErasureRecord['status'],
    via: d.via as RightsChannel,
    requestedAt: d.requestedAt as Date,
    emailHash: d.emailHash as string,
    pseudonymEmail: d.pseudonymEmail as string,
    hashes: (d.hashes as ErasureRecord['hashes'] | undefined) ?? { emails: [], values: [] },
    refs: (d.refs as string[] | undefined) ?? [],
    done: (d.done as ErasureStep[] | undefined) ?? [],
    attempts: (d.attempts as number | undefined) ?? 0,
  };
  const subject = d.subject as ErasureRecord['subject'] | undefined;
  if (subject?.email) out.subject = subject;
  if (d.kept) out.kept = d.kept as ErasureRecord['kept'];
  if (d.leaseUntil) out.leaseUntil = d.leaseUntil as Date;
  if (d.lastError) out.lastError = d.lastError as string;
  if (d.finishedAt) out.finishedAt = d.finishedAt as Date;
  return out;
}

export function createRightsRepository(connection: Connection) {
  const Requests = modelOf(connection, 'RightsRequest', rightsRequestSchema);
  const Erasures = modelOf(connection, 'Erasure', erasureSchema);
  let ready: Promise<unknown> | undefined;
  const indexes = () =>
    (ready ??= Promise.all([Requests.init(), Erasures.init()]).catch(
      (err: unknown) => ((ready = undefined), Promise.reject(err)),
    ));

  return {
    // ----- the request log: appended, read, never changed ---------------------------------------

    async log(entry: RightsRequest): Promise<void> {
      const doc: Raw = { ...entry };
      for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
      await Requests.collection.insertOne(doc);
    },

    async requests(filter: {
      from?: Date;
      to?: Date;
      emailHash?: string;
      supporterId?: string;
      type?: RightsRequestType;
      limit?: number;
    }): Promise<RightsRequest[]> {
      const query: Raw = {};
      if (filter.from || filter.to) {
        query.at = {
          ...(filter.from ? { $gte: filter.from } : {}),
          ...(filter.to ? { $lt: filter.to } : {}),
        };
      }
      if (filter.emailHash) query.emailHash = String(filter.emailHash);
      if (filter.supporterId) query.supporterId = String(filter.supporterId);
      if (filter.type) query.type = String(filter.type);
      const docs = await Requests.collection
        .find(query, { projection: { _id: 0 } })
        .sort({ at: -1 })
        .limit(Math.min(Math.max(filter.limit ?? 200, 1), 5000))
        .toArray();
      return docs as unknown as RightsRequest[];
    },

    // ----- erasures ---------------------------------------------------------------------------

    async findErasure(supporterId: string): Promise<ErasureRecord | null> {
      const doc = await Erasures.collection.findOne({ _id: String(supporterId) } as Raw);
      return doc ? toErasure(doc) : null;
    },

    /** Marks an erasure as asked for; the first mark wins and later ones find it (created: false). */
    async markErasure(erasure: NewErasure): Promise<{ erasure: ErasureRecord; created: boolean }> {
      await indexes();
      const { supporterId, ...rest } = erasure;
      const doc: Raw = { ...rest, status: 'running', done: [], attempts: 0 };
      for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
      try {
        const result = await Erasures.collection.findOneAndUpdate(
          { _id: supporterId } as Raw,
          { $setOnInsert: doc },
          { upsert: true, returnDocument: 'after', includeResultMetadata: true },
        );
        return {
          erasure: toErasure(result.value as Raw),
          created: !result.lastErrorObject?.updatedExisting,
        };
      } catch (err) {
        // Two first requests at once: the other insert won.
        if ((err as { code?: number }).code !== 11000) throw err;
        const stored = await Erasures.collection.findOne({ _id: supporterId } as Raw);
        return { erasure: toErasure(stored as Raw), created: false };
      }
    },

    /** Takes an unfinished erasure for `leaseMs`, unless another process holds it; null then. */
    async leaseErasure(supporterId: string, now: Date, leaseMs: number): Promise<ErasureRecord | null> {
      const doc = await Erasures.collection.findOneAndUpdate(
        {
          _id: String(supporterId),
          status: 'running',
          $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lt: now } }],
        } as Raw,
        { $set: { leaseUntil: new Date(now.getTime() + leaseMs) }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      );
      return doc ? toErasure(doc) : null;
    },

    async stepDone(supporterId: string, step: ErasureStep, extra: Raw = {}): Promise<void> {
      await Erasures.collection.updateOne({ _id: String(supporterId) } as Raw, {
        $addToSet: { done: step },
        ...(Object.keys(extra).length ? { $set: extra } : {}),
      });
    },

    /** A step failed: the lease is released at `retryAt` so the sweep (or the reader) tries again then. */
    async erasureFailed(supporterId: string, error: string, retryAt: Date): Promise<void> {
      await Erasures.collection.updateOne({ _id: String(supporterId), status: 'running' } as Raw, {
        $set: { lastError: error.slice(0, 500), leaseUntil: retryAt },
      });
    },

    /** The last step: done, and the person's own values are gone from this record too. */
    async finishErasure(supporterId: string, at: Date): Promise<boolean> {
      const result = await Erasures.collection.updateOne(
        { _id: String(supporterId), status: 'running' } as Raw,
        {
          $set: { status: 'done', finishedAt: at },
          $unset: { subject: '', leaseUntil: '', lastError: '' },
        },
      );
      return result.modifiedCount === 1;
    },

    /** Unfinished erasures nobody holds (a crash, a provider that did not answer). */
    async erasuresToResume(now: Date, limit = 20): Promise<string[]> {
      const docs = await Erasures.collection
        .find(
          {
            status: 'running',
            $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lt: now } }],
          },
          { projection: { _id: 1 } },
        )
        .limit(limit)
        .toArray();
      return docs.map((d) => String(d._id));
    },

    /** Past the late-delivery window the keyed hashes that recognise the person are not needed any more. */
    async forgetMatchers(finishedBefore: Date): Promise<number> {
      const result = await Erasures.collection.updateMany(
        {
          status: 'done',
          finishedAt: { $lt: finishedBefore },
          $or: [{ 'hashes.values.0': { $exists: true } }, { 'hashes.emails.0': { $exists: true } }],
        },
        { $set: { hashes: { emails: [], values: [] } } },
      );
      return result.modifiedCount;
    },

    /** Erasures finished since `since`: webhook deliveries about their payments may still arrive. */
    async erasuresFinishedSince(since: Date): Promise<ErasureRecord[]> {
      const docs = await Erasures.collection
        .find({ status: 'done', finishedAt: { $gte: since } })
        .limit(1000)
        .toArray();
      return docs.map((d) => toErasure(d as Raw));
    },
  };
}

export type RightsRepository = ReturnType<typeof createRightsRepository>;
