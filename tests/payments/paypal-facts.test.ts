/**
 * PayPal events → facts, from events the payment simulator delivered (tests/payments/fixtures/paypal,
 * recorded by record-paypal.ts) and hand-written resources. No API is involved: the lookups a fact
 * may need (a plan's price, a transaction's kind, an order's payer, capturing an order) are handed
 * in and counted.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  factsFromPayPalEvent,
  handledEventTypes,
  handlesEventType,
  planPriceOf,
  type EventContext,
} from '../../src/payments/paypal/facts.js';
import { ProviderError, type Money, type PaymentFact } from '../../src/payments/types.js';
import { only } from './helpers.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'paypal');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function fixture(name: string): Json {
  return JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8')) as Json;
}

interface Lookups {
  calls: string[];
  context: Omit<EventContext, 'eventId' | 'eventType' | 'resource' | 'createTime'>;
}

function lookups(overrides: Partial<Lookups['context']> = {}): Lookups {
  const calls: string[] = [];
  return {
    calls,
    context: {
      planAmount: (planId) => {
        calls.push(`plan ${planId}`);
        return Promise.resolve({ amountMinor: 1200, currency: 'USD' });
      },
      transactionKind: (id) => {
        calls.push(`kind ${id}`);
        return Promise.resolve('capture');
      },
      orderPayer: (orderId) => {
        calls.push(`order ${orderId}`);
        return Promise.resolve({ email: 'reader@example.org', customerId: 'PAYER1' });
      },
      captureOrder: (orderId) => {
        calls.push(`capture ${orderId}`);
        return Promise.resolve([]);
      },
      ...overrides,
    },
  };
}

async function facts(event: Json, with_ = lookups()): Promise<PaymentFact[]> {
  return factsFromPayPalEvent({
    eventId: String(event.id),
    eventType: String(event.event_type),
    ...(event.create_time ? { createTime: String(event.create_time) } : {}),
    resource: event.resource,
    ...with_.context,
  });
}

function event(type: string, resource: Json, id = `WH-${type}`): Json {
  return { id, event_type: type, create_time: '2026-03-01T10:00:00Z', resource };
}

describe('PayPal events as payment facts', () => {
  test('handles exactly the event types that carry facts, with a recorded fixture for each', () => {
    assert.deepEqual([...handledEventTypes].sort(), [
      'BILLING.SUBSCRIPTION.ACTIVATED',
      'BILLING.SUBSCRIPTION.CANCELLED',
      'BILLING.SUBSCRIPTION.CREATED',
      'BILLING.SUBSCRIPTION.EXPIRED',
      'BILLING.SUBSCRIPTION.PAYMENT.FAILED',
      'BILLING.SUBSCRIPTION.RE-ACTIVATED',
      'BILLING.SUBSCRIPTION.SUSPENDED',
      'BILLING.SUBSCRIPTION.UPDATED',
      'CHECKOUT.ORDER.APPROVED',
      'CUSTOMER.DISPUTE.CREATED',
      'CUSTOMER.DISPUTE.RESOLVED',
      'CUSTOMER.DISPUTE.UPDATED',
      'PAYMENT.CAPTURE.COMPLETED',
      'PAYMENT.CAPTURE.REFUNDED',
      'PAYMENT.CAPTURE.REVERSED',
      'PAYMENT.SALE.COMPLETED',
      'PAYMENT.SALE.REFUNDED',
      'PAYMENT.SALE.REVERSED',
    ]);
    assert.equal(handlesEventType('CATALOG.PRODUCT.CREATED'), false);
    const recorded = new Set(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => String(fixture(f.slice(0, -5)).event_type)),
    );
    assert.deepEqual([...recorded].sort(), [...handledEventTypes].sort());
  });

  test('a completed capture is a one-off payment with PayPal’s fee and the payer of its order', async () => {
    const payload = fixture('PAYMENT.CAPTURE.COMPLETED');
    const capture = payload.resource;
    const used = lookups();
    const paid = only(await facts(payload, used), 'payment.succeeded');
    assert.deepEqual(paid, {
      type: 'payment.succeeded',
      provider: 'paypal',
      occurredAt: new Date(capture.create_time),
      paymentId: capture.id,
      amount: { amountMinor: 1000, currency: 'USD' },
      kind: 'one_off',
      payer: { email: 'reader@example.org', customerId: 'PAYER1' },
      // 3.49% of 10.00 is 34.9 minor units, rounded half up to 35, plus 49.
      fee: { amountMinor: 84, currency: 'USD' },
      checkoutId: 'chk-one-off',
      sourceEventId: payload.id,
    });
    assert.deepEqual(used.calls, [`order ${capture.supplementary_data.related_ids.order_id}`]);
  });

  test('PayPal rule: an approved order is captured from the webhook, the reader may never return (issue 10 defect 2)', async () => {
    const payload = fixture('CHECKOUT.ORDER.APPROVED');
    const captured: PaymentFact = {
      type: 'payment.succeeded',
      provider: 'paypal',
      occurredAt: new Date(),
      paymentId: 'CAPTURE1',
      amount: { amountMinor: 1000, currency: 'USD' },
      kind: 'one_off',
      payer: { email: 'reader@example.org' },
    };
    const used = lookups({ captureOrder: () => Promise.resolve([captured]) });
    const [fact] = await facts(payload, used);
    assert.deepEqual(fact, { ...captured, sourceEventId: payload.id });
  });

  test('a zero-decimal capture keeps its amount exact, and an amount with too many decimals is refused', async () => {
    const [fact] = await facts(
      event('PAYMENT.CAPTURE.COMPLETED', {
        id: 'CAP-JPY',
        status: 'COMPLETED',
        amount: { currency_code: 'JPY', value: '1500' },
      }),
    );
    assert.ok(fact?.type === 'payment.succeeded');
    assert.deepEqual(fact.amount, { amountMinor: 1500, currency: 'JPY' });
    assert.equal(fact.occurredAt.toISOString(), '2026-03-01T10:00:00.000Z', 'falls back to the event time');
    await assert.rejects(
      facts(
        event('PAYMENT.CAPTURE.COMPLETED', {
          id: 'CAP-BAD',
          status: 'COMPLETED',
          amount: { currency_code: 'USD', value: '1.005' },
        }),
      ),
      (err: unknown) => err instanceof ProviderError && /cannot read exactly/.test(err.message),
    );
  });

  test('a capture refund is a refund of the capture named by its "up" link', async () => {
    const payload = fixture('PAYMENT.CAPTURE.REFUNDED');
    const refunded = only(await facts(payload), 'payment.refunded');
    const up = payload.resource.links.find((l: Json) => l.rel === 'up').href as string;
    assert.equal(refunded.paymentId, up.split('/').pop());
    assert.deepEqual(refunded.refund, {
      id: payload.resource.id,
      amount: { amountMinor: 250, currency: 'USD' },
    });
    assert.equal(refunded.checkoutId, 'chk-one-off');
    await assert.rejects(
      facts(
        event('PAYMENT.CAPTURE.REFUNDED', { id: 'REF-X', amount: { currency_code: 'USD', value: '1.00' } }),
      ),
      /does not say which capture/,
    );
  });

  test('PayPal rule: a reversed capture is a chargeback lost, not a refund (issue 10 defect 1)', async () => {
    const payload = fixture('PAYMENT.CAPTURE.REVERSED');
    const captureId = (payload.resource.links.find((l: Json) => l.rel === 'up').href as string)
      .split('/')
      .pop();
    const list = await facts(payload);
    assert.equal(
      list.some((f) => f.type === 'payment.refunded'),
      false,
    );
    assert.deepEqual(only(list, 'payment.disputed'), {
      type: 'payment.disputed',
      provider: 'paypal',
      sourceEventId: payload.id,
      status: 'lost',
      paymentId: captureId,
      disputeId: `capture:${captureId}`,
      occurredAt: new Date(payload.resource.create_time),
      amount: { amountMinor: 750, currency: 'USD' },
    });
    // The capture itself, reversed, as some deliveries carry it.
    const [fact] = await facts(
      event('PAYMENT.CAPTURE.REVERSED', {
        id: 'CAP-7',
        status: 'REVERSED',
        amount: { currency_code: 'USD', value: '-5.00' },
      }),
    );
    assert.ok(fact?.type === 'payment.disputed');
    assert.equal(fact.disputeId, 'capture:CAP-7');
    assert.deepEqual(fact.amount, { amountMinor: 500, currency: 'USD' });
  });

  test('PayPal rule: a reversed sale is a chargeback lost on the sale', async () => {
    const payload = fixture('PAYMENT.SALE.REVERSED');
    const lost = only(await facts(payload), 'payment.disputed');
    assert.equal(lost.status, 'lost');
    assert.equal(lost.paymentId, payload.resource.sale_id);
    assert.equal(lost.disputeId, `sale:${String(payload.resource.sale_id)}`);
    assert.deepEqual(lost.amount, { amountMinor: 1200, currency: 'USD' });
  });

  test('PayPal rule: a buyer-favour resolution and the reversal it causes are one loss, under one dispute id', async () => {
    const resolved = fixture('CUSTOMER.DISPUTE.RESOLVED.buyer-favour');
    const reversed = fixture('PAYMENT.CAPTURE.REVERSED.after-dispute');
    const used = lookups();
    const fromDispute = only(await facts(resolved, used), 'payment.disputed');
    const fromReversal = only(await facts(reversed), 'payment.disputed');
    const captureId = resolved.resource.disputed_transactions[0].seller_transaction_id;
    assert.deepEqual(used.calls, [`kind ${captureId}`]);
    assert.equal(fromDispute.status, 'lost');
    assert.equal(fromReversal.status, 'lost');
    assert.equal(fromDispute.disputeId, `capture:${captureId}`);
    assert.equal(fromDispute.disputeId, fromReversal.disputeId);
    assert.equal(fromDispute.paymentId, fromReversal.paymentId);
  });

  test('a dispute on a subscription payment is named after the sale', async () => {
    const payload = fixture('CUSTOMER.DISPUTE.CREATED');
    const [fact] = await facts(payload, lookups({ transactionKind: () => Promise.resolve('sale') }));
    assert.ok(fact?.type === 'payment.disputed');
    assert.equal(
      fact.disputeId,
      `sale:${String(payload.resource.disputed_transactions[0].seller_transaction_id)}`,
    );
  });

  test('PayPal rule: disputes are open until resolved; outcomes map to won, lost or closed', async () => {
    const created = only(await facts(fixture('CUSTOMER.DISPUTE.CREATED')), 'payment.disputed');
    assert.equal(created.status, 'open');
    assert.deepEqual(created.amount, { amountMinor: 800, currency: 'USD' });
    assert.equal(only(await facts(fixture('CUSTOMER.DISPUTE.UPDATED')), 'payment.disputed').status, 'open');
    assert.equal(
      only(await facts(fixture('CUSTOMER.DISPUTE.RESOLVED.seller-favour')), 'payment.disputed').status,
      'won',
    );
    assert.equal(
      only(await facts(fixture('CUSTOMER.DISPUTE.RESOLVED.cancelled-by-buyer')), 'payment.disputed').status,
      'closed',
      'a withdrawn claim moved no money',
    );
    const outcomes = {
      RESOLVED_BUYER_FAVOUR: 'lost',
      ACCEPTED: 'lost',
      RESOLVED_SELLER_FAVOUR: 'won',
      RESOLVED_WITH_PAYOUT: 'won',
      DENIED: 'won',
      CANCELED_BY_BUYER: 'closed',
      NONE: 'closed',
    } as const;
    for (const [code, status] of Object.entries(outcomes)) {
      const payload = fixture('CUSTOMER.DISPUTE.RESOLVED.seller-favour');
      payload.resource.dispute_outcome = { outcome_code: code };
      assert.equal(only(await facts(payload), 'payment.disputed').status, status, code);
      // An UPDATED event of a resolved dispute says the same.
      payload.event_type = 'CUSTOMER.DISPUTE.UPDATED';
      assert.equal(only(await facts(payload), 'payment.disputed').status, status, `${code} (updated)`);
    }
  });

  test('a created subscription is pending, with its plan’s price', async () => {
    const payload = fixture('BILLING.SUBSCRIPTION.CREATED');
    const used = lookups();
    const moved = only(await facts(payload, used), 'subscription.moved');
    assert.equal(moved.status, 'pending');
    assert.equal(moved.checkoutId, 'chk-monthly');
    assert.deepEqual(moved.amount, { amountMinor: 1200, currency: 'USD' });
    assert.deepEqual(used.calls, [`plan ${String(payload.resource.plan_id)}`]);
  });

  test('a subscription counts per month: a yearly plan is divided by 12, a quantity multiplies, twice a month doubles', async () => {
    // PayPal Subscriptions v1: a plan's billing cycle has a frequency (interval_unit, interval_count)
    // and a subscription a quantity; MRR is the price of a month of it.
    const payload = fixture('BILLING.SUBSCRIPTION.ACTIVATED');
    const monthlyOf = async (
      price: Money,
      frequency: { interval_unit: string; interval_count?: number },
      quantity?: string,
    ) => {
      const event = structuredClone(payload);
      if (quantity) event.resource.quantity = quantity;
      else delete event.resource.quantity;
      const moved = only(
        await facts(event, lookups({ planAmount: () => Promise.resolve(planPriceOf(price, frequency)) })),
        'subscription.moved',
      );
      return moved.amount;
    };
    const usd = (amountMinor: number): Money => ({ amountMinor, currency: 'USD' });
    assert.deepEqual(
      await monthlyOf(usd(6000), { interval_unit: 'YEAR', interval_count: 1 }, '2'),
      usd(1000),
    );
    assert.deepEqual(await monthlyOf(usd(1500), { interval_unit: 'MONTH', interval_count: 3 }), usd(500));
    assert.deepEqual(await monthlyOf(usd(500), { interval_unit: 'MONTH' }, '3'), usd(1500));
    assert.deepEqual(await monthlyOf(usd(300), { interval_unit: 'SEMI_MONTH', interval_count: 1 }), usd(600));
    assert.deepEqual(await monthlyOf(usd(300), { interval_unit: 'WEEK', interval_count: 1 }), usd(1300));
  });

  test('an activated subscription is active with payer, price, period end and no end scheduled', async () => {
    const payload = fixture('BILLING.SUBSCRIPTION.ACTIVATED');
    const sub = payload.resource;
    const moved = only(
      await facts(
        payload,
        lookups({ planAmount: () => Promise.resolve({ amountMinor: 700, currency: 'USD' }) }),
      ),
      'subscription.moved',
    );
    assert.deepEqual(moved, {
      type: 'subscription.moved',
      provider: 'paypal',
      occurredAt: new Date(payload.create_time),
      subscriptionId: sub.id,
      status: 'active',
      payer: {
        email: sub.subscriber.email_address,
        name: 'Sandbox Buyer',
        customerId: sub.subscriber.payer_id,
      },
      amount: { amountMinor: 700, currency: 'USD' },
      currentPeriodEnd: new Date(sub.billing_info.next_billing_time),
      endsAt: null,
      checkoutId: 'chk-monthly',
      sourceEventId: payload.id,
    });
    // Without the plan's price, the last payment says it.
    const paidOnce = structuredClone(payload);
    paidOnce.resource.billing_info.last_payment = {
      amount: { currency_code: 'USD', value: '7.00' },
      time: payload.create_time,
    };
    const fallback = only(
      await facts(paidOnce, lookups({ planAmount: () => Promise.resolve(undefined) })),
      'subscription.moved',
    );
    assert.deepEqual(fallback.amount, { amountMinor: 700, currency: 'USD' });
  });

  test('an updated subscription moves to its resource’s status and its new plan’s price', async () => {
    const payload = fixture('BILLING.SUBSCRIPTION.UPDATED');
    const moved = only(await facts(payload), 'subscription.moved');
    assert.equal(moved.status, 'active');
    assert.deepEqual(
      moved.amount,
      { amountMinor: 1200, currency: 'USD' },
      'the revised plan, not the last payment',
    );
    const statuses = {
      APPROVAL_PENDING: 'pending',
      APPROVED: 'pending',
      ACTIVE: 'active',
      SUSPENDED: 'suspended',
      CANCELLED: 'cancelled',
      EXPIRED: 'cancelled',
    } as const;
    for (const [paypalStatus, ours] of Object.entries(statuses)) {
      payload.resource.status = paypalStatus;
      assert.equal(only(await facts(payload), 'subscription.moved').status, ours, paypalStatus);
    }
    payload.resource.status = 'SOMETHING_NEW';
    assert.deepEqual(await facts(payload), []);
  });

  test('a re-activated subscription is active again (issue 10 defect 4: it stayed suspended)', async () => {
    const suspended = only(await facts(fixture('BILLING.SUBSCRIPTION.SUSPENDED')), 'subscription.moved');
    assert.equal(suspended.status, 'suspended');
    const reactivated = only(await facts(fixture('BILLING.SUBSCRIPTION.RE-ACTIVATED')), 'subscription.moved');
    assert.equal(reactivated.status, 'active');
    assert.equal(reactivated.subscriptionId, suspended.subscriptionId);
    assert.ok(reactivated.occurredAt >= suspended.occurredAt);
  });

  test('PayPal rule: a cancelled subscription ends when its paid period does (no cancel-at-period-end at PayPal)', async () => {
    const payload = fixture('BILLING.SUBSCRIPTION.CANCELLED');
    const sub = payload.resource;
    assert.equal(sub.billing_info.next_billing_time, undefined, 'PayPal drops the next billing time');
    const moved = only(await facts(payload), 'subscription.moved');
    assert.equal(moved.status, 'cancelled');
    // A month after the last payment, which is after the cancellation.
    const lastPayment = new Date(sub.billing_info.last_payment.time);
    const expected = new Date(lastPayment);
    expected.setUTCMonth(expected.getUTCMonth() + 1);
    assert.ok(expected > new Date(payload.create_time));
    assert.deepEqual(moved.endsAt, expected);
    assert.deepEqual(moved.currentPeriodEnd, expected);

    // When PayPal still says when the next payment would have been, that is the end.
    const withNext = structuredClone(payload);
    withNext.resource.billing_info.next_billing_time = '2030-01-15T10:00:00Z';
    assert.deepEqual(
      only(await facts(withNext), 'subscription.moved').endsAt,
      new Date('2030-01-15T10:00:00Z'),
    );

    // A period already over ends it at the cancellation.
    const lapsed = event('BILLING.SUBSCRIPTION.CANCELLED', {
      id: 'I-LAPSED00000',
      status: 'CANCELLED',
      billing_info: {
        last_payment: { time: '2026-01-01T00:00:00Z' },
        next_billing_time: '2026-02-01T00:00:00Z',
      },
    });
    assert.deepEqual(
      only(await facts(lapsed), 'subscription.moved').endsAt,
      new Date('2026-03-01T10:00:00Z'),
    );
  });

  test('an expired subscription is cancelled and ends at the event', async () => {
    const payload = fixture('BILLING.SUBSCRIPTION.EXPIRED');
    const moved = only(await facts(payload), 'subscription.moved');
    assert.equal(moved.status, 'cancelled');
    assert.deepEqual(moved.endsAt, new Date(payload.create_time));
  });

  test('a failed subscription payment is a failed payment and makes the subscription past due', async () => {
    const payload = fixture('BILLING.SUBSCRIPTION.PAYMENT.FAILED');
    const list = await facts(payload);
    assert.deepEqual(
      list.map((f) => f.type),
      ['payment.failed', 'subscription.moved'],
    );
    const failed = only(list, 'payment.failed');
    assert.equal(failed.subscriptionId, payload.resource.id);
    assert.match(failed.reason, /PAYMENT_DENIED/);
    assert.equal(only(list, 'subscription.moved').status, 'past_due');
  });

  test('a completed sale is a recurring payment of its subscription, with PayPal’s transaction fee', async () => {
    const payload = fixture('PAYMENT.SALE.COMPLETED');
    const used = lookups();
    const paid = only(await facts(payload, used), 'payment.succeeded');
    assert.equal(paid.paymentId, payload.resource.id);
    assert.equal(paid.kind, 'recurring');
    assert.equal(paid.subscriptionId, payload.resource.billing_agreement_id);
    assert.equal(paid.checkoutId, 'chk-monthly');
    assert.deepEqual(paid.amount, { amountMinor: 700, currency: 'USD' });
    assert.deepEqual(paid.fee, { amountMinor: 73, currency: 'USD' });
    assert.deepEqual(used.calls, [], 'a sale needs no lookup');
  });

  test('a sale refund points at the sale', async () => {
    const payload = fixture('PAYMENT.SALE.REFUNDED');
    const refunded = only(await facts(payload), 'payment.refunded');
    assert.equal(refunded.paymentId, payload.resource.sale_id);
    assert.deepEqual(refunded.refund, {
      id: payload.resource.id,
      amount: { amountMinor: 200, currency: 'USD' },
    });
    await assert.rejects(
      facts(event('PAYMENT.SALE.REFUNDED', { id: 'SR-1', amount: { total: '-1.00', currency: 'USD' } })),
      /does not say which sale/,
    );
  });

  test('event types Readerfund does not use give no facts, and a known one missing its essentials is unusable', async () => {
    assert.deepEqual(await facts(event('CATALOG.PRODUCT.CREATED', { id: 'PROD-1' })), []);
    await assert.rejects(
      facts(event('PAYMENT.SALE.COMPLETED', { id: 'S-1' })),
      (err: unknown) => err instanceof ProviderError && !err.retryable,
    );
    await assert.rejects(
      facts(event('CUSTOMER.DISPUTE.CREATED', { dispute_id: 'PP-D-1', disputed_transactions: [] })),
      /names no transaction/,
    );
  });
});
