import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import type { Harness } from './helpers.js';
import { payStripeSession, STRIPE_SECRET, startHarness } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.stop();
});

function events(): Stripe.Event[] {
  return h.receiver.requests
    .filter((r) => r.path === '/webhooks/stripe')
    .map((r) =>
      h.stripe.webhooks.constructEvent(r.body, String(r.headers['stripe-signature']), STRIPE_SECRET),
    );
}

function eventsFor(subscriptionId: string): Stripe.Event[] {
  return events().filter((e) => {
    const o = e.data.object as unknown as Record<string, unknown>;
    if (o.object === 'subscription') return o.id === subscriptionId;
    if (o.object === 'invoice') {
      return (o as unknown as Stripe.Invoice).parent?.subscription_details?.subscription === subscriptionId;
    }
    if (o.object === 'checkout.session') return o.subscription === subscriptionId;
    return false;
  });
}

async function subscribe(): Promise<{ session: Stripe.Checkout.Session; subscriptionId: string }> {
  const session = await h.stripe.checkout.sessions.create({
    mode: 'subscription',
    line_items: [
      {
        quantity: 1,
        price_data: {
          currency: 'eur',
          unit_amount: 700,
          recurring: { interval: 'month' },
          product_data: { name: 'Monthly support' },
        },
      },
    ],
    success_url: 'http://app.test/thanks?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://app.test/donate',
    metadata: { checkoutId: 'chk_sub' },
    subscription_data: { metadata: { checkoutId: 'chk_sub' } },
  });
  const result = await payStripeSession(session.url!);
  assert.equal(result.status, 303);
  const done = await h.stripe.checkout.sessions.retrieve(session.id);
  return { session: done, subscriptionId: String(done.subscription) };
}

describe('Stripe simulator: subscriptions and the test clock', () => {
  it('completes a subscription checkout and emits subscription.created, invoice.paid and checkout.session.completed', async () => {
    const { session, subscriptionId } = await subscribe();
    assert.equal(session.status, 'complete');
    assert.equal(session.payment_status, 'paid');
    assert.match(subscriptionId, /^sub_/);
    assert.match(String(session.customer), /^cus_/);

    const sub = await h.stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(sub.status, 'active');
    assert.deepEqual(sub.metadata, { checkoutId: 'chk_sub' });
    const item = sub.items.data[0]!;
    assert.equal(item.price.unit_amount, 700);
    assert.equal(item.price.recurring?.interval, 'month');
    assert.ok(item.current_period_end > item.current_period_start);

    const invoice = await h.stripe.invoices.retrieve(String(sub.latest_invoice));
    assert.equal(invoice.status, 'paid');
    assert.equal(invoice.amount_paid, 700);
    assert.equal(invoice.billing_reason, 'subscription_create');
    assert.equal(invoice.parent?.subscription_details?.subscription, subscriptionId);

    await h.sim.idle();
    assert.deepEqual(
      eventsFor(subscriptionId).map((e) => e.type),
      ['customer.subscription.created', 'invoice.paid', 'checkout.session.completed'],
    );
  });

  it('bills the next period when the clock advances 31 days and emits invoice.paid', async () => {
    const { subscriptionId } = await subscribe();
    const before = await h.stripe.subscriptions.retrieve(subscriptionId);
    await h.sim.advanceDays(31);
    await h.sim.idle();
    const after = await h.stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(after.status, 'active');
    assert.equal(after.items.data[0]!.current_period_start, before.items.data[0]!.current_period_end);
    const renewal = eventsFor(subscriptionId).filter(
      (e): e is Stripe.InvoicePaidEvent =>
        e.type === 'invoice.paid' && e.data.object.billing_reason === 'subscription_cycle',
    );
    assert.equal(renewal.length, 1);
    assert.equal(renewal[0]!.data.object.amount_paid, 700);
    assert.equal(renewal[0]!.data.object.id, after.latest_invoice);
    const payments = await h.stripe.invoicePayments.list({ invoice: renewal[0]!.data.object.id });
    const pi = await h.stripe.paymentIntents.retrieve(String(payments.data[0]!.payment.payment_intent));
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount, 700);
  });

  it('fails renewals on demand: invoice.payment_failed and a past_due subscription, recovered by the next renewal', async () => {
    const { subscriptionId } = await subscribe();
    await h.sim.advanceDays(31, { failRenewals: true });
    await h.sim.idle();
    const pastDue = await h.stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(pastDue.status, 'past_due');
    const failed = eventsFor(subscriptionId).filter((e) => e.type === 'invoice.payment_failed');
    assert.ok(failed.length >= 1);
    const invoice = failed.at(-1)!.data.object;
    assert.equal(invoice.status, 'open');
    assert.equal(invoice.amount_paid, 0);

    await h.sim.advanceDays(31);
    await h.sim.idle();
    const recovered = await h.stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(recovered.status, 'active');
    const retried = await h.stripe.invoices.retrieve(invoice.id);
    assert.equal(retried.status, 'paid');
  });

  it('fails only the marked subscription with the dashboard control API', async () => {
    const a = await subscribe();
    const b = await subscribe();
    const res = await fetch(`${h.sim.stripe.baseUrl}/_simulator/fail-next-renewal`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ subscription: a.subscriptionId }),
    });
    assert.equal(res.status, 200);
    await h.sim.advanceDays(31);
    await h.sim.idle();
    assert.equal((await h.stripe.subscriptions.retrieve(a.subscriptionId)).status, 'past_due');
    assert.equal((await h.stripe.subscriptions.retrieve(b.subscriptionId)).status, 'active');
  });

  it('cancels a subscription and emits customer.subscription.deleted', async () => {
    const { subscriptionId } = await subscribe();
    const cancelled = await h.stripe.subscriptions.cancel(subscriptionId);
    assert.equal(cancelled.status, 'canceled');
    assert.ok(cancelled.canceled_at);
    await h.sim.idle();
    assert.ok(eventsFor(subscriptionId).some((e) => e.type === 'customer.subscription.deleted'));
    await h.sim.advanceDays(31);
    await h.sim.idle();
    assert.ok(
      !eventsFor(subscriptionId).some(
        (e) => e.type === 'invoice.paid' && e.data.object.billing_reason === 'subscription_cycle',
      ),
    );
  });

  it('ends a subscription set to cancel at period end when the period is over', async () => {
    const { subscriptionId } = await subscribe();
    const updated = await h.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    assert.equal(updated.cancel_at_period_end, true);
    await h.sim.advanceDays(31);
    await h.sim.idle();
    assert.equal((await h.stripe.subscriptions.retrieve(subscriptionId)).status, 'canceled');
    const types = eventsFor(subscriptionId).map((e) => e.type);
    assert.ok(types.includes('customer.subscription.updated'));
    assert.equal(types.at(-1), 'customer.subscription.deleted');
  });

  it('opens and closes a dispute from the control API with charge.dispute.created and charge.dispute.closed', async () => {
    const session = await h.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [
        { quantity: 1, price_data: { currency: 'gbp', unit_amount: 1000, product_data: { name: 'Gift' } } },
      ],
      success_url: 'http://app.test/ok',
    });
    await payStripeSession(session.url!);
    const pi = String((await h.stripe.checkout.sessions.retrieve(session.id)).payment_intent);
    const opened = (await (
      await fetch(`${h.sim.stripe.baseUrl}/_simulator/stripe/dispute`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ payment_intent: pi }),
      })
    ).json()) as { result: { id: string } };
    assert.match(opened.result.id, /^dp_/);
    const closed = await fetch(`${h.sim.stripe.baseUrl}/_simulator/stripe/dispute/close`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ dispute: opened.result.id, outcome: 'lost' }).toString(),
      redirect: 'manual',
    });
    assert.equal(closed.status, 303);
    await h.sim.idle();
    const disputeEvents = events().filter(
      (e): e is Stripe.ChargeDisputeCreatedEvent | Stripe.ChargeDisputeClosedEvent =>
        (e.type === 'charge.dispute.created' || e.type === 'charge.dispute.closed') &&
        e.data.object.payment_intent === pi,
    );
    assert.deepEqual(
      disputeEvents.map((e) => [e.type, e.data.object.status, e.data.object.amount]),
      [
        ['charge.dispute.created', 'needs_response', 1000],
        ['charge.dispute.closed', 'lost', 1000],
      ],
    );
  });

  it('serves a dashboard page without scripts', async () => {
    const res = await fetch(`${h.sim.stripe.baseUrl}/_simulator`);
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.ok(html.includes('Advance 31 days'));
    assert.ok(!/<script/i.test(html));
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  });
});
