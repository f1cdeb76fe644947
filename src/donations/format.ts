import { minorUnitDigits } from '../payments/money.js';

/** "$5.00" from 500 USD; exact: the integer is split by the currency's digits, never divided as a float. */
export function formatMoney(amountMinor: number, currency: string, locale: string): string {
  const digits = minorUnitDigits(currency);
  const sign = amountMinor < 0 ? '-' : '';
  const abs = String(Math.abs(amountMinor)).padStart(digits + 1, '0');
  const major = digits ? `${abs.slice(0, -digits)}.${abs.slice(-digits)}` : abs;
  const formatted = new Intl.NumberFormat(locale, {
    style: 'currency',
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(major as unknown as number);
  return sign && !formatted.startsWith('-') ? `${sign}${formatted}` : formatted;
}
