/**
 * Storage of the reports feature: per-article payments and views, and the nightly check's
 * records. The only file that knows these models; plain objects in and out. Increments carry a
 * mark (the ledger entry's key), so a repeat changes nothing; repairs are guarded on the values read.
 */
import mongoose, { type Connection } from 'mongoose';
import type { Document, UpdateFilter } from 'mongodb';
import { modelOf } from '../db/model.js';
import { isDuplicateKey } from '../db/guarded-update.js';
import { articleMarkSchema, articleRollupSchema, articleViewSchema, rollupCheckSchema } from './models.js';

export interface ArticleBucket {
  zone: string;
  /** YYYY-MM in the zone. */
  month: string;
  currency: string;
  articleSlug: string;
}

export interface ArticleFigures {
  payments: number;
  grossMinor: number;
  newSupporters: number;
}

export interface ArticleRollupRow extends ArticleBucket, ArticleFigures {
  /** By day of the month ("01"…"31"). */
  days: Record<string, ArticleFigures>;
}

export interface ArticleViewRow {
  zone: string;
  month: string;
  articleSlug: string;
  views: number;
  days: Record<string, number>;
}

export interface ViewCount {
  zone: string;
  month: string;
  /** Day of the month, "01"…"31". */
  day: string;
  articleSlug: string;
  views: number;
}

export interface Drift {
  kind: 'rollup' | 'article';
  zone: string;
  day: string;
  currency: string;
  provider?: string;
  planId?: string;
  articleSlug?: string;
  fields: Array<{ field: string; rollup: number; derived: number }>;
  outcome: 'repaired' | 'changed' | 'open';
}

export interface RollupCheck {
  id: string;
  startedAt: Date;
  finishedAt?: Date;
  trigger: 'nightly' | 'command';
  repair: boolean;
  closedBefore: Record<string, string>;
  entries: number;
  mrrMovements: number;
  bucketsChecked: number;
  articleBucketsChecked: number;
  inFlight: number;
  drifted: number;
  repaired: number;
  drifts: Drift[];
  status: 'running' | 'done' | 'failed';
  error?: string;
}

const upd = (update: Record<string, unknown>) => update as unknown as UpdateFilter<Document>;
const figureFields = ['payments', 'grossMinor', 'newSupporters'] as const;
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

function toFigures(d: Record<string, unknown> | undefined): ArticleFigures {
  return { payments: num(d?.payments), grossMinor: num(d?.grossMinor), newSupporters: num(d?.newSupporters) };
}

/** A guard that matches a stored number, a missing field counting as 0. */
const equalsStored = (value: number) => (value === 0 ? { $in: [0, null] } : value);

export function createReportsRepository(connection: Connection) {
  const ArticleRollups = modelOf(connection, 'ArticleRollup', articleRollupSchema);
  const ArticleMarks = modelOf(connection, 'ArticleMark', articleMarkSchema);
  const ArticleViews = modelOf(connection, 'ArticleView', articleViewSchema);
  const Checks = modelOf(connection, 'RollupCheck', rollupCheckSchema);
  const raw = {
    articles: ArticleRollups.collection,
    marks: ArticleMarks.collection as unknown as mongoose.mongo.Collection<{ _id: string; at: Date }>,
    views: ArticleViews.collection,
    checks: Checks.collection,
  };
  let ready: Promise<unknown> | undefined;
  const indexes = () =>
    (ready ??= Promise.all([
      ArticleRollups.init(),
      ArticleMarks.init(),
      ArticleViews.init(),
      Checks.init(),
    ]).catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));

  const toArticleRow = (d: Record<string, unknown>): ArticleRollupRow => {
    const days: Record<string, ArticleFigures> = {};
    for (const [day, figures] of Object.entries((d.days as Record<string, unknown> | undefined) ?? {})) {
      days[day] = toFigures(figures as Record<string, unknown>);
    }
    return {
      zone: d.zone as string,
      month: d.month as string,
      currency: d.currency as string,
      articleSlug: d.articleSlug as string,
      ...toFigures(d),
      days,
    };
  };

  const toCheck = (d: Record<string, unknown>): RollupCheck => {
    const { _id, ...rest } = d;
    return {
      ...(rest as unknown as Omit<RollupCheck, 'id'>),
      id: String(_id),
      closedBefore: (rest.closedBefore as Record<string, string> | undefined) ?? {},
      drifts: ((rest.drifts as Drift[] | undefined) ?? []).map((x) => ({ ...x })),
    };
  };

  return {
    ready: indexes,

    /**
     * Claims a payment entry for the article figures: true for the one caller that may add it,
     * false when it was added before (another process, a repeated notice, the nightly repair).
     */
    async claimArticleMark(key: string): Promise<boolean> {
      await indexes();
      try {
        await raw.marks.insertOne({ _id: key, at: new Date() });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },

    /** Adds a claimed payment entry to its article's month (an upsert; see claimArticleMark). */
    async incrementArticle(bucket: ArticleBucket, dayOfMonth: string, inc: ArticleFigures): Promise<void> {
      await indexes();
      const $inc: Record<string, number> = {};
      for (const field of figureFields) {
        if (inc[field] === 0) continue;
        $inc[field] = inc[field];
        $inc[`days.${dayOfMonth}.${field}`] = inc[field];
      }
      try {
        await raw.articles.updateOne(bucket, upd({ $inc }), { upsert: true });
      } catch (err) {
        // Two processes creating the same month's document at once: the loser's increment is retried.
        if (!isDuplicateKey(err)) throw err;
        await raw.articles.updateOne(bucket, upd({ $inc }));
      }
    },

    /**
     * The article documents of a zone for some months (YYYY-MM). Without `days`, only the month
     * totals are read (a period that covers the whole month needs no more).
     */
    async articleMonths(
      zone: string,
      months: string[],
      options: { days?: boolean } = {},
    ): Promise<ArticleRollupRow[]> {
      if (months.length === 0) return [];
      const docs = await raw.articles
        .find({ zone, month: { $in: months } }, options.days === false ? { projection: { days: 0 } } : {})
        .toArray();
      return docs.map((d) => toArticleRow(d as Record<string, unknown>));
    },

    /** Every stored article document, a batch at a time, for the nightly comparison. */
    async *allArticleMonths(): AsyncIterable<ArticleRollupRow[]> {
      const cursor = raw.articles.find({}).batchSize(2000);
      try {
        while (await cursor.hasNext()) {
          yield cursor.readBufferedDocuments().map((d) => toArticleRow(d as Record<string, unknown>));
        }
      } finally {
        await cursor.close();
      }
    },

    /**
     * Sets an article document's figures to re-derived values, only if its totals are still the
     * ones read (every increment changes `payments`, so a live one makes this miss). `marks` are the
     * keys of every payment the derived values count: they are claimed, so a late notice for one of
     * them adds nothing.
     */
    async repairArticle(
      bucket: ArticleBucket,
      seen: ArticleFigures,
      totals: ArticleFigures,
      days: Record<string, ArticleFigures>,
      marks: string[],
    ): Promise<boolean> {
      await indexes();
      if (marks.length) {
        const at = new Date();
        await raw.marks
          .insertMany(
            marks.map((key) => ({ _id: key, at })),
            { ordered: false },
          )
          .catch((err: unknown) => {
            const errors = (err as { writeErrors?: Array<{ code: number }> }).writeErrors;
            if (!errors?.every((e) => e.code === 11000)) throw err;
          });
      }
      const $set: Record<string, number> = { ...totals };
      for (const [day, figures] of Object.entries(days)) {
        for (const field of figureFields) $set[`days.${day}.${field}`] = figures[field];
      }
      const guard = Object.fromEntries(figureFields.map((f) => [f, equalsStored(seen[f])]));
      const result = await raw.articles.updateOne({ ...bucket, ...guard }, upd({ $set }));
      if (result.matchedCount === 1) return true;
      if (figureFields.some((f) => seen[f] !== 0)) return false;
      // Nothing was stored for this article and month: create it, unless a live increment just did.
      try {
        const created = await raw.articles.updateOne(
          bucket,
          upd({
            $setOnInsert: {
              ...totals,
              days: Object.fromEntries(Object.entries(days).map(([d, f]) => [d, { ...f }])),
            },
          }),
          { upsert: true },
        );
        return created.upsertedCount === 1;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },

    /** Adds view counts ($inc, upserting), one write per zone, month and article. */
    async addViews(counts: ViewCount[]): Promise<void> {
      if (counts.length === 0) return;
      await indexes();
      const merged = new Map<
        string,
        { key: Omit<ViewCount, 'day' | 'views'>; inc: Record<string, number> }
      >();
      for (const c of counts) {
        const id = `${c.zone}\n${c.month}\n${c.articleSlug}`;
        let entry = merged.get(id);
        if (!entry) {
          entry = { key: { zone: c.zone, month: c.month, articleSlug: c.articleSlug }, inc: { views: 0 } };
          merged.set(id, entry);
        }
        entry.inc.views = (entry.inc.views ?? 0) + c.views;
        entry.inc[`days.${c.day}`] = (entry.inc[`days.${c.day}`] ?? 0) + c.views;
      }
      const operations = [...merged.values()].map(({ key, inc }) => ({
        updateOne: { filter: key, update: upd({ $inc: inc }), upsert: true },
      }));
      try {
        await raw.views.bulkWrite(operations, { ordered: false });
      } catch (err) {
        // Two processes creating the same month's document at once: the losers are retried as updates.
        const failed = (err as { writeErrors?: Array<{ index: number; code: number }> }).writeErrors ?? [];
        if (!isDuplicateKey(err) && !failed.every((e) => e.code === 11000)) throw err;
        const retry = (failed.length ? failed.map((e) => operations[e.index]!) : operations).map((op) => ({
          updateOne: { ...op.updateOne, upsert: false },
        }));
        if (retry.length) await raw.views.bulkWrite(retry, { ordered: false });
      }
    },

    /** The view documents of a zone for some months (YYYY-MM); month totals only without `days`. */
    async viewsIn(
      zone: string,
      months: string[],
      options: { days?: boolean } = {},
    ): Promise<ArticleViewRow[]> {
      if (months.length === 0) return [];
      const docs = await raw.views
        .find(
          { zone, month: { $in: months } },
          { projection: options.days === false ? { _id: 0, days: 0 } : { _id: 0 } },
        )
        .toArray();
      return docs.map((d) => ({
        zone: d.zone as string,
        month: d.month as string,
        articleSlug: d.articleSlug as string,
        views: num(d.views),
        days: Object.fromEntries(
          Object.entries((d.days as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [k, num(v)]),
        ),
      }));
    },

    async startCheck(check: Pick<RollupCheck, 'startedAt' | 'trigger' | 'repair'>): Promise<string> {
      await indexes();
      const _id = new mongoose.Types.ObjectId();
      await raw.checks.insertOne({ _id, ...check, status: 'running' });
      return String(_id);
    },

    async finishCheck(id: string, check: Omit<RollupCheck, 'id' | 'startedAt' | 'trigger' | 'repair'>) {
      await raw.checks.updateOne({ _id: new mongoose.Types.ObjectId(id) }, upd({ $set: { ...check } }));
    },

    /** The newest checks first. */
    async latestChecks(limit = 10): Promise<RollupCheck[]> {
      const docs = await raw.checks
        .find({})
        .sort({ startedAt: -1 })
        .limit(Math.min(Math.max(limit, 1), 100))
        .toArray();
      return docs.map((d) => toCheck(d as Record<string, unknown>));
    },
  };
}

export type ReportsRepository = ReturnType<typeof createReportsRepository>;
