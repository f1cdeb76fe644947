import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createVerify, X509Certificate } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Harness, PayPalRequest, ReceivedRequest } from './helpers.js';
import { approvePayPal, link, PAYPAL_WEBHOOK_ID, startHarness } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.stop();
});

type Json = Record<string, unknown>;

function custom(
  path: string,
  verb: string,
  body?: unknown,
  headers: Record<string, string> = {},
): PayPalRequest {
  return {
    path,
    verb,
    ...(body !== undefined ? { body } : {}),
    headers: { 'Content-Type': 'application/json', ...headers },
  };
}

function paypalRequests(): ReceivedRequest[] {
  return h.receiver.requests.filter((r) => r.path === '/webhooks/paypal');
}

function paypalEvents(): Array<{ id: string; event_type: string; resource: Json }> {
  return paypalRequests().map((r) => JSON.parse(r.body));
}

/** PayPal's fallback verification call, made through the SDK's client as the app does. */
async function verifyThroughApi(req: ReceivedRequest): Promise<string> {
  const res = await h.paypal.execute<{ verification_status: string }>(
    custom('/v1/notifications/verify-webhook-signature', 'POST', {
      auth_algo: req.headers['paypal-auth-algo'],
      cert_url: req.headers['paypal-cert-url'],
      transmission_id: req.headers['paypal-transmission-id'],
      transmission_sig: req.headers['paypal-transmission-sig'],
      transmission_time: req.headers['paypal-transmission-time'],
      webhook_id: PAYPAL_WEBHOOK_ID,
      webhook_event: JSON.parse(req.body),
    }),
  );
  return res.result!.verification_status;
}

async function createOrder(value = '5.00', extra: Json = {}): Promise<Json> {
  const request = new h.paypalSdk.orders.OrdersCreateRequest();
  request.prefer('return=representation');
  request.requestBody({
    intent: 'CAPTURE',
    purchase_units: [
      { amount: { currency_code: 'EUR', value }, custom_id: 'chk_pp_1', reference_id: 'chk_pp_1' },
    ],
    application_context: {
      return_url: 'http://app.test/paypal/return',
      cancel_url: 'http://app.test/donate',
    },
    ...extra,
  });
  const res = await h.paypal.execute<Json>(request);
  assert.equal(res.statusCode, 201);
  return res.result!;
}

/** An order the buyer approved and the merchant captured; its capture id. */
async function capturedOrder(value: string): Promise<string> {
  const order = await createOrder(value);
  await approvePayPal(link(order.links, 'approve'));
  const captured = await h.paypal.execute<Json>(
    new h.paypalSdk.orders.OrdersCaptureRequest(String(order.id)),
  );
  const units = captured.result!.purchase_units as Array<{ payments: { captures: Json[] } }>;
  return String(units[0]!.payments.captures[0]!.id);
}

/** A monthly plan (7.00 EUR unless `value`), under a new product unless `productId`. */
async function createPlan(
  extra: Json = {},
  options: { value?: string; totalCycles?: number; productId?: string } = {},
): Promise<string> {
  let productId = options.productId;
  if (!productId) {
    const product = await h.paypal.execute<Json>(
      custom('/v1/catalogs/products', 'POST', { name: 'Readerfund monthly', type: 'SERVICE' }),
    );
    assert.equal(product.statusCode, 201);
    assert.match(String(product.result!.id), /^PROD-/);
    productId = String(product.result!.id);
  }
  const value = options.value ?? '7.00';
  const plan = await h.paypal.execute<Json>(
    custom('/v1/billing/plans', 'POST', {
      product_id: productId,
      name: `Monthly ${value} EUR`,
      billing_cycles: [
        {
          frequency: { interval_unit: 'MONTH', interval_count: 1 },
          tenure_type: 'REGULAR',
          sequence: 1,
          total_cycles: options.totalCycles ?? 0,
          pricing_scheme: { fixed_price: { value, currency_code: 'EUR' } },
        },
      ],
      payment_preferences: { auto_bill_outstanding: true, payment_failure_threshold: 2 },
      ...extra,
    }),
  );
  assert.equal(plan.statusCode, 201);
  assert.equal(plan.result!.status, 'ACTIVE');
  return String(plan.result!.id);
}

async function subscribe(planId: string): Promise<string> {
  const created = await h.paypal.execute<Json>(
    custom('/v1/billing/subscriptions', 'POST', {
      plan_id: planId,
      custom_id: 'chk_pp_sub',
      application_context: {
        return_url: 'http://app.test/paypal/subscribed',
        cancel_url: 'http://app.test/donate',
        user_action: 'SUBSCRIBE_NOW',
      },
    }),
  );
  assert.equal(created.statusCode, 201);
  assert.equal(created.result!.status, 'APPROVAL_PENDING');
  const id = String(created.result!.id);
  assert.match(id, /^I-/);
  const approved = await approvePayPal(link(created.result!.links, 'approve'));
  assert.equal(approved.status, 303);
  const redirect = new URL(approved.location!);
  assert.equal(`${redirect.origin}${redirect.pathname}`, 'http://app.test/paypal/subscribed');
  assert.equal(redirect.searchParams.get('subscription_id'), id);
  return id;
}

describe('PayPal simulator: orders', () => {
  it('creates an order with an approve link; a minimal answer unless return=representation is asked for', async () => {
    const minimal = new h.paypalSdk.orders.OrdersCreateRequest();
    minimal.requestBody({
      intent: 'CAPTURE',
      purchase_units: [{ amount: { currency_code: 'USD', value: '3.00' } }],
    });
    const res = await h.paypal.execute<Json>(minimal);
    assert.equal(res.statusCode, 201);
    assert.deepEqual(Object.keys(res.result!).sort(), ['id', 'links', 'status']);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.result!.status, 'CREATED');
    assert.ok(link(res.result!.links, 'approve').startsWith(h.sim.paypal.baseUrl));

    const full = await createOrder();
    assert.equal((full.purchase_units as Json[])[0]!.custom_id, 'chk_pp_1');
  });

  it('approves on the hosted page, redirects to the return URL and captures with PAYMENT.CAPTURE.COMPLETED', async () => {
    const order = await createOrder();
    const approved = await approvePayPal(link(order.links, 'approve'));
    assert.equal(approved.status, 303);
    const back = new URL(approved.location!);
    assert.equal(back.searchParams.get('token'), order.id);
    assert.ok(back.searchParams.get('PayerID'));

    const got = await h.paypal.execute<Json>(new h.paypalSdk.orders.OrdersGetRequest(String(order.id)));
    assert.equal(got.result!.status, 'APPROVED');

    const capture = new h.paypalSdk.orders.OrdersCaptureRequest(String(order.id));
    capture.requestBody({});
    const captured = await h.paypal.execute<Json>(capture);
    assert.equal(captured.statusCode, 201);
    assert.equal(captured.result!.status, 'COMPLETED');
    const unit = (captured.result!.purchase_units as Array<{ payments: { captures: Json[] } }>)[0]!;
    const cap = unit.payments.captures[0]!;
    assert.equal(cap.status, 'COMPLETED');
    assert.deepEqual(cap.amount, { currency_code: 'EUR', value: '5.00' });
    assert.equal(cap.custom_id, 'chk_pp_1');
    assert.equal((captured.result!.payer as Json).email_address, 'sb-buyer@personal.example.com');

    const fetched = await h.paypal.execute<Json>(new h.paypalSdk.payments.CapturesGetRequest(String(cap.id)));
    assert.equal(fetched.result!.id, cap.id);

    await h.sim.idle();
    const types = paypalEvents()
      .filter((e) => e.resource.id === order.id || e.resource.id === cap.id)
      .map((e) => e.event_type);
    assert.deepEqual(types, ['CHECKOUT.ORDER.APPROVED', 'PAYMENT.CAPTURE.COMPLETED']);
  });

  it('refuses to capture an order the payer has not approved', async () => {
    const order = await createOrder();
    await assert.rejects(
      h.paypal.execute(new h.paypalSdk.orders.OrdersCaptureRequest(String(order.id))),
      (err: { statusCode: number; message: string }) =>
        err.statusCode === 422 && JSON.parse(err.message).details[0].issue === 'ORDER_NOT_APPROVED',
    );
  });

  it('replays a capture for a reused PayPal-Request-Id and rejects the id on another request', async () => {
    const order = await createOrder();
    await approvePayPal(link(order.links, 'approve'));
    const first = new h.paypalSdk.orders.OrdersCaptureRequest(String(order.id));
    first.payPalRequestId('capture-once');
    first.requestBody({});
    const a = await h.paypal.execute<Json>(first);
    const again = new h.paypalSdk.orders.OrdersCaptureRequest(String(order.id));
    again.payPalRequestId('capture-once');
    again.requestBody({});
    const b = await h.paypal.execute<Json>(again);
    assert.equal(a.statusCode, 201);
    assert.equal(b.statusCode, 200);
    assert.deepEqual(b.result, a.result);

    const other = await createOrder('9.00');
    const reuse = new h.paypalSdk.orders.OrdersCaptureRequest(String(other.id));
    reuse.payPalRequestId('capture-once');
    reuse.requestBody({});
    await assert.rejects(
      h.paypal.execute(reuse),
      (err: { statusCode: number; message: string }) =>
        err.statusCode === 422 &&
        JSON.parse(err.message).details[0].issue === 'PAYPAL_REQUEST_ID_PREVIOUSLY_USED',
    );
    const withoutId = new h.paypalSdk.orders.OrdersCaptureRequest(String(order.id));
    withoutId.requestBody({});
    await assert.rejects(
      h.paypal.execute(withoutId),
      (err: { statusCode: number }) => err.statusCode === 422,
    );
  });

  it('refunds a capture and emits PAYMENT.CAPTURE.REFUNDED', async () => {
    const captureId = await capturedOrder('10.00');
    const refundRequest = new h.paypalSdk.payments.CapturesRefundRequest(captureId);
    refundRequest.requestBody({ amount: { currency_code: 'EUR', value: '4.00' } });
    const refund = await h.paypal.execute<Json>(refundRequest);
    assert.equal(refund.statusCode, 201);
    assert.equal(refund.result!.status, 'COMPLETED');
    const capture = await h.paypal.execute<Json>(new h.paypalSdk.payments.CapturesGetRequest(captureId));
    assert.equal(capture.result!.status, 'PARTIALLY_REFUNDED');
    await h.sim.idle();
    const event = paypalEvents().find(
      (e) => e.event_type === 'PAYMENT.CAPTURE.REFUNDED' && e.resource.id === refund.result!.id,
    );
    assert.ok(event);
    assert.deepEqual(event.resource.amount, { currency_code: 'EUR', value: '4.00' });
    assert.equal(event.resource.custom_id, 'chk_pp_1');
    assert.equal(
      link(event.resource.links, 'up'),
      `${h.sim.paypal.baseUrl}/v2/payments/captures/${captureId}`,
    );
  });

  it('signs webhooks so that PayPal verification and an offline RSA check both succeed', async () => {
    await h.sim.idle();
    const requests = paypalRequests();
    assert.ok(requests.length > 0);
    const certRes = await fetch(h.sim.paypal.certUrl);
    const cert = new X509Certificate(await certRes.text());
    assert.match(cert.subject, /CN=messageverificationcerts\.paypal\.com/);
    assert.ok(Date.parse(cert.validFrom) < Date.now() && Date.now() < Date.parse(cert.validTo));
    for (const req of requests.slice(0, 3)) {
      assert.equal(req.headers['paypal-auth-algo'], 'SHA256withRSA');
      assert.equal(req.headers['paypal-cert-url'], h.sim.paypal.certUrl);
      assert.equal(await verifyThroughApi(req), 'SUCCESS');
      const message = `${String(req.headers['paypal-transmission-id'])}|${String(req.headers['paypal-transmission-time'])}|${PAYPAL_WEBHOOK_ID}|${crc32(req.body) >>> 0}`;
      const ok = createVerify('RSA-SHA256')
        .update(message)
        .verify(cert.publicKey, String(req.headers['paypal-transmission-sig']), 'base64');
      assert.equal(ok, true);
    }
  });

  it('answers FAILURE when a webhook event was tampered with', async () => {
    await h.sim.idle();
    const req = paypalRequests()[0]!;
    const tampered = JSON.parse(req.body) as Json;
    tampered.event_type = 'PAYMENT.CAPTURE.REFUNDED';
    const res = await h.paypal.execute<{ verification_status: string }>(
      custom('/v1/notifications/verify-webhook-signature', 'POST', {
        auth_algo: req.headers['paypal-auth-algo'],
        cert_url: req.headers['paypal-cert-url'],
        transmission_id: req.headers['paypal-transmission-id'],
        transmission_sig: req.headers['paypal-transmission-sig'],
        transmission_time: req.headers['paypal-transmission-time'],
        webhook_id: PAYPAL_WEBHOOK_ID,
        webhook_event: tampered,
      }),
    );
    assert.equal(res.result!.verification_status, 'FAILURE');
  });
});

describe('PayPal simulator: subscriptions', () => {
  it('announces a new subscription, activates it on approval and takes the first payment as PAYMENT.SALE.COMPLETED', async () => {
    const planId = await createPlan();
    const id = await subscribe(planId);
    const sub = await h.paypal.execute<Json>(custom(`/v1/billing/subscriptions/${id}`, 'GET'));
    assert.equal(sub.result!.status, 'ACTIVE');
    assert.equal(sub.result!.custom_id, 'chk_pp_sub');
    assert.equal(sub.result!.plan_id, planId);
    await h.sim.idle();
    const mine = paypalEvents().filter((e) => e.resource.id === id || e.resource.billing_agreement_id === id);
    assert.deepEqual(
      mine.map((e) => e.event_type),
      ['BILLING.SUBSCRIPTION.CREATED', 'BILLING.SUBSCRIPTION.ACTIVATED', 'PAYMENT.SALE.COMPLETED'],
    );
    assert.equal(mine[0]!.resource.status, 'APPROVAL_PENDING');
    const sale = mine[2]!.resource;
    // 3.49% of 7.00 is 24.43 minor units, rounded half up to 24, plus 49.
    assert.deepEqual(sale.transaction_fee, { value: '0.73', currency: 'EUR' });
    assert.deepEqual(sale.amount, { total: '7.00', currency: 'EUR', details: { subtotal: '7.00' } });
    assert.equal(sale.state, 'completed');
  });

  it('bills renewals on the test clock, reports payment failures and suspends past the threshold', async () => {
    const planId = await createPlan();
    const id = await subscribe(planId);
    await h.sim.advanceDays(31);
    await h.sim.idle();
    const sales = () =>
      paypalEvents().filter(
        (e) => e.event_type === 'PAYMENT.SALE.COMPLETED' && e.resource.billing_agreement_id === id,
      );
    assert.equal(sales().length, 2);

    await h.sim.advanceDays(31, { failRenewals: true });
    await h.sim.idle();
    const failures = () =>
      paypalEvents().filter(
        (e) => e.event_type === 'BILLING.SUBSCRIPTION.PAYMENT.FAILED' && e.resource.id === id,
      );
    assert.equal(failures().length, 1);
    await h.sim.advanceDays(31, { failRenewals: true });
    await h.sim.idle();
    assert.equal(failures().length, 2);
    const sub = await h.paypal.execute<Json>(custom(`/v1/billing/subscriptions/${id}`, 'GET'));
    assert.equal(sub.result!.status, 'SUSPENDED');
    assert.ok(
      paypalEvents().some((e) => e.event_type === 'BILLING.SUBSCRIPTION.SUSPENDED' && e.resource.id === id),
    );
  });

  it('cancels with 204 and emits BILLING.SUBSCRIPTION.CANCELLED', async () => {
    const id = await subscribe(await createPlan());
    const res = await h.paypal.execute(
      custom(`/v1/billing/subscriptions/${id}/cancel`, 'POST', { reason: 'Reader asked' }),
    );
    assert.equal(res.statusCode, 204);
    assert.equal(res.result, undefined);
    await assert.rejects(
      h.paypal.execute(custom(`/v1/billing/subscriptions/${id}/cancel`, 'POST', { reason: 'again' })),
      (err: { statusCode: number }) => err.statusCode === 422,
    );
    await h.sim.idle();
    assert.ok(
      paypalEvents().some((e) => e.event_type === 'BILLING.SUBSCRIPTION.CANCELLED' && e.resource.id === id),
    );
  });

  it('refunds a recurring payment from the dashboard as PAYMENT.SALE.REFUNDED', async () => {
    const id = await subscribe(await createPlan());
    await h.sim.idle();
    const sale = paypalEvents().find(
      (e) => e.event_type === 'PAYMENT.SALE.COMPLETED' && e.resource.billing_agreement_id === id,
    )!;
    const res = await fetch(`${h.sim.stripe.baseUrl}/_simulator/paypal/refund`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sale: sale.resource.id }),
    });
    assert.equal(res.status, 200);
    await h.sim.idle();
    const refunded = paypalEvents().find(
      (e) => e.event_type === 'PAYMENT.SALE.REFUNDED' && e.resource.sale_id === sale.resource.id,
    );
    assert.ok(refunded);
    assert.equal(refunded.resource.billing_agreement_id, id);
    assert.deepEqual(refunded.resource.amount, { total: '-7.00', currency: 'EUR' });
  });

  it('reverses a capture and a recurring payment from the dashboard as PAYMENT.CAPTURE.REVERSED and PAYMENT.SALE.REVERSED', async () => {
    const captureId = await capturedOrder('6.00');
    const id = await subscribe(await createPlan());
    await h.sim.idle();
    const sale = paypalEvents().find(
      (e) => e.event_type === 'PAYMENT.SALE.COMPLETED' && e.resource.billing_agreement_id === id,
    )!;
    for (const body of [{ capture: captureId }, { sale: String(sale.resource.id) }]) {
      const res = await fetch(`${h.sim.stripe.baseUrl}/_simulator/paypal/reverse`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
    }
    await h.sim.idle();
    const capture = await h.paypal.execute<Json>(new h.paypalSdk.payments.CapturesGetRequest(captureId));
    assert.equal(capture.result!.status, 'REVERSED');
    const reversed = paypalEvents().find(
      (e) =>
        e.event_type === 'PAYMENT.CAPTURE.REVERSED' &&
        e.resource.custom_id === 'chk_pp_1' &&
        link(e.resource.links, 'up').endsWith(captureId),
    );
    assert.ok(reversed);
    assert.deepEqual(reversed.resource.amount, { currency_code: 'EUR', value: '6.00' });
    const saleReversed = paypalEvents().find(
      (e) => e.event_type === 'PAYMENT.SALE.REVERSED' && e.resource.sale_id === sale.resource.id,
    );
    assert.ok(saleReversed);
    assert.equal(saleReversed.resource.billing_agreement_id, id);
  });

  it('lists captures, sales and refunds in the transaction search', async () => {
    const start = new Date(Date.now() - 3600_000).toISOString();
    const end = new Date(Date.now() + 400 * 86_400_000).toISOString();
    await assert.rejects(
      h.paypal.execute(custom(`/v1/reporting/transactions?start_date=${start}&end_date=${end}`, 'GET')),
      (err: { statusCode: number }) => err.statusCode === 400,
    );
    const res = await h.paypal.execute<{
      transaction_details: Array<{
        transaction_info: { transaction_event_code: string; transaction_amount: { value: string } };
      }>;
      total_items: number;
    }>(
      custom(
        `/v1/reporting/transactions?start_date=${encodeURIComponent(start)}&end_date=${encodeURIComponent(new Date(Date.now() + 30 * 86_400_000).toISOString())}&fields=all`,
        'GET',
      ),
    );
    const codes = new Set(
      res.result!.transaction_details.map((t) => t.transaction_info.transaction_event_code),
    );
    assert.ok(codes.has('T0006'), 'order captures');
    assert.ok(codes.has('T0002'), 'subscription payments');
    assert.ok(codes.has('T1107'), 'refunds');
    assert.equal(res.result!.total_items, res.result!.transaction_details.length);
  });

  it('revises a subscription to another plan of its product, billed from the next cycle, with BILLING.SUBSCRIPTION.UPDATED', async () => {
    const planId = await createPlan();
    const id = await subscribe(planId);
    const current = await h.paypal.execute<Json>(custom(`/v1/billing/plans/${planId}`, 'GET'));
    const bigger = await createPlan({}, { value: '12.00', productId: String(current.result!.product_id) });
    const revised = await h.paypal.execute<Json>(
      custom(`/v1/billing/subscriptions/${id}/revise`, 'POST', { plan_id: bigger }),
    );
    assert.equal(revised.statusCode, 200);
    assert.equal(revised.result!.plan_id, bigger);
    const otherProduct = await createPlan();
    await assert.rejects(
      h.paypal.execute(custom(`/v1/billing/subscriptions/${id}/revise`, 'POST', { plan_id: otherProduct })),
      (err: { statusCode: number }) => err.statusCode === 422,
    );
    await h.sim.advanceDays(31);
    await h.sim.idle();
    assert.ok(
      paypalEvents().some(
        (e) =>
          e.event_type === 'BILLING.SUBSCRIPTION.UPDATED' &&
          e.resource.id === id &&
          e.resource.plan_id === bigger,
      ),
    );
    const renewals = paypalEvents().filter(
      (e) => e.event_type === 'PAYMENT.SALE.COMPLETED' && e.resource.billing_agreement_id === id,
    );
    assert.deepEqual(
      renewals.map((e) => (e.resource.amount as { total: string }).total),
      ['7.00', '12.00'],
    );
  });

  it('expires a subscription of a finite plan after its last cycle with BILLING.SUBSCRIPTION.EXPIRED', async () => {
    const planId = await createPlan({}, { totalCycles: 2 });
    const id = await subscribe(planId);
    await h.sim.advanceDays(31);
    await h.sim.advanceDays(31);
    await h.sim.idle();
    const sub = await h.paypal.execute<Json>(custom(`/v1/billing/subscriptions/${id}`, 'GET'));
    assert.equal(sub.result!.status, 'EXPIRED');
    const mine = paypalEvents().filter((e) => e.resource.id === id || e.resource.billing_agreement_id === id);
    assert.equal(mine.filter((e) => e.event_type === 'PAYMENT.SALE.COMPLETED').length, 2);
    assert.equal(mine.at(-1)!.event_type, 'BILLING.SUBSCRIPTION.EXPIRED');
  });

  it('re-activates a suspended subscription with BILLING.SUBSCRIPTION.RE-ACTIVATED', async () => {
    const id = await subscribe(await createPlan());
    await h.paypal.execute(custom(`/v1/billing/subscriptions/${id}/suspend`, 'POST', { reason: 'pause' }));
    await h.paypal.execute(custom(`/v1/billing/subscriptions/${id}/activate`, 'POST', { reason: 'back' }));
    await h.sim.idle();
    const types = paypalEvents()
      .filter((e) => e.resource.id === id)
      .map((e) => e.event_type);
    assert.deepEqual(types.slice(-2), [
      'BILLING.SUBSCRIPTION.SUSPENDED',
      'BILLING.SUBSCRIPTION.RE-ACTIVATED',
    ]);
  });

  it('opens, escalates and settles disputes: a buyer-favour decision reverses the payment', async () => {
    const captureId = await capturedOrder('8.00');
    const open = async (stage: string) => {
      const res = await fetch(`${h.sim.paypal.baseUrl}/_simulator/paypal/disputes`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ transaction_id: captureId, stage }),
      });
      assert.equal(res.status, 201);
      return (await res.json()) as Json;
    };
    const inquiry = await open('INQUIRY');
    assert.equal(inquiry.status, 'WAITING_FOR_SELLER_RESPONSE');
    await assert.rejects(
      h.paypal.execute(
        custom(`/v1/customer/disputes/${String(inquiry.dispute_id)}/adjudicate`, 'POST', {
          adjudication_outcome: 'BUYER_FAVOR',
        }),
      ),
      (err: { statusCode: number }) => err.statusCode === 422,
      'only a dispute under review is decided',
    );
    await h.paypal.execute(
      custom(`/v1/customer/disputes/${String(inquiry.dispute_id)}/escalate`, 'POST', {}),
    );
    await h.paypal.execute(
      custom(`/v1/customer/disputes/${String(inquiry.dispute_id)}/adjudicate`, 'POST', {
        adjudication_outcome: 'BUYER_FAVOR',
      }),
    );
    const shown = await h.paypal.execute<Json>(
      custom(`/v1/customer/disputes/${String(inquiry.dispute_id)}`, 'GET'),
    );
    assert.equal(shown.result!.status, 'RESOLVED');
    assert.deepEqual(shown.result!.dispute_outcome, {
      outcome_code: 'RESOLVED_BUYER_FAVOUR',
      amount_refunded: { currency_code: 'EUR', value: '8.00' },
    });
    await h.sim.idle();
    const mine = paypalEvents().filter(
      (e) =>
        (e.resource.disputed_transactions as Json[] | undefined)?.[0]?.seller_transaction_id === captureId ||
        (e.event_type === 'PAYMENT.CAPTURE.REVERSED' && link(e.resource.links, 'up').endsWith(captureId)),
    );
    assert.deepEqual(
      mine.map((e) => e.event_type),
      [
        'CUSTOMER.DISPUTE.CREATED',
        'CUSTOMER.DISPUTE.UPDATED',
        'CUSTOMER.DISPUTE.RESOLVED',
        'PAYMENT.CAPTURE.REVERSED',
      ],
    );
    const capture = await h.paypal.execute<Json>(new h.paypalSdk.payments.CapturesGetRequest(captureId));
    assert.equal(capture.result!.status, 'REVERSED');

    // A chargeback is under review at once; a buyer may also withdraw a dispute.
    const capture2 = await capturedOrder('3.00');
    const res = await fetch(`${h.sim.paypal.baseUrl}/_simulator/paypal/disputes`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ transaction_id: capture2, stage: 'CHARGEBACK' }),
    });
    const chargeback = (await res.json()) as Json;
    assert.equal(chargeback.status, 'UNDER_REVIEW');
    const cancelled = await fetch(
      `${h.sim.paypal.baseUrl}/_simulator/paypal/disputes/${String(chargeback.dispute_id)}/cancel`,
      { method: 'POST' },
    );
    assert.equal(cancelled.status, 201);
    const listed = await h.paypal.execute<{ items: Json[] }>(
      custom(`/v1/customer/disputes?disputed_transaction_id=${capture2}`, 'GET'),
    );
    assert.deepEqual(
      listed.result!.items.map((d) => (d.dispute_outcome as Json).outcome_code),
      ['CANCELED_BY_BUYER'],
    );
  });
});
