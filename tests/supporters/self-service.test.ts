import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subscription, Supporter, rollupSum } from '../helpers/ledger.js';
import { submitHostedPage, getPage } from '../helpers/hosted-pages.js';
import { manageLinkFor, readOutbox } from '../helpers/outbox.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

const post = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });

/** Starts monthly support through the simulator and returns the manage link from the supporter's receipt. */
async function monthly(provider: 'stripe' | 'paypal', email: string, amount = '5'): Promise<string> {
  const start = await post(`${server.baseUrl}/donate`, { plan: 'monthly-supporter', provider, amount });
  const approved = await submitHostedPage(start.headers.get('location')!, { email });
  await getPage(approved.location!);
  await server.runtime.payments.simulator!.idle();
  assert.ok(await Supporter.exists({ email }), `${email} is a supporter`);
  await server.runtime.receipts.sweep();
  const link = await manageLinkFor(server.outboxDir, email);
  assert.ok(link, `a receipt with a manage link went to ${email}`);
  return link;
}

function form(html: string, action: RegExp) {
  const match = new RegExp(`<form method="post" action="([^"]*${action.source}[^"]*)"`).exec(html);
  assert.ok(match, `a form posting to ${action}`);
  const formToken = /name="formToken" value="([^"]+)"/.exec(html)![1]!;
  return { action: `${server.baseUrl}${match[1]!}`, formToken };
}

async function subscriptionOf(email: string) {
  const supporter = await Supporter.findOne({ email }).lean();
  return Subscription.findOne({ supporterId: supporter!._id }).lean();
}

before(async () => {
  server = await startTestServer({
    donations: {
      rateLimits: {
        perIp: { points: 30, durationSeconds: 600 },
        perEmail: { points: 3, durationSeconds: 600 },
      },
    },
  });
});
after(() => server.close());

describe('manage link', () => {
  test('lists the supporter’s monthly support with change and cancel forms, privately', async () => {
    const url = await monthly('paypal', 'monthly@example.com');
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'private, no-store');
    assert.equal(res.headers.get('referrer-policy'), 'same-origin');
    const html = await res.text();
    assert.match(html, /monthly@example\.com/);
    assert.match(html, /Cancel monthly support/);
    assert.match(html, /Change amount/);
    assert.match(html, /next payment on/);
  });

  test('says an altered link is not valid and an outdated one has expired, each with the way to get a new one', async () => {
    const url = await monthly('paypal', 'links@example.com');
    const altered = url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const bad = await fetch(altered, { headers: { accept: 'text/html' } });
    assert.equal(bad.status, 404);
    assert.match(await bad.text(), /This link is not valid[\s\S]*Email me a link/);
    const supporter = await Supporter.findOne({ email: 'links@example.com' }).lean();
    const old = server.runtime.manageLinks.tokenFor(
      String(supporter!._id),
      new Date(Date.now() - 40 * 86_400_000),
    );
    const res = await fetch(`${server.baseUrl}/manage/${old}`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 410);
    const page = await res.text();
    assert.match(page, /This link has expired/);
    assert.match(page, /action="\/manage\/link"/);
    assert.doesNotMatch(page, /Not allowed/);
  });

  test('refuses a cancel without the form token', async () => {
    const url = await monthly('paypal', 'no-token@example.com');
    const sub = await subscriptionOf('no-token@example.com');
    const res = await post(`${url}/subscriptions/${String(sub!._id)}/cancel`, {});
    assert.equal(res.status, 403);
    assert.equal((await Subscription.findById(sub!._id).lean())?.status, 'active');
  });

  test('ends PayPal support at the end of the paid period: cancelled at PayPal, churn on that day, "ends on" shown and mailed, the link rotated', async () => {
    const url = await monthly('paypal', 'leaving@example.com');
    const before = await subscriptionOf('leaving@example.com');
    const endsOn = before!.currentPeriodEnd!;
    assert.ok(endsOn > new Date(), 'the paid period runs into the future');
    const { action, formToken } = form(await (await fetch(url)).text(), /\/cancel/);
    const res = await post(action, { formToken });
    assert.equal(res.status, 303);
    const fresh = `${server.baseUrl}${res.headers.get('location')!}`;
    assert.notEqual(fresh.split('?')[0], url, 'a destructive action rotates the link');
    const sub = await subscriptionOf('leaving@example.com');
    assert.deepEqual(sub?.endsAt, endsOn);
    const atPayPal = await server.runtime.payments.providers.paypal!.resolveCheckout(
      sub.providerSubscriptionId,
      'month',
    );
    assert.notEqual(atPayPal.status, 'paid', 'PayPal no longer bills it');
    const page = await (await fetch(fresh)).text();
    assert.match(page, /has been cancelled/);
    assert.match(page, /ends on/);
    assert.doesNotMatch(page, /Cancel monthly support<\/button>/);
    assert.equal(
      (await fetch(url, { headers: { accept: 'text/html' } })).status,
      410,
      'the old link no longer works',
    );
    const day = endsOn.toISOString().slice(0, 10);
    assert.equal(
      await rollupSum('mrrChurnMinor', { day, provider: 'paypal' }),
      500,
      'churn counts on the day support ends',
    );
    const mails = await readOutbox(server.outboxDir);
    assert.ok(mails.some((m) => /leaving@example\.com/.test(m.to) && /ends on/.test(m.subject)));
  });

  test('asks Stripe to cancel at the period end, and the subscription stays active until then', async () => {
    const url = await monthly('stripe', 'card-leaving@example.com');
    const { action, formToken } = form(await (await fetch(url)).text(), /\/cancel/);
    assert.equal((await post(action, { formToken })).status, 303);
    await server.runtime.payments.simulator!.idle();
    const sub = await subscriptionOf('card-leaving@example.com');
    assert.equal(sub?.status, 'active');
    assert.ok(sub?.endsAt && sub.endsAt > new Date());
  });

  test('changes the monthly amount from the next period on, within the plan’s bounds, and the next renewal takes it', async () => {
    for (const provider of ['stripe', 'paypal'] as const) {
      const email = `${provider}-more@example.com`;
      const url = await monthly(provider, email);
      const sub = await subscriptionOf(email);
      const html = await (await fetch(url)).text();
      const { action, formToken } = form(html, /\/amount/);
      const tooMuch = await post(action, { formToken, amount: '999999' }, { accept: 'text/html' });
      assert.equal(tooMuch.status, 400);
      assert.match(await tooMuch.text(), /from \$2\.00 to \$500\.00/);
      const res = await post(action, { formToken, amount: '12' });
      assert.equal(res.status, 303, provider);
      assert.equal((await Subscription.findById(sub!._id).lean())?.amountMinor, 1200);
      const mails = await readOutbox(server.outboxDir);
      assert.ok(
        mails.some((m) => m.to.includes(email) && /is now \$12\.00/.test(m.subject)),
        provider,
      );
    }
    const expansion = await rollupSum('mrrExpansionMinor');
    assert.equal(expansion, 2 * 700, 'each change is an expansion of MRR');
    await server.runtime.payments.simulator!.advanceDays(32);
    await server.runtime.payments.simulator!.idle();
    for (const provider of ['stripe', 'paypal'] as const) {
      const supporter = await Supporter.findOne({ email: `${provider}-more@example.com` }).lean();
      assert.deepEqual(supporter?.totals, { USD: 500 + 1200 }, `${provider}: the renewal is the new amount`);
    }
  });

  test('downloads a receipt for one of the supporter’s own donations', async () => {
    const url = await monthly('paypal', 'receipt@example.com');
    const html = await (await fetch(url)).text();
    const link = /href="(\/manage\/[^"]+\/receipts\/[a-f0-9]{24})"/.exec(html);
    assert.ok(link, 'a receipt link is listed');
    const res = await fetch(`${server.baseUrl}${link[1]}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="?receipt-/);
    assert.match(await res.text(), /Amount:\s+\$5\.00/);
  });
});

describe('a new manage link by email', () => {
  test('mails a fresh link that replaces the old one, and answers the same for an unknown address', async () => {
    const url = await monthly('paypal', 'forgetful@example.com');
    const toHer = async () =>
      (await readOutbox(server.outboxDir)).filter((m) => m.to.includes('forgetful@example.com'));
    const before = (await toHer()).length;
    const known = await post(
      `${server.baseUrl}/manage/link`,
      { email: 'Forgetful@Example.com' },
      { accept: 'text/html' },
    );
    const unknown = await post(
      `${server.baseUrl}/manage/link`,
      { email: 'nobody@example.com' },
      { accept: 'text/html' },
    );
    assert.equal(known.status, 200);
    assert.equal(unknown.status, 200);
    const [knownText, unknownText] = [await known.text(), await unknown.text()];
    assert.equal(
      knownText.replace(/Forgetful@Example\.com|nobody@example\.com/gi, ''),
      unknownText.replace(/Forgetful@Example\.com|nobody@example\.com/gi, ''),
      'the page never says whether the address is known',
    );
    const mails = await toHer();
    assert.equal(mails.length, before + 1, 'one email, to the known address');
    assert.ok(!(await readOutbox(server.outboxDir)).some((m) => m.to.includes('nobody@example.com')));
    const link = /https?:\/\/\S+\/manage\/[A-Za-z0-9._-]+/.exec(mails.at(-1)!.text)![0];
    assert.equal((await fetch(link)).status, 200);
    assert.equal(
      (await fetch(url, { headers: { accept: 'text/html' } })).status,
      410,
      'the older link is revoked',
    );
  });

  test('limits requests per address, plus-addressing and case included', async () => {
    let last: Response | undefined;
    for (const email of [
      'Limit@example.com',
      'limit+1@example.com',
      'LIMIT+2@EXAMPLE.COM',
      'limit@example.com',
    ]) {
      last = await post(`${server.baseUrl}/manage/link`, { email }, { accept: 'text/html' });
    }
    assert.equal(last!.status, 429);
  });
});

describe('card-testing protection', () => {
  test('answers 429 with a readable page once an address has used up its attempts, whatever its case or plus tag', async () => {
    let last: Response | undefined;
    for (const email of [
      'tester@example.com',
      'Tester+a@example.com',
      'TESTER+b@example.com',
      'tester@example.com',
    ]) {
      last = await post(`${server.baseUrl}/donate`, {
        plan: 'contributor',
        provider: 'stripe',
        amount: '5',
        email,
      });
    }
    assert.equal(last!.status, 429);
    assert.ok(Number(last!.headers.get('retry-after')) > 0);
    assert.match(await last!.text(), /Too many attempts/);
  });
});
