import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose from 'mongoose';
import { chromium, type Browser } from 'playwright-core';
import Stripe from 'stripe';
import { totpCode } from '../../src/staff/second-factor.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { applyFixture } from '../reports/fixture.js';
import { csvObjects } from '../reports/helpers.js';

let server: TestServer;
let browser: Browser;
let foreign: http.Server;
let foreignOrigin = '';
/** What the page on the other origin shows: a copy of a staff form that posts to our app. */
let foreignForm = '';
const email = 'finance-reports@staff.example';
const password = 'a long and unusual passphrase';

before(async () => {
  server = await startTestServer();
  await applyFixture(server.runtime);
  await server.runtime.staff.service.createAccount(
    { email, password, role: 'finance', name: 'Fran Finance' },
    { kind: 'cli' },
  );
  foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(foreignForm);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  // "localhost" while our app is at 127.0.0.1: another site, not only another origin.
  foreignOrigin = `http://localhost:${(foreign.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => foreign?.close(resolve));
  await server?.close();
});

test(
  'finance signs in, reads the November report with its charts, changes the grouping and downloads the ledger',
  { timeout: 90_000 },
  async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      acceptDownloads: true,
    });
    // Every CSP violation, reported by the browser itself (the init script runs outside the page's CSP).
    await context.addInitScript({
      content:
        'window.cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));',
    });
    const page = await context.newPage();
    const consoleCsp: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) consoleCsp.push(msg.text());
    });
    const violations = async () => page.evaluate<string[]>('window.cspViolations');

    await page.goto(`${server.baseUrl}/staff/reports?from=2026-11-01&to=2026-11-30&tz=UTC`);
    await page.waitForURL(/\/staff\/login\?next=/);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/staff\/reports\?from=2026-11-01&to=2026-11-30&tz=UTC$/);
    assert.equal(await page.locator('h1').innerText(), 'Reports');

    // One chart per currency, drawn and sized by the stylesheet (not by inline styles).
    const charts = page.locator('svg.report-chart-svg');
    assert.equal(await charts.count(), 2);
    const box = await charts.first().boundingBox();
    assert.ok(box && box.width > 300 && box.width <= 390, `the chart fits the screen (${box?.width}px)`);
    assert.ok(
      (await charts.first().locator('rect[fill^="url(#"]').count()) >= 30,
      'hatched bars for each day',
    );
    assert.match(
      await page.locator('#cur-USD + figure figcaption').innerText(),
      /gross \$100, net \$66\.36 in all/,
    );
    assert.match(await page.locator('main').innerText(), /Net\s+\$66\.36/);
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);

    // The form: group the chart by week.
    await page.getByLabel('Chart by').selectOption('week');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/granularity=week/);
    assert.match(await page.locator('#cur-USD + figure figcaption').innerText(), /^6 weeks from 26 Oct/);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download the ledger (CSV)' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'donations-2026-11-01-2026-11-30-UTC.csv');
    const rows = csvObjects(await readFile(await download.path(), 'utf8'));
    assert.equal(rows.length, 12, 'every ledger movement of November');
    assert.ok(
      rows.some((r) => r.id === 'refund:stripe:re_S1_oct' && r.payment_id === 'payment:stripe:in_S1_oct'),
    );

    assert.deepEqual(await violations(), []);
    assert.deepEqual(consoleCsp, []);
    await context.close();
  },
);

test(
  'an admin replays a webhook event from its page; the same form on another site is refused',
  { timeout: 90_000 },
  async () => {
    const adminEmail = 'admin-operations@staff.example';
    await server.runtime.staff.service.createAccount(
      { email: adminEmail, password, role: 'admin', name: 'Ada Admin' },
      { kind: 'cli' },
    );
    const payload = JSON.stringify({
      id: `evt_browser_${randomUUID().replace(/-/g, '')}`,
      object: 'event',
      created: Math.floor(Date.now() / 1000),
      type: 'customer.updated',
      data: { object: { id: 'cus_browser', object: 'customer', email: 'reader@example.com' } },
      livemode: false,
    });
    const secret = server.runtime.payments.simulator!.secrets.stripeWebhookSecret;
    const delivered = await fetch(`${server.baseUrl}/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }),
      },
      body: payload,
    });
    assert.equal(delivered.status, 200);
    const event = await mongoose.connection.collection('webhookevents').findOne({ status: 'ignored' });
    assert.ok(event);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/staff/operations`);
    await page.getByLabel('Email').fill(adminEmail);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/staff\/account\/two-factor/);
    const key = (await page.locator('code.staff-secret').innerText()).replace(/ /g, '');
    await page.getByLabel('Enter the 6-digit code the app now shows').fill(totpCode(key, new Date()));
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await page.waitForLoadState();

    await page.goto(`${server.baseUrl}/staff/operations`);
    await page.getByRole('link', { name: /ignored \(no payment facts\)/ }).click();
    await page.getByRole('link', { name: 'customer.updated' }).click();
    await page.getByRole('button', { name: 'Replay this event' }).click();
    await page.waitForURL(/replayed=ignored/);
    assert.match(await page.locator('[role="status"]').innerText(), /Replayed: the event is now ignored/);
    const audit = mongoose.connection.collection('auditlog');
    const replays = await audit.countDocuments({ action: 'webhooks.replayed' });
    assert.equal(replays, 1);

    // The form with a real token, on a page of another site.
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    foreignForm = `<!doctype html><form method="post" action="${server.baseUrl}/staff/operations/webhooks/${String(event._id)}/replay">
      <input name="_csrf" value="${token}"><button type="submit">Go</button></form>`;
    await page.goto(`${foreignOrigin}/`);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/replay') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Go' }).click(),
    ]);
    assert.equal(response.status(), 403);
    assert.equal(await audit.countDocuments({ action: 'webhooks.replayed' }), replays);
    await context.close();
  },
);
