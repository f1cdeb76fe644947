/**
 * What the reader-path browser tests share: Chromium launched as the suite launches it, a watch on
 * every page for console errors, CSP violations and requests to other sites, a screenshot of the
 * page a path ends on (taken whatever happened, so a failure leaves its picture), and the mail the
 * test server wrote to its outbox folder.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from 'playwright-core';

export const screenshotsDir = path.resolve(import.meta.dirname, 'screenshots');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions and CSP violations seen so far, on any page of the path. */
  problems: string[];
  /** Requests our own pages made to another origin (navigations to a provider excepted). */
  foreignRequests: string[];
}

/**
 * Records on `problems` every console error, uncaught exception and CSP violation of a page. A
 * page answering with an error status on purpose (a refused form, an expired link, a declined
 * card) makes Chromium log "Failed to load resource" for the document itself; that one line is the
 * status, not a problem.
 */
export function watchForProblems(page: Page, ownOrigin: string, problems: string[]): void {
  const documentStatus = new Map<string, number>();
  page.on('response', (response) => {
    if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) {
      documentStatus.set(response.url(), response.status());
    }
  });
  page.on('console', (message) => {
    const text = message.text();
    const where = message.location().url;
    if (/Content Security Policy/i.test(text)) {
      problems.push(`CSP on ${where}: ${text}`);
      return;
    }
    if (message.type() !== 'error') return;
    const status = /status of (\d{3})/.exec(text)?.[1];
    if (status && documentStatus.get(where) === Number(status)) return;
    // The simulator's hosted pages (the providers' pages, not ours) and the stand-ins for other
    // sites link no icon, so Chromium asks them for /favicon.ico; our pages link theirs.
    if (where && !where.startsWith(ownOrigin) && new URL(where).pathname === '/favicon.ico') return;
    problems.push(`console error on ${where}: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught on ${page.url()}: ${err.message}`));
}

/** A fresh browser context (its own cookies) with one page, watched (see watchForProblems). */
export async function openWatchedPage(
  browser: Browser,
  ownOrigin: string,
  contextOptions: BrowserContextOptions = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, ...contextOptions });
  const page = await context.newPage();
  const problems: string[] = [];
  const foreignRequests: string[] = [];
  watchForProblems(page, ownOrigin, problems);
  page.on('request', (request) => {
    const from = request.frame().url();
    if (!from.startsWith(ownOrigin) || request.isNavigationRequest()) return;
    if (!request.url().startsWith(ownOrigin) && !request.url().startsWith('data:')) {
      foreignRequests.push(`${from} → ${request.url()}`);
    }
  });
  return { page, context, problems, foreignRequests };
}

/**
 * Runs one reader path on a watched page and photographs the page it ends on into
 * tests/browser/screenshots/<name>.png — also when the path fails, so the picture shows where.
 * A path passes only if no page showed a console error, CSP violation or request to another site.
 */
export async function readerPath(
  browser: Browser,
  ownOrigin: string,
  name: string,
  run: (watched: WatchedPage) => Promise<void>,
  contextOptions?: BrowserContextOptions,
): Promise<void> {
  const watched = await openWatchedPage(browser, ownOrigin, contextOptions);
  try {
    await run(watched);
    assert.deepEqual(watched.problems, [], 'no console error or CSP violation on any page');
    assert.deepEqual(watched.foreignRequests, [], 'our pages load nothing from other sites');
  } finally {
    await mkdir(screenshotsDir, { recursive: true });
    await watched.page
      .screenshot({ path: path.join(screenshotsDir, `${name}.png`), fullPage: true })
      .catch(() => undefined);
    await watched.context.close();
  }
}

/** A picture of a page on the way (the path's last page is photographed by readerPath). */
export async function snapshot(page: Page, name: string): Promise<void> {
  await mkdir(screenshotsDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotsDir, `${name}.png`), fullPage: true });
}

export interface OutboxMail {
  file: string;
  to: string;
  subject: string;
  /** The decoded message, headers and every part. */
  text: string;
}

/** Quoted-printable and soft line breaks undone, so links and amounts read as sent. */
function decodeQuotedPrintable(raw: string): string {
  const joined = raw.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i += 1) {
    const hex = joined[i] === '=' ? /^[0-9A-F]{2}/.exec(joined.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A header's value, unfolded, with RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `?B?`) decoded. */
function header(head: string, name: string): string {
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const value = new RegExp(`^${name}: (.*)$`, 'im').exec(unfolded)?.[1] ?? '';
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_all, encoding: string, text: string) =>
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replace(/_/g, ' ')),
    )
    .trim();
}

/** The mail in the outbox to one address, oldest first (file names start with the time written). */
export async function mailTo(outboxDir: string, email: string): Promise<OutboxMail[]> {
  const files = (await readdir(outboxDir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.eml'))
    .sort();
  const out: OutboxMail[] = [];
  for (const file of files) {
    const raw = await readFile(path.join(outboxDir, file), 'utf8');
    const split = raw.search(/\r?\n\r?\n/);
    const head = raw.slice(0, split);
    const to = header(head, 'To');
    if (!to.toLowerCase().includes(email.toLowerCase())) continue;
    out.push({ file, to, subject: header(head, 'Subject'), text: decodeQuotedPrintable(raw.slice(split)) });
  }
  return out;
}

/** The manage link in a mail, as the reader would click it. */
export function manageLinkIn(mail: OutboxMail): string {
  const link = /https?:\/\/[^\s"<>]+\/manage\/[A-Za-z0-9._~-]+/.exec(mail.text)?.[0];
  assert.ok(link, `a manage link in "${mail.subject}"`);
  return link;
}
