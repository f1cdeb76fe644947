import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Checkout, Donation, Supporter } from '../helpers/ledger.js';
import { submitHostedPage } from '../helpers/hosted-pages.js';
import { readOutbox } from '../helpers/outbox.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

async function donate(fields: Record<string, string>) {
  const res = await fetch(`${server.baseUrl}/donate`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  assert.equal(res.status, 303);
  return res.headers.get('location')!;
}

describe('a reader who approves at PayPal and never comes back', () => {
  test('is captured from the approval webhook (PayPal Orders v2: CHECKOUT.ORDER.APPROVED, capture with PayPal-Request-Id), with supporter and receipt', async () => {
    const location = await donate({ plan: 'contributor', provider: 'paypal', amount: '7' });
    // Approves on PayPal's page, then closes the tab: the return URL is never opened.
    const approved = await submitHostedPage(location, { email: 'closed-the-tab@example.com' });
    assert.ok(approved.location);
    await server.runtime.payments.simulator!.idle();
    const donation = await Donation.findOne({ provider: 'paypal', amountMinor: 700 }).lean();
    assert.ok(donation, 'the approved gift was captured and recorded');
    const supporter = await Supporter.findOne({ email: 'closed-the-tab@example.com' }).lean();
    assert.equal(String(donation.supporterId), String(supporter?._id));
    await server.runtime.receipts.sweep();
    assert.ok((await readOutbox(server.outboxDir)).some((m) => m.to.includes('closed-the-tab@example.com')));
    assert.equal((await Checkout.findOne({ amountMinor: 700 }).lean())?.state, 'completed');
  });

  test('is captured by the sweep a few minutes later when the approval webhook never arrives', async () => {
    const simulator = server.runtime.payments.simulator!;
    simulator.setWebhookTargets({ paypal: 'http://127.0.0.1:9/lost' });
    try {
      const location = await donate({ plan: 'contributor', provider: 'paypal', amount: '8' });
      await submitHostedPage(location, { email: 'lost-webhook@example.com' });
      assert.equal(await Donation.countDocuments({ amountMinor: 800 }), 0, 'nothing arrived yet');
      // Too early: a reader may still be on their way back.
      assert.equal(await server.runtime.donations.sweepOnce(new Date()), 0);
      const later = new Date(Date.now() + 6 * 60_000);
      assert.equal(await server.runtime.donations.sweepOnce(later), 1);
      assert.equal(
        await server.runtime.donations.sweepOnce(later),
        0,
        'one check per due time, however many sweeps run',
      );
      const donation = await Donation.findOne({ amountMinor: 800 }).lean();
      assert.ok(donation, 'captured by the sweep');
      assert.ok(await Supporter.exists({ email: 'lost-webhook@example.com' }));
      assert.equal((await Checkout.findOne({ amountMinor: 800 }).lean())?.state, 'completed');
    } finally {
      simulator.setWebhookTargets({ paypal: `${server.baseUrl}/webhooks/paypal` });
    }
  });

  test('records a Stripe payment whose webhooks were lost when the sweep asks about the session', async () => {
    const simulator = server.runtime.payments.simulator!;
    simulator.setWebhookTargets({ stripe: 'http://127.0.0.1:9/lost' });
    try {
      const location = await donate({ plan: 'contributor', provider: 'stripe', amount: '9' });
      await submitHostedPage(location, { email: 'stripe-lost@example.com' });
      await server.runtime.donations.sweepOnce(new Date(Date.now() + 6 * 60_000));
      assert.equal(await Donation.countDocuments({ provider: 'stripe', amountMinor: 900 }), 1);
    } finally {
      simulator.setWebhookTargets({ stripe: `${server.baseUrl}/webhooks/stripe` });
    }
  });
});
