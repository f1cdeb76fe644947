import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { consentRecords, recordsOf } from '../consent/helpers.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium } from './reader-helpers.js';

const everyPage = watchEveryPage('consent');

const ARTICLE = '/articles/coastal-marsh-returns-after-sea-wall-is-opened';

let server: TestServer;
let browser: Browser;
/** Stands in for the third-party comments service (and for a foreign site posting to us). */
let widget: http.Server;
let widgetOrigin: string;
const widgetRequests: string[] = [];

before(async () => {
  widget = http.createServer((req, res) => {
    widgetRequests.push(req.url ?? '');
    if (req.url?.startsWith('/foreign-form')) {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(
        `<!doctype html><form method="post" action="${server.baseUrl}/consent">` +
          `<input type="hidden" name="choice" value="accept_all">` +
          `<input type="hidden" name="texts" value="${server.runtime.consent.service.texts.hash}">` +
          `<button type="submit">Win a prize</button></form>`,
      );
      return;
    }
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end('<!doctype html><p id="comments-loaded">3 comments</p>');
  });
  await new Promise<void>((resolve) => widget.listen(0, '127.0.0.1', resolve));
  widgetOrigin = `http://127.0.0.1:${(widget.address() as AddressInfo).port}`;
  server = await startTestServer({
    consent: { commentsWidget: { origin: widgetOrigin, embedPath: '/embed' } },
  });
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  await server?.close();
  await new Promise((resolve) => widget?.close(resolve));
});

function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });
  return violations;
}

async function consentIdIn(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === 'rf_consent');
  assert.ok(cookie, 'the consent cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  return cookie.value.split('.')[0]!;
}

/** Presses Tab until the focused element matches the selector; answers how many presses it took. */
async function tabTo(page: Page, selector: string, most = 40): Promise<number> {
  for (let presses = 1; presses <= most; presses++) {
    await page.keyboard.press('Tab');
    const focused = page.locator(':focus');
    if ((await focused.count()) && (await focused.evaluate((el, s) => el.matches(s), selector)))
      return presses;
  }
  throw new Error(`${selector} was not reached with Tab`);
}

test(
  'with JavaScript disabled, the banner refuses everything and nothing optional ever loads',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const csp = watchCsp(page);
    widgetRequests.length = 0;
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    const banner = page.getByRole('region', { name: /Your choice: cookies and content from other sites/ });
    await banner.waitFor();
    assert.equal(await page.locator('iframe').count(), 0);
    assert.deepEqual(await context.cookies(), [], 'no cookie before a choice');

    // The three options look the same: same element, size and colours.
    const sizes = await banner.locator('button.consent-choice').evaluateAll((buttons) =>
      buttons.map((b) => {
        const style = b.ownerDocument.defaultView!.getComputedStyle(b);
        return [
          Math.round(b.getBoundingClientRect().height),
          style.backgroundColor,
          style.color,
          style.fontSize,
        ];
      }),
    );
    assert.equal(sizes.length, 3);
    assert.equal(new Set(sizes.map((s) => JSON.stringify(s))).size, 1, JSON.stringify(sizes));

    await banner.getByRole('button', { name: 'Reject all' }).click();
    await page.waitForURL(`${server.baseUrl}${ARTICLE}`);
    assert.equal(await page.locator('.consent-banner').count(), 0);
    assert.equal(await page.locator('iframe').count(), 0);
    const consentId = await consentIdIn(context);
    assert.deepEqual(
      (await context.cookies()).map((c) => c.name),
      ['rf_consent'],
    );
    const records = await recordsOf(consentId);
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.comments, r.browserFamily]),
      [['reject_all', 'denied', 'Chrome']],
    );

    await page.goto(`${server.baseUrl}/`);
    await page.goto(`${server.baseUrl}/section/climate`);
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    assert.equal(await page.locator('.consent-banner, iframe, script').count(), 0);
    assert.deepEqual(widgetRequests, [], 'the comments service was never contacted');
    assert.deepEqual(csp, []);
    await context.close();
  },
);

test(
  'by keyboard alone, Accept all turns the comments on, from the widget origin only',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const csp = watchCsp(page);
    widgetRequests.length = 0;
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    const presses = await tabTo(page, 'button[value="accept_all"]');
    assert.ok(presses <= 3, `Accept all is reached early (${presses} presses of Tab)`);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.baseUrl}${ARTICLE}`);
    assert.equal(await page.locator('.consent-banner').count(), 0);
    const frame = page.frameLocator('iframe.comments-widget');
    await frame.locator('#comments-loaded').waitFor();
    assert.ok(widgetRequests.some((url) => url.startsWith('/embed?page=')));
    const records = await recordsOf(await consentIdIn(context));
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.comments, r.choices.analytics]),
      [['accept_all', 'granted', 'granted']],
    );
    assert.deepEqual(csp, []);
    await context.close();
  },
);

test(
  'by keyboard alone, Choose… leads to the settings and a single category can be turned on',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const csp = watchCsp(page);
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    await tabTo(page, 'button.consent-choice[formmethod="get"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/privacy\?.*#choices$/);
    assert.equal(
      await page.locator('input[name="grant"]:checked').count(),
      0,
      'no box is ticked for the reader',
    );
    await tabTo(page, '#consent-comments');
    await page.keyboard.press('Space');
    await tabTo(page, 'button[value="custom"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.baseUrl}${ARTICLE}`);
    const records = await recordsOf(await consentIdIn(context));
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.comments, r.choices.analytics, r.choices.advertising]),
      [['custom', 'granted', 'denied', 'denied']],
    );
    assert.equal(await page.locator('iframe.comments-widget').count(), 1);
    assert.deepEqual(csp, []);
    await context.close();
  },
);

test(
  'a consent form posted from another site is refused and records nothing',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const before = await consentRecords().countDocuments();
    await page.goto(`${widgetOrigin}/foreign-form`);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${server.baseUrl}/consent`),
      page.getByRole('button', { name: 'Win a prize' }).click(),
    ]);
    assert.equal(response.status(), 403);
    assert.match(await page.locator('main').innerText(), /only be sent from our own pages/);
    assert.equal(await consentRecords().countDocuments(), before);
    assert.equal((await context.cookies()).filter((c) => c.name === 'rf_consent').length, 0);
    await context.close();
  },
);
