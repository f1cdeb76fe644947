/** Money shown to readers, always from integer minor units and the currency's own decimals. */

const digitsCache = new Map<string, number>();

/** How many minor-unit digits a currency has: 2 for USD, 0 for JPY, 3 for KWD. */
export function fractionDigitsOf(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    digits =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
      2;
    digitsCache.set(currency, digits);
  }
  return digits;
}

/** 500 USD → "$5"; 550 USD → "$5.50"; 500 JPY → "¥500". Whole amounts drop their zero decimals. */
export function formatMoney(amountMinor: number, currency: string, locale: string): string {
  const digits = fractionDigitsOf(currency);
  const scale = 10 ** digits;
  const whole = amountMinor % scale === 0;
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency,
    minimumFractionDigits: whole ? 0 : digits,
    maximumFractionDigits: digits,
  }).format(amountMinor / scale);
}

/** 100 USD → "1.00", 100000 USD → "1000.00", 500 JPY → "500": the value an amount input accepts. */
export function toMajorUnitsString(amountMinor: number, currency: string): string {
  const digits = fractionDigitsOf(currency);
  if (digits === 0) return String(amountMinor);
  const scale = 10 ** digits;
  const sign = amountMinor < 0 ? '-' : '';
  const abs = Math.abs(amountMinor);
  return `${sign}${Math.trunc(abs / scale)}.${String(abs % scale).padStart(digits, '0')}`;
}

/** The smallest step of an amount input: "0.01" for USD, "1" for JPY. */
export function stepOf(currency: string): string {
  const digits = fractionDigitsOf(currency);
  return digits === 0 ? '1' : `0.${'0'.repeat(digits - 1)}1`;
}
