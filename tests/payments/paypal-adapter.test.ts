import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/log.js';
import {
  createPayPalAdapter,
  type PayPalAdapterOptions,
  type PayPalPlanStore,
} from '../../src/payments/paypal/index.js';
import {
  ProviderError,
  WebhookVerificationError,
  type CheckoutRequest,
  type PaymentFact,
  type PaymentProvider,
} from '../../src/payments/types.js';
import { startPaymentSimulator } from '../../src/simulator/index.js';

const WEBHOOK_ID = 'WH-ADAPTER-TEST';

type Simulator = Awaited<ReturnType<typeof startPaymentSimulator>>;

/** Plans kept in memory, counting how often one had to be provisioned. */
function memoryPlanStore(): PayPalPlanStore & { saves: number; plans: Map<string, string> } {
  const plans = new Map<string, string>();
  const store = {
    saves: 0,
    plans,
    find: (key: string) => Promise.resolve(plans.get(key) ?? null),
    save: (key: string, planId: string) => {
      store.saves += 1;
      if (!plans.has(key)) plans.set(key, planId);
      return Promise.resolve(plans.get(key) ?? planId);
    },
  };
  return store;
}

interface Delivery {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

let sim: Simulator;
let receiver: Server;
const deliveries: Delivery[] = [];
let paypal: PaymentProvider;
const planStore = memoryPlanStore();

function adapterOptions(overrides: Partial<PayPalAdapterOptions> = {}): PayPalAdapterOptions {
  return {
    clientId: `adapter-test-${randomUUID()}`,
    clientSecret: 'adapter-test-secret',
    webhookId: WEBHOOK_ID,
    environment: { baseUrl: sim.paypal.baseUrl },
    extraCertOrigins: [new URL(sim.paypal.certUrl).origin],
    planStore,
    brandName: 'Readerfund',
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...overrides,
  };
}

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      deliveries.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  sim = await startPaymentSimulator({
    stripeWebhookSecret: 'whsec_adapter_test',
    paypalWebhookId: WEBHOOK_ID,
    stripePort: 0,
    paypalPort: 0,
  });
  sim.setWebhookTargets({
    paypal: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/paypal`,
  });
  paypal = createPayPalAdapter(adapterOptions());
});

after(async () => {
  await sim.stop();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

function checkout(overrides: Partial<CheckoutRequest> = {}): CheckoutRequest {
  return {
    checkoutId: randomUUID().replace(/-/g, '').slice(0, 24),
    plan: { id: 'one-off-5', name: 'A one-off gift', interval: 'once' },
    amount: { amountMinor: 500, currency: 'USD' },
    returnUrl: 'http://readerfund.test/donate/return/paypal',
    cancelUrl: 'http://readerfund.test/donate/cancel/paypal',
    ...overrides,
  };
}

/** Does what a reader's browser does on PayPal's page: load it, submit its form, follow to our return URL. */
async function approveAsReader(
  redirectUrl: string,
  email = 'reader@example.org',
): Promise<Record<string, string>> {
  const page = await fetch(redirectUrl);
  assert.equal(page.status, 200);
  const html = await page.text();
  const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
  assert.ok(form?.[1] && form[2], 'the approval page has a form');
  const fields = new URLSearchParams();
  for (const input of form[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.set(input[1] ?? '', input[2] ?? '');
  }
  fields.set('email', email);
  const submitted = await fetch(new URL(form[1], redirectUrl), {
    method: 'POST',
    body: fields,
    redirect: 'manual',
  });
  assert.equal(submitted.status, 303);
  const location = submitted.headers.get('location');
  if (location === null) assert.fail('the approval page redirected nowhere');
  assert.ok(location.startsWith('http://readerfund.test/donate/return/paypal'), `returned to ${location}`);
  return Object.fromEntries(new URL(location).searchParams);
}

function only<T extends PaymentFact['type']>(
  facts: PaymentFact[],
  type: T,
): Extract<PaymentFact, { type: T }> {
  const found = facts.filter((f): f is Extract<PaymentFact, { type: T }> => f.type === type);
  assert.equal(found.length, 1, `exactly one ${type} fact`);
  return found[0]!;
}

async function deliveredFacts(): Promise<{ type: string; facts: PaymentFact[] }[]> {
  await sim.idle();
  const out: { type: string; facts: PaymentFact[] }[] = [];
  for (const delivery of deliveries.splice(0)) {
    const event = await paypal.verifyWebhook(delivery.body, delivery.headers);
    out.push({ type: event.type, facts: await paypal.factsFromEvent(event) });
  }
  return out;
}

describe('PayPal adapter against the payment simulator', () => {
  test('a one-off gift is created as an order, approved by the reader and captured on return', async () => {
    const request = checkout();
    const start = await paypal.startCheckout(request);
    assert.ok(start.providerRef);
    assert.ok(start.redirectUrl.startsWith(sim.paypal.baseUrl));

    const query = await approveAsReader(start.redirectUrl);
    assert.equal(query.token, start.providerRef);

    const outcome = await paypal.completeReturn(query);
    assert.equal(outcome.status, 'paid');
    assert.equal(outcome.checkoutId, request.checkoutId);
    const paid = only(outcome.facts, 'payment.succeeded');
    assert.equal(paid.kind, 'one_off');
    assert.equal(paid.checkoutId, request.checkoutId);
    assert.deepEqual(paid.amount, { amountMinor: 500, currency: 'USD' });
    assert.equal(paid.payer.email, 'reader@example.org');
    assert.ok(paid.payer.customerId);

    // Reloading the return page finds the order already captured and reports the same payment.
    const again = await paypal.completeReturn(query);
    assert.equal(again.status, 'paid');
    assert.equal(only(again.facts, 'payment.succeeded').paymentId, paid.paymentId);

    // The webhook PayPal sends for the capture names the same payment and checkout.
    const events = await deliveredFacts();
    const captured = events.find((e) => e.type === 'PAYMENT.CAPTURE.COMPLETED');
    assert.ok(captured, 'a capture webhook arrived and verified');
    const fromWebhook = only(captured.facts, 'payment.succeeded');
    assert.equal(fromWebhook.paymentId, paid.paymentId);
    assert.equal(fromWebhook.checkoutId, request.checkoutId);
    assert.deepEqual(fromWebhook.amount, paid.amount);
  });

  test('a zero-decimal currency is sent and read back exactly', async () => {
    const start = await paypal.startCheckout(checkout({ amount: { amountMinor: 1500, currency: 'JPY' } }));
    const outcome = await paypal.completeReturn(await approveAsReader(start.redirectUrl));
    assert.deepEqual(only(outcome.facts, 'payment.succeeded').amount, {
      amountMinor: 1500,
      currency: 'JPY',
    });
  });

  test('a return before the reader approved is pending, with nothing recorded', async () => {
    const start = await paypal.startCheckout(checkout());
    const outcome = await paypal.completeReturn({ token: start.providerRef });
    assert.equal(outcome.status, 'pending');
    assert.deepEqual(outcome.facts, []);
  });

  test('starting the same checkout twice creates one order', async () => {
    const request = checkout();
    const first = await paypal.startCheckout(request);
    const second = await paypal.startCheckout(request);
    assert.equal(second.providerRef, first.providerRef);
  });

  test('monthly support provisions its plan once and activates a subscription on return', async () => {
    const request = checkout({
      plan: { id: 'monthly-7', name: 'Monthly support', interval: 'month' },
      amount: { amountMinor: 700, currency: 'USD' },
      email: 'monthly@example.org',
    });
    const start = await paypal.startCheckout(request);
    assert.match(start.providerRef, /^I-/);
    assert.equal(planStore.plans.size, 1);
    assert.ok(planStore.plans.has('700:USD:month'));

    const query = await approveAsReader(start.redirectUrl, 'monthly@example.org');
    assert.equal(query.subscription_id, start.providerRef);
    const outcome = await paypal.completeReturn(query);
    assert.equal(outcome.status, 'paid');
    assert.equal(outcome.checkoutId, request.checkoutId);
    const activated = only(outcome.facts, 'subscription.activated');
    assert.equal(activated.subscriptionId, start.providerRef);
    assert.deepEqual(activated.amount, { amountMinor: 700, currency: 'USD' });
    assert.equal(activated.payer.email, 'monthly@example.org');
    assert.ok(activated.currentPeriodEnd && activated.currentPeriodEnd > new Date());

    // A second monthly supporter at the same amount reuses the plan.
    const savesBefore = planStore.saves;
    const other = await paypal.startCheckout({ ...request, checkoutId: randomUUID() });
    assert.notEqual(other.providerRef, start.providerRef);
    assert.equal(planStore.saves, savesBefore);

    // Webhooks: the activation and the first recurring payment.
    const events = await deliveredFacts();
    const sale = events.find((e) => e.type === 'PAYMENT.SALE.COMPLETED');
    assert.ok(sale);
    const recurring = only(sale.facts, 'payment.succeeded');
    assert.equal(recurring.kind, 'recurring');
    assert.equal(recurring.subscriptionId, start.providerRef);
    assert.equal(recurring.checkoutId, request.checkoutId);
    assert.deepEqual(recurring.amount, { amountMinor: 700, currency: 'USD' });
    const activation = events.find((e) => e.type === 'BILLING.SUBSCRIPTION.ACTIVATED');
    assert.ok(activation);
    const activatedByWebhook = only(activation.facts, 'subscription.activated');
    assert.equal(activatedByWebhook.subscriptionId, start.providerRef);
    assert.equal(activatedByWebhook.checkoutId, request.checkoutId);
    // Taken from the last payment, or from the plan's price when the event predates the payment.
    assert.deepEqual(activatedByWebhook.amount, { amountMinor: 700, currency: 'USD' });

    // The recurring payment can be re-read and refunded like a capture.
    const fetched = await paypal.fetchPayment(recurring.paymentId);
    assert.equal(fetched?.kind, 'recurring');
    assert.deepEqual(fetched?.amount, recurring.amount);
    await paypal.refund(recurring.paymentId);
    const refundEvents = await deliveredFacts();
    const saleRefund = refundEvents.find((e) => e.type === 'PAYMENT.SALE.REFUNDED');
    assert.ok(saleRefund);
    const refunded = only(saleRefund.facts, 'payment.refunded');
    assert.equal(refunded.paymentId, recurring.paymentId);
    assert.deepEqual(refunded.refund?.amount, { amountMinor: 700, currency: 'USD' });

    // Cancelling ends it, and cancelling again is not an error.
    await paypal.cancelSubscription(start.providerRef, 'The reader asked to stop');
    await paypal.cancelSubscription(start.providerRef, 'The reader asked to stop');
    const cancelEvents = await deliveredFacts();
    const cancelled = cancelEvents.find((e) => e.type === 'BILLING.SUBSCRIPTION.CANCELLED');
    assert.ok(cancelled);
    assert.equal(only(cancelled.facts, 'subscription.status_changed').status, 'cancelled');
    assert.equal((await paypal.completeReturn(query)).status, 'cancelled');
  });

  test('cancelling a subscription PayPal does not know is a non-retryable error', async () => {
    await assert.rejects(
      paypal.cancelSubscription('I-DOESNOTEXIST0', 'no reason'),
      (err: unknown) => err instanceof ProviderError && !err.retryable && /HTTP 404/.test(err.message),
    );
  });

  test('a capture is refunded in part, then in full, and each refund arrives as its own fact', async () => {
    const start = await paypal.startCheckout(checkout({ amount: { amountMinor: 1000, currency: 'USD' } }));
    const outcome = await paypal.completeReturn(await approveAsReader(start.redirectUrl));
    const paid = only(outcome.facts, 'payment.succeeded');
    await deliveredFacts();

    await paypal.refund(paid.paymentId, { amountMinor: 250, currency: 'USD' });
    await paypal.refund(paid.paymentId);
    const refunds = (await deliveredFacts())
      .filter((e) => e.type === 'PAYMENT.CAPTURE.REFUNDED')
      .map((e) => only(e.facts, 'payment.refunded'));
    assert.equal(refunds.length, 2);
    for (const refund of refunds) assert.equal(refund.paymentId, paid.paymentId);
    assert.deepEqual(
      refunds.map((r) => r.refund?.amount.amountMinor).sort((a, b) => (a ?? 0) - (b ?? 0)),
      [250, 750],
    );
    assert.notEqual(refunds[0]?.refund?.id, refunds[1]?.refund?.id);

    // Still a payment that happened; the refunds are separate facts.
    const fetched = await paypal.fetchPayment(paid.paymentId);
    assert.equal(fetched?.paymentId, paid.paymentId);
    assert.deepEqual(fetched?.amount, { amountMinor: 1000, currency: 'USD' });
    assert.equal(fetched?.checkoutId, outcome.checkoutId);
  });

  test('re-reading a payment PayPal does not know gives null', async () => {
    assert.equal(await paypal.fetchPayment('0NOSUCHPAYMENT00'), null);
  });

  test('lists captured payments for reconciliation', async () => {
    const since = new Date(Date.now() - 86_400_000);
    const start = await paypal.startCheckout(checkout({ amount: { amountMinor: 321, currency: 'USD' } }));
    const outcome = await paypal.completeReturn(await approveAsReader(start.redirectUrl));
    const paid = only(outcome.facts, 'payment.succeeded');
    const listed = [];
    for await (const payment of paypal.listPayments(since, new Date(Date.now() + 86_400_000))) {
      listed.push(payment);
    }
    const found = listed.find((p) => p.paymentId === paid.paymentId);
    assert.ok(found, 'the capture is listed');
    assert.deepEqual(found.amount, { amountMinor: 321, currency: 'USD' });
    assert.equal(found.status, 'succeeded');
  });

  test('a simulator-signed webhook verifies, and the same delivery with another body does not', async () => {
    const start = await paypal.startCheckout(checkout());
    await paypal.completeReturn(await approveAsReader(start.redirectUrl));
    await sim.idle();
    const delivery = deliveries.at(-1);
    assert.ok(delivery, 'a webhook was delivered');
    const event = await paypal.verifyWebhook(delivery.body, delivery.headers);
    assert.ok(event.eventId);
    const forged = Buffer.from(delivery.body.toString('utf8').replace(/"value":"5.00"/g, '"value":"0.01"'));
    assert.notDeepEqual(forged, delivery.body);
    await assert.rejects(paypal.verifyWebhook(forged, delivery.headers), WebhookVerificationError);
    deliveries.length = 0;
  });

  test('when the certificate cannot be downloaded, PayPal’s verification service decides', async () => {
    const start = await paypal.startCheckout(checkout());
    await paypal.completeReturn(await approveAsReader(start.redirectUrl));
    await sim.idle();
    const delivery = deliveries.at(-1);
    assert.ok(delivery, 'a webhook was delivered');
    deliveries.length = 0;
    const noCertificates = createPayPalAdapter(
      adapterOptions({ fetch: () => Promise.reject(new TypeError('fetch failed')) }),
    );
    const event = await noCertificates.verifyWebhook(delivery.body, delivery.headers);
    assert.equal(event.type, JSON.parse(delivery.body.toString('utf8')).event_type);
    await assert.rejects(
      noCertificates.verifyWebhook(delivery.body, {
        ...delivery.headers,
        'paypal-transmission-id': randomUUID(),
      }),
      (err: unknown) => err instanceof WebhookVerificationError && /FAILURE/.test(err.message),
    );
  });

  test('an unreachable PayPal is a retryable provider error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const offline = createPayPalAdapter(
      adapterOptions({ environment: { baseUrl: `http://127.0.0.1:${port}` } }),
    );
    await assert.rejects(
      offline.startCheckout(checkout()),
      (err: unknown) =>
        err instanceof ProviderError && err.retryable && /Could not reach PayPal/.test(err.message),
    );
  });
  // Runs last: it moves the simulator's clock two months ahead.
  test('renewals arrive as recurring payments, and a failed renewal makes the subscription past due', async () => {
    const request = checkout({
      plan: { id: 'monthly-9', name: 'Monthly support', interval: 'month' },
      amount: { amountMinor: 900, currency: 'EUR' },
    });
    const start = await paypal.startCheckout(request);
    await paypal.completeReturn(await approveAsReader(start.redirectUrl));
    await deliveredFacts();

    await sim.advanceDays(31);
    const renewed = (await deliveredFacts()).filter((e) => e.type === 'PAYMENT.SALE.COMPLETED');
    assert.equal(renewed.length, 1);
    const payment = only(renewed[0]?.facts ?? [], 'payment.succeeded');
    assert.equal(payment.kind, 'recurring');
    assert.equal(payment.subscriptionId, start.providerRef);
    assert.deepEqual(payment.amount, { amountMinor: 900, currency: 'EUR' });

    await sim.advanceDays(31, { failRenewals: true });
    const failed = (await deliveredFacts()).find((e) => e.type === 'BILLING.SUBSCRIPTION.PAYMENT.FAILED');
    assert.ok(failed);
    assert.equal(only(failed.facts, 'payment.failed').subscriptionId, start.providerRef);
    assert.equal(only(failed.facts, 'subscription.status_changed').status, 'past_due');
  });
});
