import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Browser } from 'playwright-core';
import { Donation } from '../helpers/ledger.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium } from './reader-helpers.js';

const everyPage = watchEveryPage('donate');

let server: TestServer;
let browser: Browser;

before(async () => {
  server = await startTestServer();
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test(
  'a reader gives $5 by card from the panel under an article and is thanked',
  { timeout: 60_000 },
  async () => {
    const page = await browser.newPage();
    const cspErrors: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspErrors.push(msg.text());
    });
    await page.goto(`${server.baseUrl}/`);
    await page.locator('main a[href^="/articles/"]').first().click();
    await page.waitForURL(/\/articles\//);
    const panel = page.locator('.donation-panel');
    await assert.doesNotReject(panel.waitFor());
    assert.match(await panel.innerText(), /Contributor/);

    const contributor = page.locator('form.plan', { hasText: 'Contributor' });
    await contributor.getByRole('button', { name: 'Card' }).click();
    await page.waitForURL(/\/c\/pay\/cs_/);
    await page.fill('input[name="email"]', 'browser-reader@example.com');
    await page.fill('input[name="cardNumber"]', '4242 4242 4242 4242');
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/donate\/return\/stripe/);
    assert.match(await page.locator('h1').innerText(), /Thank you for supporting/);
    assert.match(await page.locator('main').innerText(), /\$5\.00/);
    assert.deepEqual(cspErrors, []);
    assert.equal(await Donation.countDocuments({ provider: 'stripe' }), 1);
  },
);

test('a reader starts monthly support with PayPal and a custom amount', { timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/support`);
  const monthly = page.locator('form.plan', { hasText: 'Monthly Supporter' });
  await monthly.locator('label', { hasText: 'Other' }).click();
  await monthly.getByLabel(/Your amount in USD/).fill('7');
  await monthly.getByRole('button', { name: 'PayPal' }).click();
  await page.waitForURL(/\/webapps\/billing\/subscriptions/);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/donate\/return\/paypal/);
  assert.match(await page.locator('main').innerText(), /monthly support of \$7\.00 is set up/);
});

test('the article page passes a basic accessibility check: landmarks, one h1, labelled inputs', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/support`);
  assert.equal((await page.locator('header[role="banner"], header').count()) > 0, true);
  assert.equal(await page.locator('main').count(), 1);
  assert.equal(await page.locator('h1').count(), 1);
  const inputs = page.locator('main input:not([type="hidden"]):not(.hp-field input), main select');
  const ids = await inputs.evaluateAll((elements) => elements.map((e) => e.id));
  assert.ok(ids.length > 0);
  let unlabelled = 0;
  for (const id of ids) {
    if (!id || (await page.locator(`label[for="${id}"]`).count()) === 0) unlabelled += 1;
  }
  assert.equal(unlabelled, 0);
});
