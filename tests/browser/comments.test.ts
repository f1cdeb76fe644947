import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose from 'mongoose';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium } from './reader-helpers.js';

const everyPage = watchEveryPage('comments');

const ARTICLE = '/articles/coastal-marsh-returns-after-sea-wall-is-opened';

let server: TestServer;
let browser: Browser;
/** Stands in for the third-party comments service. */
let widget: http.Server;
let widgetOrigin = '';
const widgetRequests: string[] = [];
/** Another origin on the same host, serving a copy of one of our forms. */
let foreign: http.Server;
let foreignOrigin = '';
let foreignForm = '';

const consentRecords = () => mongoose.connection.collection('consentrecords');

before(async () => {
  widget = http.createServer((req, res) => {
    widgetRequests.push(req.url ?? '');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><p id="comments-loaded">3 comments</p>');
  });
  await new Promise<void>((resolve) => widget.listen(0, '127.0.0.1', resolve));
  widgetOrigin = `http://127.0.0.1:${(widget.address() as AddressInfo).port}`;
  foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(foreignForm);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  foreignOrigin = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`;
  server = await startTestServer({
    consent: { commentsWidget: { origin: widgetOrigin, embedPath: '/embed' } },
  });
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  await server?.close();
  await new Promise((resolve) => widget?.close(resolve));
  await new Promise((resolve) => foreign?.close(resolve));
});

async function consentCookie(context: BrowserContext) {
  return (await context.cookies()).find((c) => c.name === 'rf_consent');
}

async function recordsOf(context: BrowserContext) {
  const cookie = await consentCookie(context);
  assert.ok(cookie, 'the consent cookie is set');
  const consentId = cookie.value.split('.')[0]!;
  return consentRecords().find({ consentId }).sort({ seq: 1 }).toArray();
}

/** The comments section of the article, before comments are on: the placeholder and its button. */
async function placeholderOf(page: Page) {
  const section = page.getByRole('region', { name: 'Comments', exact: true });
  await section.waitFor();
  assert.match(await section.innerText(), /nothing from it is loaded on this page until you ask for it/);
  assert.equal(await page.locator('iframe').count(), 0);
  return section;
}

/** Clicks Load comments and waits for the article to come back with the widget framed in it. */
async function loadComments(page: Page) {
  const section = await placeholderOf(page);
  await section.getByRole('button', { name: 'Load comments' }).click();
  await page.waitForURL(`${server.baseUrl}${ARTICLE}#comments`);
  const iframe = page.locator('#comments iframe.comments-widget');
  assert.equal(await iframe.count(), 1);
  const src = new URL((await iframe.getAttribute('src'))!);
  assert.equal(src.origin, widgetOrigin);
  assert.equal(src.pathname, '/embed');
  await page.frameLocator('iframe.comments-widget').locator('#comments-loaded').waitFor();
  assert.match(await page.locator('#comments').innerText(), /You turned comments on/);
}

test(
  'a reader who has not chosen yet clicks Load comments under an article: comments turn on, framed from the widget origin, and nothing else does',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    widgetRequests.length = 0;
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    assert.equal(await page.locator('.consent-banner').count(), 1);
    await loadComments(page);
    assert.ok(
      widgetRequests.some((url) => url.startsWith('/embed?page=')),
      'the comments service was asked for this page',
    );
    const records = await recordsOf(context);
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.comments, r.choices.analytics, r.choices.advertising]),
      [['custom', 'granted', 'denied', 'denied']],
    );
    // The choice stands: the banner is gone and the comments stay on across pages.
    assert.equal(await page.locator('.consent-banner').count(), 0);
    await page.goto(`${server.baseUrl}/`);
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    assert.equal(await page.locator('.consent-banner').count(), 0);
    assert.equal(await page.locator('iframe.comments-widget').count(), 1);
    await context.close();
  },
);

test(
  'a reader who rejected everything turns on only the comments later with Load comments',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    widgetRequests.length = 0;
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    await page
      .getByRole('region', { name: /Your choice: cookies and content from other sites/ })
      .getByRole('button', { name: 'Reject all' })
      .click();
    await page.waitForURL(`${server.baseUrl}${ARTICLE}`);
    assert.equal(await page.locator('.consent-banner').count(), 0);
    assert.deepEqual(widgetRequests, [], 'nothing was asked of the comments service before');
    await loadComments(page);
    const records = await recordsOf(context);
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.comments, r.choices.analytics, r.choices.advertising]),
      [
        ['reject_all', 'denied', 'denied', 'denied'],
        ['custom', 'granted', 'denied', 'denied'],
      ],
    );
    await context.close();
  },
);

test(
  'the Load comments form posted from another origin is refused and records nothing',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}${ARTICLE}`);
    // The placeholder form exactly as the article page has it, copied to a page of another origin.
    const fields = await page
      .locator('form.comments-load input, form.comments-load button')
      .evaluateAll((elements) =>
        elements.map((e) => [e.getAttribute('name') ?? '', e.getAttribute('value') ?? '']),
      );
    assert.deepEqual(
      fields.map(([name]) => name),
      ['texts', 'return', 'grant', 'choice'],
    );
    const inputs = fields
      .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
      .join('');
    foreignForm = `<!doctype html><title>A look-alike</title><form method="post" action="${server.baseUrl}/consent">${inputs}<button>Load comments</button></form>`;

    const post = async (from: Page) => {
      await from.goto(`${foreignOrigin}/`);
      const [response] = await Promise.all([
        from.waitForResponse(
          (r) => r.url() === `${server.baseUrl}/consent` && r.request().method() === 'POST',
        ),
        from.getByRole('button', { name: 'Load comments' }).click(),
      ]);
      await from.waitForLoadState();
      const result = {
        status: response.status(),
        text: await from.locator('main').innerText(),
        cookieSent: /(^|; )rf_consent=/.test((await response.request().allHeaders()).cookie ?? ''),
      };
      await from.close();
      return result;
    };

    // A reader who has not chosen: refused, and no choice is made for them.
    widgetRequests.length = 0;
    const before = await consentRecords().countDocuments();
    const fresh = await post(await context.newPage());
    assert.equal(fresh.status, 403);
    assert.match(fresh.text, /only be sent from our own pages/);
    assert.equal(await consentRecords().countDocuments(), before);
    assert.equal(await consentCookie(context), undefined);

    // A reader who rejected everything, whose cookie goes with the post: refused, the choice stands.
    await page.reload();
    await page.getByRole('button', { name: 'Reject all' }).click();
    await page.waitForURL(`${server.baseUrl}${ARTICLE}`);
    const cookieBefore = (await consentCookie(context))?.value;
    const recordsBefore = await consentRecords().countDocuments();
    const chosen = await post(await context.newPage());
    assert.equal(chosen.status, 403);
    assert.ok(chosen.cookieSent, 'the browser sent the consent cookie with the refused post');
    assert.equal(await consentRecords().countDocuments(), recordsBefore);
    assert.equal((await consentCookie(context))?.value, cookieBefore);
    await page.reload();
    await placeholderOf(page);
    assert.deepEqual(widgetRequests, [], 'the comments service was never contacted');
    await context.close();
  },
);
