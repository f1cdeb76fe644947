import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  divideRoundHalfUp,
  formatMoney,
  minorUnitDigits,
  parseDecimalToMinor,
  toDecimalString,
} from '../../src/payments/money.js';

describe('money helpers', () => {
  test('knows the minor-unit digits of two-, zero- and three-decimal currencies', () => {
    assert.equal(minorUnitDigits('USD'), 2);
    assert.equal(minorUnitDigits('eur'), 2);
    assert.equal(minorUnitDigits('JPY'), 0);
    assert.equal(minorUnitDigits('KWD'), 3);
  });

  test('refuses something that is not a currency code', () => {
    assert.throws(() => minorUnitDigits('dollars'), RangeError);
    assert.throws(() => minorUnitDigits(''), RangeError);
  });

  test('formats minor units as exact decimal strings', () => {
    assert.equal(toDecimalString({ amountMinor: 1234, currency: 'USD' }), '12.34');
    assert.equal(toDecimalString({ amountMinor: 5, currency: 'USD' }), '0.05');
    assert.equal(toDecimalString({ amountMinor: 0, currency: 'EUR' }), '0.00');
    assert.equal(toDecimalString({ amountMinor: 500, currency: 'JPY' }), '500');
    assert.equal(toDecimalString({ amountMinor: 1005, currency: 'KWD' }), '1.005');
    assert.equal(toDecimalString({ amountMinor: -250, currency: 'USD' }), '-2.50');
    assert.equal(
      toDecimalString({ amountMinor: Number.MAX_SAFE_INTEGER, currency: 'USD' }),
      '90071992547409.91',
    );
  });

  test('refuses fractional or unsafe minor-unit amounts when formatting', () => {
    assert.throws(() => toDecimalString({ amountMinor: 1.5, currency: 'USD' }), RangeError);
    assert.throws(() => toDecimalString({ amountMinor: Number.NaN, currency: 'USD' }), RangeError);
  });

  test('parses decimal strings to minor units without floating-point error', () => {
    assert.equal(parseDecimalToMinor('12.34', 'USD'), 1234);
    assert.equal(parseDecimalToMinor('0.29', 'USD'), 29);
    assert.equal(parseDecimalToMinor('1.1', 'USD'), 110);
    assert.equal(parseDecimalToMinor('10', 'USD'), 1000);
    assert.equal(parseDecimalToMinor('500', 'JPY'), 500);
    assert.equal(parseDecimalToMinor('1.005', 'KWD'), 1005);
    assert.equal(parseDecimalToMinor('-2.50', 'USD'), -250);
    assert.equal(parseDecimalToMinor('0.00', 'USD'), 0);
    assert.equal(parseDecimalToMinor('-0.00', 'USD'), 0);
  });

  test('round-trips every amount it formats', () => {
    for (const [amountMinor, currency] of [
      [1, 'USD'],
      [99999, 'EUR'],
      [7, 'JPY'],
      [123456, 'BHD'],
    ] as const) {
      assert.equal(parseDecimalToMinor(toDecimalString({ amountMinor, currency }), currency), amountMinor);
    }
  });

  test('refuses more decimal places than the currency has', () => {
    assert.throws(() => parseDecimalToMinor('1.234', 'USD'), /more decimal places than USD/);
    assert.throws(() => parseDecimalToMinor('500.5', 'JPY'), /more decimal places than JPY/);
  });

  test('refuses input that is not a plain decimal', () => {
    for (const bad of ['', '.5', '5.', '1e3', '12,34', 'abc', '1.2.3', '+1.00', ' - 1']) {
      assert.throws(() => parseDecimalToMinor(bad, 'USD'), RangeError, `accepted "${bad}"`);
    }
  });

  test('refuses amounts beyond the safe-integer range', () => {
    assert.throws(() => parseDecimalToMinor('900719925474099.99', 'USD'), /too large/);
  });

  test('formats money for people from exact decimals, even beyond float precision', () => {
    assert.equal(formatMoney(500, 'USD', 'en-US'), '$5.00');
    assert.equal(formatMoney(500, 'USD', 'en-US', { dropZeroDecimals: true }), '$5');
    assert.equal(formatMoney(550, 'USD', 'en-US', { dropZeroDecimals: true }), '$5.50');
    assert.equal(formatMoney(500, 'JPY', 'en-US'), '¥500');
    assert.equal(formatMoney(9007199254740991, 'USD', 'en-US'), '$90,071,992,547,409.91');
  });

  test('divides minor units exactly, rounding a half up and never through a float', () => {
    assert.equal(divideRoundHalfUp(12000, 12), 1000);
    assert.equal(divideRoundHalfUp(1000, 12), 83); // 83.33…
    assert.equal(divideRoundHalfUp(14500, 1000), 15); // 14.5 rounds up
    assert.equal(divideRoundHalfUp(14499, 1000), 14);
    assert.equal(divideRoundHalfUp(-14500, 1000), -14); // half up is towards +∞
    assert.equal(divideRoundHalfUp(Number.MAX_SAFE_INTEGER, 1), Number.MAX_SAFE_INTEGER);
    assert.throws(() => divideRoundHalfUp(1, 0), RangeError);
    assert.throws(() => divideRoundHalfUp(0.5, 1), RangeError);
  });
});
