import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose from 'mongoose';
import request from 'supertest';
import type { PaymentProvider } from '../../src/payments/types.js';
import type { Runtime } from '../../src/runtime.js';
import { Donation } from '../helpers/ledger.js';
import { WebhookEvent } from '../../src/webhooks/models.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { approvePayPal, payStripeSession, Receiver } from '../simulator/helpers.js';
import { deliverStripe, refundedCharge, stripeEvent, stripeSecret } from './helpers.js';

let runtime: Runtime;
let server: http.Server;
let origin: string;
let stripe: PaymentProvider;
let paypal: PaymentProvider;

before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
  server = runtime.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  runtime.payments.simulator!.setWebhookTargets({
    stripe: `${origin}/webhooks/stripe`,
    paypal: `${origin}/webhooks/paypal`,
  });
  stripe = runtime.payments.providers.stripe!;
  paypal = runtime.payments.providers.paypal!;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await runtime.stop();
});

const checkoutRequest = (amountMinor: number, currency = 'USD') => ({
  checkoutId: new mongoose.Types.ObjectId().toHexString(),
  plan: { id: 'one-off', name: 'One-off support', interval: 'once' as const },
  amount: { amountMinor, currency },
  email: 'reader@example.com',
  description: 'A contribution to The Meridian Ledger',
  returnUrl: `${origin}/donate/return/stripe`,
  cancelUrl: `${origin}/donate`,
});

describe('Webhooks from the payment simulator', () => {
  it('records a Stripe hosted checkout from its signed webhooks and ignores the event types it does not use', async () => {
    const start = await stripe.startCheckout(checkoutRequest(1800));
    const paid = await payStripeSession(start.redirectUrl);
    assert.equal(paid.status, 303);
    await runtime.payments.simulator!.idle();

    const completed = await WebhookEvent.findOne({ type: 'checkout.session.completed' })
      .sort({ receivedAt: -1 })
      .lean();
    assert.equal(completed?.status, 'processed');
    const paymentId = completed?.outcomes?.[0]?.ref;
    assert.match(paymentId ?? '', /^pi_/);
    const donation = await Donation.findOne({ provider: 'stripe', providerPaymentId: paymentId }).lean();
    assert.equal(donation?.amountMinor, 1800);
    assert.equal(donation?.planId, 'one-off');
    const others = await WebhookEvent.find({
      type: { $ne: 'checkout.session.completed' },
      provider: 'stripe',
    }).lean();
    assert.ok(others.length > 0);
    for (const e of others)
      assert.ok(['ignored', 'processed'].includes(e.status), `${e.type} is ${e.status}`);
  });

  it('records a refund that arrives before its payment by re-reading the payment from Stripe', async () => {
    // The payment's own webhooks go nowhere: only the refund reaches the app.
    runtime.payments.simulator!.setWebhookTargets({ stripe: '' });
    try {
      const start = await stripe.startCheckout(checkoutRequest(2200));
      await payStripeSession(start.redirectUrl);
      await runtime.payments.simulator!.idle();
    } finally {
      runtime.payments.simulator!.setWebhookTargets({ stripe: `${origin}/webhooks/stripe` });
    }
    let paymentId: string | undefined;
    for await (const p of stripe.listPayments(
      new Date(Date.now() - 3_600_000),
      new Date(Date.now() + 60_000),
    )) {
      if (p.amount.amountMinor === 2200) paymentId = p.paymentId;
    }
    assert.ok(paymentId);
    assert.equal(await Donation.countDocuments({ providerPaymentId: paymentId }), 0);

    const refund = stripeEvent(
      'charge.refunded',
      refundedCharge({ paymentIntent: paymentId, amountMinor: 2200, refundedMinor: 700 }),
    );
    const res = await deliverStripe(runtime.app, refund, stripeSecret(runtime));
    assert.deepEqual(res.body, { received: true, status: 'processed' });
    const donation = await Donation.findOne({ providerPaymentId: paymentId }).lean();
    assert.equal(donation?.amountMinor, 2200);
    assert.equal(donation?.status, 'partially_refunded');
    assert.equal(donation?.refundedMinor, 700);
  });

  it('records a PayPal capture from its verified webhook', async () => {
    const start = await paypal.startCheckout(checkoutRequest(1300, 'EUR'));
    const approved = await approvePayPal(start.redirectUrl);
    const token = new URL(approved.location!).searchParams.get('token')!;
    // The reader's return captures the order; the capture's webhook is what is recorded here.
    await paypal.resolveCheckout(token, 'once');
    await runtime.payments.simulator!.idle();
    const event = await WebhookEvent.findOne({
      provider: 'paypal',
      type: 'PAYMENT.CAPTURE.COMPLETED',
    }).lean();
    assert.equal(event?.status, 'processed');
    const donation = await Donation.findOne({
      provider: 'paypal',
      providerPaymentId: event?.outcomes?.[0]?.ref,
    }).lean();
    assert.equal(donation?.amountMinor, 1300);
    assert.equal(donation?.currency, 'EUR');
  });
});

describe('PayPal webhook verification', () => {
  let receiver: Receiver;
  let captured: { headers: http.IncomingHttpHeaders; body: string };

  before(async () => {
    // Catch one genuine signed delivery to replay (intact and altered) against the app.
    receiver = await new Receiver().start();
    runtime.payments.simulator!.setWebhookTargets({ paypal: `${receiver.url}/webhooks/paypal` });
    try {
      const start = await paypal.startCheckout(checkoutRequest(600, 'EUR'));
      const approved = await approvePayPal(start.redirectUrl);
      await paypal.resolveCheckout(new URL(approved.location!).searchParams.get('token')!, 'once');
      await runtime.payments.simulator!.idle();
    } finally {
      runtime.payments.simulator!.setWebhookTargets({ paypal: `${origin}/webhooks/paypal` });
    }
    const delivery = receiver.requests.find((r) => r.body.includes('PAYMENT.CAPTURE.COMPLETED'));
    assert.ok(delivery);
    captured = delivery;
  });
  after(() => receiver.stop());

  const forward = (body: string, headers: Record<string, string> = {}) => {
    const req = request(runtime.app).post('/webhooks/paypal').set('Content-Type', 'application/json');
    for (const [name, value] of Object.entries(captured.headers)) {
      if (name.startsWith('paypal-')) req.set(name, String(value));
    }
    for (const [name, value] of Object.entries(headers)) req.set(name, value);
    return req.send(body);
  };

  it('accepts the genuine delivery once and answers a repeat as a duplicate', async () => {
    const first = await forward(captured.body);
    assert.deepEqual(first.body, { received: true, status: 'processed' });
    const second = await forward(captured.body);
    assert.deepEqual(second.body, { received: true, status: 'duplicate' });
  });

  it('rejects a PayPal body altered after signing with 400', async () => {
    const altered = captured.body.replace('"600', '"60000').replace('"6.00"', '"600.00"');
    assert.notEqual(altered, captured.body);
    const res = await forward(altered);
    assert.equal(res.status, 400);
  });

  it('never fetches a certificate from outside the allow-list and rejects the delivery', async () => {
    let fetched = 0;
    const evil = http.createServer((_req, res) => {
      fetched += 1;
      res.end('not a certificate');
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const certUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/v1/notifications/certs/CERT-evil`;
      const body = captured.body.replace(/"id":"WH-[^"]+"/, '"id":"WH-FORGED-0001"');
      const res = await forward(body, { 'paypal-cert-url': certUrl });
      assert.equal(res.status, 400);
      assert.equal(fetched, 0);
    } finally {
      await new Promise((resolve) => evil.close(resolve));
    }
  });
});
