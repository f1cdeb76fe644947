import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { startLedgerRuntime } from '../helpers/runtime.js';
import { LedgerEntry, type Stored } from '../helpers/ledger.js';
import { NOVEMBER, applyFixture } from './fixture.js';
import { csvObjects, has, hasNot, signedInAdmin, signedInFinance, type Agent } from './helpers.js';

let runtime: Runtime;
let finance: Agent;
let admin: Agent;

before(async () => {
  runtime = await startLedgerRuntime();
  await applyFixture(runtime);
  // Text a spreadsheet would run as a formula, from a provider (ids) and a payer (email), in September.
  await runtime.ledger.apply({
    type: 'payment.succeeded',
    provider: 'stripe',
    paymentId: '=HYPERLINK("http://evil.example","click")',
    amount: { amountMinor: 900, currency: 'USD' },
    kind: 'one_off',
    occurredAt: new Date('2026-09-10T12:00:00Z'),
    payer: { email: '-2+3@example.com' },
  });
  for (const [id, amountMinor] of [
    ['@SUM(A1:A9)', 100],
    ['+cmd', 100],
    ['\tTabbed', 100],
  ] as const) {
    await runtime.ledger.apply({
      type: 'payment.refunded',
      provider: 'stripe',
      paymentId: '=HYPERLINK("http://evil.example","click")',
      refund: { id, amount: { amountMinor, currency: 'USD' } },
      occurredAt: new Date('2026-09-11T12:00:00Z'),
    });
  }
  finance = await signedInFinance(runtime);
  admin = await signedInAdmin(runtime);
});
after(() => runtime.stop());

const novemberQuery = new URLSearchParams({ ...NOVEMBER, tz: 'UTC' }).toString();
const auditlog = () => mongoose.connection.collection('auditlog');

describe('the report page', () => {
  test('shows each currency with its figures, their definitions, a chart and the table under it', async () => {
    const res = await finance.get(`/staff/reports?${novemberQuery}&granularity=day`).expect(200);
    const html = res.text;
    assert.match(res.headers['cache-control'] ?? '', /no-store/);
    has(html, /<h2 id="cur-EUR">EUR<\/h2>/);
    has(html, /<h2 id="cur-USD">USD<\/h2>/);
    has(html, /Gross donations<\/th>\s*<td[^>]*>\$100\.00/);
    has(html, /Net<\/th>\s*<td[^>]*>\$66\.36/);
    has(html, /Net<\/th>\s*<td[^>]*>€18\.00/);
    has(html, /Pending churn<\/th>\s*<td[^>]*>€20\.00/);
    has(html, /Net MRR churn: \(churn \+ contraction − expansion − reactivation\) ÷ MRR at the start/);
    has(html, /Supporter churn rate<\/th>\s*<td[^>]*>66\.7%/);

    // The chart: inline SVG with a title, a description, a hatch pattern for the bars and lines.
    has(html, /<svg [^>]*role="img" aria-labelledby="chart-usd-title chart-usd-desc"/);
    has(html, /<title id="chart-usd-title">Gross, net and MRR in USD, per day<\/title>/);
    has(html, /<pattern id="chart-usd-hatch"/);
    has(html, /<path d="M[\d.,LM-]+" fill="none" stroke="#111"/);
    assert.ok(
      html.includes('<figcaption>30 days from 1 Nov to 30 Nov: gross $100, net $66.36 in all;'),
      'a text summary',
    );
    // …and its figures as a table: one row per day.
    const usdSection = html.slice(html.indexOf('<h2 id="cur-USD">'));
    const series = /<table class="staff-table report-series"[\s\S]*?<\/table>/.exec(usdSection)?.[0];
    assert.equal(series?.match(/<tr><th scope="row">/g)?.length, 30);

    // Nothing the CSP would block: no inline style, no script, no <style> element.
    hasNot(html, /\sstyle=/);
    hasNot(html, /<script/);
    hasNot(html, /<style/);
    assert.match(res.headers['content-security-policy'] ?? '', /style-src 'self'/);
  });

  test('lists donations by article, with links to download the ledger and the JSON', async () => {
    const html = (await finance.get(`/staff/reports?${novemberQuery}`).expect(200)).text;
    has(html, /<a href="\/articles\/coastal-marsh-returns-after-sea-wall-is-opened">/);
    has(html, /<a href="\/articles\/city-budget-vote">/);
    has(
      html,
      /href="\/staff\/reports\/donations\.csv\?from=2026-11-01&amp;to=2026-11-30&amp;tz=UTC" download/,
    );
    has(
      html,
      /href="\/staff\/reports\.json\?from=2026-11-01&amp;to=2026-11-30&amp;tz=UTC&amp;granularity=day"/,
    );
  });

  test('answers a bad period with 400 and says what is wrong, on the page and in JSON', async () => {
    const page = await finance.get('/staff/reports?from=2026-13-01&to=2026-11-30').expect(400);
    has(page.text, /role="alert">&quot;from&quot; must be a date written as YYYY-MM-DD/);
    const reversed = await finance.get('/staff/reports?from=2026-11-30&to=2026-11-01').expect(400);
    has(reversed.text, /The period starts after it ends/);
    const json = await finance.get('/staff/reports.json?tz=Europe/Paris').expect(400);
    assert.equal(json.body.error.kind, 'validation');
    assert.match(json.body.error.message, /UTC, America\/New_York\. "Europe\/Paris" is not one of them/);
  });

  test('gives the same figures as JSON, for spreadsheets and BI tools', async () => {
    const res = await finance.get(`/staff/reports.json?${novemberQuery}`).expect(200);
    assert.match(res.headers['content-type'] ?? '', /application\/json/);
    const usd = (
      res.body.currencies as Array<{ currency: string; netMinor: number; mrr: { endMinor: number } }>
    ).find((c) => c.currency === 'USD');
    assert.equal(usd?.netMinor, 6636);
    assert.equal(usd?.mrr.endMinor, 3000);
    assert.equal(res.body.period.zone, 'UTC');
    assert.match(res.body.definitions.net, /gross − refunds − disputes/);
  });
});

describe('the ledger export', () => {
  test('has one row per ledger movement of the period, refunds and disputes linked to their payment', async () => {
    const res = await finance.get(`/staff/reports/donations.csv?${novemberQuery}`).expect(200);
    assert.match(res.headers['content-type'] ?? '', /^text\/csv; charset=utf-8/);
    assert.equal(
      res.headers['content-disposition'],
      'attachment; filename="donations-2026-11-01-2026-11-30-UTC.csv"',
    );
    assert.ok(!res.text.startsWith('\uFEFF'), 'no BOM unless asked for');
    const rows = csvObjects(res.text);
    const entries = (await LedgerEntry.find({
      occurredAt: { $gte: new Date('2026-11-01T00:00:00Z'), $lt: new Date('2026-12-01T00:00:00Z') },
    })
      .sort({ occurredAt: 1 })
      .lean()) as Stored[];
    assert.equal(rows.length, entries.length);
    assert.deepEqual(rows.map((r) => r.id).sort(), entries.map((e) => e.key as string).sort());
    for (const entry of entries) {
      const row = rows.find((r) => r.id === entry.key)!;
      const digits = 2;
      const amount = entry.amountMinor as number;
      const fee = entry.feeMinor as number;
      assert.equal(row.type, entry.type);
      assert.equal(row.gross, (amount / 10 ** digits).toFixed(digits));
      assert.equal(row.fee, (fee / 10 ** digits).toFixed(digits));
      assert.equal(row.net, ((amount - fee) / 10 ** digits).toFixed(digits));
      assert.equal(row.currency, entry.currency);
      assert.equal(row.created_utc, (entry.occurredAt as Date).toISOString());
      assert.equal(
        row.payment_id,
        `payment:${entry.provider as string}:${entry.providerPaymentId as string}`,
      );
      assert.equal(row.payment_date_utc, (entry.paymentOccurredAt as Date).toISOString());
    }
    // A refund in November of an October payment: at its own date, linked to the payment.
    const refund = rows.find((r) => r.provider_reference === 're_S1_oct')!;
    assert.deepEqual(
      [
        refund.type,
        refund.gross,
        refund.payment_id,
        refund.payment_date_utc,
        refund.supporter,
        refund.status,
      ],
      [
        'refund',
        '-5.00',
        'payment:stripe:in_S1_oct',
        '2026-10-05T12:00:00.000Z',
        'dana@example.com',
        'partially_refunded',
      ],
    );
    const lost = rows.find((r) => r.type === 'dispute' && r.currency === 'USD')!;
    assert.deepEqual(
      [lost.gross, lost.fee, lost.net, lost.payment_id],
      ['-25.00', '15.00', '-40.00', 'payment:paypal:CAP-P2'],
    );
    assert.equal(rows.find((r) => r.type === 'dispute_reversal')?.gross, '25.00');
    // The net column adds up to the report's net, per currency.
    const net = (currency: string) =>
      rows.filter((r) => r.currency === currency).reduce((s, r) => s + Math.round(Number(r.net) * 100), 0);
    assert.equal(net('USD'), 6636);
    assert.equal(net('EUR'), 1800);
    assert.equal(
      rows.find((r) => r.id === 'payment:stripe:pi_P1')?.article,
      'coastal-marsh-returns-after-sea-wall-is-opened',
    );
  });

  test('writes local times in the chosen zone, one currency when asked, and a BOM for Excel', async () => {
    const res = await finance
      .get(
        `/staff/reports/donations.csv?${new URLSearchParams({ ...NOVEMBER, tz: 'America/New_York', currency: 'usd', bom: '1' })}`,
      )
      .expect(200);
    assert.ok(res.text.startsWith('\uFEFFid,type,created_utc,created_local,'), 'UTF-8 BOM, then the header');
    const rows = csvObjects(res.text.slice(1));
    assert.ok(rows.every((r) => r.currency === 'USD'));
    const p0 = rows.find((r) => r.id === 'payment:stripe:pi_P0');
    assert.ok(p0, '1 December 03:00 UTC is still November in New York');
    assert.equal(p0.created_local, '2026-11-30 22:00:00');
    assert.equal(p0.plan, 'unknown');
  });

  test('neutralises text cells a spreadsheet would run as a formula, and keeps amounts numbers', async () => {
    const text = (
      await finance.get('/staff/reports/donations.csv?from=2026-09-01&to=2026-09-30&tz=UTC').expect(200)
    ).text;
    const rows = csvObjects(text);
    const payment = rows.find((r) => r.type === 'payment')!;
    assert.equal(payment.provider_reference, `'=HYPERLINK("http://evil.example","click")`);
    assert.equal(payment.provider_payment_id, `'=HYPERLINK("http://evil.example","click")`);
    assert.equal(payment.supporter, `'-2+3@example.com`);
    assert.deepEqual(
      rows
        .filter((r) => r.type === 'refund')
        .map((r) => r.provider_reference)
        .sort(),
      [`'\tTabbed`, `'+cmd`, `'@SUM(A1:A9)`],
    );
    assert.ok(
      rows.filter((r) => r.type === 'refund').every((r) => r.gross === '-1.00'),
      'negative amounts stay numbers',
    );
    // RFC 4180: the field with quotes and a comma is quoted, its quotes doubled.
    assert.match(text, /,"'=HYPERLINK\(""http:\/\/evil\.example"",""click""\)",/);
  });

  test('records each export in the audit log: who, the period and how many rows', async () => {
    const before = await auditlog().countDocuments({ action: 'reports.exported' });
    await finance.get('/staff/reports/donations.csv?from=2026-09-01&to=2026-09-30&tz=UTC').expect(200);
    const entries = await auditlog()
      .find({ action: 'reports.exported' })
      .sort({ seq: -1 })
      .limit(1)
      .toArray();
    assert.equal(await auditlog().countDocuments({ action: 'reports.exported' }), before + 1);
    assert.equal(entries[0]?.actor.role, 'finance');
    assert.deepEqual(entries[0]?.details, {
      from: '2026-09-01',
      to: '2026-09-30',
      zone: 'UTC',
      currency: 'all',
      rows: 4,
      completed: true,
    });
  });

  test('refuses an export without a period or with a bad one', async () => {
    const missing = await finance.get('/staff/reports/donations.csv?from=2026-11-01').expect(400);
    has(missing.text, /from=YYYY-MM-DD&amp;to=YYYY-MM-DD/);
    const bad = await finance
      .get('/staff/reports/donations.csv?from=2026-11-01&to=2026-11-31')
      .set('Accept', 'text/csv, application/json')
      .expect(400);
    assert.match(bad.body.error.message, /"to" must be a date/);
    await finance.get(`/staff/reports/donations.csv?${novemberQuery}&bom=yes`).expect(400);
  });
});

describe('who may see reports and operations', () => {
  test('sends someone without a session to sign in, and answers data requests with 401', async () => {
    const page = await request(runtime.app).get(`/staff/reports?${novemberQuery}`).expect(303);
    assert.equal(
      page.headers.location,
      `/staff/login?next=${encodeURIComponent(`/staff/reports?${novemberQuery}`)}`,
    );
    const json = await request(runtime.app).get('/staff/reports.json').expect(401);
    assert.equal(json.body.error.kind, 'unauthorized');
    await request(runtime.app).get(`/staff/reports/donations.csv?${novemberQuery}`).expect(401);
    await request(runtime.app).get('/staff/operations').expect(303);
  });

  test('lets finance read reports but not the operations pages; admins may do both', async () => {
    const refused = await finance.get('/staff/operations').expect(403);
    has(refused.text, /This page is for admins only/);
    await finance.get('/staff/operations/webhooks').expect(403);
    await finance.get('/staff/operations/consent').expect(403);
    await admin.get(`/staff/reports?${novemberQuery}`).expect(200);
    await admin.get('/staff/operations').expect(200);
  });

  test('shows Reports to finance and Operations only to admins in the staff navigation', async () => {
    const financeHome = (await finance.get('/staff').expect(200)).text;
    has(financeHome, /<a href="\/staff\/reports">Reports<\/a>/);
    hasNot(financeHome, /href="\/staff\/operations"/);
    const adminHome = (await admin.get('/staff').expect(200)).text;
    has(adminHome, /<a href="\/staff\/operations">Operations<\/a>/);
  });
});
