/**
 * Exact conversions between integer minor units and the decimal strings providers put on the wire.
 * Everything is string arithmetic: floats cannot represent 0.1 exactly, and zero-decimal
 * currencies (JPY, KRW) or three-decimal ones (BHD, KWD) must round-trip without loss.
 */
import type { Money } from './types.js';

const digitsCache = new Map<string, number>();

function normaliseCurrency(currency: string): string {
  const code = currency.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) {
    throw new RangeError(`Not an ISO 4217 currency code: "${currency}"`);
  }
  return code;
}

/** How many digits follow the decimal point for a currency (USD 2, JPY 0, KWD 3), as ICU knows it. */
export function minorUnitDigits(currency: string): number {
  const code = normaliseCurrency(currency);
  const cached = digitsCache.get(code);
  if (cached !== undefined) return cached;
  const digits = new Intl.NumberFormat('en', {
    style: 'currency',
    currency: code,
  }).resolvedOptions().maximumFractionDigits;
  if (digits === undefined) {
    throw new RangeError(`No minor-unit digits known for ${code}`);
  }
  digitsCache.set(code, digits);
  return digits;
}

/** `{ amountMinor: 1234, currency: 'USD' }` → `"12.34"`; JPY 500 → `"500"`. Negative amounts keep their sign. */
export function toDecimalString(money: Money): string {
  const { amountMinor } = money;
  if (!Number.isSafeInteger(amountMinor)) {
    throw new RangeError(`Amount must be a safe integer of minor units, got ${String(amountMinor)}`);
  }
  const digits = minorUnitDigits(money.currency);
  const sign = amountMinor < 0 ? '-' : '';
  const raw = String(Math.abs(amountMinor));
  if (digits === 0) return sign + raw;
  const padded = raw.padStart(digits + 1, '0');
  return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
}

/**
 * `"12.34"` in USD → 1234; `"500"` in JPY → 500; `"12.3"` → 1230. Throws a RangeError on anything
 * that is not a plain decimal, that has more fractional digits than the currency allows (rounding
 * money silently is how ledgers drift), or that exceeds the safe-integer range.
 */
export function parseDecimalToMinor(value: string, currency: string): number {
  const digits = minorUnitDigits(currency);
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(value.trim());
  if (!match) {
    throw new RangeError(`Not a decimal amount: "${value}"`);
  }
  const [, sign, whole = '', fraction = ''] = match;
  if (fraction.length > digits) {
    throw new RangeError(
      `"${value}" has more decimal places than ${normaliseCurrency(currency)} allows (${digits})`,
    );
  }
  const minorDigits = (whole + fraction.padEnd(digits, '0')).replace(/^0+(?=\d)/, '');
  const amount = Number(minorDigits);
  if (!Number.isSafeInteger(amount)) {
    throw new RangeError(`Amount "${value}" is too large`);
  }
  return sign && amount !== 0 ? -amount : amount;
}

/**
 * Money for people: 500 USD → "$5.00" (or "$5" with `dropZeroDecimals`), 500 JPY → "¥500".
 * The exact decimal string goes to Intl, so no float ever stands in for the amount.
 */
export function formatMoney(
  amountMinor: number,
  currency: string,
  locale: string,
  options: { dropZeroDecimals?: boolean } = {},
): string {
  const digits = minorUnitDigits(currency);
  const whole = amountMinor % 10 ** digits === 0;
  const shown = options.dropZeroDecimals && whole ? 0 : digits;
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency: normaliseCurrency(currency),
    minimumFractionDigits: shown,
    maximumFractionDigits: digits,
  }).format(toDecimalString({ amountMinor, currency }) as Intl.StringNumericLiteral);
}

/** 100 USD → "1.00", 500 JPY → "500": the value an amount input accepts. */
export function toMajorUnitsString(amountMinor: number, currency: string): string {
  return toDecimalString({ amountMinor, currency });
}

/** The smallest step of an amount input: "0.01" for USD, "1" for JPY. */
export function stepOf(currency: string): string {
  const digits = minorUnitDigits(currency);
  return digits === 0 ? '1' : `0.${'0'.repeat(digits - 1)}1`;
}

/**
 * `numerator / denominator` as an integer, rounded half up (towards +∞ at exactly .5), computed
 * exactly: for prorating or normalising an amount of minor units (a yearly price per month, a
 * percentage fee) without a float ever standing in for money.
 */
export function divideRoundHalfUp(numerator: number, denominator: number): number {
  if (!Number.isSafeInteger(numerator) || !Number.isSafeInteger(denominator) || denominator <= 0) {
    throw new RangeError(
      `Need a safe integer over a positive safe integer, got ${String(numerator)} / ${String(denominator)}`,
    );
  }
  const n = BigInt(numerator) * 2n + BigInt(denominator);
  const d = BigInt(denominator) * 2n;
  // BigInt division truncates towards zero; floor it for negative numerators.
  const quotient = n / d - (n % d < 0n ? 1n : 0n);
  return Number(quotient);
}

/** How often a recurring price is charged: every `interval_count` days, weeks, months or years. */
export interface BillingFrequency {
  interval: 'day' | 'week' | 'month' | 'year';
  interval_count: number;
}

/** Monthly amount of a price: `unit × quantity` per `interval_count` intervals, normalised to one month. */
export function monthlyAmount(unitAmount: number, quantity: number, recurring: BillingFrequency): number {
  const total = unitAmount * quantity;
  const count = Math.max(1, recurring.interval_count);
  switch (recurring.interval) {
    case 'month':
      return divideRoundHalfUp(total, count);
    case 'year':
      return divideRoundHalfUp(total, 12 * count);
    // A year of 52 weeks or 365 days, spread over 12 months.
    case 'week':
      return divideRoundHalfUp(total * 52, 12 * count);
    case 'day':
      return divideRoundHalfUp(total * 365, 12 * count);
  }
}
