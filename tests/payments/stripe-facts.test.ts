/**
 * Stripe events → facts, from events the payment simulator delivered (tests/payments/fixtures/stripe,
 * recorded by record-stripe.ts) and hand-written edge cases (edge.*.json). No API is involved: what
 * an event's facts need beyond the event is what `lookupFor` names, handed in as `Found`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  factsFromEvent,
  handledEventTypes,
  handlesEventType,
  lookupFor,
  monthlyAmount,
  readEvent,
  type Found,
  type StripeEventView,
} from '../../src/payments/stripe/facts.js';
import { ProviderError, type PaymentFact } from '../../src/payments/types.js';
import { only } from './helpers.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'stripe');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function fixture(name: string): Json {
  return JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8')) as Json;
}

function view(payload: Json): StripeEventView {
  const parsed = readEvent(payload);
  assert.ok(parsed, `${String(payload.type)} is handled`);
  return parsed;
}

function facts(name: string | Json, found: Found = {}): PaymentFact[] {
  const payload = typeof name === 'string' ? fixture(name) : name;
  return factsFromEvent(view(payload), found);
}

const at = (seconds: number) => new Date(seconds * 1000);
const fee = { amountMinor: 45, currency: 'USD' };

describe('Stripe events as payment facts (recorded from the simulator)', () => {
  test('handles exactly the event types that carry facts, and every recorded fixture is one of them', () => {
    assert.deepEqual([...handledEventTypes].sort(), [
      'charge.dispute.closed',
      'charge.dispute.created',
      'charge.dispute.funds_reinstated',
      'charge.refunded',
      'checkout.session.async_payment_failed',
      'checkout.session.async_payment_succeeded',
      'checkout.session.completed',
      'customer.subscription.created',
      'customer.subscription.deleted',
      'customer.subscription.updated',
      'invoice.paid',
      'invoice.payment_failed',
    ]);
    assert.equal(handlesEventType('customer.updated'), false);
    assert.equal(handlesEventType('charge.dispute.funds_withdrawn'), false);
    assert.equal(
      readEvent({ id: 'evt_1', type: 'customer.updated', created: 1, data: { object: {} } }),
      null,
    );
    const recorded = new Set(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => String(fixture(f.slice(0, -5)).type)),
    );
    assert.deepEqual([...recorded].sort(), [...handledEventTypes].sort(), 'a fixture for every handled type');
  });

  test('a paid one-off Checkout is a one-off payment of its PaymentIntent, with the fee its charge reports', () => {
    const payload = fixture('checkout.session.completed.payment');
    const session = payload.data.object;
    assert.deepEqual(lookupFor(view(payload)), {
      kind: 'paymentIntent',
      id: session.payment_intent,
      customer: false,
    });
    const paid = only(
      facts(payload, { payment: { fee, occurredAt: at(session.created) } }),
      'payment.succeeded',
    );
    assert.deepEqual(paid, {
      type: 'payment.succeeded',
      provider: 'stripe',
      occurredAt: at(session.created),
      paymentId: session.payment_intent,
      amount: { amountMinor: 500, currency: 'USD' },
      kind: 'one_off',
      payer: { email: 'reader@example.com' },
      checkoutId: 'chk-one-off',
      planId: 'one-off',
      sourceEventId: payload.id,
      fee,
    });
  });

  test('Stripe rule: a completed Checkout that is not paid yet (a bank debit) is fulfilled only when paid', () => {
    const unpaid = view(fixture('checkout.session.completed.unpaid'));
    assert.equal(unpaid.type === 'checkout.session.completed' && unpaid.session.payment_status, 'unpaid');
    assert.equal(lookupFor(unpaid), null, 'nothing is read for it');
    assert.deepEqual(factsFromEvent(unpaid), []);

    const settled = fixture('checkout.session.async_payment_succeeded');
    const paid = only(facts(settled, { payment: { fee } }), 'payment.succeeded');
    assert.equal(paid.paymentId, settled.data.object.payment_intent);
    assert.equal(paid.kind, 'one_off');
    assert.deepEqual(paid.fee, fee);
  });

  test('a delayed payment that bounced is a failed payment of its checkout, with no money', () => {
    const payload = fixture('checkout.session.async_payment_failed');
    assert.equal(lookupFor(view(payload)), null);
    const failed = only(facts(payload), 'payment.failed');
    assert.equal(failed.checkoutId, 'chk-one-off');
    assert.equal(failed.paymentId, payload.data.object.payment_intent);
    assert.equal(failed.occurredAt.getTime(), payload.created * 1000);
  });

  test('a monthly Checkout activates the subscription and records its first payment under the invoice', () => {
    const payload = fixture('checkout.session.completed.subscription');
    const session = payload.data.object;
    assert.deepEqual(lookupFor(view(payload)), { kind: 'invoice', id: session.invoice, customer: false });
    const list = facts(payload, { payment: { fee: { amountMinor: 50, currency: 'USD' } } });
    const moved = only(list, 'subscription.moved');
    assert.equal(moved.subscriptionId, session.subscription);
    assert.equal(moved.status, 'active');
    assert.deepEqual(moved.amount, { amountMinor: 700, currency: 'USD' });
    assert.equal(moved.checkoutId, 'chk-monthly');
    assert.equal(moved.payer?.email, 'reader@example.com');
    const paid = only(list, 'payment.succeeded');
    assert.equal(paid.paymentId, session.invoice);
    assert.equal(paid.kind, 'recurring');
    assert.equal(paid.subscriptionId, session.subscription);
    assert.deepEqual(paid.fee, { amountMinor: 50, currency: 'USD' });
  });

  test('a monthly Checkout without an email asks for the Customer, and takes the email from it (issue 10 defect 3)', () => {
    const payload = fixture('edge.checkout.session.completed.subscription-without-email');
    const session = payload.data.object;
    assert.deepEqual(lookupFor(view(payload)), { kind: 'invoice', id: session.invoice, customer: true });
    const list = facts(payload, {
      payment: { email: 'from-customer@example.com', customerId: session.customer },
    });
    assert.equal(only(list, 'payment.succeeded').payer.email, 'from-customer@example.com');
    assert.equal(only(list, 'subscription.moved').payer?.email, 'from-customer@example.com');
  });

  for (const name of ['invoice.paid.subscription_create', 'invoice.paid.subscription_cycle']) {
    test(`${name}: a subscription payment is recorded under its invoice, at its paid time`, () => {
      const payload = fixture(name);
      const invoice = payload.data.object;
      assert.deepEqual(lookupFor(view(payload)), { kind: 'invoice', id: invoice.id, customer: false });
      const paid = only(
        facts(payload, { payment: { fee: { amountMinor: 50, currency: 'USD' } } }),
        'payment.succeeded',
      );
      assert.equal(paid.paymentId, invoice.id);
      assert.equal(paid.kind, 'recurring');
      assert.equal(paid.subscriptionId, invoice.parent.subscription_details.subscription);
      assert.equal(paid.checkoutId, 'chk-monthly');
      assert.equal(paid.planId, 'monthly');
      assert.deepEqual(paid.amount, { amountMinor: 700, currency: 'USD' });
      assert.deepEqual(paid.occurredAt, at(invoice.status_transitions.paid_at));
      assert.equal(paid.payer.email, 'reader@example.com');
      assert.equal(paid.payer.customerId, invoice.customer);
    });
  }

  test('Stripe rule: a failed renewal invoice is a failed payment and makes the subscription past due', () => {
    const payload = fixture('invoice.payment_failed');
    const invoice = payload.data.object;
    assert.equal(lookupFor(view(payload)), null);
    const list = facts(payload);
    const failed = only(list, 'payment.failed');
    assert.equal(failed.paymentId, invoice.id);
    assert.equal(failed.subscriptionId, invoice.parent.subscription_details.subscription);
    assert.equal(only(list, 'subscription.moved').status, 'past_due');
    // A failed first invoice leaves the subscription incomplete, which its own events say.
    const first = structuredClone(payload);
    first.data.object.billing_reason = 'subscription_create';
    assert.deepEqual(
      facts(first).map((f) => f.type),
      ['payment.failed'],
    );
  });

  test('a created subscription is active with its monthly price, period end and no end scheduled', () => {
    const payload = fixture('customer.subscription.created');
    const sub = payload.data.object;
    assert.equal(lookupFor(view(payload)), null);
    assert.deepEqual(only(facts(payload), 'subscription.moved'), {
      type: 'subscription.moved',
      provider: 'stripe',
      occurredAt: at(payload.created),
      subscriptionId: sub.id,
      status: 'active',
      endsAt: null,
      amount: { amountMinor: 700, currency: 'USD' },
      currentPeriodEnd: at(sub.items.data[0].current_period_end),
      payer: { customerId: sub.customer },
      planId: 'monthly',
      checkoutId: 'chk-monthly',
      sourceEventId: payload.id,
    });
  });

  test('a renewed subscription moves its period end forward', () => {
    const payload = fixture('customer.subscription.updated.renewed');
    const moved = only(facts(payload), 'subscription.moved');
    assert.equal(moved.status, 'active');
    assert.deepEqual(moved.currentPeriodEnd, at(payload.data.object.items.data[0].current_period_end));
    assert.ok(moved.currentPeriodEnd > at(payload.data.previous_attributes.items.data[0].current_period_end));
  });

  test('Stripe statuses map to ours: active/trialing, past_due/unpaid, paused, canceled/incomplete_expired, incomplete', () => {
    const expected = {
      active: 'active',
      trialing: 'active',
      past_due: 'past_due',
      unpaid: 'past_due',
      paused: 'suspended',
      canceled: 'cancelled',
      incomplete_expired: 'cancelled',
      incomplete: 'pending',
    } as const;
    assert.equal(
      only(facts('customer.subscription.updated.past_due'), 'subscription.moved').status,
      'past_due',
    );
    for (const [stripeStatus, ours] of Object.entries(expected)) {
      const payload = fixture('customer.subscription.updated.renewed');
      payload.data.object.status = stripeStatus;
      assert.equal(only(facts(payload), 'subscription.moved').status, ours, stripeStatus);
    }
    const unknown = fixture('customer.subscription.updated.renewed');
    unknown.data.object.status = 'something_new';
    assert.deepEqual(facts(unknown), [], 'a status we do not know moves nothing');
  });

  test('Stripe rule: cancel_at_period_end schedules the end at the period end; undoing it gives endsAt null', () => {
    const scheduled = fixture('customer.subscription.updated.cancel_at_period_end');
    const sub = scheduled.data.object;
    assert.equal(sub.cancel_at_period_end, true);
    const moved = only(facts(scheduled), 'subscription.moved');
    assert.equal(moved.status, 'active', 'still active until then');
    assert.deepEqual(moved.endsAt, at(sub.cancel_at));
    assert.deepEqual(moved.endsAt, moved.currentPeriodEnd);

    // Older objects set only cancel_at_period_end; the period end is the end then.
    delete scheduled.data.object.cancel_at;
    assert.deepEqual(only(facts(scheduled), 'subscription.moved').endsAt, moved.currentPeriodEnd);

    const undone = fixture('customer.subscription.updated.cancellation_undone');
    assert.equal(undone.data.previous_attributes.cancel_at_period_end, true);
    assert.equal(only(facts(undone), 'subscription.moved').endsAt, null);
  });

  test('a deleted subscription is cancelled and ended when Stripe ended it', () => {
    const payload = fixture('customer.subscription.deleted');
    const moved = only(facts(payload), 'subscription.moved');
    assert.equal(moved.status, 'cancelled');
    assert.deepEqual(moved.endsAt, at(payload.data.object.ended_at));
  });

  test('a price billed yearly or weekly is normalised to a month, exactly and rounded half up', () => {
    const moved = only(facts('edge.customer.subscription.created.yearly-two-seats'), 'subscription.moved');
    assert.deepEqual(moved.amount, { amountMinor: 1000, currency: 'USD' }, '2 × 60.00 a year');
    assert.equal(monthlyAmount(1000, 1, { interval: 'year', interval_count: 1 }), 83); // 83.33
    assert.equal(monthlyAmount(300, 1, { interval: 'week', interval_count: 1 }), 1300); // 300 × 52 / 12
    assert.equal(monthlyAmount(1500, 1, { interval: 'month', interval_count: 3 }), 500);
    assert.equal(monthlyAmount(10, 1, { interval: 'day', interval_count: 1 }), 304); // 304.17
    assert.equal(monthlyAmount(3, 1, { interval: 'month', interval_count: 2 }), 2); // 1.5 rounds up
  });

  test('a refund is the charge’s running refunded total, on the ledger key of its PaymentIntent', () => {
    const payload = fixture('charge.refunded.partial');
    const charge = payload.data.object;
    assert.deepEqual(lookupFor(view(payload)), { kind: 'ledgerKey', paymentIntentId: charge.payment_intent });
    const refunded = only(facts(payload, { ledgerPaymentId: charge.payment_intent }), 'payment.refunded');
    assert.deepEqual(refunded, {
      type: 'payment.refunded',
      provider: 'stripe',
      occurredAt: at(payload.created),
      sourceEventId: payload.id,
      paymentId: charge.payment_intent,
      refundedTotal: { amountMinor: 200, currency: 'USD' },
      checkoutId: 'chk-one-off',
    });
  });

  test('a refunded renewal is recorded against its invoice, the key its payment was recorded under', () => {
    const payload = fixture('charge.refunded.renewal');
    const refunded = only(facts(payload, { ledgerPaymentId: 'in_the_renewal' }), 'payment.refunded');
    assert.equal(refunded.paymentId, 'in_the_renewal');
    assert.deepEqual(refunded.refundedTotal, { amountMinor: 700, currency: 'USD' });
  });

  test('a refund read with its refunds list names the latest refund', () => {
    const refunded = only(facts('edge.charge.refunded.refunds-list'), 'payment.refunded');
    assert.equal(refunded.latestRefundId, 're_edge_second');
    assert.deepEqual(refunded.refundedTotal, { amountMinor: 350, currency: 'USD' });
  });

  test('Stripe rule: a new dispute is open, with the disputed amount and the dispute fee withdrawn', () => {
    const payload = fixture('charge.dispute.created');
    const dispute = payload.data.object;
    assert.deepEqual(lookupFor(view(payload)), {
      kind: 'ledgerKey',
      paymentIntentId: dispute.payment_intent,
    });
    assert.deepEqual(only(facts(payload, { ledgerPaymentId: dispute.payment_intent }), 'payment.disputed'), {
      type: 'payment.disputed',
      provider: 'stripe',
      occurredAt: at(payload.created),
      sourceEventId: payload.id,
      paymentId: dispute.payment_intent,
      disputeId: dispute.id,
      status: 'open',
      amount: { amountMinor: 500, currency: 'USD' },
      fee: { amountMinor: 1500, currency: 'USD' },
    });
    const inquiry = only(facts('charge.dispute.created.inquiry'), 'payment.disputed');
    assert.equal(inquiry.status, 'open');
    assert.equal(inquiry.fee, undefined, 'an inquiry withdraws nothing');
  });

  test('Stripe rule: a lost dispute is lost (issue 10 defect 1: it used to change nothing)', () => {
    const lost = only(facts('charge.dispute.closed.lost'), 'payment.disputed');
    assert.equal(lost.status, 'lost');
    assert.deepEqual(lost.amount, { amountMinor: 500, currency: 'USD' });
  });

  test('Stripe rule: a won dispute and its reinstated funds are both "won" for the same dispute', () => {
    const closed = only(facts('charge.dispute.closed.won'), 'payment.disputed');
    const reinstated = only(facts('charge.dispute.funds_reinstated'), 'payment.disputed');
    assert.equal(closed.status, 'won');
    assert.equal(reinstated.status, 'won');
    assert.equal(closed.disputeId, reinstated.disputeId);
    assert.deepEqual(closed.fee, { amountMinor: 1500, currency: 'USD' }, 'the dispute fee is not returned');
  });

  test('Stripe rule: warning_closed is an inquiry that ended without a chargeback: closed, not lost', () => {
    assert.equal(only(facts('charge.dispute.closed.warning_closed'), 'payment.disputed').status, 'closed');
    assert.equal(
      only(facts('edge.charge.dispute.closed.charge_refunded'), 'payment.disputed').status,
      'closed',
    );
  });

  test('a handled event without the fields we read is reported as unusable, not crashed on', () => {
    assert.throws(
      () => readEvent(fixture('edge.invoice.paid.malformed')),
      (err: unknown) => err instanceof ProviderError && !err.retryable && /invoice/.test(err.message),
    );
    assert.throws(() => readEvent({ type: 'invoice.paid' }), ProviderError);
  });
});
