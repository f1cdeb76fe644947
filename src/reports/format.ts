/**
 * Money as the report pages write it: the same text as `formatMoney` (src/payments/money.ts), with
 * the Intl formatters built once per currency and locale — a report page formats a few thousand
 * amounts, and building a NumberFormat costs far more than using one.
 */
import { minorUnitDigits, toDecimalString } from '../payments/money.js';

const formats = new Map<string, Intl.NumberFormat>();

function numberFormat(locale: string, currency: string, min: number, max: number): Intl.NumberFormat {
  const key = `${locale}\n${currency}\n${min}\n${max}`;
  let format = formats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      minimumFractionDigits: min,
      maximumFractionDigits: max,
    });
    formats.set(key, format);
  }
  return format;
}

export function moneyFormatter(
  currency: string,
  locale: string,
  options: { dropZeroDecimals?: boolean } = {},
): (amountMinor: number) => string {
  const code = currency.toUpperCase();
  const digits = minorUnitDigits(code);
  const full = numberFormat(locale, code, digits, digits);
  const whole = options.dropZeroDecimals ? numberFormat(locale, code, 0, digits) : full;
  const unit = 10 ** digits;
  return (amountMinor) =>
    (amountMinor % unit === 0 ? whole : full).format(
      toDecimalString({ amountMinor, currency: code }) as Intl.StringNumericLiteral,
    );
}
