/**
 * The Stripe adapter against the payment simulator, through the official SDK: checkouts, webhooks
 * turned into facts (and how many API calls each event costs), refunds, cancellations, amount
 * changes and reconciliation listings. The simulator's clock moves, so the renewal tests come last.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { createLogger } from '../../src/log.js';
import { stripeFee } from '../../src/simulator/stripe/state.js';
import { createStripeAdapter } from '../../src/payments/stripe/index.js';
import { stripeDescriptor } from '../../src/payments/stripe/descriptor.js';
import {
  ProviderError,
  WebhookVerificationError,
  type CheckoutRequest,
  type PaymentProvider,
} from '../../src/payments/types.js';
import {
  startPaymentSimulator,
  STRIPE_API_VERSION,
  type PaymentSimulator,
} from '../../src/simulator/index.js';
import { payStripeSession } from '../simulator/helpers.js';
import { deliveredFacts, eventOf as event, only, startCountingProxy, startReceiver } from './helpers.js';

const delivered = () => deliveredFacts(adapter, { sim, receiver, proxy });

const WEBHOOK_SECRET = `whsec_${randomUUID().replace(/-/g, '')}`;

let sim: PaymentSimulator;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let proxy: Awaited<ReturnType<typeof startCountingProxy>>;
let adapter: PaymentProvider;
/** The SDK straight at the simulator, for arranging and inspecting (not counted). */
let sdk: Stripe;

before(async () => {
  receiver = await startReceiver();
  sim = await startPaymentSimulator({
    stripeWebhookSecret: WEBHOOK_SECRET,
    paypalWebhookId: 'WH-UNUSED',
    stripeWebhookUrl: `${receiver.url}/webhooks/stripe`,
    deliveryDelayMs: 1,
  });
  proxy = await startCountingProxy({ host: sim.stripe.host, port: sim.stripe.port });
  adapter = createStripeAdapter({
    secretKey: 'sk_test_adapter',
    webhookSecret: WEBHOOK_SECRET,
    apiVersion: STRIPE_API_VERSION,
    api: { host: proxy.host, port: proxy.port, protocol: 'http' },
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  sdk = new Stripe('sk_test_arrange', {
    apiVersion: STRIPE_API_VERSION,
    host: sim.stripe.host,
    port: sim.stripe.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
});

after(async () => {
  await sim.stop();
  await proxy.stop();
  await receiver.stop();
});

function request(overrides: Partial<CheckoutRequest> = {}): CheckoutRequest {
  const monthly = overrides.plan?.interval === 'month';
  return {
    checkoutId: randomUUID(),
    plan: { id: 'one-off', name: 'One-off', interval: 'once' },
    amount: { amountMinor: 500, currency: 'USD' },
    description: monthly
      ? 'Monthly support of $5.00 for The Meridian Ledger'
      : 'A contribution of $5.00 to The Meridian Ledger',
    returnUrl: 'http://readerfund.test/donate/return/stripe',
    cancelUrl: 'http://readerfund.test/donate',
    ...overrides,
  };
}

async function paidOneOff(card?: string, overrides: Partial<CheckoutRequest> = {}) {
  const req = request(overrides);
  const start = await adapter.startCheckout(req);
  const paid = await payStripeSession(start.redirectUrl, card);
  assert.equal(paid.status, 303);
  const session = await sdk.checkout.sessions.retrieve(start.providerRef);
  return { req, start, paymentIntent: String(session.payment_intent) };
}

async function subscribed(amountMinor = 500) {
  const req = request({
    plan: { id: 'monthly', name: 'Monthly', interval: 'month' },
    amount: { amountMinor, currency: 'USD' },
  });
  const start = await adapter.startCheckout(req);
  assert.equal((await payStripeSession(start.redirectUrl)).status, 303);
  const session = await sdk.checkout.sessions.retrieve(start.providerRef);
  return { req, start, subscriptionId: String(session.subscription), invoiceId: String(session.invoice) };
}

describe('Stripe adapter against the payment simulator', () => {
  test('carries its descriptor, which can be read without building an adapter', () => {
    assert.deepEqual(stripeDescriptor, {
      id: 'stripe',
      label: 'Card',
      longLabel: 'Card (Stripe)',
      returnPath: '/donate/return/stripe',
      capabilities: { monthly: true, changeAmount: true, cancelAtPeriodEnd: true },
    });
    assert.equal(adapter.descriptor, stripeDescriptor);
  });

  test('the Checkout page shows what the reader gives, in words', async () => {
    const req = request();
    const start = await adapter.startCheckout(req);
    const html = await (await fetch(start.redirectUrl)).text();
    assert.ok(html.includes(req.description), 'the line item is the description');
    const items = await sdk.checkout.sessions.listLineItems(start.providerRef);
    assert.equal(items.data[0]?.description, req.description);
  });

  test('a paid one-off checkout is a payment with the fee of its charge, for one API call', async () => {
    const { req, start, paymentIntent } = await paidOneOff();
    const completed = event(await delivered(), 'checkout.session.completed');
    const paid = only(completed.facts, 'payment.succeeded');
    assert.equal(paid.paymentId, paymentIntent);
    assert.equal(paid.checkoutId, req.checkoutId);
    assert.equal(paid.kind, 'one_off');
    assert.deepEqual(paid.amount, { amountMinor: 500, currency: 'USD' });
    assert.equal(paid.payer.email, 'reader@example.com');
    // 2.9% of 500 is 14.5, rounded half up to 15, plus 30.
    assert.deepEqual(paid.fee, { amountMinor: 45, currency: 'USD' });
    assert.equal(stripeFee(500), 45);
    assert.deepEqual(completed.calls, [`GET /v1/payment_intents/${paymentIntent}`]);

    // The return page finds the same payment, with its fee, in one read.
    const { result: outcome, calls } = await proxy.during(() =>
      adapter.resolveCheckout(start.providerRef, 'once'),
    );
    assert.equal(outcome.status, 'paid');
    assert.equal(outcome.checkoutId, req.checkoutId);
    const returned = only(outcome.facts, 'payment.succeeded');
    assert.equal(returned.paymentId, paymentIntent);
    assert.deepEqual(returned.fee, paid.fee);
    assert.deepEqual(returned.occurredAt, paid.occurredAt, 'both name the payment’s own time');
    assert.equal(calls.length, 1);
  });

  test('re-reading a Checkout payment takes the payer from its session: Checkout leaves receipt_email empty (issue 10 defect 3)', async () => {
    const { req, paymentIntent } = await paidOneOff();
    await delivered();
    assert.equal((await sdk.paymentIntents.retrieve(paymentIntent)).receipt_email, null);
    const fetched = await adapter.fetchPayment(paymentIntent);
    assert.equal(fetched?.payer.email, 'reader@example.com');
    assert.equal(fetched?.checkoutId, req.checkoutId);
    assert.deepEqual(fetched?.fee, { amountMinor: 45, currency: 'USD' });
    assert.equal(await adapter.fetchPayment('pi_doesnotexist000000000000'), null);
    assert.equal(await adapter.fetchPayment('something-else'), null);
  });

  test('returnRef accepts only a session id in Stripe’s shape, and nothing is asked of Stripe otherwise (issue 12 finding 3)', async () => {
    const { start } = await paidOneOff();
    await delivered();
    assert.match(start.providerRef, /^cs_test_[A-Za-z0-9]{56}$/);
    assert.equal(adapter.returnRef({ session_id: start.providerRef }), start.providerRef);
    assert.equal(adapter.returnRef({ session_id: 'cs_live_a1B2c3D4e5' }), 'cs_live_a1B2c3D4e5');
    const refused: unknown[] = [
      {},
      { session_id: '' },
      { session_id: [start.providerRef, start.providerRef] },
      { session_id: { $ne: '' } },
      { 'session_id[$ne]': '' },
      { session_id: 'cs_test_short' },
      { session_id: 'hello world' },
      { session_id: `${start.providerRef}'--` },
      { session_id: 'pi_3Nabcdefghijklmnop' },
      { token: start.providerRef },
    ];
    const { calls } = await proxy.during(async () => {
      for (const query of refused) {
        assert.equal(adapter.returnRef(query as Record<string, string>), null, JSON.stringify(query));
      }
      assert.equal((await adapter.resolveCheckout('not-a-session', 'once')).status, 'expired');
    });
    assert.deepEqual(calls, []);
  });

  test('a checkout that is open is pending, an expired or unknown one is expired, not an error', async () => {
    const open = await adapter.startCheckout(request());
    assert.equal((await adapter.resolveCheckout(open.providerRef, 'once')).status, 'pending');
    await sdk.checkout.sessions.expire(open.providerRef);
    assert.equal((await adapter.resolveCheckout(open.providerRef, 'once')).status, 'expired');
    const unknown = `cs_test_${'a'.repeat(56)}`;
    assert.deepEqual(await adapter.resolveCheckout(unknown, 'once'), { status: 'expired', facts: [] });
    await delivered();
  });

  test('a refund is idempotent per request key and arrives as the running refunded total', async () => {
    const { paymentIntent } = await paidOneOff(undefined, { amount: { amountMinor: 1000, currency: 'USD' } });
    await delivered();
    const key = randomUUID();
    await adapter.refund(paymentIntent, { amount: { amountMinor: 300, currency: 'USD' }, requestKey: key });
    await adapter.refund(paymentIntent, { amount: { amountMinor: 300, currency: 'USD' }, requestKey: key });
    const charge = await sdk.charges.retrieve(
      String((await sdk.paymentIntents.retrieve(paymentIntent)).latest_charge),
    );
    assert.equal(charge.amount_refunded, 300, 'the retry refunded nothing more');
    const refunded = event(await delivered(), 'charge.refunded');
    const fact = only(refunded.facts, 'payment.refunded');
    assert.equal(fact.paymentId, paymentIntent);
    assert.deepEqual(fact.refundedTotal, { amountMinor: 300, currency: 'USD' });
    assert.deepEqual(refunded.calls, ['GET /v1/invoice_payments']);

    // The rest, then a full refund again: already done, the outcome asked for.
    await adapter.refund(paymentIntent, { requestKey: randomUUID() });
    await adapter.refund(paymentIntent, { requestKey: randomUUID() });
    assert.deepEqual(
      only(event(await delivered(), 'charge.refunded').facts, 'payment.refunded').refundedTotal,
      { amountMinor: 1000, currency: 'USD' },
    );
  });

  test('refunding a payment Stripe does not know is a non-retryable error with its status code', async () => {
    await assert.rejects(
      adapter.refund('pi_doesnotexist000000000000', { requestKey: randomUUID() }),
      (err: unknown) => err instanceof ProviderError && !err.retryable && err.statusCode === 404,
    );
  });

  test('Stripe rule: a chargeback is open with its fee, and a lost one is lost (issue 10 defect 1)', async () => {
    const { paymentIntent } = await paidOneOff('4000 0000 0000 0259');
    const created = event(await delivered(), 'charge.dispute.created');
    const opened = only(created.facts, 'payment.disputed');
    assert.equal(opened.status, 'open');
    assert.equal(opened.paymentId, paymentIntent);
    assert.deepEqual(opened.fee, { amountMinor: 1500, currency: 'USD' });
    assert.deepEqual(created.calls, ['GET /v1/invoice_payments']);
    await sdk.disputes.close(opened.disputeId);
    const lost = only(event(await delivered(), 'charge.dispute.closed').facts, 'payment.disputed');
    assert.equal(lost.status, 'lost');
    assert.equal(lost.disputeId, opened.disputeId);
  });

  test('Stripe rule: an inquiry that closes is closed, with no money moved', async () => {
    await paidOneOff('4000 0000 0000 1976');
    const opened = only(event(await delivered(), 'charge.dispute.created').facts, 'payment.disputed');
    assert.equal(opened.fee, undefined);
    await fetch(`${sim.stripe.baseUrl}/_simulator/stripe/dispute/close`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ dispute: opened.disputeId, outcome: 'lost' }),
    });
    assert.equal(
      only(event(await delivered(), 'charge.dispute.closed').facts, 'payment.disputed').status,
      'closed',
    );
  });

  test('a signed body that is not an event is refused as unverifiable, not answered with a 500', async () => {
    for (const body of [
      'null',
      '[]',
      '{}',
      '{"id":"evt_1"}',
      '"text"',
      '{"id":"evt_1","type":"x","created":1}',
    ]) {
      const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET });
      await assert.rejects(
        adapter.verifyWebhook(Buffer.from(body), { 'stripe-signature': header }),
        WebhookVerificationError,
        body,
      );
    }
    await assert.rejects(adapter.verifyWebhook(Buffer.from('{}'), {}), WebhookVerificationError);
  });

  test('lists payments for reconciliation with what was refunded and disputed', async () => {
    const since = new Date((await simulatorNow()).getTime() - 60_000);
    const refundedPayment = await paidOneOff(undefined, { amount: { amountMinor: 900, currency: 'USD' } });
    await sdk.refunds.create({ payment_intent: refundedPayment.paymentIntent, amount: 400 });
    const disputedPayment = await paidOneOff('4000 0000 0000 0259');
    await delivered();
    const disputeId = (await sdk.disputes.list({ payment_intent: disputedPayment.paymentIntent })).data[0]!
      .id;
    await sdk.disputes.close(disputeId);
    await delivered();
    const listed = new Map<string, Awaited<ReturnType<typeof collect>>[number]>();
    for (const payment of await collect(since)) listed.set(payment.paymentId, payment);
    const refunded = listed.get(refundedPayment.paymentIntent);
    assert.equal(refunded?.status, 'partially_refunded');
    assert.equal(refunded?.refundedMinor, 400);
    assert.deepEqual(refunded?.disputes, []);
    assert.deepEqual(listed.get(disputedPayment.paymentIntent)?.disputes, [
      { id: disputeId, status: 'lost' },
    ]);
  });

  test('a bank debit completes unpaid (pending) and becomes a payment when it settles', async () => {
    // The adapter asks for cards; a bank-debit session is arranged straight at the simulator.
    const bank = await sdk.checkout.sessions.create({
      mode: 'payment',
      allowed_payment_method_types: ['us_bank_account'],
      line_items: [
        { quantity: 1, price_data: { currency: 'usd', unit_amount: 800, product_data: { name: 'Gift' } } },
      ],
      success_url: 'http://readerfund.test/donate/return/stripe?session_id={CHECKOUT_SESSION_ID}',
      metadata: { checkoutId: 'chk-bank' },
    });
    await payStripeSession(bank.url!, '000123456789');
    const completed = event(await delivered(), 'checkout.session.completed');
    assert.deepEqual(completed.facts, []);
    assert.deepEqual(completed.calls, [], 'nothing is read for a payment that is not money yet');
    assert.equal((await adapter.resolveCheckout(bank.id, 'once')).status, 'pending');
    await sim.advanceDays(3);
    const settled = event(await delivered(), 'checkout.session.async_payment_succeeded');
    const paid = only(settled.facts, 'payment.succeeded');
    assert.equal(paid.checkoutId, 'chk-bank');
    assert.deepEqual(paid.fee, { amountMinor: stripeFee(800), currency: 'USD' });
    assert.equal((await adapter.resolveCheckout(bank.id, 'once')).status, 'paid');
  });

  test('monthly support: the subscription and its first payment, each event for at most one API call', async () => {
    const { req, start, subscriptionId, invoiceId } = await subscribed();
    const list = await delivered();
    const created = event(list, 'customer.subscription.created');
    assert.deepEqual(created.calls, []);
    assert.equal(only(created.facts, 'subscription.moved').status, 'active');
    const invoice = event(list, 'invoice.paid');
    assert.deepEqual(invoice.calls, [`GET /v1/invoices/${invoiceId}`]);
    const paid = only(invoice.facts, 'payment.succeeded');
    assert.equal(paid.paymentId, invoiceId);
    assert.deepEqual(paid.fee, { amountMinor: stripeFee(500), currency: 'USD' });
    const completed = event(list, 'checkout.session.completed');
    assert.equal(completed.calls.length, 1);
    assert.equal(only(completed.facts, 'payment.succeeded').paymentId, invoiceId);

    const { result: outcome, calls } = await proxy.during(() =>
      adapter.resolveCheckout(start.providerRef, 'month'),
    );
    assert.equal(outcome.status, 'paid');
    assert.equal(calls.length, 1);
    const moved = only(outcome.facts, 'subscription.moved');
    assert.equal(moved.subscriptionId, subscriptionId);
    assert.equal(moved.checkoutId, req.checkoutId);
    assert.ok(moved.currentPeriodEnd && moved.currentPeriodEnd > new Date());
    assert.equal(moved.endsAt, null);
    assert.equal(only(outcome.facts, 'payment.succeeded').paymentId, invoiceId);

    const fetched = await adapter.fetchPayment(invoiceId);
    assert.equal(fetched?.kind, 'recurring');
    assert.equal(fetched?.subscriptionId, subscriptionId);
    assert.equal(fetched?.payer.email, 'reader@example.com');
  });

  test('cancelling at the period end keeps the subscription until then; cancelling now ends it (issue 10 defect 12)', async () => {
    const { subscriptionId } = await subscribed();
    await delivered();
    await adapter.cancelSubscription(subscriptionId, { reason: 'The reader asked', atPeriodEnd: true });
    const sub = await sdk.subscriptions.retrieve(subscriptionId);
    assert.equal(sub.status, 'active');
    assert.equal(sub.cancel_at_period_end, true);
    const scheduled = only(
      event(await delivered(), 'customer.subscription.updated').facts,
      'subscription.moved',
    );
    assert.equal(scheduled.status, 'active');
    assert.deepEqual(scheduled.endsAt, new Date(sub.items.data[0]!.current_period_end * 1000));

    await adapter.cancelSubscription(subscriptionId, { reason: 'Now, please', atPeriodEnd: false });
    const ended = only(event(await delivered(), 'customer.subscription.deleted').facts, 'subscription.moved');
    assert.equal(ended.status, 'cancelled');
    // Again, either way: it is over, which is what was asked.
    await adapter.cancelSubscription(subscriptionId, { reason: 'again', atPeriodEnd: false });
    await adapter.cancelSubscription(subscriptionId, { reason: 'again', atPeriodEnd: true });
  });

  test('a refund of a renewal refunds the invoice’s PaymentIntent and is recorded against the invoice (issue 10 defect 13)', async () => {
    const { subscriptionId } = await subscribed(600);
    await delivered();
    await sim.advanceDays(31);
    const renewal = only(event(await delivered(), 'invoice.paid', subscriptionId).facts, 'payment.succeeded');
    assert.equal(renewal.subscriptionId, subscriptionId);
    assert.match(renewal.paymentId, /^in_/);
    await adapter.refund(renewal.paymentId, { requestKey: randomUUID() });
    const refunded = only(event(await delivered(), 'charge.refunded').facts, 'payment.refunded');
    assert.equal(refunded.paymentId, renewal.paymentId);
    assert.deepEqual(refunded.refundedTotal, { amountMinor: 600, currency: 'USD' });
  });

  test('a new monthly amount is billed from the next period, without proration (issue 13)', async () => {
    const { subscriptionId } = await subscribed(500);
    await delivered();
    await adapter.changeSubscriptionAmount(
      subscriptionId,
      { amountMinor: 1200, currency: 'USD' },
      { planName: 'Monthly support of $12.00 for The Meridian Ledger', requestKey: randomUUID() },
    );
    const updated = event(await delivered(), 'customer.subscription.updated', subscriptionId);
    assert.deepEqual(updated.calls, []);
    assert.deepEqual(only(updated.facts, 'subscription.moved').amount, {
      amountMinor: 1200,
      currency: 'USD',
    });
    assert.equal(
      (await sdk.invoices.list({ subscription: subscriptionId })).data.length,
      1,
      'no proration invoice',
    );

    await sim.advanceDays(31);
    const renewal = only(event(await delivered(), 'invoice.paid', subscriptionId).facts, 'payment.succeeded');
    assert.deepEqual(renewal.amount, { amountMinor: 1200, currency: 'USD' });
    const invoice = await sdk.invoices.retrieve(renewal.paymentId);
    assert.match(invoice.lines.data[0]!.description ?? '', /\$12\.00/);

    await assert.rejects(
      adapter.changeSubscriptionAmount(
        subscriptionId,
        { amountMinor: 1200, currency: 'EUR' },
        { planName: 'x', requestKey: randomUUID() },
      ),
      (err: unknown) => err instanceof ProviderError && !err.retryable,
    );
  });
});

async function collect(since: Date) {
  const out = [];
  const until = new Date((await simulatorNow()).getTime() + 60_000);
  for await (const payment of adapter.listPayments(since, until)) out.push(payment);
  return out;
}

/** The simulator's clock, which the renewal tests move ahead of real time. */
async function simulatorNow(): Promise<Date> {
  const state = (await (await fetch(`${sim.stripe.baseUrl}/_simulator/state`)).json()) as { now: string };
  return new Date(state.now);
}
