import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PaymentFact, PaymentSucceeded } from '../../src/payments/types.js';
import { Checkout } from '../../src/donations/checkout-model.js';
import { Donation, Rollup, Subscription, Supporter } from '../../src/supporters/models.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
});
after(() => runtime.stop());

let sequence = 0;
function payment(overrides: Partial<PaymentSucceeded> = {}): PaymentSucceeded {
  sequence += 1;
  return {
    type: 'payment.succeeded',
    provider: 'stripe',
    paymentId: `pi_ledger_${sequence}`,
    amount: { amountMinor: 500, currency: 'USD' },
    kind: 'one_off',
    occurredAt: new Date('2026-11-20T10:00:00Z'),
    payer: { email: `reader${sequence}@example.com` },
    ...overrides,
  };
}

describe('ledger', () => {
  test('records the same payment once, however often and however concurrently it arrives', async () => {
    const fact = payment();
    const results = await Promise.all(Array.from({ length: 5 }, () => runtime.ledger.apply(fact)));
    assert.equal(results.filter((r) => r.result === 'applied').length, 1);
    assert.equal(await Donation.countDocuments({ providerPaymentId: fact.paymentId }), 1);
    const rollup = await Rollup.findOne({ day: '2026-11-20', provider: 'stripe', currency: 'USD' }).lean();
    assert.equal(rollup?.grossMinor, 500);
    assert.equal(rollup?.count, 1);
    const supporter = await Supporter.findOne({ email: fact.payer.email }).lean();
    assert.deepEqual(supporter?.totals, { USD: 500 });
  });

  test('holds a refund that arrives before its payment, then applies it once', async () => {
    const fact = payment();
    const refund: PaymentFact = {
      type: 'payment.refunded',
      provider: 'stripe',
      paymentId: fact.paymentId,
      refundedTotal: { amountMinor: 200, currency: 'USD' },
      occurredAt: new Date('2026-11-21T10:00:00Z'),
    };
    assert.equal((await runtime.ledger.apply(refund)).result, 'waiting');
    await runtime.ledger.apply(fact);
    assert.equal((await runtime.ledger.apply(refund)).result, 'applied');
    assert.equal((await runtime.ledger.apply(refund)).result, 'duplicate');
    const donation = await Donation.findOne({ providerPaymentId: fact.paymentId }).lean();
    assert.equal(donation?.refundedMinor, 200);
    assert.equal(donation?.status, 'partially_refunded');
    const refundDay = await Rollup.findOne({ day: '2026-11-21', provider: 'stripe' }).lean();
    assert.equal(refundDay?.refundedMinor, 200);
  });

  test('counts individual PayPal refunds by id and never refunds more than was paid', async () => {
    const fact = payment({ provider: 'paypal', paymentId: 'CAPTURE-1' });
    await runtime.ledger.apply(fact);
    const refund = (id: string, amountMinor: number): PaymentFact => ({
      type: 'payment.refunded',
      provider: 'paypal',
      paymentId: 'CAPTURE-1',
      refund: { id, amount: { amountMinor, currency: 'USD' } },
      occurredAt: new Date('2026-11-22T10:00:00Z'),
    });
    await runtime.ledger.apply(refund('R1', 300));
    await runtime.ledger.apply(refund('R1', 300));
    await runtime.ledger.apply(refund('R2', 400));
    const donation = await Donation.findOne({ providerPaymentId: 'CAPTURE-1' }).lean();
    assert.equal(donation?.refundedMinor, 500);
    assert.equal(donation?.status, 'refunded');
    assert.equal(donation?.refunds.length, 2);
  });

  test('never resurrects a cancelled subscription, whatever order the events come in', async () => {
    const cancelled: PaymentFact = {
      type: 'subscription.status_changed',
      provider: 'paypal',
      subscriptionId: 'I-ORDER',
      status: 'cancelled',
      occurredAt: new Date('2026-11-23T10:00:00Z'),
    };
    const activated: PaymentFact = {
      type: 'subscription.activated',
      provider: 'paypal',
      subscriptionId: 'I-ORDER',
      amount: { amountMinor: 500, currency: 'USD' },
      payer: { email: 'order@example.com' },
      occurredAt: new Date('2026-11-22T10:00:00Z'),
    };
    await runtime.ledger.apply(cancelled);
    await runtime.ledger.apply(activated);
    const sub = await Subscription.findOne({ providerSubscriptionId: 'I-ORDER' }).lean();
    assert.equal(sub?.status, 'cancelled');
    assert.equal(sub?.amountMinor, 500, 'the late activation still fills in what it knows');
  });

  test('records a payment the app did not start with its plan marked unknown', async () => {
    const fact = payment({ planId: undefined, checkoutId: undefined });
    await runtime.ledger.apply(fact);
    const donation = await Donation.findOne({ providerPaymentId: fact.paymentId }).lean();
    assert.equal(donation?.planId, 'unknown');
  });

  test('opens and closes a dispute without moving backwards', async () => {
    const fact = payment();
    await runtime.ledger.apply(fact);
    const dispute = (status: 'open' | 'won' | 'lost'): PaymentFact => ({
      type: 'payment.disputed',
      provider: 'stripe',
      paymentId: fact.paymentId,
      disputeId: 'dp_1',
      status,
      occurredAt: new Date(),
    });
    await runtime.ledger.apply(dispute('open'));
    assert.equal((await Donation.findOne({ providerPaymentId: fact.paymentId }).lean())?.status, 'disputed');
    await runtime.ledger.apply(dispute('won'));
    assert.equal((await runtime.ledger.apply(dispute('open'))).result, 'duplicate');
    assert.equal((await Donation.findOne({ providerPaymentId: fact.paymentId }).lean())?.status, 'succeeded');
  });

  test('finishes the effects of a payment whose recording was interrupted, counting them once', async () => {
    const fact = payment({ occurredAt: new Date('2026-10-01T10:00:00Z') });
    // As if the process died right after the ledger insert: the entry exists, its effects do not.
    const supporter = await Supporter.create({
      email: fact.payer.email,
      firstSupportedAt: fact.occurredAt,
      lastSupportedAt: fact.occurredAt,
    });
    await Donation.create({
      provider: 'stripe',
      providerPaymentId: fact.paymentId,
      supporterId: supporter._id,
      planId: 'contributor',
      kind: 'one_off',
      amountMinor: 500,
      currency: 'USD',
      status: 'succeeded',
      occurredAt: fact.occurredAt,
    });
    assert.equal((await runtime.ledger.apply(fact)).result, 'duplicate');
    await runtime.ledger.apply(fact);
    const rollup = await Rollup.findOne({ day: '2026-10-01', provider: 'stripe' }).lean();
    assert.equal(rollup?.grossMinor, 500);
    assert.equal(rollup?.count, 1);
    assert.deepEqual((await Supporter.findById(supporter._id).lean())?.totals, { USD: 500 });
  });

  test('takes an interrupted refund off the totals exactly once when it is retried', async () => {
    const fact = payment({ occurredAt: new Date('2026-10-02T10:00:00Z') });
    await runtime.ledger.apply(fact);
    const donation = await Donation.findOne({ providerPaymentId: fact.paymentId }).lean();
    // As if the process died after writing the refund but before moving the rollup and totals.
    await Donation.updateOne(
      { _id: donation!._id },
      {
        $set: { refundedMinor: 500, status: 'refunded' },
        $push: {
          adjustments: { mark: `refund:${String(donation!._id)}:500`, deltaMinor: 500, day: '2026-10-03' },
        },
      },
    );
    const refund: PaymentFact = {
      type: 'payment.refunded',
      provider: 'stripe',
      paymentId: fact.paymentId,
      refundedTotal: { amountMinor: 500, currency: 'USD' },
      occurredAt: new Date('2026-10-03T10:00:00Z'),
    };
    await runtime.ledger.apply(refund);
    await runtime.ledger.apply(refund);
    const rollup = await Rollup.findOne({ day: '2026-10-03', provider: 'stripe' }).lean();
    assert.equal(rollup?.refundedMinor, 500);
    assert.equal(rollup?.refundCount, 1);
    const supporter = await Supporter.findOne({ email: fact.payer.email }).lean();
    assert.deepEqual(supporter?.totals, { USD: 0 });
  });

  test('keeps a payment whose amount differs from what was started, flagged for finance', async () => {
    const checkout = await Checkout.create({
      planId: 'contributor',
      interval: 'once',
      provider: 'stripe',
      amountMinor: 500,
      currency: 'USD',
      state: 'redirected',
    });
    const fact = payment({ checkoutId: String(checkout._id), amount: { amountMinor: 1, currency: 'USD' } });
    await runtime.ledger.apply(fact);
    const donation = await Donation.findOne({ providerPaymentId: fact.paymentId }).lean();
    assert.equal(donation?.amountMismatch, true);
    assert.equal(donation?.amountMinor, 1, 'the ledger records what was actually paid');
    assert.equal(donation?.planId, 'contributor');
    assert.equal((await Checkout.findById(checkout._id).lean())?.state, 'completed');
  });
});
