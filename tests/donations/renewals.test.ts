import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { Donation, Rollup, Subscription, Supporter } from '../../src/supporters/models.js';
import { getPage, submitHostedPage } from '../helpers/hosted-pages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

async function startMonthly(provider: 'stripe' | 'paypal', email: string) {
  const res = await fetch(`${server.baseUrl}/donate`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ plan: 'monthly-supporter', provider }).toString(),
  });
  const done = await submitHostedPage(res.headers.get('location')!, { email });
  await getPage(done.location!);
}

before(async () => {
  server = await startTestServer();
  await startMonthly('stripe', 'card-renewal@example.com');
  await startMonthly('paypal', 'paypal-renewal@example.com');
  await server.runtime.payments.simulator!.idle();
  await server.runtime.payments.simulator!.advanceDays(31);
  await server.runtime.payments.simulator!.idle();
});
after(() => server.close());

describe('renewals', () => {
  test('records each renewal once and credits it to the subscriber', async () => {
    for (const [provider, email] of [
      ['stripe', 'card-renewal@example.com'],
      ['paypal', 'paypal-renewal@example.com'],
    ] as const) {
      const supporter = await Supporter.findOne({ email }).lean();
      const payments = await Donation.find({ provider, kind: 'recurring' }).lean();
      assert.equal(payments.length, 2, `${provider}: first payment and one renewal`);
      assert.ok(payments.every((p) => String(p.supporterId) === String(supporter?._id)));
      assert.deepEqual(supporter?.totals, { USD: 1000 });
      const sub = await Subscription.findOne({ provider }).lean();
      assert.equal(sub?.status, 'active');
    }
  });

  test('applies a refund of a Stripe renewal to that renewal, found through its invoice', async () => {
    const renewal = await Donation.findOne({ provider: 'stripe', kind: 'recurring' })
      .sort({ occurredAt: -1 })
      .lean();
    assert.match(renewal!.providerPaymentId, /^in_/);
    const sim = server.runtime.payments.simulator!;
    const stripe = new Stripe(sim.secrets.stripeSecretKey, {
      host: sim.stripe.host,
      port: sim.stripe.port,
      protocol: 'http',
    });
    const payments = await stripe.invoicePayments.list({ invoice: renewal!.providerPaymentId });
    const paymentIntent = payments.data[0]!.payment.payment_intent as string;
    await stripe.refunds.create({ payment_intent: paymentIntent });
    await sim.idle();
    const after = await Donation.findById(renewal!._id).lean();
    assert.equal(after?.status, 'refunded');
    assert.equal(after?.refundedMinor, 500);
    const refunded = await Rollup.aggregate([
      { $match: { provider: 'stripe' } },
      { $group: { _id: null, refunded: { $sum: '$refundedMinor' } } },
    ]);
    assert.equal(refunded[0]?.refunded, 500);
  });
});
