/**
 * The reports feature's own collections. Only repository.ts builds models from them.
 *
 * Per-article figures are kept one document per article and month, with the days inside it, so
 * a report over any period reads months (a year is twelve documents per article) and uses the
 * days only at the period's ragged edges.
 */
import { Schema } from 'mongoose';

/**
 * Payments whose donation started from an article's panel, per reporting zone, month, currency
 * and article. Moved with $inc once per payment entry (claimed first in `articlemarks`); the
 * nightly check re-derives them from the ledger entries and repairs drift on closed days. The
 * documents carry no marks, so reading a year of them reads only figures.
 */
export const articleRollupSchema = new Schema(
  {
    zone: { type: String, required: true },
    /** YYYY-MM in the zone. */
    month: { type: String, required: true },
    currency: { type: String, required: true },
    articleSlug: { type: String, required: true },
    payments: { type: Number, default: 0 },
    grossMinor: { type: Number, default: 0 },
    newSupporters: { type: Number, default: 0 },
    /** By day of the month ("01"…"31"): { payments, grossMinor, newSupporters }. */
    days: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, minimize: false },
);
articleRollupSchema.index({ zone: 1, month: 1, currency: 1, articleSlug: 1 }, { unique: true });
// A report reads whole months of a zone (the embedded store answers only full-equality lookups).
articleRollupSchema.index({ zone: 1, month: 1 });

/**
 * The payment entries already added to the article figures, one document per entry key (`_id`):
 * the unique insert decides, once, which notice counts a payment.
 */
export const articleMarkSchema = new Schema(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { versionKey: false },
);

/**
 * Article page views per reporting zone, month and article: counts only, no identifier of any
 * kind (see README.md, "Article views").
 */
export const articleViewSchema = new Schema(
  {
    zone: { type: String, required: true },
    month: { type: String, required: true },
    articleSlug: { type: String, required: true },
    views: { type: Number, default: 0 },
    /** By day of the month ("01"…"31"). */
    days: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, minimize: false },
);
articleViewSchema.index({ zone: 1, month: 1, articleSlug: 1 }, { unique: true });
articleViewSchema.index({ zone: 1, month: 1 });

const driftSchema = new Schema(
  {
    kind: { type: String, required: true, enum: ['rollup', 'article'] },
    zone: String,
    day: String,
    currency: String,
    provider: String,
    planId: String,
    articleSlug: String,
    fields: { type: [{ field: String, rollup: Number, derived: Number, _id: false }], default: [] },
    /** repaired | changed (a live update came first; left for the next check) | open (day not closed, or repair off) */
    outcome: { type: String, required: true },
  },
  { _id: false },
);

/** One run of the nightly re-derivation: what it read, what it found, what it repaired. */
export const rollupCheckSchema = new Schema(
  {
    startedAt: { type: Date, required: true },
    finishedAt: { type: Date },
    trigger: { type: String, enum: ['nightly', 'command'], required: true },
    repair: { type: Boolean, required: true },
    /** Days before this one (per zone) were closed and could be repaired. */
    closedBefore: { type: Schema.Types.Mixed },
    entries: { type: Number, default: 0 },
    mrrMovements: { type: Number, default: 0 },
    bucketsChecked: { type: Number, default: 0 },
    articleBucketsChecked: { type: Number, default: 0 },
    /** Buckets left alone because a ledger entry or MRR movement in them was still being applied. */
    inFlight: { type: Number, default: 0 },
    drifted: { type: Number, default: 0 },
    repaired: { type: Number, default: 0 },
    /** The first drifts found, in detail (the counts above cover all of them). */
    drifts: { type: [driftSchema], default: [] },
    status: { type: String, enum: ['running', 'done', 'failed'], required: true },
    error: { type: String },
  },
  { versionKey: false },
);
rollupCheckSchema.index({ startedAt: -1 });
