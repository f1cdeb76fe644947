import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Stripe from 'stripe';
import { startPaymentSimulator } from '../../src/simulator/index.js';
import type { Harness } from './helpers.js';
import { payStripeSession, PAYPAL_WEBHOOK_ID, STRIPE_SECRET, startHarness } from './helpers.js';

const run = promisify(execFile);
const harnesses: Harness[] = [];
after(async () => {
  await Promise.all(harnesses.map((h) => h.stop()));
});

async function harness(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const h = await startHarness(...args);
  harnesses.push(h);
  return h;
}

async function paidSession(
  h: Harness,
  mode: 'payment' | 'subscription' = 'payment',
): Promise<Stripe.Checkout.Session> {
  const session = await h.stripe.checkout.sessions.create({
    mode,
    line_items: [
      {
        quantity: 1,
        price_data: {
          currency: 'eur',
          unit_amount: 500,
          product_data: { name: 'Support' },
          ...(mode === 'subscription' ? { recurring: { interval: 'month' as const } } : {}),
        },
      },
    ],
    success_url: 'http://app.test/ok',
  });
  await payStripeSession(session.url!);
  return h.stripe.checkout.sessions.retrieve(session.id);
}

function stripeDeliveries(h: Harness) {
  return h.receiver.requests
    .filter((r) => r.path === '/webhooks/stripe')
    .map((r) => ({
      event: h.stripe.webhooks.constructEvent(r.body, String(r.headers['stripe-signature']), STRIPE_SECRET),
      signature: String(r.headers['stripe-signature']),
    }));
}

describe('Simulator webhook delivery', () => {
  it('retries a Stripe event answered with non-2xx until it is accepted, signing each attempt afresh', async () => {
    const h = await harness();
    const seen = new Map<string, number>();
    h.receiver.respond = (req) => {
      const id = (JSON.parse(req.body) as { id: string }).id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      return seen.get(id)! <= 2 ? 500 : 200;
    };
    await paidSession(h);
    await h.sim.idle();
    const deliveries = stripeDeliveries(h);
    const ids = new Set(deliveries.map((d) => d.event.id));
    assert.ok(ids.size >= 2);
    for (const id of ids) assert.equal(deliveries.filter((d) => d.event.id === id).length, 3);
    const attempts = deliveries;
    assert.ok(attempts.every((a) => /^t=\d+,v1=[0-9a-f]{64}$/.test(a.signature)));
  });

  it('retries PayPal events too and gives up after the last retry of the schedule', async () => {
    const h = await harness({ retrySchedule: [20, 20] });
    h.receiver.respond = (req) => (req.path === '/webhooks/paypal' ? 503 : 200);
    const res = await fetch(`${h.sim.stripe.baseUrl}/_simulator/state`);
    assert.equal(res.status, 200);
    const product = await h.paypal.execute<{ id: string }>({
      path: '/v1/catalogs/products',
      verb: 'POST',
      body: { name: 'P', type: 'SERVICE' },
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(product.statusCode, 201);
    const order = await h.paypal.execute<{ id: string; links: Array<{ rel: string; href: string }> }>({
      path: '/v2/checkout/orders',
      verb: 'POST',
      body: { intent: 'CAPTURE', purchase_units: [{ amount: { currency_code: 'USD', value: '1.00' } }] },
      headers: { 'Content-Type': 'application/json' },
    });
    const approveUrl = order.result!.links.find((l) => l.rel === 'approve')!.href;
    const page = await fetch(approveUrl);
    assert.equal(page.status, 200);
    await fetch(new URL('/checkoutnow', approveUrl), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: order.result!.id, email: 'b@example.com' }).toString(),
      redirect: 'manual',
    });
    await h.sim.idle();
    const attempts = h.receiver.requests.filter((r) => r.path === '/webhooks/paypal');
    assert.equal(attempts.length, 3);
    assert.ok(attempts.every((a) => JSON.parse(a.body).event_type === 'CHECKOUT.ORDER.APPROVED'));
    const state = (await (await fetch(`${h.sim.stripe.baseUrl}/_simulator/state`)).json()) as {
      deliveries: Array<{ provider: string; status: string; attempts: number }>;
    };
    assert.deepEqual(
      state.deliveries.filter((d) => d.provider === 'paypal').map((d) => [d.status, d.attempts]),
      [['failed', 3]],
    );
  });

  it('delivers every event twice with chaos.duplicate', async () => {
    const h = await harness({ chaos: { duplicate: true } });
    await paidSession(h);
    await h.sim.idle();
    const ids = stripeDeliveries(h).map((d) => d.event.id);
    assert.ok(ids.length >= 4);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    assert.ok([...counts.values()].every((n) => n === 2));
  });

  it('delivers the events of one change out of order with chaos.reorder', async () => {
    const h = await harness({ chaos: { reorder: true } });
    await paidSession(h, 'subscription');
    await h.sim.idle();
    const types = stripeDeliveries(h).map((d) => d.event.type);
    assert.equal(types[0], 'checkout.session.completed');
    assert.ok(types.indexOf('invoice.paid') < types.indexOf('customer.subscription.created'));
  });

  it('drops events while no endpoint is configured and delivers once one is set', async () => {
    const h = await harness({ stripeWebhookUrl: '', paypalWebhookUrl: '' });
    await paidSession(h);
    await h.sim.idle();
    assert.equal(h.receiver.requests.length, 0);
    h.sim.setWebhookTargets({ stripe: `${h.receiver.url}/webhooks/stripe` });
    await paidSession(h);
    await h.sim.idle();
    assert.ok(stripeDeliveries(h).some((d) => d.event.type === 'checkout.session.completed'));
  });

  it('refuses to start with NODE_ENV=production', async () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await assert.rejects(
        startPaymentSimulator({ stripeWebhookSecret: STRIPE_SECRET, paypalWebhookId: PAYPAL_WEBHOOK_ID }),
        /NODE_ENV=production/,
      );
    } finally {
      if (previous === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = previous;
    }
  });

  it('advances the clock of a running simulator from the command line', async () => {
    const h = await harness();
    const session = await paidSession(h, 'subscription');
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/simulator/cli-advance.ts', '--days', '31', '--url', h.sim.stripe.baseUrl],
      { cwd: new URL('../..', import.meta.url).pathname },
    );
    assert.match(stdout, /advanced by 31 day/);
    await h.sim.idle();
    const renewals = stripeDeliveries(h).filter(
      (d) =>
        d.event.type === 'invoice.paid' &&
        d.event.data.object.billing_reason === 'subscription_cycle' &&
        d.event.data.object.parent?.subscription_details?.subscription === session.subscription,
    );
    assert.equal(renewals.length, 1);
  });
});
