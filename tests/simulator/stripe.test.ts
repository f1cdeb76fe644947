import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import type { Harness } from './helpers.js';
import { payStripeSession, STRIPE_SECRET, startHarness } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.stop();
});

function verifiedStripeEvents(): Stripe.Event[] {
  return h.receiver.requests
    .filter((r) => r.path === '/webhooks/stripe')
    .map((r) =>
      h.stripe.webhooks.constructEvent(r.body, String(r.headers['stripe-signature']), STRIPE_SECRET),
    );
}

async function oneOffSession(extra: Partial<Stripe.Checkout.SessionCreateParams> = {}) {
  return h.stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [
      {
        quantity: 1,
        price_data: { currency: 'eur', unit_amount: 500, product_data: { name: 'One-off support' } },
      },
    ],
    success_url: 'http://app.test/donate/return/stripe?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://app.test/donate',
    client_reference_id: 'chk_1',
    customer_email: 'reader@example.com',
    metadata: { checkoutId: 'chk_1', plan: 'one-off' },
    payment_intent_data: { metadata: { checkoutId: 'chk_1' } },
    ...extra,
  });
}

describe('Stripe simulator: one-off checkout', () => {
  it('creates an open Checkout Session shaped as Stripe documents it', async () => {
    const session = await oneOffSession();
    assert.match(session.id, /^cs_test_/);
    assert.equal(session.object, 'checkout.session');
    assert.equal(session.status, 'open');
    assert.equal(session.payment_status, 'unpaid');
    assert.equal(session.amount_total, 500);
    assert.equal(session.currency, 'eur');
    assert.equal(session.mode, 'payment');
    assert.equal(session.client_reference_id, 'chk_1');
    assert.equal(session.customer_email, 'reader@example.com');
    assert.deepEqual(session.metadata, { checkoutId: 'chk_1', plan: 'one-off' });
    assert.equal(session.payment_intent, null);
    assert.ok(session.url?.startsWith(h.sim.stripe.baseUrl));
  });

  it('completes a payment on the hosted page with 4242 and redirects to the success URL with the session id', async () => {
    const session = await oneOffSession();
    const result = await payStripeSession(session.url!);
    assert.equal(result.status, 303);
    assert.equal(result.location, `http://app.test/donate/return/stripe?session_id=${session.id}`);

    const done = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] });
    assert.equal(done.status, 'complete');
    assert.equal(done.payment_status, 'paid');
    assert.equal(done.url, null);
    assert.equal(done.customer_details?.email, 'reader@example.com');
    const pi = done.payment_intent as Stripe.PaymentIntent;
    assert.match(pi.id, /^pi_/);
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount, 500);
    assert.deepEqual(pi.metadata, { checkoutId: 'chk_1' });

    const charge = await h.stripe.charges.retrieve(String(pi.latest_charge));
    assert.equal(charge.payment_intent, pi.id);
    assert.equal(charge.amount, 500);
    assert.equal(charge.paid, true);

    await h.sim.idle();
    const completed = verifiedStripeEvents().find(
      (e) => e.type === 'checkout.session.completed' && e.data.object.id === session.id,
    ) as Stripe.CheckoutSessionCompletedEvent | undefined;
    assert.ok(completed, 'checkout.session.completed delivered and verified');
    assert.equal(completed.data.object.payment_status, 'paid');
    assert.equal(completed.data.object.payment_intent, pi.id);
    assert.equal(completed.api_version, h.stripe.getApiField('version'));
  });

  for (const [card, message] of [
    ['4000 0000 0000 0002', 'Your card was declined.'],
    ['4000 0000 0000 9995', 'Your card has insufficient funds.'],
  ] as const) {
    it(`shows "${message}" on the hosted page for ${card} without redirecting or completing`, async () => {
      const session = await oneOffSession();
      const before = h.receiver.requests.length;
      const result = await payStripeSession(session.url!, card);
      assert.equal(result.status, 402);
      assert.equal(result.location, null);
      assert.ok(result.html.includes(message));
      assert.ok(!/<script/i.test(result.html));
      const still = await h.stripe.checkout.sessions.retrieve(session.id);
      assert.equal(still.status, 'open');
      assert.equal(still.payment_status, 'unpaid');
      await h.sim.idle();
      assert.equal(h.receiver.requests.length, before);
    });
  }

  it('links the hosted page to the cancel URL', async () => {
    const session = await oneOffSession();
    const html = await (await fetch(session.url!)).text();
    assert.ok(html.includes('href="http://app.test/donate"'));
  });

  it('replays the first response for a reused Idempotency-Key', async () => {
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'payment',
      line_items: [
        { quantity: 2, price_data: { currency: 'usd', unit_amount: 300, product_data: { name: 'Gift' } } },
      ],
      success_url: 'http://app.test/ok',
    };
    const first = await h.stripe.checkout.sessions.create(params, { idempotencyKey: 'idem-1' });
    const second = await h.stripe.checkout.sessions.create(params, { idempotencyKey: 'idem-1' });
    assert.equal(second.id, first.id);
    assert.equal(second.amount_total, 600);
    assert.equal(second.lastResponse.headers['idempotent-replayed'], 'true');
  });

  it('rejects a reused Idempotency-Key with different parameters', async () => {
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'payment',
      line_items: [
        { quantity: 1, price_data: { currency: 'usd', unit_amount: 300, product_data: { name: 'Gift' } } },
      ],
      success_url: 'http://app.test/ok',
    };
    await h.stripe.checkout.sessions.create(params, { idempotencyKey: 'idem-2' });
    await assert.rejects(
      h.stripe.checkout.sessions.create(
        { ...params, client_reference_id: 'other' },
        { idempotencyKey: 'idem-2' },
      ),
      (err: unknown) => err instanceof Stripe.errors.StripeIdempotencyError,
    );
  });

  it('answers invalid parameters with a StripeInvalidRequestError naming the param', async () => {
    await assert.rejects(
      h.stripe.checkout.sessions.create({
        mode: 'payment',
        success_url: 'http://app.test/ok',
        line_items: [],
      }),
      (err: unknown) => err instanceof Stripe.errors.StripeInvalidRequestError && err.param === 'line_items',
    );
    await assert.rejects(
      h.stripe.checkout.sessions.retrieve('cs_test_missing'),
      (err: unknown) => err instanceof Stripe.errors.StripeInvalidRequestError && err.statusCode === 404,
    );
  });

  it('rejects requests without a secret key', async () => {
    const anonymous = new Stripe('pk_test_wrong', {
      host: h.sim.stripe.host,
      port: h.sim.stripe.port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    await assert.rejects(
      anonymous.customers.create({}),
      (err: unknown) => err instanceof Stripe.errors.StripeAuthenticationError,
    );
  });

  it('refunds a payment and emits charge.refunded with payment_intent and amount_refunded', async () => {
    const session = await oneOffSession();
    await payStripeSession(session.url!);
    const done = await h.stripe.checkout.sessions.retrieve(session.id);
    const pi = String(done.payment_intent);
    const partial = await h.stripe.refunds.create({ payment_intent: pi, amount: 200 });
    assert.match(partial.id, /^re_/);
    assert.equal(partial.status, 'succeeded');
    assert.equal(partial.amount, 200);
    const rest = await h.stripe.refunds.create({ payment_intent: pi });
    assert.equal(rest.amount, 300);
    await assert.rejects(
      h.stripe.refunds.create({ payment_intent: pi }),
      (err: unknown) => err instanceof Stripe.errors.StripeInvalidRequestError,
    );
    await h.sim.idle();
    const refunds = verifiedStripeEvents().filter(
      (e): e is Stripe.ChargeRefundedEvent =>
        e.type === 'charge.refunded' && e.data.object.payment_intent === pi,
    );
    assert.deepEqual(
      refunds.map((e) => [e.data.object.amount_refunded, e.data.object.refunded]),
      [
        [200, false],
        [500, true],
      ],
    );
  });

  it('lists PaymentIntents newest first with created[gte] and starting_after pagination', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    for (let i = 0; i < 3; i++) {
      const s = await oneOffSession();
      await payStripeSession(s.url!);
    }
    const page1 = await h.stripe.paymentIntents.list({ created: { gte: since }, limit: 2 });
    assert.equal(page1.object, 'list');
    assert.equal(page1.url, '/v1/payment_intents');
    assert.equal(page1.data.length, 2);
    assert.equal(page1.has_more, true);
    const page2 = await h.stripe.paymentIntents.list({
      created: { gte: since },
      limit: 100,
      starting_after: page1.data[1]!.id,
    });
    const all = [...page1.data, ...page2.data];
    assert.equal(new Set(all.map((p) => p.id)).size, all.length);
    assert.ok(all.length >= 3);
    const expanded = await h.stripe.paymentIntents.list({ limit: 1, expand: ['data.latest_charge'] });
    assert.equal((expanded.data[0]!.latest_charge as Stripe.Charge).object, 'charge');
    assert.ok(!('id' in expanded));
    const future = await h.stripe.paymentIntents.list({ created: { gte: since + 86400 } });
    assert.equal(future.data.length, 0);
    const iterated: string[] = [];
    for await (const pi of h.stripe.paymentIntents.list({ created: { gte: since }, limit: 1 }))
      iterated.push(pi.id);
    assert.deepEqual(
      iterated,
      all.map((p) => p.id),
    );
  });

  it('creates and retrieves customers', async () => {
    const customer = await h.stripe.customers.create({
      email: 'c@example.com',
      name: 'C',
      metadata: { a: '1' },
    });
    assert.match(customer.id, /^cus_/);
    const again = await h.stripe.customers.retrieve(customer.id);
    assert.equal((again as Stripe.Customer).email, 'c@example.com');
  });
});
