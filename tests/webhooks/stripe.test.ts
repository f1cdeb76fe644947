import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { Donation, Rollup, Subscription } from '../helpers/ledger.js';
import { WebhookEvent } from '../../src/webhooks/models.js';
import { startTestRuntime } from '../helpers/runtime.js';
import {
  deliverStripe,
  eventIdOf,
  paidSession,
  refundedCharge,
  signStripe,
  stripeEvent,
  stripeSecret,
  stripeSubscription,
  uid,
} from './helpers.js';

let runtime: Runtime;
let secret: string;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
  secret = stripeSecret(runtime);
  // These tests craft their own events; the simulator's own deliveries are not wanted here.
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
});
after(async () => {
  await runtime.stop();
});

const checkoutCompleted = (pi: string, extra: Parameters<typeof paidSession>[0] | object = {}) =>
  stripeEvent('checkout.session.completed', paidSession({ paymentIntent: pi, ...extra }));

describe('Stripe webhooks: verification', () => {
  it('rejects a delivery without a signature with 400 and stores nothing', async () => {
    const payload = checkoutCompleted(`pi_${uid()}`);
    const res = await request(runtime.app)
      .post('/webhooks/stripe')
      .set('Content-Type', 'application/json')
      .send(payload);
    assert.equal(res.status, 400);
    assert.equal(await WebhookEvent.countDocuments({ eventId: eventIdOf(payload) }), 0);
  });

  it('rejects a forged signature with 400 and records no payment', async () => {
    const pi = `pi_${uid()}`;
    const payload = checkoutCompleted(pi);
    const res = await request(runtime.app)
      .post('/webhooks/stripe')
      .set('Content-Type', 'application/json')
      .set('Stripe-Signature', signStripe(payload, 'whsec_not_the_real_secret'))
      .send(payload);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: 'The webhook could not be verified.' });
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 0);
    assert.equal(await WebhookEvent.countDocuments({ eventId: eventIdOf(payload) }), 0);
  });

  it('rejects a body changed after signing with 400', async () => {
    const payload = checkoutCompleted(`pi_${uid()}`, { amountMinor: 500 });
    const tampered = payload.replace('"amount_total": 500', '"amount_total": 50000');
    const res = await request(runtime.app)
      .post('/webhooks/stripe')
      .set('Content-Type', 'application/json')
      .set('Stripe-Signature', signStripe(payload, secret))
      .send(tampered);
    assert.equal(res.status, 400);
  });

  it('rejects a stale signature (older than five minutes) with 400', async () => {
    const payload = checkoutCompleted(`pi_${uid()}`);
    const res = await request(runtime.app)
      .post('/webhooks/stripe')
      .set('Content-Type', 'application/json')
      .set('Stripe-Signature', signStripe(payload, secret, Math.floor(Date.now() / 1000) - 600))
      .send(payload);
    assert.equal(res.status, 400);
  });

  it('refuses a body over 256 kB with 413 before verifying it', async () => {
    const payload = stripeEvent('customer.updated', { id: 'cus_big', padding: 'x'.repeat(300 * 1024) });
    const res = await deliverStripe(runtime.app, payload, secret);
    assert.equal(res.status, 413);
    assert.equal(res.body.error, 'Webhook body too large.');
    assert.equal(await WebhookEvent.countDocuments({ eventId: eventIdOf(payload) }), 0);
  });

  it('answers 404 for a provider it does not know', async () => {
    const res = await request(runtime.app)
      .post('/webhooks/venmo')
      .set('Content-Type', 'application/json')
      .send('{}');
    assert.equal(res.status, 404);
  });
});

describe('Stripe webhooks: exactly once', () => {
  it('records a checkout payment and keeps the raw event as processed', async () => {
    const pi = `pi_${uid()}`;
    const payload = checkoutCompleted(pi, { amountMinor: 1200, currency: 'eur', planId: 'one-off' });
    const res = await deliverStripe(runtime.app, payload, secret);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, status: 'processed' });
    const donation = await Donation.findOne({ providerPaymentId: pi }).lean();
    assert.equal(donation?.amountMinor, 1200);
    assert.equal(donation?.currency, 'EUR');
    const stored = await WebhookEvent.findOne({ eventId: eventIdOf(payload) }).lean();
    assert.equal(stored?.status, 'processed');
    assert.equal(stored?.type, 'checkout.session.completed');
    assert.equal(stored?.rawBody, payload);
    assert.equal(stored?.attempts, 1);
    assert.deepEqual(stored?.outcomes, [{ fact: 'payment.succeeded', ref: pi, result: 'applied' }]);
  });

  it('records a duplicate Stripe event once and answers 200 both times', async () => {
    const pi = `pi_${uid()}`;
    const payload = checkoutCompleted(pi, { amountMinor: 700 });
    const first = await deliverStripe(runtime.app, payload, secret);
    const before = await WebhookEvent.findOne({ eventId: eventIdOf(payload) }).lean();
    const again = await Promise.all([1, 2, 3].map(() => deliverStripe(runtime.app, payload, secret)));
    assert.equal(first.status, 200);
    for (const res of again) assert.deepEqual(res.body, { received: true, status: 'duplicate' });
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 1);
    assert.equal(await WebhookEvent.countDocuments({ eventId: eventIdOf(payload) }), 1);
    assert.deepEqual(await WebhookEvent.findOne({ eventId: eventIdOf(payload) }).lean(), before);
  });

  it('counts a payment once when it is re-sent under a new event id', async () => {
    const pi = `pi_${uid()}`;
    const session = paidSession({ paymentIntent: pi, amountMinor: 900, currency: 'gbp' });
    const day = new Date(Number(session.created) * 1000).toISOString().slice(0, 10);
    const rollupBefore = await Rollup.findOne({ day, currency: 'GBP', provider: 'stripe' }).lean();
    for (let i = 0; i < 3; i += 1) {
      const res = await deliverStripe(
        runtime.app,
        stripeEvent('checkout.session.completed', session),
        secret,
      );
      assert.equal(res.status, 200);
    }
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 1);
    const rollup = await Rollup.findOne({ day, currency: 'GBP', provider: 'stripe' }).lean();
    assert.equal((rollup?.grossMinor ?? 0) - (rollupBefore?.grossMinor ?? 0), 900);
  });

  it('records a payment the app did not start with its plan marked unknown', async () => {
    const pi = `pi_${uid()}`;
    const res = await deliverStripe(runtime.app, checkoutCompleted(pi, { amountMinor: 2500 }), secret);
    assert.equal(res.status, 200);
    const donation = await Donation.findOne({ providerPaymentId: pi }).lean();
    assert.equal(donation?.planId, 'unknown');
    assert.equal(donation?.amountMinor, 2500);
  });

  it('stores an unknown event type as ignored and answers 200', async () => {
    const payload = stripeEvent('customer.updated', { id: `cus_${uid()}`, object: 'customer' });
    const res = await deliverStripe(runtime.app, payload, secret);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, status: 'ignored' });
    const stored = await WebhookEvent.findOne({ eventId: eventIdOf(payload) }).lean();
    assert.equal(stored?.status, 'ignored');
    assert.equal(stored?.rawBody, payload);
  });
});

describe('Stripe webhooks: ordering', () => {
  it('never resurrects a cancelled subscription when an older update arrives after the cancel', async () => {
    const sub = `sub_${uid()}`;
    const now = Math.floor(Date.now() / 1000);
    const deleted = stripeEvent('customer.subscription.deleted', stripeSubscription(sub, 'canceled'), {
      created: now,
    });
    const updated = stripeEvent('customer.subscription.updated', stripeSubscription(sub, 'active'), {
      created: now - 60,
    });
    assert.equal((await deliverStripe(runtime.app, deleted, secret)).status, 200);
    assert.equal((await deliverStripe(runtime.app, updated, secret)).status, 200);
    const stored = await Subscription.findOne({ providerSubscriptionId: sub }).lean();
    assert.equal(stored?.status, 'cancelled');
  });

  it('ends in the same state whatever order a payment, two refunds and a dispute arrive in', async () => {
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [1, 3, 0, 2],
    ];
    const finals = [];
    for (const order of orders) {
      const pi = `pi_${uid()}`;
      const events = [
        checkoutCompleted(pi, { amountMinor: 1000 }),
        stripeEvent(
          'charge.refunded',
          refundedCharge({ paymentIntent: pi, amountMinor: 1000, refundedMinor: 300 }),
        ),
        stripeEvent(
          'charge.refunded',
          refundedCharge({ paymentIntent: pi, amountMinor: 1000, refundedMinor: 1000 }),
        ),
        stripeEvent('charge.dispute.closed', {
          id: `dp_${pi}`,
          object: 'dispute',
          payment_intent: pi,
          amount: 1000,
          currency: 'usd',
          status: 'won',
        }),
      ];
      // First pass in the given order (a refund before its payment fails and is retried), then the
      // provider's retries of whatever failed.
      const statuses = [];
      for (const i of order) statuses.push((await deliverStripe(runtime.app, events[i]!, secret)).status);
      for (const [k, i] of order.entries()) {
        if (statuses[k] !== 200)
          assert.equal((await deliverStripe(runtime.app, events[i]!, secret)).status, 200);
      }
      const d = await Donation.findOne({ providerPaymentId: pi }).lean();
      finals.push({
        status: d?.status,
        refundedMinor: d?.refundedMinor,
        disputes: d?.disputes.map((x) => x.status),
      });
    }
    for (const f of finals)
      assert.deepEqual(f, { status: 'refunded', refundedMinor: 1000, disputes: ['won'] });
  });

  it('holds a refund for a payment nobody knows yet as failed with a 500, then applies it once the payment arrives', async () => {
    const pi = `pi_${uid()}`;
    const refund = stripeEvent(
      'charge.refunded',
      refundedCharge({ paymentIntent: pi, amountMinor: 800, refundedMinor: 800 }),
    );
    const early = await deliverStripe(runtime.app, refund, secret);
    assert.equal(early.status, 500);
    const failed = await WebhookEvent.findOne({ eventId: eventIdOf(refund) }).lean();
    assert.equal(failed?.status, 'failed');
    assert.match(failed?.lastError ?? '', /not recorded yet/);
    assert.ok(failed?.nextAttemptAt);

    assert.equal(
      (await deliverStripe(runtime.app, checkoutCompleted(pi, { amountMinor: 800 }), secret)).status,
      200,
    );
    const retry = await deliverStripe(runtime.app, refund, secret);
    assert.deepEqual(retry.body, { received: true, status: 'processed' });
    const donation = await Donation.findOne({ providerPaymentId: pi }).lean();
    assert.equal(donation?.status, 'refunded');
    const done = await WebhookEvent.findOne({ eventId: eventIdOf(refund) }).lean();
    assert.equal(done?.status, 'processed');
    assert.equal(done?.attempts, 2);
    assert.equal(done?.lastError, undefined);
  });
});

describe('Stripe webhooks: malformed events', () => {
  it('refuses a correctly signed event without an id with 400', async () => {
    const payload = JSON.stringify({
      object: 'event',
      type: 'customer.updated',
      created: 1,
      data: { object: {} },
    });
    const res = await deliverStripe(runtime.app, payload, secret);
    assert.equal(res.status, 400);
  });
});
