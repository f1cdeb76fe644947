import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMoney } from '../../src/payments/money.js';
import { renderChart } from '../../src/reports/chart.js';
import { localTimeFormatter, neutraliseFormula, readAhead } from '../../src/reports/csv.js';
import { moneyFormatter } from '../../src/reports/format.js';
import { startOfDay } from '../../src/reports/periods.js';
import { convertMinor, type SeriesPoint } from '../../src/reports/service.js';

describe('CSV cells', () => {
  test('puts an apostrophe before text a spreadsheet would run, and leaves other text alone', () => {
    for (const text of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx'])
      assert.equal(neutraliseFormula(text), `'${text}`);
    for (const text of ['reader@example.com', 'pi_123', '', "'quoted", ' =not first']) {
      assert.equal(neutraliseFormula(text), text);
    }
  });

  test('writes local times as Intl does, across daylight-saving changes', () => {
    const zone = 'America/New_York';
    const format = localTimeFormatter(zone);
    const intl = new Intl.DateTimeFormat('sv-SE', {
      timeZone: zone,
      dateStyle: 'short',
      timeStyle: 'medium',
    });
    // Every 7 minutes around the March and November 2026 switches, in time order as the export reads.
    for (const start of [Date.UTC(2026, 2, 8, 4), Date.UTC(2026, 10, 1, 3)]) {
      for (let t = start; t < start + 6 * 3_600_000; t += 7 * 60_000 + 13_000) {
        assert.equal(format(new Date(t)), intl.format(new Date(t)), new Date(t).toISOString());
      }
    }
  });
});

describe('reading ahead', () => {
  async function* batches(n: number, size: number, seen: number[]) {
    for (let i = 0; i < n; i += size) {
      const batch = Array.from({ length: Math.min(size, n - i) }, (_, k) => i + k);
      seen.push(...batch);
      yield batch;
    }
  }

  test('keeps the order, prepares each batch once, and reads only a bounded distance ahead', async () => {
    const seen: number[] = [];
    const out: number[][] = [];
    for await (const batch of readAhead(batches(23, 5, seen), 2, async (b) => b.map((x) => x * 10))) {
      out.push(batch);
      assert.ok(seen.length <= (out.length + 2) * 5, `read ${seen.length} after ${out.length} batches`);
    }
    assert.deepEqual(
      out.flat(),
      Array.from({ length: 23 }, (_, i) => i * 10),
    );
    assert.deepEqual(
      out.map((b) => b.length),
      [5, 5, 5, 5, 3],
    );
  });

  test('stops reading when the reader stops early, and passes a failure on', async () => {
    const seen: number[] = [];
    for await (const batch of readAhead(batches(1000, 10, seen), 2, async (b) => b)) {
      if (batch[0] === 20) break;
    }
    assert.ok(seen.length < 100, `read ${seen.length} of 1000`);
    await assert.rejects(async () => {
      for await (const _ of readAhead(batches(50, 10, []), 2, async (b) => {
        if (b[0] === 20) throw new Error('lookup failed');
        return b;
      })) {
        // consume
      }
    }, /lookup failed/);
  });
});

describe('money on the report pages', () => {
  test('formats as formatMoney does', () => {
    for (const [minor, currency] of [
      [0, 'USD'],
      [123456, 'USD'],
      [-1500, 'EUR'],
      [500, 'JPY'],
      [100, 'USD'],
    ] as const) {
      assert.equal(moneyFormatter(currency, 'en-US')(minor), formatMoney(minor, currency, 'en-US'));
      assert.equal(
        moneyFormatter(currency, 'en-US', { dropZeroDecimals: true })(minor),
        formatMoney(minor, currency, 'en-US', { dropZeroDecimals: true }),
      );
    }
  });

  test('converts exactly, rounding half up, between currencies with different minor units', () => {
    assert.equal(convertMinor(6636, 'USD', 'EUR', '0.9123'), 6054);
    assert.equal(convertMinor(5, 'USD', 'EUR', '0.5'), 3, '2.5 rounds up');
    assert.equal(convertMinor(-5, 'USD', 'EUR', '0.5'), -2, '-2.5 rounds up too');
    assert.equal(convertMinor(1000, 'USD', 'JPY', '150.25'), 1503, '$10.00 is ¥1502.5');
    assert.equal(convertMinor(1503, 'JPY', 'USD', '0.006656'), 1000);
  });
});

describe('the chart', () => {
  const points: SeriesPoint[] = Array.from({ length: 10 }, (_, i) => ({
    bucket: `2026-11-${String(i + 1).padStart(2, '0')}`,
    partial: false,
    currency: 'USD',
    grossMinor: i * 1000,
    netMinor: i * 900 - 2000,
    mrrMinor: 5000 + i * 100,
  }));

  test('is SVG the CSP allows (no style, no script), with a title, a description and a legend that names every mark', () => {
    const { svg, summary } = renderChart(points, {
      currency: 'USD',
      granularity: 'day',
      locale: 'en-US',
      id: 'c1',
    });
    assert.doesNotMatch(svg, /style|<script|on[a-z]+=/i);
    assert.match(svg, /^<svg [^>]*role="img" aria-labelledby="c1-title c1-desc"/);
    assert.match(svg, /<title id="c1-title">Gross, net and MRR in USD, per day<\/title>/);
    assert.match(svg, /<desc id="c1-desc">10 days from 1 Nov to 10 Nov: gross \$450, net \$205 in all/);
    assert.equal(svg.match(/fill="url\(#c1-hatch\)"/g)?.length, 11, 'ten bars and the legend');
    assert.match(svg, /stroke-dasharray="6 4"/, 'MRR is dashed');
    for (const name of ['Gross', 'Net', 'MRR (end of each bucket)'])
      assert.match(svg, new RegExp(`>${name.replace(/[()]/g, '\\$&')}</text>`));
    assert.match(
      summary,
      /^10 days from 1 Nov to 10 Nov: gross \$450, net \$205 in all; the highest gross was \$90 \(10 Nov\)/,
    );
  });

  test('escapes what it writes and survives an empty series', () => {
    const { svg, summary } = renderChart([], {
      currency: 'USD',
      granularity: 'month',
      locale: 'en-US',
      id: 'x"><script>',
    });
    assert.doesNotMatch(svg, /<script>/);
    assert.equal(summary, 'No figures in this period.');
  });
});

describe('period moments', () => {
  test('finds midnight in a zone, also on the days daylight saving starts and ends', () => {
    assert.equal(startOfDay('2026-03-08', 'America/New_York').toISOString(), '2026-03-08T05:00:00.000Z');
    assert.equal(startOfDay('2026-03-09', 'America/New_York').toISOString(), '2026-03-09T04:00:00.000Z');
    assert.equal(startOfDay('2026-11-01', 'America/New_York').toISOString(), '2026-11-01T04:00:00.000Z');
    assert.equal(startOfDay('2026-11-02', 'America/New_York').toISOString(), '2026-11-02T05:00:00.000Z');
    assert.equal(startOfDay('2026-11-02', 'UTC').toISOString(), '2026-11-02T00:00:00.000Z');
  });
});
