/**
 * Storage of consent records and texts. Mongoose stays in here; callers get plain objects. There is
 * deliberately no update function: records are appended, read and, after retention, pruned.
 */
import type { ConsentSource } from './policy.js';
import type { ConsentRecord } from './records.js';
import { ConsentRecordModel, ConsentTextModel } from './models.js';

export interface StoredTexts {
  policyVersion: string;
  hash: string;
  locale: string;
  banner: string;
  bannerWithGpc: string;
  policy: string;
  firstServedAt: Date;
}

interface RecordDoc extends Omit<ConsentRecord, 'id'> {
  _id: string;
}

function toRecord(doc: RecordDoc): ConsentRecord {
  const { _id, ...rest } = doc;
  return {
    id: _id,
    consentId: rest.consentId,
    seq: rest.seq,
    recordedAt: rest.recordedAt,
    policyVersion: rest.policyVersion,
    textHash: rest.textHash,
    locale: rest.locale,
    choices: { ...rest.choices },
    source: rest.source,
    gpc: rest.gpc,
    browserFamily: rest.browserFamily,
    ipHash: rest.ipHash,
    previousId: rest.previousId ?? null,
    previousHash: rest.previousHash ?? null,
    previousRecordedAt: rest.previousRecordedAt ?? null,
    hash: rest.hash,
  };
}

function toDoc(record: ConsentRecord): RecordDoc {
  const { id, ...rest } = record;
  return { _id: id, ...rest };
}

export const isDuplicateKey = (err: unknown): boolean =>
  (err as { code?: number })?.code === 11000 ||
  ((err as { writeErrors?: Array<{ code?: number }> })?.writeErrors ?? []).some((e) => e.code === 11000);

export interface ConsentRepository {
  /** Creates the indexes (the unique ones are what keep chains linear). */
  init(): Promise<void>;
  latest(consentId: string): Promise<ConsentRecord | null>;
  hasSource(consentId: string, source: ConsentSource): Promise<boolean>;
  /**
   * Appends records in order; throws a duplicate-key error (see isDuplicateKey) when another
   * request took one of their places in the chain first, in which case none of them is written.
   */
  append(records: ConsentRecord[]): Promise<void>;
  chain(consentId: string): Promise<ConsentRecord[]>;
  between(from: Date, to: Date): AsyncIterable<ConsentRecord>;
  pruneOlderThan(cutoff: Date): Promise<number>;
  /** Stores texts unless this (version, hash) is stored already. */
  storeTextsOnce(texts: StoredTexts): Promise<void>;
  texts(policyVersion: string, hash: string): Promise<StoredTexts | null>;
  textsByHash(hash: string): Promise<StoredTexts | null>;
}

export function createConsentRepository(): ConsentRepository {
  return {
    async init() {
      await Promise.all([ConsentRecordModel.init(), ConsentTextModel.init()]);
    },
    async latest(consentId) {
      const doc = await ConsentRecordModel.findOne({ consentId }).sort({ seq: -1 }).lean<RecordDoc>();
      return doc ? toRecord(doc) : null;
    },
    async hasSource(consentId, source) {
      return (await ConsentRecordModel.exists({ consentId, source })) !== null;
    },
    async append(records) {
      if (records.length === 1) {
        await ConsentRecordModel.collection.insertOne(toDoc(records[0]!) as never);
      } else {
        // Ordered: when the first place is taken, nothing after it is written either.
        await ConsentRecordModel.collection.insertMany(records.map(toDoc) as never[], { ordered: true });
      }
    },
    async chain(consentId) {
      const docs = await ConsentRecordModel.find({ consentId }).sort({ seq: 1 }).lean<RecordDoc[]>();
      return docs.map(toRecord);
    },
    async *between(from, to) {
      const cursor = ConsentRecordModel.find({ recordedAt: { $gte: from, $lt: to } })
        .sort({ recordedAt: 1, consentId: 1, seq: 1 })
        .lean<RecordDoc[]>()
        .cursor();
      for await (const doc of cursor) yield toRecord(doc);
    },
    async pruneOlderThan(cutoff) {
      const result = await ConsentRecordModel.deleteMany({ recordedAt: { $lt: cutoff } });
      return result.deletedCount ?? 0;
    },
    async storeTextsOnce(texts) {
      try {
        await ConsentTextModel.collection.insertOne({ ...texts });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    },
    async texts(policyVersion, hash) {
      const doc = await ConsentTextModel.findOne({ policyVersion, hash }, { _id: 0 }).lean<StoredTexts>();
      return doc ?? null;
    },
    async textsByHash(hash) {
      const doc = await ConsentTextModel.findOne({ hash }, { _id: 0 }).lean<StoredTexts>();
      return doc ?? null;
    },
  };
}
