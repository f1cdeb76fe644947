import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Donation, Rollup, Subscription, Supporter } from '../helpers/ledger.js';
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

  for (const provider of ['stripe', 'paypal'] as const) {
    test(`refunds a ${provider} renewal through our provider contract, and the ledger takes it off that renewal`, async () => {
      const renewal = await Donation.findOne({ provider, kind: 'recurring' }).sort({ occurredAt: -1 }).lean();
      if (provider === 'stripe')
        assert.match(renewal!.providerPaymentId, /^in_/, 'renewals are recorded under their invoice');
      const adapter = server.runtime.payments.providers[provider]!;
      const requestKey = `refund-${String(renewal!._id)}`;
      await adapter.refund(renewal!.providerPaymentId, { requestKey });
      await adapter.refund(renewal!.providerPaymentId, { requestKey });
      await server.runtime.payments.simulator!.idle();
      const after = await Donation.findById(renewal!._id).lean();
      assert.equal(after?.status, 'refunded');
      assert.equal(after?.refundedMinor, 500);
      const refunded = await Rollup.aggregate([
        { $match: { provider, zone: 'UTC' } },
        { $group: { _id: null, refunded: { $sum: '$refundedMinor' } } },
      ]);
      assert.equal(refunded[0]?.refunded, 500, 'refunded once, although asked twice with the same key');
    });
  }
});
