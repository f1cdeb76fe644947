/**
 * The nightly check: re-derives every rollup from the ledger entries and MRR movements, and every
 * article month from the payment entries, and compares them with what the live increments
 * stored. Each collection is read once, a batch at a time, in whatever order the store keeps it
 * (no sort holds the store up); what is kept in memory is the derived buckets themselves, which
 * grow with days × currencies × providers × plans (and articles × months), never with payments.
 *
 * Drift on a closed day (one that ended more than `closedAfterMs` ago) is repaired with a guarded
 * write that only lands if the stored figures are still the ones compared, so a live increment
 * racing the repair wins and the next check looks again. Buckets holding an entry or movement whose
 * increment is still under way are left alone: the increment will land (the sweep finishes it).
 */
import type { Logger } from '../log.js';
import { dayIn, mrrRollupIncrement, rollupIncrement } from '../supporters/ledger.js';
import {
  rollupFields,
  type LedgerRepository,
  type RollupBucket,
  type RollupField,
  type RollupRow,
} from '../supporters/repository.js';
import { addDays, startOfDay } from './periods.js';
import type { ArticleBucket, ArticleFigures, Drift, ReportsRepository, RollupCheck } from './repository.js';

export interface RederiveDeps {
  ledger: Pick<
    LedgerRepository,
    'entriesForCheck' | 'mrrMovementsForCheck' | 'storedRollups' | 'repairRollup' | 'paymentKeysFromArticle'
  >;
  reports: Pick<ReportsRepository, 'allArticleMonths' | 'repairArticle' | 'startCheck' | 'finishCheck'>;
  zones: readonly string[];
  logger: Logger;
  now?: () => Date;
}

export interface RederiveOptions {
  /** Repair drift on closed days (default true); false only records it. */
  repair?: boolean;
  trigger?: 'nightly' | 'command';
  /** A day is closed once it ended this long ago (default a day: late deliveries have landed). */
  closedAfterMs?: number;
}

/** Drifts kept in detail per check; the counts cover all of them. */
const DETAIL_LIMIT = 200;
const FIELDS = rollupFields.length;
const fieldIndex = new Map<string, number>(rollupFields.map((f, i) => [f, i]));
const articleFields = ['payments', 'grossMinor', 'newSupporters'] as const;
const QUARTER_HOUR = 15 * 60_000;

interface BucketAcc {
  bucket: RollupBucket;
  values: Float64Array;
  inFlight: boolean;
}

interface ArticleAcc {
  bucket: ArticleBucket;
  /** Day d of the month (1…31) at (d − 1) × 3: payments, grossMinor, newSupporters. */
  days: Float64Array;
}

const rollupKey = (zone: string, day: string, currency: string, provider: string, planId: string) =>
  `${zone}\n${day}\n${currency}\n${provider}\n${planId}`;
const articleKey = (zone: string, month: string, currency: string, slug: string) =>
  `${zone}\n${month}\n${currency}\n${slug}`;

export async function rederive(deps: RederiveDeps, options: RederiveOptions = {}): Promise<RollupCheck> {
  const now = deps.now ?? (() => new Date());
  const logger = deps.logger.child({ component: 'rollup-check' });
  const repair = options.repair ?? true;
  const trigger = options.trigger ?? 'command';
  const startedAt = now();
  const closedAt = new Date(startedAt.getTime() - (options.closedAfterMs ?? 86_400_000));
  const id = await deps.reports.startCheck({ startedAt, trigger, repair });
  const result: Omit<RollupCheck, 'id' | 'startedAt' | 'trigger' | 'repair'> = {
    closedBefore: {},
    entries: 0,
    mrrMovements: 0,
    bucketsChecked: 0,
    articleBucketsChecked: 0,
    inFlight: 0,
    drifted: 0,
    repaired: 0,
    drifts: [],
    status: 'running',
  };
  // Days before the one `closedAt` falls on (in each zone) ended at least `closedAfterMs` ago.
  const closedBefore = new Map(deps.zones.map((zone) => [zone, dayIn(zone, closedAt)]));
  for (const [zone, day] of closedBefore) result.closedBefore[zone] = day;
  const closed = (zone: string, day: string) => day < closedBefore.get(zone)!;
  const note = (drift: Drift) => {
    result.drifted += 1;
    if (drift.outcome === 'repaired') result.repaired += 1;
    if (result.drifts.length < DETAIL_LIMIT) result.drifts.push(drift);
  };

  // Every zone's day of a moment, worked out once per quarter hour (every zone offset is a
  // multiple of one).
  const daysAt = new Map<number, string[]>();
  const daysOf = (at: Date): string[] => {
    const q = Math.floor(at.getTime() / QUARTER_HOUR);
    let days = daysAt.get(q);
    if (!days) {
      if (daysAt.size > 500_000) daysAt.clear();
      days = deps.zones.map((zone) => dayIn(zone, at));
      daysAt.set(q, days);
    }
    return days;
  };

  const rollups = new Map<string, BucketAcc>();
  const articles = new Map<string, ArticleAcc>();
  const rollupAcc = (zone: string, day: string, currency: string, provider: string, planId: string) => {
    const key = rollupKey(zone, day, currency, provider, planId);
    let acc = rollups.get(key);
    if (!acc) {
      acc = {
        bucket: { zone, day, currency, provider: provider as RollupBucket['provider'], planId },
        values: new Float64Array(FIELDS),
        inFlight: false,
      };
      rollups.set(key, acc);
    }
    return acc;
  };
  const add = (acc: BucketAcc, inc: Record<string, number>) => {
    for (const field in inc) acc.values[fieldIndex.get(field)!]! += inc[field]!;
  };

  try {
    await derive();
    await compareRollups();
    await compareArticles();
    result.status = 'done';
  } catch (err) {
    result.status = 'failed';
    result.error = err instanceof Error ? err.message.slice(0, 500) : String(err);
    result.finishedAt = now();
    await finish();
    throw err;
  }
  result.finishedAt = now();
  return finish();

  async function derive(): Promise<void> {
    for await (const batch of deps.ledger.entriesForCheck()) {
      for (const e of batch) {
        result.entries += 1;
        const inc = rollupIncrement(e);
        const days = daysOf(e.occurredAt);
        deps.zones.forEach((zone, z) => {
          const day = days[z]!;
          const acc = rollupAcc(zone, day, e.currency, e.provider, e.planId);
          if (!e.applied) acc.inFlight = true;
          add(acc, inc);
          if (e.newSupporter) acc.values[fieldIndex.get('newSupporters')!]! += 1;
          if (e.type !== 'payment' || !e.articleSlug) return;
          const key = articleKey(zone, day.slice(0, 7), e.currency, e.articleSlug);
          let article = articles.get(key);
          if (!article) {
            article = {
              bucket: { zone, month: day.slice(0, 7), currency: e.currency, articleSlug: e.articleSlug },
              days: new Float64Array(31 * 3),
            };
            articles.set(key, article);
          }
          const at = (Number(day.slice(8, 10)) - 1) * 3;
          article.days[at]! += 1;
          article.days[at + 1]! += e.amountMinor;
          if (e.newSupporter) article.days[at + 2]! += 1;
        });
      }
    }
    for await (const batch of deps.ledger.mrrMovementsForCheck()) {
      for (const m of batch) {
        result.mrrMovements += 1;
        const inc = mrrRollupIncrement(m);
        const days = daysOf(m.at);
        deps.zones.forEach((zone, z) => {
          const acc = rollupAcc(zone, days[z]!, m.currency, m.provider, m.planId);
          if (!m.applied) acc.inFlight = true;
          add(acc, inc);
        });
      }
    }
  }

  // ---- compare the rollups ----------------------------------------------------------------------
  async function compareRollup(bucket: RollupBucket, acc: BucketAcc | undefined, row: RollupRow | undefined) {
    if (!closed(bucket.zone, bucket.day)) return;
    result.bucketsChecked += 1;
    if (acc?.inFlight) {
      result.inFlight += 1;
      return;
    }
    const want = {} as Record<RollupField, number>;
    const have = {} as Record<RollupField, number>;
    rollupFields.forEach((f, i) => {
      want[f] = acc?.values[i] ?? 0;
      have[f] = row?.[f] ?? 0;
    });
    const fields = rollupFields
      .filter((f) => want[f] !== have[f])
      .map((f) => ({ field: f, rollup: have[f], derived: want[f] }));
    if (fields.length === 0) return;
    let outcome: Drift['outcome'] = 'open';
    if (repair) outcome = (await deps.ledger.repairRollup(bucket, have, want)) ? 'repaired' : 'changed';
    note({
      kind: 'rollup',
      zone: bucket.zone,
      day: bucket.day,
      currency: bucket.currency,
      provider: bucket.provider,
      planId: bucket.planId,
      fields,
      outcome,
    });
  }

  async function compareRollups(): Promise<void> {
    const seen = new Set<string>();
    for await (const rows of deps.ledger.storedRollups()) {
      for (const row of rows) {
        if (!closedBefore.has(row.zone)) continue;
        const key = rollupKey(row.zone, row.day, row.currency, row.provider, row.planId);
        seen.add(key);
        const acc = rollups.get(key);
        await compareRollup(
          acc?.bucket ?? {
            zone: row.zone,
            day: row.day,
            currency: row.currency,
            provider: row.provider,
            planId: row.planId,
          },
          acc,
          row,
        );
      }
    }
    // Derived buckets the store does not have at all.
    for (const [key, acc] of rollups) if (!seen.has(key)) await compareRollup(acc.bucket, acc, undefined);
  }

  // ---- compare the article months ------------------------------------------------------------------
  async function compareArticle(
    bucket: ArticleBucket,
    acc: ArticleAcc | undefined,
    row:
      | { payments: number; grossMinor: number; newSupporters: number; days: Record<string, ArticleFigures> }
      | undefined,
  ) {
    const seenTotals = row
      ? { payments: row.payments, grossMinor: row.grossMinor, newSupporters: row.newSupporters }
      : { payments: 0, grossMinor: 0, newSupporters: 0 };
    const totals = { ...seenTotals };
    const fix: Record<string, ArticleFigures> = {};
    const drifts: Drift[] = [];
    for (let d = 1; d <= 31; d += 1) {
      const dd = String(d).padStart(2, '0');
      const date = `${bucket.month}-${dd}`;
      const at = (d - 1) * 3;
      const want = {
        payments: acc?.days[at] ?? 0,
        grossMinor: acc?.days[at + 1] ?? 0,
        newSupporters: acc?.days[at + 2] ?? 0,
      };
      const have = row?.days[dd];
      if (!have && want.payments === 0 && want.newSupporters === 0 && want.grossMinor === 0) continue;
      if (!closed(bucket.zone, date)) continue;
      result.articleBucketsChecked += 1;
      const stored = have ?? { payments: 0, grossMinor: 0, newSupporters: 0 };
      const fields = articleFields
        .filter((f) => want[f] !== stored[f])
        .map((f) => ({ field: f, rollup: stored[f], derived: want[f] }));
      if (fields.length === 0) continue;
      fix[dd] = want;
      for (const f of articleFields) totals[f] += want[f] - stored[f];
      drifts.push({
        kind: 'article',
        zone: bucket.zone,
        day: date,
        currency: bucket.currency,
        articleSlug: bucket.articleSlug,
        fields,
        outcome: 'open',
      });
    }
    if (drifts.length === 0) return;
    let outcome: Drift['outcome'] = 'open';
    if (repair) {
      // The payments the derived figures count are claimed, so a late notice adds none of them again.
      const marks: string[] = [];
      for (const dd of Object.keys(fix)) {
        const from = startOfDay(`${bucket.month}-${dd}`, bucket.zone);
        const to = startOfDay(addDays(`${bucket.month}-${dd}`, 1), bucket.zone);
        marks.push(
          ...(await deps.ledger.paymentKeysFromArticle(bucket.articleSlug, bucket.currency, from, to)),
        );
      }
      outcome = (await deps.reports.repairArticle(bucket, seenTotals, totals, fix, marks))
        ? 'repaired'
        : 'changed';
    }
    for (const d of drifts) note({ ...d, outcome });
  }

  async function compareArticles(): Promise<void> {
    const seenArticles = new Set<string>();
    for await (const rows of deps.reports.allArticleMonths()) {
      for (const row of rows) {
        if (!closedBefore.has(row.zone)) continue;
        const key = articleKey(row.zone, row.month, row.currency, row.articleSlug);
        seenArticles.add(key);
        const acc = articles.get(key);
        await compareArticle(
          acc?.bucket ?? {
            zone: row.zone,
            month: row.month,
            currency: row.currency,
            articleSlug: row.articleSlug,
          },
          acc,
          row,
        );
      }
    }
    for (const [key, acc] of articles)
      if (!seenArticles.has(key)) await compareArticle(acc.bucket, acc, undefined);
  }

  async function finish(): Promise<RollupCheck> {
    await deps.reports.finishCheck(id, result).catch((err: unknown) => {
      logger.error({ err }, 'could not record the rollup check');
    });
    const summary = {
      entries: result.entries,
      mrrMovements: result.mrrMovements,
      bucketsChecked: result.bucketsChecked,
      drifted: result.drifted,
      repaired: result.repaired,
    };
    if (result.drifted > 0) logger.warn(summary, 'rollups drifted from the ledger');
    else logger.info(summary, 'rollups agree with the ledger');
    return { id, startedAt, trigger, repair, ...result };
  }
}
