/**
 * The nightly check: re-derives every rollup from the ledger entries and MRR movements, and every
 * article month from the payment entries, and compares them with what the live increments
 * stored. Both streams are read once, in time order, so per zone only one day's buckets (and one
 * month's articles) are in memory at a time; the stored rollups are read alongside, day by day.
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
    'entriesInTimeOrder' | 'mrrMovementsInTimeOrder' | 'rollupsInDayOrder' | 'repairRollup'
  >;
  reports: Pick<
    ReportsRepository,
    'articleMonths' | 'articleMonthsStored' | 'repairArticle' | 'startCheck' | 'finishCheck'
  >;
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

type Figures = Record<RollupField, number>;
const zeros = (): Figures => Object.fromEntries(rollupFields.map((f) => [f, 0])) as Figures;
const articleZeros = (): ArticleFigures => ({ payments: 0, grossMinor: 0, newSupporters: 0 });
const articleFields = ['payments', 'grossMinor', 'newSupporters'] as const;

interface BucketAcc {
  bucket: RollupBucket;
  values: Figures;
  inFlight: boolean;
}

interface ArticleAcc {
  bucket: ArticleBucket;
  days: Map<string, ArticleFigures & { keys: string[] }>;
}

interface ZoneState {
  zone: string;
  closedBefore: string;
  day: string | null;
  /** [start, end) of `day`, so most items need no time-zone arithmetic. */
  dayStart: number;
  dayEnd: number;
  buckets: Map<string, BucketAcc>;
  stored: Peekable<RollupRow>;
  month: string | null;
  articles: Map<string, ArticleAcc>;
  /** Months whose article figures were compared. */
  months: Set<string>;
}

class Peekable<T> {
  private head: IteratorResult<T> | undefined;
  constructor(private readonly it: AsyncIterator<T>) {}
  async peek(): Promise<T | undefined> {
    this.head ??= await this.it.next();
    return this.head.done ? undefined : this.head.value;
  }
  async take(): Promise<T | undefined> {
    const value = await this.peek();
    this.head = undefined;
    return value;
  }
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

const bucketKey = (b: Omit<RollupBucket, 'zone' | 'day'>) => `${b.currency}\n${b.provider}\n${b.planId}`;

type StreamItem<T> = T extends () => AsyncIterable<infer I> ? I : never;
type EntryRow = StreamItem<LedgerRepository['entriesInTimeOrder']>;
type MovementRow = StreamItem<LedgerRepository['mrrMovementsInTimeOrder']>;
type Item =
  { kind: 'entry'; at: Date; entry: EntryRow } | { kind: 'movement'; at: Date; movement: MovementRow };

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
  const note = (drift: Drift) => {
    result.drifted += 1;
    if (drift.outcome === 'repaired') result.repaired += 1;
    if (result.drifts.length < DETAIL_LIMIT) result.drifts.push(drift);
  };

  const zones: ZoneState[] = deps.zones.map((zone) => {
    // Days before the one `closedAt` falls on ended at least `closedAfterMs` ago.
    const closedBefore = dayIn(zone, closedAt);
    result.closedBefore[zone] = closedBefore;
    return {
      zone,
      closedBefore,
      day: null,
      dayStart: 0,
      dayEnd: 0,
      buckets: new Map(),
      stored: new Peekable(deps.ledger.rollupsInDayOrder(zone)[Symbol.asyncIterator]()),
      month: null,
      articles: new Map(),
      months: new Set(),
    };
  });

  async function compareBuckets(
    z: ZoneState,
    day: string,
    derived: Map<string, BucketAcc>,
    stored: RollupRow[],
  ): Promise<void> {
    if (day >= z.closedBefore) return;
    const storedByKey = new Map(stored.map((r) => [bucketKey(r), r]));
    const keys = new Set([...derived.keys(), ...storedByKey.keys()]);
    for (const key of keys) {
      const acc = derived.get(key);
      const row = storedByKey.get(key);
      result.bucketsChecked += 1;
      if (acc?.inFlight) {
        result.inFlight += 1;
        continue;
      }
      const bucket: RollupBucket = acc?.bucket ?? {
        zone: z.zone,
        day,
        currency: row!.currency,
        provider: row!.provider,
        planId: row!.planId,
      };
      const want = acc?.values ?? zeros();
      const have = zeros();
      for (const f of rollupFields) have[f] = (row?.[f] as number | undefined) ?? 0;
      const fields = rollupFields
        .filter((f) => want[f] !== have[f])
        .map((f) => ({ field: f, rollup: have[f], derived: want[f] }));
      if (fields.length === 0) continue;
      let outcome: Drift['outcome'] = 'open';
      if (repair) outcome = (await deps.ledger.repairRollup(bucket, have, want)) ? 'repaired' : 'changed';
      note({
        kind: 'rollup',
        zone: z.zone,
        day,
        currency: bucket.currency,
        provider: bucket.provider,
        planId: bucket.planId,
        fields,
        outcome,
      });
    }
  }

  /** Compares the finished day of a zone, and any stored days before it that nothing derived touched. */
  async function flushDay(z: ZoneState): Promise<void> {
    const day = z.day!;
    for (let row = await z.stored.peek(); row && row.day < day; row = await z.stored.peek()) {
      const earlier = row.day;
      const rows: RollupRow[] = [];
      while ((row = await z.stored.peek()) && row.day === earlier) rows.push((await z.stored.take())!);
      await compareBuckets(z, earlier, new Map(), rows);
    }
    const rows: RollupRow[] = [];
    for (let row = await z.stored.peek(); row && row.day === day; row = await z.stored.peek()) {
      rows.push((await z.stored.take())!);
    }
    await compareBuckets(z, day, z.buckets, rows);
    z.buckets = new Map();
  }

  /** Compares a zone's finished month of article figures, closed days only. */
  async function flushMonth(z: ZoneState, month = z.month!): Promise<void> {
    z.months.add(month);
    const stored = await deps.reports.articleMonths(z.zone, [month]);
    const storedByKey = new Map(stored.map((r) => [`${r.currency}\n${r.articleSlug}`, r]));
    const keys = new Set([...z.articles.keys(), ...storedByKey.keys()]);
    for (const key of keys) {
      const acc = z.articles.get(key);
      const row = storedByKey.get(key);
      const bucket = acc?.bucket ?? {
        zone: z.zone,
        month,
        currency: row!.currency,
        articleSlug: row!.articleSlug,
      };
      const days = new Set([...(acc?.days.keys() ?? []), ...Object.keys(row?.days ?? {})]);
      const fix: Record<string, ArticleFigures> = {};
      const marks: string[] = [];
      const seen = row
        ? { payments: row.payments, grossMinor: row.grossMinor, newSupporters: row.newSupporters }
        : articleZeros();
      const totals = { ...seen };
      const drifts: Drift[] = [];
      for (const dd of [...days].sort()) {
        const date = `${month}-${dd}`;
        if (date >= z.closedBefore) continue;
        result.articleBucketsChecked += 1;
        const want = acc?.days.get(dd) ?? { ...articleZeros(), keys: [] };
        const have = row?.days[dd] ?? articleZeros();
        const fields = articleFields
          .filter((f) => want[f] !== have[f])
          .map((f) => ({ field: f, rollup: have[f], derived: want[f] }));
        if (fields.length === 0) continue;
        fix[dd] = { payments: want.payments, grossMinor: want.grossMinor, newSupporters: want.newSupporters };
        marks.push(...want.keys);
        for (const f of articleFields) totals[f] += want[f] - have[f];
        drifts.push({
          kind: 'article',
          zone: z.zone,
          day: date,
          currency: bucket.currency,
          articleSlug: bucket.articleSlug,
          fields,
          outcome: 'open',
        });
      }
      if (drifts.length === 0) continue;
      let outcome: Drift['outcome'] = 'open';
      if (repair) {
        outcome = (await deps.reports.repairArticle(bucket, seen, totals, fix, marks))
          ? 'repaired'
          : 'changed';
      }
      for (const d of drifts) note({ ...d, outcome });
    }
    z.articles = new Map();
  }

  function dayOf(z: ZoneState, at: Date): string {
    const t = at.getTime();
    if (z.day !== null && t >= z.dayStart && t < z.dayEnd) return z.day;
    return dayIn(z.zone, at);
  }

  async function enter(z: ZoneState, at: Date): Promise<string> {
    const day = dayOf(z, at);
    if (day !== z.day) {
      if (z.day !== null) await flushDay(z);
      z.day = day;
      z.dayStart = startOfDay(day, z.zone).getTime();
      z.dayEnd = startOfDay(addDays(day, 1), z.zone).getTime();
    }
    return day;
  }

  function accOf(z: ZoneState, b: Omit<RollupBucket, 'zone' | 'day'>, day: string): BucketAcc {
    const key = bucketKey(b);
    let acc = z.buckets.get(key);
    if (!acc) {
      acc = { bucket: { zone: z.zone, day, ...b }, values: zeros(), inFlight: false };
      z.buckets.set(key, acc);
    }
    return acc;
  }

  const add = (acc: BucketAcc, inc: Record<string, number>) => {
    for (const [field, value] of Object.entries(inc)) acc.values[field as RollupField] += value;
  };

  async function take(item: Item): Promise<void> {
    for (const z of zones) {
      const day = await enter(z, item.at);
      if (item.kind === 'movement') {
        const m = item.movement;
        const acc = accOf(z, { currency: m.currency, provider: m.provider, planId: m.planId }, day);
        if (!m.applied) acc.inFlight = true;
        add(acc, mrrRollupIncrement(m));
        continue;
      }
      const e = item.entry;
      const acc = accOf(z, { currency: e.currency, provider: e.provider, planId: e.planId }, day);
      if (!e.applied) acc.inFlight = true;
      add(acc, rollupIncrement(e));
      if (e.newSupporter) acc.values.newSupporters += 1;
      if (e.type !== 'payment' || !e.articleSlug) continue;
      const month = day.slice(0, 7);
      if (month !== z.month) {
        if (z.month !== null) await flushMonth(z);
        z.month = month;
      }
      const key = `${e.currency}\n${e.articleSlug}`;
      let article = z.articles.get(key);
      if (!article) {
        article = {
          bucket: { zone: z.zone, month, currency: e.currency, articleSlug: e.articleSlug },
          days: new Map(),
        };
        z.articles.set(key, article);
      }
      const dd = day.slice(8, 10);
      let figures = article.days.get(dd);
      if (!figures) article.days.set(dd, (figures = { ...articleZeros(), keys: [] }));
      figures.payments += 1;
      figures.grossMinor += e.amountMinor;
      if (e.newSupporter) figures.newSupporters += 1;
      figures.keys.push(e.key);
    }
  }

  const entries = new Peekable(deps.ledger.entriesInTimeOrder()[Symbol.asyncIterator]());
  const movements = new Peekable(deps.ledger.mrrMovementsInTimeOrder()[Symbol.asyncIterator]());
  try {
    for (;;) {
      const [e, m] = await Promise.all([entries.peek(), movements.peek()]);
      if (!e && !m) break;
      if (e && (!m || e.occurredAt.getTime() <= m.at.getTime())) {
        await entries.take();
        result.entries += 1;
        await take({ kind: 'entry', at: e.occurredAt, entry: e });
      } else {
        await movements.take();
        result.mrrMovements += 1;
        await take({ kind: 'movement', at: m!.at, movement: m! });
      }
    }
    for (const z of zones) {
      if (z.day !== null) await flushDay(z);
      // Stored days after the last derived one: nothing in the ledger stands behind them.
      for (let row = await z.stored.peek(); row; row = await z.stored.peek()) {
        const day = row.day;
        const rows: RollupRow[] = [];
        while ((row = await z.stored.peek()) && row.day === day) rows.push((await z.stored.take())!);
        await compareBuckets(z, day, new Map(), rows);
      }
      if (z.month !== null) await flushMonth(z);
      // Stored article months without a single attributed payment behind them.
      for (const month of await deps.reports.articleMonthsStored(z.zone)) {
        if (!z.months.has(month)) await flushMonth(z, month);
      }
    }
    result.status = 'done';
  } catch (err) {
    result.status = 'failed';
    result.error = err instanceof Error ? err.message.slice(0, 500) : String(err);
    throw err;
  } finally {
    await Promise.all([entries.close(), movements.close(), ...zones.map((z) => z.stored.close())]);
    result.finishedAt = now();
    await deps.reports.finishCheck(id, result).catch((err: unknown) => {
      logger.error({ err }, 'could not record the rollup check');
    });
  }
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
