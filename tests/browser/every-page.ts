/**
 * For the browser tests that open their own contexts: every page they open is watched for console
 * errors, uncaught exceptions and CSP violations (the test fails on any), and each test ends with a
 * picture of the page it finished on, tests/browser/screenshots/<file>-<test>.png, taken also when
 * the test fails so the picture shows where.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { screenshotsDir, watchForProblems } from './reader-helpers.js';

const slug = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);

export interface EveryPage {
  /** The browser with every new context watched; call once, right after launching it. */
  watch(browser: Browser, ownOrigin: () => string): Browser;
}

export function watchEveryPage(file: string): EveryPage {
  let current = file;
  let problems: string[] = [];
  let open: BrowserContext[] = [];
  let pictures = 0;

  async function photograph(context: BrowserContext): Promise<void> {
    const page = context.pages().at(-1);
    if (!page || page.isClosed()) return;
    pictures += 1;
    const name = `${file}-${current}${pictures > 1 ? `-${pictures}` : ''}.png`;
    await mkdir(screenshotsDir, { recursive: true });
    await page.screenshot({ path: path.join(screenshotsDir, name), fullPage: true }).catch(() => undefined);
  }

  beforeEach((t) => {
    current = slug(t.name);
    problems = [];
    open = [];
    pictures = 0;
  });
  afterEach(async () => {
    for (const context of open) await photograph(context);
    open = [];
    assert.deepEqual(problems, [], 'no console error or CSP violation on any page');
  });

  return {
    watch(browser, ownOrigin) {
      const newContext = browser.newContext.bind(browser);
      browser.newContext = async (options) => {
        const context = await newContext(options);
        open.push(context);
        const seen = problems;
        context.on('page', (page) => watchForProblems(page, ownOrigin(), seen));
        const close = context.close.bind(context);
        context.close = async (closeOptions) => {
          if (open.includes(context)) {
            open = open.filter((c) => c !== context);
            await photograph(context);
          }
          await close(closeOptions);
        };
        return context;
      };
      return browser;
    },
  };
}
