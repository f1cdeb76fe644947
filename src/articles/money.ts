/** Money shown in the donation panel, from integer minor units through the exact helpers in payments/. */
import { formatMoney as formatExact, minorUnitDigits, toDecimalString } from '../payments/money.js';

/** 500 USD → "$5"; 550 USD → "$5.50"; 500 JPY → "¥500". Whole amounts drop their zero decimals. */
export function formatMoney(amountMinor: number, currency: string, locale: string): string {
  return formatExact(amountMinor, currency, locale, { dropZeroDecimals: true });
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
