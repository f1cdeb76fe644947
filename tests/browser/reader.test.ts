/**
 * Every reader path end to end in Chromium, through the simulator's hosted pages: the panel's
 * presets and "Other" amount, card and PayPal, once and monthly, a declined card, the manage link
 * from the receipt in the outbox (change the amount, cancel), a new link asked for from /support,
 * the presets by keyboard alone. Each path ends with a screenshot in tests/browser/screenshots/
 * and passes only if no page logged a console error or CSP violation or loaded another site.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  launchChromium,
  mailTo,
  manageLinkIn,
  readerPath,
  snapshot,
  type WatchedPage,
} from './reader-helpers.js';

let server: TestServer;
let browser: Browser;
/** Another site (localhost while we are 127.0.0.1) whose page holds a copy of one of our forms. */
let foreign: http.Server;
let foreignPage = '';

before(async () => {
  server = await startTestServer();
  browser = await launchChromium();
  foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(foreignPage);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => foreign?.close(resolve));
  await server?.close();
});

const phone = { width: 390, height: 844 };
const longDate =
  /(January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4}/;

const path = (name: string, run: (w: WatchedPage) => Promise<void>, options?: BrowserContextOptions) =>
  readerPath(browser, server.baseUrl, name, run, options);

function plan(page: Page, name: 'Contributor' | 'Monthly Supporter'): Locator {
  return page.locator('form.plan').filter({ has: page.getByRole('heading', { name, exact: true }) });
}

/** Picks an amount the way a reader does: by clicking its button-looking label. */
async function chooseAmount(form: Locator, label: string): Promise<void> {
  await form.locator('label.amount-option', { hasText: label }).click();
  const radio = form.getByRole('radio', { name: new RegExp(`^${label.replace('$', '\\$')}\\b`) });
  assert.equal(await radio.isChecked(), true, `${label} is selected`);
}

async function chooseOther(form: Locator, amount: string): Promise<void> {
  await form.locator('label.amount-option', { hasText: 'Other' }).click();
  await form.getByLabel(/Your amount in USD/).fill(amount);
}

async function payOnStripe(page: Page, email: string, card = '4242 4242 4242 4242'): Promise<void> {
  await page.waitForURL(/\/c\/pay\/cs_/);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="cardNumber"]', card);
  await page.click('button[type="submit"]');
}

async function approveOnPayPal(page: Page, email: string): Promise<void> {
  await page.waitForURL(/\/checkoutnow|\/webapps\/billing\/subscriptions/);
  await page.fill('input[name="email"]', email);
  await page.click('button[type="submit"]');
}

async function thanked(page: Page, provider: 'stripe' | 'paypal'): Promise<string> {
  await page.waitForURL(new RegExp(`/donate/return/${provider}\\?`));
  assert.match(await page.locator('h1').innerText(), /Thank you for supporting/);
  return page.locator('main').innerText();
}

/** The receipts the test server mailed to a reader (background jobs are off in tests: run them). */
async function receiptsFor(email: string) {
  await server.runtime.payments.simulator!.idle();
  await server.runtime.receipts.sweep();
  return (await mailTo(server.outboxDir, email)).filter((m) => /receipt/i.test(m.subject));
}

async function scrollWidth(page: Page): Promise<number> {
  return page.evaluate<number>('document.documentElement.scrollWidth');
}

describe('a reader gives', () => {
  test('a preset amount once by card', { timeout: 60_000 }, async () => {
    await path('once-preset-card', async ({ page }) => {
      await page.goto(`${server.baseUrl}/support`);
      const contributor = plan(page, 'Contributor');
      assert.equal(
        await contributor.getByRole('radio', { name: /^\$5\b/ }).isChecked(),
        true,
        'the default preset is selected',
      );
      assert.equal(await contributor.getByLabel(/Your amount in USD/).isVisible(), false);
      await chooseAmount(contributor, '$10');
      await contributor.getByRole('button', { name: 'Card' }).click();
      assert.match(await page.locator('.amount').innerText(), /10\.00\sUSD/);
      await payOnStripe(page, 'once-card@example.com');
      assert.match(await thanked(page, 'stripe'), /contribution of \$10\.00 has been received/);
    });
  });

  test(
    'an "Other" amount once with PayPal, from the panel under an article, with JavaScript off',
    { timeout: 60_000 },
    async () => {
      await path(
        'once-other-paypal',
        async ({ page }) => {
          await page.goto(`${server.baseUrl}/`);
          await page.locator('main a[href^="/articles/"]').first().click();
          await page.waitForURL(/\/articles\//);
          const contributor = plan(page, 'Contributor');
          await chooseOther(contributor, '12.50');
          await contributor.getByRole('button', { name: 'PayPal' }).click();
          await page.waitForURL(/\/checkoutnow/);
          assert.match(await page.locator('.amount').innerText(), /12\.50\sUSD/);
          await approveOnPayPal(page, 'once-paypal@example.com');
          assert.match(await thanked(page, 'paypal'), /contribution of \$12\.50 has been received/);
        },
        { javaScriptEnabled: false },
      );
    },
  );

  test(
    'a preset amount each month with PayPal, told when the next payment is',
    { timeout: 60_000 },
    async () => {
      await path('monthly-preset-paypal', async ({ page }) => {
        await page.goto(`${server.baseUrl}/support`);
        const monthly = plan(page, 'Monthly Supporter');
        assert.match(
          await monthly.innerText(),
          /charged today and then on the same day each month\. Cancel any time, from the link in every receipt/,
        );
        await chooseAmount(monthly, '$20');
        await monthly.getByRole('button', { name: 'PayPal' }).click();
        await page.waitForURL(/\/webapps\/billing\/subscriptions/);
        assert.match(await page.locator('.amount').innerText(), /20\.00\sUSD/);
        await approveOnPayPal(page, 'monthly-paypal@example.com');
        const thanks = await thanked(page, 'paypal');
        assert.match(thanks, /monthly support of \$20\.00 is set up/);
        assert.match(thanks, /same day each month/);
        assert.match(thanks, new RegExp(`next payment on ${longDate.source}`));
      });
    },
  );

  test(
    'a refused amount keeps the reader’s choice, says why, and the corrected one goes through',
    {
      timeout: 60_000,
    },
    async () => {
      await path('monthly-refused-then-corrected', async ({ page }) => {
        await page.goto(`${server.baseUrl}/support`);
        let monthly = plan(page, 'Monthly Supporter');
        await chooseOther(monthly, '0.50');
        await monthly.getByRole('button', { name: 'Card' }).click();
        await page.waitForURL(/\/donate$/);
        monthly = plan(page, 'Monthly Supporter');
        assert.match(
          await monthly.getByRole('alert').innerText(),
          /Please choose an amount from \$2\.00 to \$500\.00/,
        );
        assert.equal(await monthly.getByRole('radio', { name: 'Other' }).isChecked(), true);
        const typed = monthly.getByLabel(/Your amount in USD/);
        assert.equal(await typed.inputValue(), '0.50');
        assert.equal(await typed.getAttribute('aria-invalid'), 'true');
        assert.equal(
          await plan(page, 'Contributor').getByRole('alert').count(),
          0,
          'the other plan is untouched',
        );

        await typed.fill('3');
        await monthly.getByRole('button', { name: 'Card' }).click();
        await page.waitForURL(/\/c\/pay\/cs_/);
        assert.match(await page.locator('.amount').innerText(), /3\.00\sUSD/);
        assert.match(await page.locator('.amount').innerText(), /per month/);
      });
    },
  );

  test('by card after a declined card, on the same payment page', { timeout: 60_000 }, async () => {
    await path('declined-then-paid', async ({ page }) => {
      await page.goto(`${server.baseUrl}/support`);
      await plan(page, 'Contributor').getByRole('button', { name: 'Card' }).click();
      await payOnStripe(page, 'declined@example.com', '4000 0000 0000 0002');
      assert.match(await page.locator('[role="alert"]').innerText(), /declined/);
      assert.match(page.url(), /\/c\/pay\/cs_/, 'still on the payment page');
      await payOnStripe(page, 'declined@example.com');
      assert.match(await thanked(page, 'stripe'), /contribution of \$5\.00 has been received/);
    });
  });
});

describe('a monthly supporter on a phone', () => {
  const email = 'phone-monthly@example.com';

  test(
    'gives an "Other" amount each month by card, then from the receipt’s link changes the amount and cancels',
    { timeout: 90_000 },
    async () => {
      await path(
        'monthly-other-card-manage-on-phone',
        async ({ page }) => {
          await page.goto(`${server.baseUrl}/support`);
          assert.ok((await scrollWidth(page)) <= phone.width, 'the support page fits the screen');
          const monthly = plan(page, 'Monthly Supporter');
          await chooseOther(monthly, '7');
          await monthly.getByRole('button', { name: 'Card' }).click();
          await payOnStripe(page, email);
          const thanks = await thanked(page, 'stripe');
          assert.match(thanks, /monthly support of \$7\.00 is set up/);
          assert.match(thanks, new RegExp(`next payment on ${longDate.source}`));

          const [receipt] = await receiptsFor(email);
          assert.ok(receipt, 'a receipt in the outbox');
          assert.match(receipt.text, /Content-Type: text\/plain/);
          assert.match(receipt.text, /Content-Type: text\/html/);
          for (const shown of [/\$7\.00/, longDate, /Monthly Supporter/, /Card \(Stripe\)/, /Reference/]) {
            assert.match(receipt.text, shown);
          }

          await page.goto(manageLinkIn(receipt));
          assert.match(await page.locator('h1').innerText(), /Your support/);
          assert.ok((await scrollWidth(page)) <= phone.width, 'the manage page fits a 390 px screen');
          const card = page.locator('.card', { hasText: 'a month' });
          assert.match(await card.innerText(), /\$7\.00 a month/);

          await card.getByLabel(/New monthly amount/).fill('9');
          await card.getByRole('button', { name: 'Change amount' }).click();
          await page.waitForURL(/notice=amount/);
          assert.match(
            await page.getByRole('status').innerText(),
            /new monthly amount applies from your next payment/,
          );
          assert.match(await page.locator('.card', { hasText: 'a month' }).innerText(), /\$9\.00 a month/);
          assert.ok((await scrollWidth(page)) <= phone.width);
          await snapshot(page, 'manage-page-on-phone');

          await page.getByRole('button', { name: 'Cancel monthly support' }).click();
          await page.waitForURL(/notice=cancelled/);
          assert.match(await page.getByRole('status').innerText(), /has been cancelled/);
          assert.match(await page.locator('main').innerText(), new RegExp(`ends on ${longDate.source}`));
          assert.equal(await page.getByRole('button', { name: 'Cancel monthly support' }).count(), 0);
          assert.ok((await scrollWidth(page)) <= phone.width);
        },
        { viewport: phone },
      );
    },
  );
});

describe('a supporter whose link is lost', () => {
  const email = 'new-link@example.com';

  test(
    'asks for a new one on /support: it arrives by email and the old link then says it has expired',
    {
      timeout: 60_000,
    },
    async () => {
      await path('new-link-from-support', async ({ page }) => {
        await page.goto(`${server.baseUrl}/support`);
        await plan(page, 'Contributor').getByRole('button', { name: 'Card' }).click();
        await payOnStripe(page, email);
        await thanked(page, 'stripe');
        const [receipt] = await receiptsFor(email);
        const oldLink = manageLinkIn(receipt!);
        await page.goto(oldLink);
        assert.match(await page.locator('h1').innerText(), /Your support/);
        // Links are dated to the second: ask for the new one in a later second than the old one.
        await new Promise((resolve) => setTimeout(resolve, 1100));

        const before = (await mailTo(server.outboxDir, email)).length;
        await page.goto(`${server.baseUrl}/support`);
        const form = page.locator('form.manage-link-form');
        await form.getByLabel('Your email address').fill(email);
        await form.getByRole('button', { name: 'Email me a link' }).click();
        await page.waitForURL(/\/manage\/link$/);
        assert.match(await page.locator('h1').innerText(), /Check your email/);
        assert.doesNotMatch(await page.locator('main').innerText(), /not found|unknown|no contributions/i);

        const mails = await mailTo(server.outboxDir, email);
        assert.equal(mails.length, before + 1, 'a new email in the outbox');
        const newLink = manageLinkIn(mails.at(-1)!);
        assert.notEqual(newLink, oldLink);

        const expired = await page.goto(oldLink);
        assert.equal(expired?.status(), 410);
        assert.equal(await page.locator('h1').innerText(), 'This link has expired');
        assert.equal(await page.locator('form.manage-link-form').count(), 1, 'with the way to get a new one');
        assert.ok(await page.locator('nav .section-nav').isVisible(), 'and the site navigation');
        assert.doesNotMatch(await page.locator('main').innerText(), /Not allowed/);

        await page.goto(newLink);
        assert.match(await page.locator('h1').innerText(), /Your support/);
        await page.goto(oldLink);
      });
    },
  );

  test(
    'the new-link form copied onto another site is refused and sends nothing',
    { timeout: 30_000 },
    async () => {
      const page = await browser.newPage();
      try {
        const before = (await mailTo(server.outboxDir, email)).length;
        foreignPage = `<!doctype html><title>Win a prize</title><form method="post" action="${server.baseUrl}/manage/link"><input type="hidden" name="email" value="${email}"><button>Claim</button></form>`;
        await page.goto(`http://localhost:${(foreign.address() as AddressInfo).port}/`);
        const [response] = await Promise.all([page.waitForNavigation(), page.click('button')]);
        assert.equal(response?.status(), 403);
        assert.match(await page.locator('main').innerText(), /only be sent from our own pages/);
        assert.equal((await mailTo(server.outboxDir, email)).length, before);
      } finally {
        await page.close();
      }
    },
  );
});

describe('a keyboard-only reader', () => {
  test(
    'chooses a preset and then an "Other" amount with the keyboard alone, and pays',
    { timeout: 60_000 },
    async () => {
      await path('keyboard-presets', async ({ page }) => {
        await page.goto(`${server.baseUrl}/support`);
        const contributor = plan(page, 'Contributor');
        const focusedId = () => page.evaluate<string>("document.activeElement?.id ?? ''");
        // Tab from the top of the page until the amount group: focus lands on the selected preset.
        for (let i = 0; i < 80 && !(await focusedId()).startsWith('amount-contributor-'); i += 1) {
          await page.keyboard.press('Tab');
        }
        assert.equal(await focusedId(), 'amount-contributor-500');
        const outline = await page.evaluate(
          'getComputedStyle(document.querySelector(\'label[for="amount-contributor-500"]\')).outlineStyle',
        );
        assert.equal(outline, 'solid', 'the focused amount shows a focus ring');

        await page.keyboard.press('ArrowRight');
        assert.equal(await contributor.getByRole('radio', { name: /^\$10\b/ }).isChecked(), true);
        await page.keyboard.press('ArrowRight');
        await page.keyboard.press('ArrowRight');
        assert.equal(await contributor.getByRole('radio', { name: 'Other' }).isChecked(), true);
        assert.equal(await contributor.getByLabel(/Your amount in USD/).isVisible(), true);
        await page.keyboard.press('Tab');
        assert.equal(await focusedId(), 'amount-contributor-other-amount');
        await page.keyboard.type('15');
        await page.keyboard.press('Tab');
        assert.equal(
          await page.evaluate<string | undefined>('document.activeElement?.textContent?.trim()'),
          'Card',
        );
        await page.keyboard.press('Enter');
        await page.waitForURL(/\/c\/pay\/cs_/);
        assert.match(await page.locator('.amount').innerText(), /15\.00\sUSD/);
      });
    },
  );
});

describe('pages a reader may land on by mistake', () => {
  test(
    'a payment return for a checkout we do not know claims nothing about money',
    { timeout: 30_000 },
    async () => {
      await path('unknown-return', async ({ page }) => {
        const res = await page.goto(
          `${server.baseUrl}/donate/return/stripe?ref=AAAAAAAAAAAAAAAAAAAAAA&session_id=cs_x`,
        );
        assert.equal(res?.status(), 404);
        assert.equal(await page.locator('h1').innerText(), 'We could not find this payment');
        assert.doesNotMatch(
          await page.locator('main').innerText(),
          /no money was taken|nothing was charged/i,
        );
      });
    },
  );

  test(
    'a page that does not exist keeps the site navigation and the favicon',
    { timeout: 30_000 },
    async () => {
      await path('not-found', async ({ page }) => {
        const res = await page.goto(`${server.baseUrl}/no-such-page`);
        assert.equal(res?.status(), 404);
        assert.equal(await page.locator('h1').innerText(), 'Page not found');
        const nav = page.locator('nav .section-nav');
        assert.ok(await nav.isVisible());
        assert.ok((await nav.getByRole('link').count()) > 1);
        const icon = await page.locator('link[rel="icon"]').getAttribute('href');
        assert.equal(icon, '/static/favicon.svg');
        const fetched = await page.request.get(new URL(icon, server.baseUrl).toString());
        assert.equal(fetched.status(), 200);
        assert.match(fetched.headers()['content-type'] ?? '', /image\/svg\+xml/);
      });
    },
  );
});
