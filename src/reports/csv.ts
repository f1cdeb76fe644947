/**
 * The ledger export: one row per ledger movement (payment, refund, dispute, dispute reversal) in a
 * period, each refund or dispute linked to its original payment. Streamed from a cursor through
 * csv-stringify, so a million rows never sit in memory; RFC 4180 (CRLF, quotes only where needed);
 * text cells that a spreadsheet would run as a formula are neutralised (OWASP ASVS 1.2.10);
 * amounts stay plain numbers.
 */
import { createHmac } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { AppConfig } from '../config.js';
import { toDecimalString } from '../payments/money.js';
import { paymentMovementKey } from '../supporters/ledger-rules.js';
import type { ExportedEntry, LedgerRepository } from '../supporters/repository.js';
import { momentsOf, type Period } from './periods.js';

export const csvColumns = [
  'id',
  'type',
  'created_utc',
  'created_local',
  'payment_id',
  'payment_date_utc',
  'supporter',
  'plan',
  'interval',
  'provider',
  'provider_reference',
  'provider_payment_id',
  'gross',
  'fee',
  'net',
  'currency',
  'status',
  'article',
] as const;

/** A text cell a spreadsheet would evaluate (=, +, -, @, tab, CR first) gets a leading apostrophe. */
export function neutraliseFormula(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

const QUARTER_HOUR = 15 * 60_000;

/**
 * "YYYY-MM-DD HH:mm:ss" in a zone, fast: rows come in time order, so the zone's offset is worked
 * out once per quarter hour (every offset change in the tz database falls on one) instead of
 * asking Intl for every row.
 */
export function localTimeFormatter(zone: string): (at: Date) => string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  let bucket = Number.NaN;
  let offset = 0;
  return (at) => {
    const t = at.getTime();
    const b = Math.floor(t / QUARTER_HOUR);
    if (b !== bucket) {
      const start = b * QUARTER_HOUR;
      const p = parts.formatToParts(new Date(start));
      const get = (type: string) => Number(p.find((x) => x.type === type)?.value);
      offset =
        Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) -
        start;
      bucket = b;
    }
    return new Date(t + offset).toISOString().slice(0, 19).replace('T', ' ');
  };
}

/**
 * Ids per lookup query, all sent at once. Small on purpose: the embedded store checks an `$in`
 * against each candidate by hashing the whole list (mingo), so a query costs ids², and about
 * forty is where that meets the cost of one more query; MongoDB itself does not mind either way.
 */
const LOOKUP_CHUNK = 40;
/** Supporters' emails kept during one export (monthly supporters appear every month), per generation. */
const EMAIL_CACHE = 20_000;
/** Batches read and looked up ahead of the one being written. */
const LOOKAHEAD = 3;

/**
 * The batches of `source`, each passed through `prepare` as soon as it is read, with at most
 * `limit` prepared batches waiting; stopping early stops the reading.
 */
export async function* readAhead<T, R>(
  source: AsyncIterable<T>,
  limit: number,
  prepare: (batch: T) => Promise<R>,
): AsyncGenerator<R> {
  const waiting: Array<Promise<R>> = [];
  let done = false;
  let failure: { error: unknown } | undefined;
  let stop = false;
  let wake: (() => void) | undefined;
  let space: (() => void) | undefined;
  const reader = (async () => {
    try {
      for await (const batch of source) {
        if (stop) break;
        const ready = prepare(batch);
        ready.catch(() => undefined);
        waiting.push(ready);
        wake?.();
        while (waiting.length >= limit && !stop) await new Promise<void>((resolve) => (space = resolve));
      }
    } catch (error) {
      failure = { error };
    } finally {
      done = true;
      wake?.();
    }
  })();
  try {
    for (;;) {
      if (waiting.length === 0) {
        if (failure) throw failure.error;
        if (done) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const next = waiting.shift()!;
      space?.();
      space = undefined;
      yield await next;
    }
  } finally {
    stop = true;
    space?.();
    await reader;
  }
}

async function inChunks<T>(ids: string[], read: (ids: string[]) => Promise<Map<string, T>>) {
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) chunks.push(ids.slice(i, i + LOOKUP_CHUNK));
  const found = new Map<string, T>();
  for (const map of await Promise.all(chunks.map(read))) for (const [k, v] of map) found.set(k, v);
  return found;
}

export interface LedgerCsvOptions {
  config: AppConfig;
  ledger: Pick<LedgerRepository, 'entryBatchesBetween' | 'supporterEmails' | 'donationStatuses'>;
  period: Period;
  out: Writable;
  bom?: boolean;
  /** Erased supporters appear under a keyed pseudonym, stable across exports, never their email. */
  pseudonymKey: string;
  /** Counts the rows as they are written (for the audit entry of an export that was cut short). */
  progress?: { rows: number };
}

/** Writes the CSV to `out`, leaving it open (the caller ends it), and answers how many rows it wrote. */
export async function writeLedgerCsv(deps: LedgerCsvOptions): Promise<number> {
  const { config, ledger, period } = deps;
  const local = localTimeFormatter(period.zone);
  const planName = new Map(config.donations.plans.map((p) => [p.id, p.name]));
  const pseudonym = (id: string) =>
    `supporter-${createHmac('sha256', deps.pseudonymKey).update(`report-pseudonym:${id}`).digest('hex').slice(0, 16)}`;
  const progress = deps.progress ?? { rows: 0 };

  type Who = { email: string; erased: boolean } | null;
  // Two generations: the newer fills up, then replaces the older (no per-entry eviction).
  let recent = new Map<string, Who>();
  let older = new Map<string, Who>();
  const remembered = (id: string) => recent.get(id) ?? older.get(id);
  const remember = (id: string, who: Who) => {
    if (recent.size >= EMAIL_CACHE) {
      older = recent;
      recent = new Map();
    }
    recent.set(id, who);
  };

  /** A batch with its supporters' emails and payments' statuses, looked up together. */
  async function resolve(batch: ExportedEntry[]) {
    const emails = new Map<string, Who>();
    const unknown: string[] = [];
    for (const e of batch) {
      if (!e.supporterId || emails.has(e.supporterId)) continue;
      const known = remembered(e.supporterId);
      emails.set(e.supporterId, known ?? null);
      if (known === undefined) unknown.push(e.supporterId);
    }
    const [found, statuses] = await Promise.all([
      inChunks(unknown, (ids) => ledger.supporterEmails(ids)),
      inChunks([...new Set(batch.map((e) => e.donationId))], (ids) => ledger.donationStatuses(ids)),
    ]);
    for (const id of unknown) {
      const who = found.get(id) ?? null;
      emails.set(id, who);
      remember(id, who);
    }
    return { batch, emails, statuses };
  }

  function* rowsFor({ batch, emails, statuses }: Awaited<ReturnType<typeof resolve>>): Generator<string[]> {
    for (const e of batch) {
      const who = e.supporterId ? emails.get(e.supporterId) : undefined;
      const currency = e.currency;
      progress.rows += 1;
      yield [
        e.key,
        e.type,
        e.occurredAt.toISOString(),
        local(e.occurredAt),
        paymentMovementKey(e.provider, e.providerPaymentId),
        e.paymentOccurredAt.toISOString(),
        neutraliseFormula(who ? (who.erased ? pseudonym(e.supporterId!) : who.email) : ''),
        neutraliseFormula(planName.get(e.planId) ?? e.planId),
        e.interval,
        e.provider,
        neutraliseFormula(e.providerRef ?? e.providerPaymentId),
        neutraliseFormula(e.providerPaymentId),
        toDecimalString({ amountMinor: e.amountMinor, currency }),
        toDecimalString({ amountMinor: e.feeMinor, currency }),
        toDecimalString({ amountMinor: e.amountMinor - e.feeMinor, currency }),
        e.currency,
        statuses.get(e.donationId) ?? '',
        neutraliseFormula(e.articleSlug ?? ''),
      ];
    }
  }

  async function* rowsOf(): AsyncGenerator<string[]> {
    const { from, to } = momentsOf(period);
    const batches = ledger.entryBatchesBetween(
      from,
      to,
      period.currency ? { currency: period.currency } : {},
    );
    // Reading ahead (a few batches at most), so the next batches and their lookups are on their
    // way while this one is written: the store and this process work at the same time.
    for await (const resolved of readAhead(batches, LOOKAHEAD, resolve)) yield* rowsFor(resolved);
  }

  await pipeline(
    Readable.from(rowsOf()),
    stringify({
      header: true,
      columns: [...csvColumns],
      bom: deps.bom ?? false,
      record_delimiter: 'windows',
    }),
    deps.out,
    { end: false },
  );
  return progress.rows;
}
