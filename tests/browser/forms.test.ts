/**
 * Every reader form, clicked in Chromium: from its own page it works; the same form on a page of
 * another origin is refused. (supertest sends no Origin, and browsers send `Origin: null` under some
 * referrer policies, so only a browser shows what readers get.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium } from './reader-helpers.js';

const everyPage = watchEveryPage('forms');

let server: TestServer;
let browser: Browser;
let foreign: http.Server;
let foreignOrigin = '';
/** What the page on the other origin shows: a form that posts to our app. */
let foreignForm = '';

before(async () => {
  server = await startTestServer();
  foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(foreignForm);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  // "localhost" while our app is at 127.0.0.1: another site, not only another origin.
  foreignOrigin = `http://localhost:${(foreign.address() as AddressInfo).port}`;
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => foreign?.close(resolve));
  await server?.close();
});

/** A page on the other origin whose only form posts `fields` to `action` when its button is clicked. */
async function clickForeignForm(page: Page, action: string, fields: Record<string, string>) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  foreignForm = `<!doctype html><title>Win a prize</title><form method="post" action="${action}">${inputs}<button>Claim</button></form>`;
  await page.goto(`${foreignOrigin}/`);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('button')]);
  return { status: response?.status(), text: await page.locator('body').innerText() };
}

async function payOnHostedStripePage(page: Page, email: string) {
  await page.waitForURL(/\/c\/pay\/cs_/);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="cardNumber"]', '4242 4242 4242 4242');
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/donate\/return\/stripe/);
}

/** The manage link from the reader's latest receipt email, as the reader finds it. */
async function manageLinkFromReceipt(email: string): Promise<string> {
  await server.runtime.receipts.sweep();
  // Newest first: each receipt's link replaces the links sent before it.
  for (const file of (await readdir(server.outboxDir)).sort().reverse()) {
    const raw = await readFile(path.join(server.outboxDir, file), 'utf8');
    const text = raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    if (!text.includes(email)) continue;
    const link = /https?:\/\/[^\s"<>]+\/manage\/[A-Za-z0-9._~-]+/.exec(text);
    if (link) return link[0];
  }
  assert.fail(`no receipt with a manage link for ${email}`);
}

describe('reader forms in Chromium', () => {
  const email = 'forms-reader@example.com';

  for (const planName of ['Contributor', 'Monthly Supporter']) {
    test(
      `the ${planName} form of the donation panel works from its own page`,
      { timeout: 60_000 },
      async () => {
        const page = await browser.newPage();
        await page.goto(`${server.baseUrl}/support`);
        await page.locator('form.plan', { hasText: planName }).getByRole('button', { name: 'Card' }).click();
        await payOnHostedStripePage(page, email);
        assert.match(await page.locator('h1').innerText(), /Thank you for supporting/);
        await server.runtime.payments.simulator!.idle();
        await page.close();
      },
    );
  }

  test('the donation form posted from a page on another site is refused', { timeout: 60_000 }, async () => {
    const page = await browser.newPage();
    const refused = await clickForeignForm(page, `${server.baseUrl}/donate`, {
      plan: 'contributor',
      provider: 'stripe',
      currency: 'USD',
    });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /only be sent from our own pages/);
    await page.close();
  });

  test(
    'the manage page’s change-amount and cancel forms are refused from another site and work from their own page',
    { timeout: 60_000 },
    async () => {
      const manageUrl = await manageLinkFromReceipt(email);
      const page = await browser.newPage();
      const opened = await page.goto(manageUrl);
      assert.equal(opened?.headers()['referrer-policy'], 'same-origin');

      const amountForm = page.locator('form[action$="/amount"]');
      assert.equal(await amountForm.count(), 1);
      const amountAction = new URL((await amountForm.getAttribute('action'))!, manageUrl).toString();
      const amountToken = (await amountForm.locator('input[name="formToken"]').getAttribute('value'))!;
      const before = await amountForm.locator('input[name="amount"]').inputValue();
      const foreignAmount = await browser.newPage();
      const refusedChange = await clickForeignForm(foreignAmount, amountAction, {
        formToken: amountToken,
        amount: '9',
      });
      assert.equal(refusedChange.status, 403);
      await foreignAmount.close();
      await page.reload();
      assert.equal(await page.locator('form[action$="/amount"] input[name="amount"]').inputValue(), before);
      assert.notEqual(before, '9');
      await page.locator('form[action$="/amount"] input[name="amount"]').fill('9');
      await Promise.all([
        page.waitForURL(/notice=amount/),
        page.getByRole('button', { name: 'Change amount' }).click(),
      ]);
      assert.match(
        await page.locator('main').innerText(),
        /Your new monthly amount applies from your next payment/,
      );
      assert.equal(await page.locator('form[action$="/amount"] input[name="amount"]').inputValue(), '9.00');

      const form = page.locator('form[action$="/cancel"]');
      assert.equal(await form.count(), 1);
      const action = new URL((await form.getAttribute('action'))!, page.url()).toString();
      const formToken = (await form.locator('input[name="formToken"]').getAttribute('value'))!;

      const foreignPage = await browser.newPage();
      const refused = await clickForeignForm(foreignPage, action, { formToken });
      assert.equal(refused.status, 403);
      await page.reload();
      assert.equal(await page.locator('form[action$="/cancel"]').count(), 1, 'still active');

      await Promise.all([
        page.waitForURL(/notice=cancelled/),
        page.getByRole('button', { name: 'Cancel monthly support' }).click(),
      ]);
      assert.match(await page.locator('main').innerText(), /Your monthly support has been cancelled/);
      assert.equal(await page.locator('form[action$="/cancel"]').count(), 0);
    },
  );
});
