/**
 * The staff audit log (`auditlog`): append-only, numbered and hash-chained. Each entry carries the
 * hash of the one before it, so a deleted or edited entry shows as a break in the chain. Entries
 * are numbered by a unique `seq`; two processes appending at once collide on the index and the
 * loser retries on top of the winner's entry.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import mongoose, { Schema } from 'mongoose';
import type { Logger } from '../log.js';
import { requestContext, type RequestContext } from './request-context.js';

const auditEntrySchema = new Schema(
  {
    seq: { type: Number, required: true },
    at: { type: Date, required: true },
    actor: {
      kind: { type: String, required: true, enum: ['staff', 'cli', 'anonymous'] },
      id: { type: String },
      email: { type: String },
      role: { type: String },
    },
    action: { type: String, required: true },
    target: { type: { type: String }, id: String, label: String },
    details: { type: Schema.Types.Mixed },
    ip: { type: String },
    userAgentFamily: { type: String },
    requestId: { type: String },
    prevHash: { type: String, required: true },
    hash: { type: String, required: true },
  },
  { collection: 'auditlog', versionKey: false, minimize: true },
);
auditEntrySchema.index({ seq: 1 }, { unique: true });

const AuditEntryModel = mongoose.model('AuditEntry', auditEntrySchema);

export type AuditActor =
  | { kind: 'staff'; id: string; email: string; role: string }
  | { kind: 'cli'; email?: string }
  | { kind: 'anonymous' };

export interface AuditEvent {
  actor: AuditActor;
  /** Dotted and past tense: `staff.signed_in`, `reports.exported`. */
  action: string;
  target?: { type: string; id?: string; label?: string };
  /** Small facts about the action (counts, filters, the new role) — never secrets. */
  details?: Record<string, string | number | boolean | null>;
  context?: RequestContext;
}

export interface AuditEntry extends AuditEvent {
  seq: number;
  at: Date;
  prevHash: string;
  hash: string;
}

const GENESIS = 'genesis';

/** Key order and empty values must not change a hash: what is stored reads back in another order. */
function sorted(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const child = (value as Record<string, unknown>)[key];
    if (child !== undefined && child !== null) out[key] = sorted(child);
  }
  return Object.keys(out).length ? out : null;
}

/** The fields that are hashed, in a fixed order, so the chain can be re-checked later. */
function canonical(entry: Omit<AuditEntry, 'hash'>): string {
  return JSON.stringify([
    entry.seq,
    entry.at.toISOString(),
    sorted(entry.actor),
    entry.action,
    sorted(entry.target),
    sorted(entry.details),
    entry.context?.ip ?? null,
    entry.context?.userAgentFamily ?? null,
    entry.context?.requestId ?? null,
    entry.prevHash,
  ]);
}

const hashOf = (entry: Omit<AuditEntry, 'hash'>) =>
  createHash('sha256').update(canonical(entry)).digest('hex');

type StoredEntry = {
  seq: number;
  at: Date;
  actor: AuditActor;
  action: string;
  target?: AuditEvent['target'];
  details?: AuditEvent['details'];
  ip?: string;
  userAgentFamily?: string;
  requestId?: string;
  prevHash: string;
  hash: string;
};

function toEntry(doc: StoredEntry): AuditEntry {
  const actor = { ...doc.actor } as Record<string, unknown>;
  for (const key of Object.keys(actor))
    if (actor[key] === undefined || actor[key] === null) delete actor[key];
  const entry: AuditEntry = {
    seq: doc.seq,
    at: doc.at,
    actor: actor as AuditActor,
    action: doc.action,
    prevHash: doc.prevHash,
    hash: doc.hash,
  };
  if (doc.target) entry.target = doc.target;
  if (doc.details) entry.details = doc.details;
  const context: RequestContext = {};
  if (doc.ip) context.ip = doc.ip;
  if (doc.userAgentFamily) context.userAgentFamily = doc.userAgentFamily;
  if (doc.requestId) context.requestId = doc.requestId;
  if (Object.keys(context).length) entry.context = context;
  return entry;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `before` for the next (older) page; undefined on the last page. */
  nextBefore?: number;
}

export interface AuditLog {
  record(event: AuditEvent): Promise<AuditEntry>;
  /** Records an action by the signed-in staff member of `req`, from where they made it. */
  recordRequest(
    req: Request,
    action: string,
    extra?: Pick<AuditEvent, 'target' | 'details'>,
  ): Promise<AuditEntry>;
  /** Newest first. */
  list(options?: { before?: number; limit?: number }): Promise<AuditPage>;
  /** Re-checks every hash and link; the first broken seq, or null when the chain holds. */
  verify(): Promise<number | null>;
}

export function createAuditLog(deps: { logger: Logger; now?: () => Date }): AuditLog {
  const now = deps.now ?? (() => new Date());

  const record: AuditLog['record'] = async (event) => {
    for (let attempt = 0; ; attempt += 1) {
      const last = await AuditEntryModel.findOne({}, { seq: 1, hash: 1 })
        .sort({ seq: -1 })
        .lean<{ seq: number; hash: string }>();
      const unhashed: Omit<AuditEntry, 'hash'> = {
        ...event,
        seq: (last?.seq ?? 0) + 1,
        at: now(),
        prevHash: last?.hash ?? GENESIS,
      };
      const entry: AuditEntry = { ...unhashed, hash: hashOf(unhashed) };
      try {
        await AuditEntryModel.create({
          seq: entry.seq,
          at: entry.at,
          actor: entry.actor,
          action: entry.action,
          target: entry.target,
          details: entry.details,
          ip: entry.context?.ip,
          userAgentFamily: entry.context?.userAgentFamily,
          requestId: entry.context?.requestId,
          prevHash: entry.prevHash,
          hash: entry.hash,
        });
        return entry;
      } catch (err) {
        // Another process took this number first: build on its entry instead.
        if ((err as { code?: number }).code !== 11000 || attempt >= 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
      }
    }
  };

  return {
    record,
    async recordRequest(req, action, extra = {}) {
      const user = req.user;
      const actor: AuditActor = user
        ? { kind: 'staff', id: user.id, email: user.email, role: user.role }
        : { kind: 'anonymous' };
      return record({ actor, action, ...extra, context: requestContext(req) });
    },
    async list(options = {}) {
      const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
      const filter = options.before ? { seq: { $lt: options.before } } : {};
      const docs = await AuditEntryModel.find(filter)
        .sort({ seq: -1 })
        .limit(limit + 1)
        .lean<StoredEntry[]>();
      const entries = docs.slice(0, limit).map(toEntry);
      const page: AuditPage = { entries };
      if (docs.length > limit) page.nextBefore = entries[entries.length - 1]!.seq;
      return page;
    },
    async verify() {
      let prev = GENESIS;
      let expectedSeq = 1;
      for await (const doc of AuditEntryModel.find().sort({ seq: 1 }).lean<StoredEntry[]>().cursor()) {
        const entry = toEntry(doc);
        const { hash, ...unhashed } = entry;
        if (entry.seq !== expectedSeq || entry.prevHash !== prev || hashOf(unhashed) !== hash) {
          deps.logger.warn({ seq: entry.seq }, 'audit log chain is broken');
          return entry.seq;
        }
        prev = hash;
        expectedSeq += 1;
      }
      return null;
    },
  };
}
