/**
 * The ledger export: one row per ledger movement (payment, refund, dispute, dispute reversal) in a
 * period, each refund or dispute linked to its original payment. Streamed from a cursor through
 * csv-stringify, so a million rows never sit in memory; RFC 4180 quoting; text cells that a
 * spreadsheet would run as a formula are neutralised (OWASP ASVS 1.2.10); amounts stay numbers.
 */
import { createHash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { AppConfig } from '../config.js';
import { toDecimalString } from '../payments/money.js';
import type { LedgerEntryRecord, LedgerRepository } from '../supporters/repository.js';
import { addDays, startOfDay, type Period } from './periods.js';

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

const BATCH = 1000;

export async function writeLedgerCsv(deps: {
  config: AppConfig;
  ledger: Pick<LedgerRepository, 'entriesBetween' | 'supporterEmails' | 'donationStatuses'>;
  period: Period;
  out: Writable;
  bom?: boolean;
  /** Pseudonyms for erased supporters are keyed hashes, stable across exports. */
  pseudonymKey: string;
}): Promise<number> {
  const { config, ledger, period } = deps;
  const local = new Intl.DateTimeFormat('sv-SE', {
    timeZone: period.zone,
    dateStyle: 'short',
    timeStyle: 'medium',
  });
  const planName = new Map(config.donations.plans.map((p) => [p.id, p.name]));
  const pseudonym = (id: string) =>
    `supporter-${createHash('sha256').update(`${deps.pseudonymKey}:${id}`).digest('hex').slice(0, 12)}`;
  let rows = 0;

  async function* rowsOf(): AsyncGenerator<string[]> {
    const from = startOfDay(period.from, period.zone);
    const to = startOfDay(addDays(period.to, 1), period.zone);
    let batch: Array<LedgerEntryRecord & { id: string }> = [];
    const flush = async function* () {
      const [emails, statuses] = await Promise.all([
        ledger.supporterEmails([...new Set(batch.flatMap((e) => (e.supporterId ? [e.supporterId] : [])))]),
        ledger.donationStatuses([...new Set(batch.map((e) => e.donationId))]),
      ]);
      for (const e of batch) {
        const who = e.supporterId ? emails.get(e.supporterId) : undefined;
        const money = (minor: number) => toDecimalString({ amountMinor: minor, currency: e.currency });
        rows += 1;
        yield [
          e.id,
          e.type,
          e.occurredAt.toISOString(),
          local.format(e.occurredAt),
          e.donationId,
          e.paymentOccurredAt.toISOString(),
          neutraliseFormula(who ? (who.erased ? pseudonym(e.supporterId!) : who.email) : ''),
          neutraliseFormula(planName.get(e.planId) ?? e.planId),
          e.interval,
          e.provider,
          neutraliseFormula(e.providerRef ?? e.providerPaymentId),
          money(e.amountMinor),
          money(e.feeMinor),
          money(e.amountMinor - e.feeMinor),
          e.currency,
          statuses.get(e.donationId) ?? '',
          neutraliseFormula(e.articleSlug ?? ''),
        ];
      }
      batch = [];
    };
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
    stringify({ header: true, columns: [...csvColumns], bom: deps.bom ?? false, quoted_match: /[",\r\n]/ }),
    deps.out,
  );
  return rows;
}
