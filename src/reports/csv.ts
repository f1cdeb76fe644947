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
import type { LedgerEntryRecord, LedgerRepository } from '../supporters/repository.js';
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

/** How many entries are looked up together (supporters' emails, payments' statuses). */
const BATCH = 1000;

export interface LedgerCsvOptions {
  config: AppConfig;
  ledger: Pick<LedgerRepository, 'entriesBetween' | 'supporterEmails' | 'donationStatuses'>;
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

  async function* rowsOf(): AsyncGenerator<string[]> {
    const { from, to } = momentsOf(period);
    let batch: Array<LedgerEntryRecord & { id: string }> = [];
    async function* flush() {
      const [emails, statuses] = await Promise.all([
        ledger.supporterEmails([...new Set(batch.flatMap((e) => (e.supporterId ? [e.supporterId] : [])))]),
        ledger.donationStatuses([...new Set(batch.map((e) => e.donationId))]),
      ]);
      for (const e of batch) {
        const who = e.supporterId ? emails.get(e.supporterId) : undefined;
        const money = (minor: number) => toDecimalString({ amountMinor: minor, currency: e.currency });
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
          money(e.amountMinor),
          money(e.feeMinor),
          money(e.amountMinor - e.feeMinor),
          e.currency,
          statuses.get(e.donationId) ?? '',
          neutraliseFormula(e.articleSlug ?? ''),
        ];
      }
      batch = [];
    }
    for await (const entry of ledger.entriesBetween(
      from,
      to,
      period.currency ? { currency: period.currency } : {},
    )) {
      batch.push(entry);
      if (batch.length >= BATCH) yield* flush();
    }
    if (batch.length) yield* flush();
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
