import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subscription, Supporter } from '../../src/supporters/models.js';
import { submitHostedPage, getPage } from '../helpers/hosted-pages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let manageUrl: string;

const post = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });

before(async () => {
  server = await startTestServer({
    donations: {
      rateLimits: {
        perIp: { points: 3, durationSeconds: 600 },
        perEmail: { points: 2, durationSeconds: 600 },
      },
    },
  });
  const start = await post(`${server.baseUrl}/donate`, { plan: 'monthly-supporter', provider: 'paypal' });
  const approved = await submitHostedPage(start.headers.get('location')!, { email: 'monthly@example.com' });
  await getPage(approved.location!);
  await server.runtime.payments.simulator!.idle();
  const supporter = await Supporter.findOne({ email: 'monthly@example.com' }).lean();
  assert.ok(supporter);
  manageUrl = `${server.baseUrl}/manage/${server.runtime.manageLinks.tokenFor(String(supporter._id))}`;
});
after(() => server.close());

describe('manage link', () => {
  test('lists the supporter’s monthly support with a cancel form, privately', async () => {
    const res = await fetch(manageUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'private, no-store');
    assert.equal(res.headers.get('referrer-policy'), 'same-origin');
    const html = await res.text();
    assert.match(html, /monthly@example\.com/);
    assert.match(html, /Cancel monthly support/);
  });

  test('refuses an altered or expired link', async () => {
    const altered = manageUrl.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assert.equal((await fetch(altered)).status, 403);
    const supporter = await Supporter.findOne({ email: 'monthly@example.com' }).lean();
    const old = server.runtime.manageLinks.tokenFor(
      String(supporter!._id),
      new Date(Date.now() - 40 * 86_400_000),
    );
    const res = await fetch(`${server.baseUrl}/manage/${old}`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /no longer valid/);
  });

  test('refuses a cancel without the form token', async () => {
    const sub = await Subscription.findOne({}).lean();
    const res = await post(`${manageUrl}/subscriptions/${String(sub!._id)}/cancel`, {});
    assert.equal(res.status, 403);
    assert.equal((await Subscription.findById(sub!._id).lean())?.status, 'active');
  });

  test('cancels the monthly plan at PayPal, then records it', async () => {
    const html = await (await fetch(manageUrl)).text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!;
    const formToken = /name="formToken" value="([^"]+)"/.exec(html)![1]!;
    const res = await post(`${server.baseUrl}${action}`, { formToken });
    assert.equal(res.status, 303);
    const sub = await Subscription.findOne({}).lean();
    assert.equal(sub?.status, 'cancelled');
    const provider = server.runtime.payments.providers.paypal!;
    const outcome = await provider.completeReturn({ subscription_id: sub!.providerSubscriptionId });
    assert.notEqual(outcome.status, 'paid', 'PayPal no longer reports it active');
    const after = await (await fetch(`${manageUrl}?cancelled=1`)).text();
    assert.match(after, /has been cancelled/);
    assert.doesNotMatch(after, /Cancel monthly support<\/button>/);
  });

  test('downloads a receipt for one of the supporter’s own donations', async () => {
    const html = await (await fetch(manageUrl)).text();
    const link = /href="(\/manage\/[^"]+\/receipts\/[a-f0-9]{24})"/.exec(html);
    assert.ok(link, 'a receipt link is listed');
    const res = await fetch(`${server.baseUrl}${link[1]}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="?receipt-/);
    assert.match(await res.text(), /Amount:\s+\$5\.00/);
  });
});

describe('card-testing protection', () => {
  test('answers 429 with a readable page once an address has used up its attempts', async () => {
    let last: Response | undefined;
    for (let i = 0; i < 4; i += 1) {
      last = await post(`${server.baseUrl}/donate`, { plan: 'contributor', provider: 'stripe', amount: '5' });
    }
    assert.equal(last!.status, 429);
    assert.ok(Number(last!.headers.get('retry-after')) > 0);
    assert.match(await last!.text(), /Too many attempts/);
  });
});
