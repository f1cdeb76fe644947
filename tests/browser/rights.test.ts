/**
 * The readers' rights pages in Chromium: ask for a link on /privacy, open it from the outbox,
 * download the export, erase; the same forms on another site's page are refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, type Page } from 'playwright-core';
import mongoose from 'mongoose';
import { Supporter, one } from '../helpers/ledger.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectionsMentioning, give, outboxMentioning, rightsLinkFor } from '../rights/helpers.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium } from './reader-helpers.js';

const everyPage = watchEveryPage('rights');

let server: TestServer;
let browser: Browser;
let foreign: http.Server;
let foreignOrigin = '';
let foreignForm = '';

before(async () => {
  server = await startTestServer();
  foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(foreignForm);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  foreignOrigin = `http://localhost:${(foreign.address() as AddressInfo).port}`;
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => foreign?.close(resolve));
  await server?.close();
});

async function clickForeignForm(page: Page, action: string, fields: Record<string, string>) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  foreignForm = `<!doctype html><title>Win a prize</title><form method="post" action="${action}">${inputs}<button>Claim</button></form>`;
  await page.goto(`${foreignOrigin}/`);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('button')]);
  return { status: response?.status(), text: await page.locator('body').innerText() };
}

test(
  'a reader asks for a link on /privacy, opens it from the outbox, downloads the export and erases',
  { timeout: 90_000 },
  async () => {
    const email = 'chromium.rights@example.com';
    await give(server, { email, name: 'Cleo Chromium', amount: '8' });
    const page = await browser.newPage({ acceptDownloads: true });
    const cspErrors: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspErrors.push(msg.text());
    });

    await page.goto(`${server.baseUrl}/privacy`);
    await page.getByLabel('Your email address').fill(email);
    await page.getByRole('button', { name: 'Email me a link to my data' }).click();
    await page.waitForURL(`${server.baseUrl}/rights`);
    assert.match(await page.locator('main').innerText(), /If we hold data for that address/);
    await server.runtime.rights.service.idle();

    const link = await rightsLinkFor(server.outboxDir, email);
    await page.goto(link);
    assert.match(await page.locator('h1').innerText(), /Your data/);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download my data' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^personal-data-\d{4}-\d{2}-\d{2}\.json$/);
    const data = JSON.parse(await readFile(await download.path(), 'utf8')) as {
      profile: { email: string; name: string };
      payments: Array<{ amountMinor: number }>;
    };
    assert.equal(data.profile.email, email);
    assert.equal(data.profile.name, 'Cleo Chromium');
    assert.deepEqual(
      data.payments.map((p) => p.amountMinor),
      [800],
    );

    await page.getByLabel(/I want my personal data erased/).check();
    await page.getByRole('button', { name: 'Erase my data' }).click();
    await page.waitForURL(/notice=erased/);
    assert.match(await page.locator('h1').innerText(), /Your data has been erased/);
    assert.match(await page.locator('main').innerText(), /What we kept, and why/);
    assert.deepEqual(cspErrors, []);

    await server.runtime.payments.simulator?.idle();
    await server.runtime.runJobsOnce();
    assert.deepEqual(await collectionsMentioning(email), {});
    assert.deepEqual(await outboxMentioning(server.outboxDir, email), []);
  },
);

test('the request and erase forms on another site’s page are refused, and nothing is recorded', async () => {
  const email = 'foreign.target@example.com';
  await give(server, { email, amount: '4' });
  const requests = mongoose.connection.collection('rightsrequests');
  const logged = await requests.countDocuments();
  const page = await browser.newPage();
  const refused = await clickForeignForm(page, `${server.baseUrl}/rights`, { email });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /can only be sent from our own pages/);
  await server.runtime.rights.service.idle();
  assert.equal(await requests.countDocuments(), logged);

  const supporter = await one(Supporter, { email });
  const token = server.runtime.manageLinks.purposeToken('rights', `${String(supporter!._id)}:email_link`, 60);
  const own = await browser.newPage();
  await own.goto(`${server.baseUrl}/rights/${token}`);
  const formToken = await own.locator('input[name="formToken"]').getAttribute('value');
  const erase = await clickForeignForm(page, `${server.baseUrl}/rights/${token}/erase`, {
    formToken: formToken!,
    confirm: 'yes',
  });
  assert.equal(erase.status, 403);
  assert.ok(!(await one(Supporter, { email }))?.erasedAt, 'nothing was erased');
});
