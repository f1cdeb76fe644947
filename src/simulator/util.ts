import { randomBytes } from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomFrom(alphabet: string, length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i]! % alphabet.length];
  return out;
}

/** Stripe-style id: `prefix_` + base62. */
export function stripeId(prefix: string, length = 24): string {
  return `${prefix}_${randomFrom(ALNUM, length)}`;
}

/** PayPal-style id: upper-case alphanumerics, 17 characters by default. */
export function paypalId(length = 17): string {
  return randomFrom(UPPER_ALNUM, length);
}

export interface SimLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: SimLogger = {
  info() {},
  warn() {},
  error() {},
};

/** The simulator's clock: real time plus an offset moved by the test clock. */
export class SimClock {
  private offsetMs = 0;
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
  /** Unix seconds, as Stripe reports times. */
  unix(): number {
    return Math.floor(this.nowMs() / 1000);
  }
  /** ISO 8601 without milliseconds, as PayPal reports times. */
  iso(ms = this.nowMs()): string {
    return isoSeconds(ms);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
  get offset(): number {
    return this.offsetMs;
  }
}

export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export type IntervalUnit = 'day' | 'week' | 'month' | 'year';

/** Adds `count` calendar units to a time in ms (UTC), clamping month ends like billing systems do. */
export function addInterval(ms: number, unit: IntervalUnit, count = 1): number {
  const d = new Date(ms);
  switch (unit) {
    case 'day':
      return ms + count * 86_400_000;
    case 'week':
      return ms + count * 7 * 86_400_000;
    case 'month':
    case 'year': {
      const months = unit === 'month' ? count : count * 12;
      const day = d.getUTCDate();
      const target = new Date(d);
      target.setUTCDate(1);
      target.setUTCMonth(target.getUTCMonth() + months);
      const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
      target.setUTCDate(Math.min(day, lastDay));
      return target.getTime();
    }
  }
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Minor units → PayPal's decimal string ("500" → "5.00"); zero-decimal currencies have no fraction. */
const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'HUF', 'TWD', 'CLP', 'VND', 'XAF', 'XOF', 'ISK', 'UGX']);

export function minorToDecimal(minor: number, currency: string): string {
  if (ZERO_DECIMAL.has(currency.toUpperCase())) return String(minor);
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export function decimalToMinor(value: string, currency: string): number {
  if (!/^-?\d+(\.\d{1,2})?$/.test(value)) return Number.NaN;
  if (ZERO_DECIMAL.has(currency.toUpperCase())) return Number(value);
  const negative = value.startsWith('-');
  const [whole = '0', frac = ''] = value.replace('-', '').split('.');
  const minor = Number(whole) * 100 + Number(frac.padEnd(2, '0'));
  return negative ? -minor : minor;
}

export function formatMoney(minor: number, currency: string): string {
  return `${minorToDecimal(minor, currency)} ${currency.toUpperCase()}`;
}
