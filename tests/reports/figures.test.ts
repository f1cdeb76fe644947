import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runtime } from '../../src/runtime.js';
import { parsePeriod } from '../../src/reports/periods.js';
import { createReportsService, type CurrencyReport, type Report } from '../../src/reports/service.js';
import { startLedgerRuntime } from '../helpers/runtime.js';
import { ARTICLE_A, ARTICLE_B, NOVEMBER, TODAY, applyFixture, expectedUtc } from './fixture.js';

let runtime: Runtime;
let report: (query: Record<string, string>) => Promise<Report>;

before(async () => {
  runtime = await startLedgerRuntime({
    reports: {
      conversion: {
        currency: 'EUR',
        source: 'ECB reference rate',
        date: '2026-11-30',
        rates: { USD: '0.9123' },
      },
    },
  });
  await applyFixture(runtime);
  // Views counted for article A in November (the counter's own writes; see views.test.ts).
  await runtime.reports.repository.addViews(
    ['UTC', 'America/New_York'].flatMap((zone) => [
      { zone, month: '2026-11', day: '02', articleSlug: ARTICLE_A, views: 30 },
      { zone, month: '2026-11', day: '22', articleSlug: ARTICLE_A, views: 10 },
      // Outside the period: not counted.
      { zone, month: '2026-10', day: '31', articleSlug: ARTICLE_A, views: 1000 },
    ]),
  );
  const service = createReportsService({
    config: runtime.config,
    ledger: runtime.ledger.repository,
    reports: runtime.reports.repository,
    now: () => TODAY,
  });
  report = (query) =>
    service.report(parsePeriod(query, { zones: runtime.config.reports.timeZones, today: TODAY }));
});
after(() => runtime.stop());

const currency = (r: Report, code: string): CurrencyReport => {
  const found = r.currencies.find((c) => c.currency === code);
  assert.ok(found, `the report has ${code}`);
  return found;
};

describe('report figures, November 2026 (UTC), against the hand-computed fixture', () => {
  test('money in USD: gross, refunds at refund date, disputes net of the reversal, fees, net, new supporters', async () => {
    const usd = currency(await report({ ...NOVEMBER, tz: 'UTC' }), 'USD');
    const want = expectedUtc.USD;
    assert.equal(usd.grossMinor, want.grossMinor);
    assert.equal(usd.payments, want.payments);
    assert.equal(usd.refundsMinor, want.refundsMinor);
    assert.equal(usd.refunds, want.refunds);
    assert.equal(usd.disputesLostMinor, want.disputesLostMinor);
    assert.equal(usd.disputesReversedMinor, want.disputesReversedMinor);
    assert.equal(usd.disputesNetMinor, want.disputesNetMinor);
    assert.equal(usd.feesMinor, want.feesMinor);
    assert.equal(usd.netMinor, 6636);
    assert.equal(usd.netMinor, want.netMinor);
    assert.equal(usd.newSupporters, want.newSupporters);
  });

  test('MRR in USD: movements from a plan change up and down, a cancellation and a failed renewal later recovered', async () => {
    const usd = currency(await report({ ...NOVEMBER, tz: 'UTC' }), 'USD');
    const want = expectedUtc.USD;
    assert.deepEqual(usd.mrr, want.mrr);
    assert.deepEqual(usd.subscriptions, want.subscriptions);
    assert.equal(usd.rates.supporterChurn, want.rates.supporterChurn);
    assert.equal(usd.rates.grossMrrChurn, want.rates.grossMrrChurn);
    assert.equal(usd.rates.netMrrChurn, want.rates.netMrrChurn);
    assert.equal(usd.arpuMinor, want.arpuMinor);
    assert.deepEqual(usd.pending, want.pending);
  });

  test('one-off against monthly, by provider and by plan', async () => {
    const usd = currency(await report({ ...NOVEMBER, tz: 'UTC' }), 'USD');
    assert.deepEqual(usd.byKind.oneOff, expectedUtc.USD.oneOff);
    assert.deepEqual(usd.byKind.monthly, expectedUtc.USD.monthly);
    assert.deepEqual(usd.byKind.other, { grossMinor: 0, count: 0, netMinor: 0 });
    // Stripe: P1 3825 + S1 441; PayPal: P2 900 + S5 670 + S2 800.
    assert.deepEqual(
      usd.byProvider.map((p) => [p.provider, p.grossMinor, p.count, p.netMinor, p.mrrEndMinor]),
      [
        ['paypal', 4000, 3, 2370, 1500],
        ['stripe', 6000, 2, 4266, 1500],
      ],
    );
    assert.deepEqual(
      usd.byPlan.map((p) => [p.planId, p.planName, p.interval, p.grossMinor, p.netMinor, p.mrrEndMinor]),
      [
        ['contributor', 'Contributor', 'once', 7500, 4725, 0],
        ['monthly-supporter', 'Monthly Supporter', 'month', 2500, 1911, 3000],
      ],
    );
  });

  test('EUR stands on its own: a dispute lost for good, and a scheduled cancellation as pending churn', async () => {
    const eur = currency(await report({ ...NOVEMBER, tz: 'UTC' }), 'EUR');
    const want = expectedUtc.EUR;
    assert.equal(eur.grossMinor, want.grossMinor);
    assert.equal(eur.payments, want.payments);
    assert.equal(eur.refundsMinor, want.refundsMinor);
    assert.equal(eur.disputesLostMinor, want.disputesLostMinor);
    assert.equal(eur.disputesNetMinor, want.disputesNetMinor);
    assert.equal(eur.feesMinor, want.feesMinor);
    assert.equal(eur.netMinor, 1800);
    assert.equal(eur.newSupporters, want.newSupporters);
    assert.equal(eur.mrr.startMinor, want.mrr.startMinor);
    assert.equal(
      eur.mrr.endMinor,
      want.mrr.endMinor,
      'the cancellation takes effect on 15 December, not before',
    );
    assert.equal(eur.subscriptions.activeEnd, want.subscriptions.activeEnd);
    assert.equal(eur.rates.supporterChurn, 0);
    assert.equal(eur.arpuMinor, want.arpuMinor);
    assert.deepEqual(eur.pending, want.pending);
  });

  test('converts to the configured currency only beside the per-currency figures, naming the rate', async () => {
    const r = await report({ ...NOVEMBER, tz: 'UTC' });
    assert.deepEqual(currency(r, 'USD').converted, {
      // 10000 × 0.9123 = 9123; 6636 × 0.9123 = 6054.02 → 6054; 3000 × 0.9123 = 2736.9 → 2737
      grossMinor: 9123,
      netMinor: 6054,
      mrrEndMinor: 2737,
      rate: '0.9123',
    });
    assert.deepEqual(currency(r, 'EUR').converted, {
      grossMinor: 5000,
      netMinor: 1800,
      mrrEndMinor: 2000,
      rate: '1',
    });
    assert.deepEqual(r.converted, {
      currency: 'EUR',
      source: 'ECB reference rate',
      date: '2026-11-30',
      grossMinor: 14_123,
      netMinor: 7854,
      mrrEndMinor: 4737,
      missing: [],
    });
  });

  test('attributes payments and new supporters to the article whose panel they came from, with conversion where views were counted', async () => {
    const r = await report({ ...NOVEMBER, tz: 'UTC' });
    // Most payments first; equal ones by new supporters, then by name.
    assert.deepEqual(r.attribution, [
      {
        articleSlug: ARTICLE_B,
        payments: 2,
        newSupporters: 2,
        byCurrency: [
          { currency: 'EUR', payments: 1, grossMinor: 3000 },
          { currency: 'USD', payments: 1, grossMinor: 2500 },
        ],
        views: null,
        conversionRate: null,
      },
      {
        articleSlug: ARTICLE_A,
        payments: 2,
        newSupporters: 2,
        byCurrency: [{ currency: 'USD', payments: 2, grossMinor: 5700 }],
        views: 40,
        conversionRate: 2 / 40,
      },
    ]);
    const onlyEur = await report({ ...NOVEMBER, tz: 'UTC', currency: 'eur' });
    assert.deepEqual(
      onlyEur.attribution.map((a) => [a.articleSlug, a.payments]),
      [[ARTICLE_B, 1]],
    );
  });

  test('a part of a month counts only its own days of the article figures', async () => {
    const r = await report({ from: '2026-11-01', to: '2026-11-15', tz: 'UTC' });
    assert.deepEqual(
      r.attribution.map((a) => [a.articleSlug, a.payments, a.views]),
      [
        [ARTICLE_B, 2, null],
        [ARTICLE_A, 1, 30],
      ],
    );
  });

  test('a currency filter shows that currency alone', async () => {
    const r = await report({ ...NOVEMBER, tz: 'UTC', currency: 'EUR' });
    assert.deepEqual(
      r.currencies.map((c) => c.currency),
      ['EUR'],
    );
  });
});

describe('report figures in another reporting zone', () => {
  test('counts a payment on the local day of America/New_York (1 December 03:00 UTC is 30 November there)', async () => {
    const usd = currency(await report({ ...NOVEMBER, tz: 'America/New_York' }), 'USD');
    assert.equal(usd.grossMinor, 11_200);
    assert.equal(usd.payments, 6);
    assert.equal(usd.netMinor, 7836);
    assert.equal(usd.newSupporters, 4);
    assert.deepEqual(usd.byKind.other, { grossMinor: 1200, count: 1, netMinor: 1200 });
    assert.deepEqual(
      usd.byPlan.find((p) => p.planId === 'unknown'),
      {
        planId: 'unknown',
        planName: 'Not started here',
        interval: null,
        grossMinor: 1200,
        count: 1,
        netMinor: 1200,
        mrrEndMinor: 0,
      },
    );
    const utc = currency(await report({ ...NOVEMBER, tz: 'UTC' }), 'USD');
    assert.equal(utc.grossMinor, 10_000, 'in UTC it belongs to December');
  });
});

describe('report series', () => {
  test('gives gross, net and MRR per day, carrying MRR from the start of the period', async () => {
    const r = await report({ ...NOVEMBER, tz: 'UTC', granularity: 'day' });
    const usd = r.series.filter((p) => p.currency === 'USD');
    assert.equal(usd.length, 30);
    assert.deepEqual(usd[0], {
      bucket: '2026-11-01',
      partial: false,
      currency: 'USD',
      grossMinor: 0,
      netMinor: 0,
      mrrMinor: 2400,
    });
    assert.deepEqual(
      usd.find((p) => p.bucket === '2026-11-02'),
      {
        bucket: '2026-11-02',
        partial: false,
        currency: 'USD',
        grossMinor: 5000,
        netMinor: 4825,
        mrrMinor: 2400,
      },
    );
    // 2400 − 200 + 500 − 400 (S4 ends) + 700 (S5) − 800 (S2 past due beyond the grace days)
    assert.equal(usd.find((p) => p.bucket === '2026-11-24')?.mrrMinor, 2200);
    assert.equal(usd.find((p) => p.bucket === '2026-11-27')?.mrrMinor, 3000, 'S2 paid again');
    assert.equal(usd.at(-1)?.mrrMinor, 3000);
    assert.equal(
      usd.reduce((s, p) => s + p.netMinor, 0),
      6636,
    );
  });

  test('groups by ISO week and by month, marking buckets the period cuts', async () => {
    const weeks = (await report({ ...NOVEMBER, tz: 'UTC', granularity: 'week' })).series.filter(
      (p) => p.currency === 'USD',
    );
    assert.deepEqual(
      weeks.map((p) => [p.bucket, p.partial]),
      [
        ['2026-10-26', true],
        ['2026-11-02', false],
        ['2026-11-09', false],
        ['2026-11-16', false],
        ['2026-11-23', false],
        ['2026-11-30', true],
      ],
    );
    assert.equal(
      weeks.reduce((s, p) => s + p.grossMinor, 0),
      10_000,
    );
    const months = (
      await report({ from: '2026-10-01', to: '2026-11-30', tz: 'UTC', granularity: 'month' })
    ).series.filter((p) => p.currency === 'USD');
    assert.deepEqual(
      months.map((p) => [p.bucket, p.grossMinor, p.mrrMinor]),
      [
        ['2026-10-01', 2400, 2400],
        ['2026-11-01', 10_000, 3000],
      ],
    );
  });
});

describe('periods', () => {
  const zones = ['UTC', 'America/New_York'];
  test('cuts a period that ends after today at today, and says so', () => {
    const p = parsePeriod({ from: '2026-12-01', to: '2026-12-31' }, { zones, today: TODAY });
    assert.equal(p.to, '2026-12-10');
    assert.equal(p.requestedTo, '2026-12-31');
  });

  test('refuses dates that do not exist, reversed or future periods, unknown zones and repeated parameters', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ from: '2026-02-30', to: '2026-03-01' }, /"from" must be a date/],
      [{ from: '2026-13-01', to: '2026-03-01' }, /"from" must be a date/],
      [{ from: '2026-11-01', to: '11/30/2026' }, /"to" must be a date/],
      [{ from: '2026-11-10', to: '2026-11-01' }, /starts after it ends/],
      [{ from: '2026-12-11', to: '2026-12-20' }, /starts in the future/],
      [{ from: '2020-01-01', to: '2026-11-30' }, /at most three years/],
      [{ tz: 'Europe/Paris' }, /UTC, America\/New_York\. "Europe\/Paris" is not one of them/],
      [{ granularity: 'hour' }, /granularity/],
      [{ currency: 'dollars' }, /currency/],
      [{ from: ['2026-11-01', '2026-11-02'] }, /once, as a single value/],
    ];
    for (const [query, message] of bad) {
      assert.throws(
        () => parsePeriod(query, { zones, today: TODAY }),
        (err: Error & { kind?: string }) => err.kind === 'validation' && message.test(err.message),
        JSON.stringify(query),
      );
    }
  });
});
