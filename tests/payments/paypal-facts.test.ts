import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/log.js';
import { createPayPalAdapter } from '../../src/payments/paypal/index.js';
import { ProviderError, type VerifiedEvent } from '../../src/payments/types.js';

// No PayPal API is reachable here: every event below carries what its facts need, so a request
// would fail the test with a connection error.
const paypal = createPayPalAdapter({
  clientId: `facts-test-${randomUUID()}`,
  clientSecret: 'secret',
  webhookId: 'WH-FACTS',
  environment: { baseUrl: 'http://127.0.0.1:9' },
  planStore: { find: () => Promise.resolve(null), save: (_k, planId) => Promise.resolve(planId) },
  brandName: 'Readerfund',
  logger: createLogger({ level: 'silent' }),
});

function event(type: string, resource: Record<string, unknown>, id = `WH-${randomUUID()}`): VerifiedEvent {
  const payload = { id, event_type: type, create_time: '2026-03-01T10:00:00Z', resource };
  return { provider: 'paypal', eventId: id, type, createdAt: new Date(payload.create_time), payload };
}

describe('PayPal events as payment facts', () => {
  test('a completed capture is a one-off payment for the checkout in custom_id', async () => {
    const facts = await paypal.factsFromEvent(
      event(
        'PAYMENT.CAPTURE.COMPLETED',
        {
          id: '2GG279541U471931P',
          status: 'COMPLETED',
          amount: { currency_code: 'EUR', value: '12.50' },
          custom_id: 'chk-42',
          create_time: '2026-03-01T09:59:58Z',
        },
        'WH-1',
      ),
    );
    assert.deepEqual(facts, [
      {
        type: 'payment.succeeded',
        provider: 'paypal',
        occurredAt: new Date('2026-03-01T09:59:58Z'),
        paymentId: '2GG279541U471931P',
        amount: { amountMinor: 1250, currency: 'EUR' },
        kind: 'one_off',
        payer: {},
        checkoutId: 'chk-42',
        sourceEventId: 'WH-1',
      },
    ]);
  });

  test('a zero-decimal capture keeps its amount exact', async () => {
    const [fact] = await paypal.factsFromEvent(
      event('PAYMENT.CAPTURE.COMPLETED', {
        id: 'CAP-JPY',
        status: 'COMPLETED',
        amount: { currency_code: 'JPY', value: '1500' },
      }),
    );
    assert.equal(fact?.type, 'payment.succeeded');
    assert.deepEqual(fact.type === 'payment.succeeded' && fact.amount, {
      amountMinor: 1500,
      currency: 'JPY',
    });
    assert.equal(fact.occurredAt.toISOString(), '2026-03-01T10:00:00.000Z', 'falls back to the event time');
  });

  test('refuses an amount with more decimals than the currency has', async () => {
    await assert.rejects(
      paypal.factsFromEvent(
        event('PAYMENT.CAPTURE.COMPLETED', {
          id: 'CAP-BAD',
          status: 'COMPLETED',
          amount: { currency_code: 'USD', value: '1.005' },
        }),
      ),
      (err: unknown) => err instanceof ProviderError && /cannot read exactly/.test(err.message),
    );
  });

  test('a capture refund names the capture from its "up" link', async () => {
    const facts = await paypal.factsFromEvent(
      event(
        'PAYMENT.CAPTURE.REFUNDED',
        {
          id: 'REF-1',
          status: 'COMPLETED',
          amount: { currency_code: 'USD', value: '2.00' },
          create_time: '2026-03-02T00:00:00Z',
          links: [
            { rel: 'self', href: 'https://api.paypal.com/v2/payments/refunds/REF-1' },
            { rel: 'up', href: 'https://api.paypal.com/v2/payments/captures/CAP-9' },
          ],
        },
        'WH-R',
      ),
    );
    assert.deepEqual(facts, [
      {
        type: 'payment.refunded',
        provider: 'paypal',
        sourceEventId: 'WH-R',
        occurredAt: new Date('2026-03-02T00:00:00Z'),
        paymentId: 'CAP-9',
        refund: { id: 'REF-1', amount: { amountMinor: 200, currency: 'USD' } },
      },
    ]);
  });

  test('a capture reversal is a refund marked as a reversal, from a related capture id too', async () => {
    const [fact] = await paypal.factsFromEvent(
      event('PAYMENT.CAPTURE.REVERSED', {
        id: 'REV-1',
        amount: { currency_code: 'USD', value: '-5.00' },
        supplementary_data: { related_ids: { capture_id: 'CAP-7' } },
      }),
    );
    assert.ok(fact?.type === 'payment.refunded');
    assert.equal(fact.paymentId, 'CAP-7');
    assert.equal(fact.reversal, true);
    assert.deepEqual(fact.refund, { id: 'REV-1', amount: { amountMinor: 500, currency: 'USD' } });
  });

  test('a refund that does not say which capture it belongs to is an error, not a silent drop', async () => {
    await assert.rejects(
      paypal.factsFromEvent(
        event('PAYMENT.CAPTURE.REFUNDED', { id: 'REF-X', amount: { currency_code: 'USD', value: '1.00' } }),
      ),
      /does not say which capture/,
    );
  });

  test('an activated subscription carries payer, last payment and next billing time', async () => {
    const facts = await paypal.factsFromEvent(
      event(
        'BILLING.SUBSCRIPTION.ACTIVATED',
        {
          id: 'I-ABC',
          status: 'ACTIVE',
          plan_id: 'P-1',
          custom_id: 'chk-7',
          status_update_time: '2026-03-01T09:00:00Z',
          subscriber: {
            email_address: 'ada@example.org',
            payer_id: 'PAYER1',
            name: { given_name: 'Ada', surname: 'Lovelace' },
          },
          billing_info: {
            last_payment: { amount: { currency_code: 'USD', value: '5.00' }, time: '2026-03-01T09:00:00Z' },
            next_billing_time: '2026-04-01T10:00:00Z',
          },
        },
        'WH-A',
      ),
    );
    assert.deepEqual(facts, [
      {
        type: 'subscription.activated',
        provider: 'paypal',
        occurredAt: new Date('2026-03-01T09:00:00Z'),
        subscriptionId: 'I-ABC',
        payer: { email: 'ada@example.org', name: 'Ada Lovelace', customerId: 'PAYER1' },
        amount: { amountMinor: 500, currency: 'USD' },
        currentPeriodEnd: new Date('2026-04-01T10:00:00Z'),
        checkoutId: 'chk-7',
        sourceEventId: 'WH-A',
      },
    ]);
  });

  test('cancelled and suspended subscriptions change status', async () => {
    const [cancelled] = await paypal.factsFromEvent(
      event('BILLING.SUBSCRIPTION.CANCELLED', { id: 'I-1', status: 'CANCELLED', custom_id: 'chk-1' }),
    );
    const [suspended] = await paypal.factsFromEvent(
      event('BILLING.SUBSCRIPTION.SUSPENDED', { id: 'I-2', status: 'SUSPENDED' }),
    );
    assert.ok(cancelled?.type === 'subscription.status_changed');
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.subscriptionId, 'I-1');
    assert.equal(cancelled.checkoutId, 'chk-1');
    assert.ok(suspended?.type === 'subscription.status_changed');
    assert.equal(suspended.status, 'suspended');
  });

  test('a failed subscription payment is a failed payment and makes the subscription past due', async () => {
    const facts = await paypal.factsFromEvent(
      event('BILLING.SUBSCRIPTION.PAYMENT.FAILED', {
        id: 'I-3',
        status: 'ACTIVE',
        billing_info: { last_failed_payment: { reason_code: 'PAYMENT_DENIED' } },
      }),
    );
    assert.deepEqual(
      facts.map((f) => f.type),
      ['payment.failed', 'subscription.status_changed'],
    );
    const [failed, changed] = facts;
    assert.ok(failed?.type === 'payment.failed' && changed?.type === 'subscription.status_changed');
    assert.equal(failed.subscriptionId, 'I-3');
    assert.match(failed.reason, /PAYMENT_DENIED/);
    assert.equal(changed.status, 'past_due');
  });

  test('a completed sale is a recurring payment of its subscription', async () => {
    const [fact] = await paypal.factsFromEvent(
      event('PAYMENT.SALE.COMPLETED', {
        id: '80021663DE681814L',
        state: 'completed',
        amount: { total: '5.00', currency: 'USD' },
        billing_agreement_id: 'I-ABC',
        custom: 'chk-7',
        create_time: '2026-04-01T10:00:05Z',
      }),
    );
    assert.ok(fact?.type === 'payment.succeeded');
    assert.equal(fact.paymentId, '80021663DE681814L');
    assert.equal(fact.kind, 'recurring');
    assert.equal(fact.subscriptionId, 'I-ABC');
    assert.equal(fact.checkoutId, 'chk-7');
    assert.deepEqual(fact.amount, { amountMinor: 500, currency: 'USD' });
    assert.equal(fact.occurredAt.toISOString(), '2026-04-01T10:00:05.000Z');
  });

  test('sale refunds and reversals point at the sale', async () => {
    const [refunded] = await paypal.factsFromEvent(
      event('PAYMENT.SALE.REFUNDED', {
        id: 'SR-1',
        amount: { total: '-5.00', currency: 'USD' },
        sale_id: 'SALE-1',
      }),
    );
    const [reversed] = await paypal.factsFromEvent(
      event('PAYMENT.SALE.REVERSED', {
        id: 'SR-2',
        amount: { total: '5.00', currency: 'USD' },
        parent_payment: 'PAY-1',
      }),
    );
    assert.ok(refunded?.type === 'payment.refunded' && reversed?.type === 'payment.refunded');
    assert.equal(refunded.paymentId, 'SALE-1');
    assert.deepEqual(refunded.refund, { id: 'SR-1', amount: { amountMinor: 500, currency: 'USD' } });
    assert.equal(refunded.reversal, undefined);
    assert.equal(reversed.paymentId, 'PAY-1');
    assert.equal(reversed.reversal, true);
  });

  test('event types Readerfund does not use give no facts', async () => {
    assert.deepEqual(await paypal.factsFromEvent(event('CHECKOUT.ORDER.APPROVED', { id: 'O-1' })), []);
    assert.deepEqual(await paypal.factsFromEvent(event('CUSTOMER.DISPUTE.CREATED', { id: 'PP-D-1' })), []);
  });

  test('a known event with a resource missing its essentials is reported as unusable', async () => {
    await assert.rejects(
      paypal.factsFromEvent(event('PAYMENT.SALE.COMPLETED', { id: 'S-1' })),
      (err: unknown) => err instanceof ProviderError && !err.retryable,
    );
  });
});
