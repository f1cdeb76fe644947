/**
 * Report periods: calendar days in a reporting time zone, as the rollups keep them. A period is
 * inclusive of both days; its moments are [start of `from`, start of the day after `to`) in the zone.
 */
import { z } from 'zod';
import { AppError } from '../errors.js';

export type Granularity = 'day' | 'week' | 'month';

export interface Period {
  from: string;
  to: string;
  zone: string;
  granularity: Granularity;
  currency?: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_DAYS = 3 * 366 + 31;

/** Days as UTC dates at midnight, for calendar arithmetic only. */
const utc = (day: string) => new Date(`${day}T00:00:00Z`);
const dayOf = (date: Date) => date.toISOString().slice(0, 10);

export function addDays(day: string, days: number): string {
  const d = utc(day);
  d.setUTCDate(d.getUTCDate() + days);
  return dayOf(d);
}

export function daysBetween(from: string, to: string): number {
  return Math.round((utc(to).getTime() - utc(from).getTime()) / 86_400_000) + 1;
}

function isRealDay(day: string): boolean {
  return DAY.test(day) && dayOf(utc(day)) === day;
}

/** The moment a calendar day starts in a zone (handles offsets and daylight saving). */
export function startOfDay(day: string, zone: string): Date {
  const guess = utc(day);
  // The zone's offset at that moment, read back through Intl; twice, for days a DST switch moves.
  let at = guess.getTime();
  for (let i = 0; i < 2; i += 1) {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(at));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    const local = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    at = guess.getTime() - (local - at);
  }
  return new Date(at);
}

/** The bucket a day belongs to: itself, its ISO week's Monday, or its month's first day. */
export function bucketOf(day: string, granularity: Granularity): string {
  if (granularity === 'day') return day;
  if (granularity === 'month') return `${day.slice(0, 7)}-01`;
  const d = utc(day);
  const weekday = (d.getUTCDay() + 6) % 7;
  return addDays(day, -weekday);
}

const query = z.object({
  from: z.string().optional(),
  to: z.string().optional(),
  tz: z.string().optional(),
  granularity: z.enum(['day', 'week', 'month']).optional(),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/)
    .optional(),
});

/**
 * The period a request asks for, with defaults (the last 30 days in the first configured zone)
 * and clear refusals for anything else.
 */
export function parsePeriod(
  input: Record<string, unknown>,
  options: { zones: readonly string[]; today: Date },
): Period {
  const parsed = query.safeParse(
    Object.fromEntries(Object.entries(input).filter(([, v]) => typeof v === 'string' && v !== '')),
  );
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') ?? 'query';
    throw new AppError('validation', `The ${field} parameter is not valid.`);
  }
  const zone = parsed.data.tz ?? options.zones[0]!;
  if (!options.zones.includes(zone)) {
    throw new AppError(
      'validation',
      `Reports are kept for these time zones: ${options.zones.join(', ')}. "${zone}" is not one of them.`,
    );
  }
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(options.today);
  const to = parsed.data.to ?? today;
  const from = parsed.data.from ?? addDays(to, -29);
  for (const [name, day] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (!isRealDay(day))
      throw new AppError('validation', `${name} must be a date written as YYYY-MM-DD, such as 2026-11-01.`);
  }
  if (from > to)
    throw new AppError('validation', 'The period starts after it ends: "from" must not be later than "to".');
  if (daysBetween(from, to) > MAX_DAYS)
    throw new AppError('validation', 'Please choose a period of at most three years.');
  const granularity =
    parsed.data.granularity ??
    (daysBetween(from, to) > 120 ? 'month' : daysBetween(from, to) > 31 ? 'week' : 'day');
  return {
    from,
    to,
    zone,
    granularity,
    ...(parsed.data.currency ? { currency: parsed.data.currency.toUpperCase() } : {}),
  };
}
