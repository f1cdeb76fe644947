import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Checkout } from '../helpers/ledger.js';
import { Donation, LedgerEntry, Subscription, Supporter } from '../helpers/ledger.js';
import { cancelLink, getPage, submitHostedPage } from '../helpers/hosted-pages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readOutbox } from '../helpers/outbox.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(() => server.close());

async function donate(fields: Record<string, string>) {
  const res = await fetch(`${server.baseUrl}/donate`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: server.baseUrl,
      'sec-fetch-site': 'same-origin',
    },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

async function followReturn(location: string | null) {
  assert.ok(location, 'the provider redirects back to us');
  assert.ok(location.startsWith(server.baseUrl), `returns to the app, not ${location}`);
  return getPage(location);
}

describe('one-off contribution by card (Stripe Checkout)', () => {
  test('takes the reader to Stripe, thanks them, and records the payment once', async () => {
    const start = await donate({ plan: 'contributor', provider: 'stripe', currency: 'USD', amount: '' });
    assert.equal(start.status, 303);
    assert.match(start.location!, /\/c\/pay\/cs_/);

    const paid = await submitHostedPage(start.location!, {
      email: 'Ada@Example.com',
      cardNumber: '4242 4242 4242 4242',
      name: 'Ada Lovelace',
    });
    const thanks = await followReturn(paid.location);
    assert.equal(thanks.status, 200);
    assert.match(thanks.html, /Thank you for supporting/);
    assert.match(thanks.html, /\$5\.00/);
    assert.match(thanks.html, /Contributor/);

    const reload = await followReturn(paid.location);
    assert.equal(reload.status, 200);
    await server.runtime.payments.simulator!.idle();

    const donations = await Donation.find({ provider: 'stripe' }).lean();
    assert.equal(donations.length, 1);
    assert.equal(donations[0]!.amountMinor, 500);
    assert.equal(donations[0]!.currency, 'USD');
    assert.equal(donations[0]!.planId, 'contributor');
    assert.match(donations[0]!.providerPaymentId, /^pi_/);
    const supporter = await Supporter.findOne({ email: 'ada@example.com' }).lean();
    assert.deepEqual(supporter?.totals, { USD: 500 });
  });

  test('carries the article whose panel the reader gave from through the checkout into the ledger and the report', async () => {
    const article = 'coastal-marsh-returns-after-sea-wall-is-opened';
    const start = await donate({
      plan: 'contributor',
      provider: 'stripe',
      currency: 'USD',
      amount: '',
      article,
    });
    assert.equal(start.status, 303);
    const paid = await submitHostedPage(start.location!, {
      email: 'from.article@example.com',
      cardNumber: '4242 4242 4242 4242',
    });
    assert.equal((await followReturn(paid.location)).status, 200);
    await server.runtime.payments.simulator!.idle();
    const donation = await Donation.findOne({ provider: 'stripe', articleSlug: article }).lean();
    assert.ok(donation, 'the payment names its article');
    const entry = await LedgerEntry.findOne({ donationId: donation._id, type: 'payment' }).lean();
    assert.equal(entry?.articleSlug, article);
    await server.runtime.runJobsOnce();
    const today = new Date().toISOString().slice(0, 10);
    const report = await server.runtime.reports.service.report({
      from: today,
      to: today,
      zone: 'UTC',
      granularity: 'day',
    });
    const attributed = report.attribution.find((a) => a.articleSlug === article);
    assert.equal(attributed?.payments, 1);
    assert.deepEqual(attributed?.byCurrency, [{ currency: 'USD', payments: 1, grossMinor: 500 }]);
  });

  test('records the payment once when the webhook arrives before the reader returns', async () => {
    const start = await donate({ plan: 'contributor', provider: 'stripe', currency: 'USD', amount: '9' });
    const paid = await submitHostedPage(start.location!, { email: 'webhook-first@example.com' });
    // The reader's browser is slow; the provider's webhook gets there first.
    await server.runtime.payments.simulator!.idle();
    assert.equal(await Donation.countDocuments({ amountMinor: 900 }), 1);
    const thanks = await followReturn(paid.location);
    assert.match(thanks.html, /\$9\.00/);
    assert.equal(await Donation.countDocuments({ amountMinor: 900 }), 1);
  });

  test('shows the decline on the card page and records nothing', async () => {
    const before = await Donation.countDocuments();
    const start = await donate({ plan: 'contributor', provider: 'stripe', currency: 'USD' });
    const declined = await submitHostedPage(start.location!, { cardNumber: '4000 0000 0000 0002' });
    assert.equal(declined.location, null);
    assert.match(declined.html, /declined/i);
    assert.equal(await Donation.countDocuments(), before);
  });
});

describe('one-off contribution by PayPal (Orders v2)', () => {
  test('captures the approved order on return and records the custom amount', async () => {
    const start = await donate({ plan: 'contributor', provider: 'paypal', currency: 'USD', amount: '12.50' });
    assert.equal(start.status, 303);
    const approved = await submitHostedPage(start.location!, { email: 'grace@example.com' });
    const thanks = await followReturn(approved.location);
    assert.equal(thanks.status, 200);
    assert.match(thanks.html, /\$12\.50/);
    assert.match(thanks.html, /PayPal/);
    await followReturn(approved.location);
    await server.runtime.payments.simulator!.idle();
    const donations = await Donation.find({ provider: 'paypal', kind: 'one_off' }).lean();
    assert.equal(donations.length, 1);
    assert.equal(donations[0]!.amountMinor, 1250);
  });

  test('changes nothing when the reader leaves the approval page, and hands the browser no checkout id', async () => {
    const start = await donate({ plan: 'contributor', provider: 'paypal', currency: 'USD' });
    const page = await getPage(start.location!);
    const cancel = new URL(cancelLink(page.html));
    assert.equal(cancel.searchParams.get('checkout'), null);
    assert.match(cancel.searchParams.get('ref') ?? '', /^[A-Za-z0-9_-]{22}$/);
    const checkout = await Checkout.findOne({ ref: cancel.searchParams.get('ref') }).lean();
    const back = await getPage(cancel.href);
    assert.equal(back.status, 200);
    assert.match(back.html, /No payment was made/);
    assert.equal(
      (await Checkout.findById(checkout!._id).lean())?.state,
      'redirected',
      'a GET changes nothing',
    );
  });

  test('answers a return link that is not one of ours with a 404 page, without asking PayPal', async () => {
    const before = server.runtime.payments.simulator!.requestCount?.() ?? 0;
    for (const query of [
      '',
      '?token=5O190127TN364715T',
      '?token[$ne]=',
      '?ref=AAAAAAAAAAAAAAAAAAAAAA&token=5O190127TN364715T',
    ]) {
      const res = await getPage(`${server.baseUrl}/donate/return/paypal${query}`);
      assert.equal(res.status, 404, query);
      assert.match(res.html, /could not find this payment/);
      assert.doesNotMatch(res.html, /No money was taken/);
    }
    assert.equal(
      server.runtime.payments.simulator!.requestCount?.() ?? 0,
      before,
      'no provider call was made',
    );
  });
});

describe('monthly support', () => {
  test('activates a PayPal subscription on return, with a plan provisioned once', async () => {
    for (const email of ['m1@example.com', 'm2@example.com']) {
      const start = await donate({ plan: 'monthly-supporter', provider: 'paypal', currency: 'USD' });
      assert.equal(start.status, 303);
      const approved = await submitHostedPage(start.location!, { email });
      const thanks = await followReturn(approved.location);
      assert.match(thanks.html, /monthly support of <strong>\$5\.00<\/strong> is set up/);
    }
    await server.runtime.payments.simulator!.idle();
    const subs = await Subscription.find({ provider: 'paypal' }).lean();
    assert.equal(subs.length, 2);
    assert.ok(
      subs.every((s) => s.status === 'active' && s.amountMinor === 500 && s.planId === 'monthly-supporter'),
    );
    const { PayPalPlan } = await import('../../src/payments/paypal/plan-store.js');
    assert.equal(await PayPalPlan.countDocuments(), 1);
  });

  test('starts a Stripe subscription and records its first invoice', async () => {
    const start = await donate({
      plan: 'monthly-supporter',
      provider: 'stripe',
      currency: 'USD',
      amount: '8',
    });
    const paid = await submitHostedPage(start.location!, { email: 'card-monthly@example.com' });
    const thanks = await followReturn(paid.location);
    assert.match(thanks.html, /\$8\.00/);
    await server.runtime.payments.simulator!.idle();
    const sub = await Subscription.findOne({ provider: 'stripe' }).lean();
    assert.equal(sub?.status, 'active');
    const invoices = await Donation.find({ provider: 'stripe', kind: 'recurring' }).lean();
    assert.equal(invoices.length, 1);
    assert.equal(invoices[0]!.amountMinor, 800);
  });
});

describe('refused donation forms', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'an amount below the plan minimum',
      { plan: 'contributor', provider: 'stripe', amount: '0.01' },
      /from \$1\.00/,
    ],
    [
      'an amount above the plan maximum',
      { plan: 'contributor', provider: 'stripe', amount: '99999' },
      /to \$1,000\.00/,
    ],
    [
      'an amount with too many decimals',
      { plan: 'contributor', provider: 'stripe', amount: '5.001' },
      /as a number/,
    ],
    ['an unknown plan', { plan: 'gold', provider: 'stripe' }, /one of the plans/],
    ['an unknown provider', { plan: 'contributor', provider: 'bitcoin' }, /can be paid with/],
    [
      'a currency the plan does not offer',
      { plan: 'contributor', provider: 'stripe', currency: 'EUR' },
      /USD only/,
    ],
  ];
  for (const [what, fields, message] of cases) {
    test(`re-renders the panel with a message for ${what} and writes nothing`, async () => {
      const checkouts = await Checkout.countDocuments();
      const res = await donate(fields);
      assert.equal(res.status, 400);
      assert.match(res.html, message);
      assert.match(res.html, /class="donation-panel"/);
      assert.equal(await Checkout.countDocuments(), checkouts);
    });
  }

  test('refuses a filled honeypot without starting a checkout', async () => {
    const checkouts = await Checkout.countDocuments();
    const res = await donate({ plan: 'contributor', provider: 'stripe', website: 'http://spam.example' });
    assert.equal(res.status, 400);
    assert.equal(await Checkout.countDocuments(), checkouts);
  });

  test('refuses a cross-site post with 403', async () => {
    const res = await fetch(`${server.baseUrl}/donate`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
      body: 'plan=contributor&provider=stripe',
    });
    assert.equal(res.status, 403);
  });
});

describe('receipts', () => {
  test('writes a thank-you email with the receipt and a manage link to the outbox', async () => {
    await server.runtime.receipts.sweep();
    const mails = await readOutbox(server.outboxDir);
    const ada = mails.find((m) => /ada@example\.com/i.test(m.to));
    assert.ok(ada, 'a receipt went to the first supporter');
    assert.match(ada.text, /Amount:\s+\$5\.00/);
    assert.match(ada.text, /Reference:\s+pi_/);
    assert.match(ada.text, new RegExp(`${server.baseUrl}/manage/[a-f0-9]{24}\\.\\d+\\.\\d+\\.`));
    assert.match(ada.text, /<table/, 'an HTML part beside the text');
    const donation = await Donation.findOne({ providerPaymentId: /^pi_/ }).lean();
    assert.equal(donation?.receipt?.status, 'sent');
  });
});

describe('reconciliation', () => {
  test('finds every provider payment in the ledger, subscription payments under their invoice', async () => {
    await server.runtime.payments.simulator!.idle();
    const report = await server.runtime.webhooks.reconcile({ days: 1 });
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.mismatched, []);
    assert.equal(report.clean, true);
  });
});
