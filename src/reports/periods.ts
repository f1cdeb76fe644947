/**
 * Report periods: calendar days in a reporting time zone, as the rollups keep them. A period is
 * inclusive of both days; its moments are [start of `from`, start of the day after `to`) in the zone.
 */
import { z } from 'zod';
import { AppError } from '../errors.js';
import { dayIn } from '../supporters/ledger.js';

export type Granularity = 'day' | 'week' | 'month';

export interface Period {
  from: string;
  to: string;
  zone: string;
  granularity: Granularity;
  currency?: string;
  /** The day asked for as the end, when it was later than today and the period was cut at today. */
  requestedTo?: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** Three years and a month: a three-year comparison starting on the 1st still fits. */
export const MAX_PERIOD_DAYS = 3 * 366 + 31;

/** Days as UTC dates at midnight, for calendar arithmetic only. */
const utc = (day: string) => new Date(`${day}T00:00:00Z`);
const dayOf = (date: Date) => date.toISOString().slice(0, 10);

export function addDays(day: string, days: number): string {
  const d = utc(day);
  d.setUTCDate(d.getUTCDate() + days);
  return dayOf(d);
}

/** Number of days from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): number {
  return Math.round((utc(to).getTime() - utc(from).getTime()) / 86_400_000) + 1;
}

export function isRealDay(day: string): boolean {
  if (!DAY.test(day)) return false;
  const date = utc(day);
  return !Number.isNaN(date.getTime()) && dayOf(date) === day;
}

const partsFormatters = new Map<string, Intl.DateTimeFormat>();

function partsFormatter(zone: string): Intl.DateTimeFormat {
  let format = partsFormatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsFormatters.set(zone, format);
  }
  return format;
}

/** The calendar day of a moment in a zone, as YYYY-MM-DD: the same day the rollups put it on. */
export const dayInZone = dayIn;

/** The moment a calendar day starts in a zone (handles offsets and daylight saving). */
export function startOfDay(day: string, zone: string): Date {
  const guess = utc(day).getTime();
  // The zone's offset at that moment, read back through Intl; twice, for days a DST switch moves.
  let at = guess;
  for (let i = 0; i < 2; i += 1) {
    const parts = partsFormatter(zone).formatToParts(new Date(at));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    const local = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    at = guess - (local - at);
  }
  return new Date(at);
}

/** [start of `from`, start of the day after `to`) in the period's zone. */
export function momentsOf(period: Pick<Period, 'from' | 'to' | 'zone'>): { from: Date; to: Date } {
  return { from: startOfDay(period.from, period.zone), to: startOfDay(addDays(period.to, 1), period.zone) };
}

/** The bucket a day belongs to: itself, its ISO week's Monday, or its month's first day. */
export function bucketOf(day: string, granularity: Granularity): string {
  if (granularity === 'day') return day;
  if (granularity === 'month') return `${day.slice(0, 7)}-01`;
  const weekday = (utc(day).getUTCDay() + 6) % 7;
  return addDays(day, -weekday);
}

/** The first day of the bucket after the one starting on `bucket`. */
export function nextBucket(bucket: string, granularity: Granularity): string {
  if (granularity === 'day') return addDays(bucket, 1);
  if (granularity === 'week') return addDays(bucket, 7);
  const d = utc(`${bucket.slice(0, 7)}-01`);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return dayOf(d);
}

/** Every month (YYYY-MM) that has a day in [from, to]. */
export function monthsBetween(from: string, to: string): string[] {
  const months: string[] = [];
  for (let m = `${from.slice(0, 7)}-01`; m <= to; m = nextBucket(m, 'month')) months.push(m.slice(0, 7));
  return months;
}

const single = z.string().max(40).optional();
const query = z.object({
  from: single,
  to: single,
  tz: z.string().max(64).optional(),
  granularity: z.enum(['day', 'week', 'month']).optional(),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/)
    .optional(),
});

const fieldNames: Record<string, string> = {
  from: '"from" date',
  to: '"to" date',
  tz: 'time zone',
  granularity: 'granularity (day, week or month)',
  currency: 'currency (a three-letter code such as USD)',
};

/**
 * The period a request asks for, with defaults (the last 30 days in the first configured zone)
 * and clear refusals for anything else. A period that ends after today is cut at today (the
 * report says so): nothing has happened there yet, and scheduled changes are shown as pending.
 */
export function parsePeriod(
  input: Record<string, unknown>,
  options: { zones: readonly string[]; today: Date },
): Period {
  const given: Record<string, unknown> = {};
  for (const key of ['from', 'to', 'tz', 'granularity', 'currency'] as const) {
    const value = input[key];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string') {
      throw new AppError('validation', `Please give the ${fieldNames[key]} once, as a single value.`);
    }
    given[key] = value;
  }
  const parsed = query.safeParse(given);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? '');
    throw new AppError('validation', `The ${fieldNames[field] ?? 'query'} is not valid.`);
  }
  const zone = parsed.data.tz ?? options.zones[0]!;
  if (!options.zones.includes(zone)) {
    throw new AppError(
      'validation',
      `Reports are kept for these time zones: ${options.zones.join(', ')}. "${zone}" is not one of them.`,
    );
  }
  const today = dayInZone(zone, options.today);
  const dateRule = (name: string) =>
    new AppError('validation', `"${name}" must be a date written as YYYY-MM-DD, such as 2026-11-01.`);
  const asked = parsed.data.to ?? today;
  if (!isRealDay(asked)) throw dateRule('to');
  const from = parsed.data.from ?? addDays(asked > today ? today : asked, -29);
  if (!isRealDay(from)) throw dateRule('from');
  if (from > asked)
    throw new AppError('validation', 'The period starts after it ends: "from" must not be later than "to".');
  if (from > today)
    throw new AppError('validation', `The period starts in the future: "from" must be ${today} or earlier.`);
  if (daysBetween(from, asked) > MAX_PERIOD_DAYS)
    throw new AppError('validation', 'Please choose a period of at most three years.');
  const to = asked > today ? today : asked;
  const length = daysBetween(from, to);
  const granularity = parsed.data.granularity ?? (length > 120 ? 'month' : length > 31 ? 'week' : 'day');
  return {
    from,
    to,
    zone,
    granularity,
    ...(parsed.data.currency ? { currency: parsed.data.currency.toUpperCase() } : {}),
    ...(asked !== to ? { requestedTo: asked } : {}),
  };
}
