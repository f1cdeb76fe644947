import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import type {
  PaymentDisputed,
  PaymentFact,
  PaymentSucceeded,
  SubscriptionMoved,
} from '../../src/payments/types.js';
import { createLedgerRepository } from '../../src/supporters/repository.js';
import type { Runtime } from '../../src/runtime.js';
import { startLedgerRuntime } from '../helpers/runtime.js';
import {
  Checkout,
  Donation,
  LedgerEntry,
  Rollup,
  Subscription,
  Supporter,
  one,
  rollupSum,
} from '../helpers/ledger.js';

let runtime: Runtime;
before(async () => {
  runtime = await startLedgerRuntime();
});
after(() => runtime.stop());

let sequence = 0;
const next = () => (sequence += 1);

function payment(overrides: Partial<PaymentSucceeded> = {}): PaymentSucceeded {
  const n = next();
  return {
    type: 'payment.succeeded',
    provider: 'stripe',
    paymentId: `pi_ledger_${n}`,
    amount: { amountMinor: 500, currency: 'USD' },
    kind: 'one_off',
    occurredAt: new Date('2026-11-20T10:00:00Z'),
    payer: { email: `reader${n}@example.com` },
    ...overrides,
  };
}

const dispute = (
  fact: PaymentSucceeded,
  status: PaymentDisputed['status'],
  at: string,
  id = 'dp_1',
): PaymentDisputed => ({
  type: 'payment.disputed',
  provider: fact.provider,
  paymentId: fact.paymentId,
  disputeId: `${id}_${fact.paymentId}`,
  status,
  amount: fact.amount,
  occurredAt: new Date(at),
});

const totalOf = async (email: string | undefined) =>
  ((await one(Supporter, { email }))?.totals as Record<string, number> | undefined)?.USD;

describe('ledger: payments', () => {
  test('records the same payment once, however often and however concurrently it arrives', async () => {
    const fact = payment({ occurredAt: new Date('2026-09-01T10:00:00Z') });
    const results = await Promise.all(Array.from({ length: 5 }, () => runtime.ledger.apply(fact)));
    assert.equal(results.filter((r) => r.result === 'applied').length, 1);
    assert.equal(await Donation.countDocuments({ providerPaymentId: fact.paymentId }), 1);
    assert.equal(await LedgerEntry.countDocuments({ providerPaymentId: fact.paymentId }), 1);
    assert.equal(await rollupSum('grossMinor', { day: '2026-09-01' }), 500);
    assert.equal(await rollupSum('count', { day: '2026-09-01' }), 1);
    assert.equal(await totalOf(fact.payer.email), 500);
  });

  test('keeps rollups per reporting time zone, each on the local day', async () => {
    // 02:00 UTC on 2 September is still 1 September in New York.
    await runtime.ledger.apply(payment({ occurredAt: new Date('2026-09-02T02:00:00Z') }));
    const ny = (await Rollup.find({ zone: 'America/New_York', day: '2026-09-01' }).lean()) as Array<{
      grossMinor: number;
    }>;
    assert.equal(
      ny.reduce((s, r) => s + r.grossMinor, 0),
      1000,
    );
    assert.equal(await rollupSum('grossMinor', { day: '2026-09-02' }), 500);
  });

  test('records a payment the app did not start with its plan marked unknown', async () => {
    const fact = payment();
    await runtime.ledger.apply(fact);
    assert.equal((await one(Donation, { providerPaymentId: fact.paymentId }))?.planId, 'unknown');
  });

  test('keeps a payment whose amount differs from what was started, flagged for finance', async () => {
    const checkout = await Checkout.create({
      planId: 'contributor',
      interval: 'once',
      provider: 'stripe',
      amountMinor: 500,
      currency: 'USD',
      ref: `ref-${next()}-aaaaaaaaaaaaaaaaa`.slice(0, 22),
      providerRef: 'cs_test_x',
      state: 'redirected',
      articleSlug: 'a-story',
    });
    const fact = payment({ checkoutId: String(checkout._id), amount: { amountMinor: 1, currency: 'USD' } });
    await runtime.ledger.apply(fact);
    const donation = await one(Donation, { providerPaymentId: fact.paymentId });
    assert.equal(donation?.amountMismatch, true);
    assert.equal(donation?.amountMinor, 1, 'the ledger records what was actually paid');
    assert.equal(donation?.planId, 'contributor');
    assert.equal(donation?.articleSlug, 'a-story', 'the article whose panel it came from travels along');
    assert.equal((await one(Checkout, { _id: checkout._id }))?.state, 'completed');
  });

  test('never lets a payment overwrite the name a supporter has, and keeps payer text on one bounded line', async () => {
    const first = payment({
      payer: { email: 'named@example.com', name: 'Rosa\nMeet me at http://x.example' },
    });
    await runtime.ledger.apply(first);
    await runtime.ledger.apply(payment({ payer: { email: 'NAMED@example.com', name: 'Mallory' } }));
    const supporter = await one(Supporter, { email: 'named@example.com' });
    assert.equal(supporter?.name, 'Rosa Meet me at http://x.example');
    assert.equal(await totalOf('named@example.com'), 1000);
  });

  test('does not make a supporter of an email a provider sent that is not an address', async () => {
    const fact = payment({ payer: { email: 'not an email' } });
    await runtime.ledger.apply(fact);
    assert.equal((await one(Donation, { providerPaymentId: fact.paymentId }))?.supporterId, undefined);
    assert.equal(await Supporter.countDocuments({ email: 'not an email' }), 0);
  });
});

describe('ledger: refunds', () => {
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
    const donation = await one(Donation, { providerPaymentId: fact.paymentId });
    assert.equal(donation?.refundedMinor, 200);
    assert.equal(donation?.status, 'partially_refunded');
    const entries = (await LedgerEntry.find({ providerPaymentId: fact.paymentId })
      .sort({ occurredAt: 1 })
      .lean()) as Array<{
      type: string;
      amountMinor: number;
      paymentOccurredAt: Date;
    }>;
    assert.deepEqual(
      entries.map((e) => [e.type, e.amountMinor]),
      [
        ['payment', 500],
        ['refund', -200],
      ],
    );
    assert.deepEqual(entries[1]!.paymentOccurredAt, fact.occurredAt, 'the refund is linked to its payment');
    assert.equal(await totalOf(fact.payer.email), 300);
  });

  test('leaves a supporter credited later with the payment net of a refund recorded before they were known', async () => {
    // A PayPal renewal arrives before the subscription's activation (no payer yet), is refunded,
    // and only then does the activation tell us who the supporter is.
    const n = next();
    const sale = payment({
      provider: 'paypal',
      paymentId: `SALE-${n}`,
      kind: 'recurring',
      subscriptionId: `I-REFUNDED${n}`,
      payer: {},
    });
    await runtime.ledger.apply(sale);
    await runtime.ledger.apply({
      type: 'payment.refunded',
      provider: 'paypal',
      paymentId: sale.paymentId,
      refund: { id: `REF-${n}`, amount: { amountMinor: 500, currency: 'USD' } },
      occurredAt: new Date('2026-11-21T10:00:00Z'),
    });
    await runtime.ledger.apply({
      type: 'subscription.moved',
      provider: 'paypal',
      subscriptionId: `I-REFUNDED${n}`,
      status: 'active',
      amount: { amountMinor: 500, currency: 'USD' },
      payer: { email: `late${n}@example.com` },
      occurredAt: new Date('2026-11-20T09:00:00Z'),
    });
    assert.equal(await totalOf(`late${n}@example.com`), 0);
  });
});

describe('ledger: disputes', () => {
  test('takes a lost dispute out of the supporter total and the rollup, and a later win puts it back (Stripe: a lost dispute keeps the funds withdrawn)', async () => {
    const fact = payment({ occurredAt: new Date('2026-08-01T10:00:00Z') });
    await runtime.ledger.apply(fact);
    await runtime.ledger.apply(dispute(fact, 'open', '2026-08-05T10:00:00Z'));
    assert.equal((await one(Donation, { providerPaymentId: fact.paymentId }))?.status, 'disputed');
    assert.equal(await totalOf(fact.payer.email), 500, 'an open dispute moves no money yet');
    await runtime.ledger.apply(dispute(fact, 'lost', '2026-08-20T10:00:00Z'));
    assert.equal((await one(Donation, { providerPaymentId: fact.paymentId }))?.status, 'dispute_lost');
    assert.equal(await totalOf(fact.payer.email), 0);
    assert.equal(await rollupSum('disputeLostMinor', { day: '2026-08-20' }), 500);
    await runtime.ledger.apply(dispute(fact, 'won', '2026-09-10T10:00:00Z'));
    assert.equal(await totalOf(fact.payer.email), 500);
    assert.equal(await rollupSum('disputeReversedMinor', { day: '2026-09-10' }), 500);
    assert.equal((await one(Donation, { providerPaymentId: fact.paymentId }))?.status, 'succeeded');
  });

  test('counts an inquiry that closes without a decision (Stripe warning_closed) as no loss', async () => {
    const fact = payment();
    await runtime.ledger.apply(fact);
    await runtime.ledger.apply(dispute(fact, 'open', '2026-11-21T10:00:00Z'));
    await runtime.ledger.apply(dispute(fact, 'closed', '2026-11-22T10:00:00Z'));
    assert.equal(await totalOf(fact.payer.email), 500);
    assert.equal((await one(Donation, { providerPaymentId: fact.paymentId }))?.status, 'succeeded');
  });

  test('never reopens a closed dispute when its created and closed events race (two processes, a retry and the sweep)', async () => {
    for (let round = 0; round < 15; round += 1) {
      const fact = payment();
      await runtime.ledger.apply(fact);
      const opened = dispute(fact, 'open', '2026-11-21T10:00:00Z');
      const lost = dispute(fact, 'lost', '2026-11-25T10:00:00Z');
      await Promise.all([
        runtime.ledger.apply(opened),
        runtime.ledger.apply(lost),
        runtime.ledger.apply(opened),
      ]);
      const donation = await one(Donation, { providerPaymentId: fact.paymentId });
      assert.deepEqual(
        (donation?.disputes as Array<{ status: string }>).map((d) => d.status),
        ['lost'],
      );
      assert.equal(donation?.status, 'dispute_lost');
      assert.equal(
        await LedgerEntry.countDocuments({ providerPaymentId: fact.paymentId, type: 'dispute' }),
        1,
      );
    }
  });
});

describe('ledger: supporters and subscriptions', () => {
  const moved = (subscriptionId: string, overrides: Partial<SubscriptionMoved>): SubscriptionMoved => ({
    type: 'subscription.moved',
    provider: 'paypal',
    subscriptionId,
    status: 'active',
    occurredAt: new Date('2026-07-01T10:00:00Z'),
    ...overrides,
  });

  test('counts a new monthly supporter once, on the day of their first payment, whichever of activation and payment comes first', async () => {
    for (const order of ['activation first', 'payment first'] as const) {
      const n = next();
      const subscriptionId = `I-NEW${n}`;
      const day = `2026-07-${String((n % 28) + 1).padStart(2, '0')}`;
      const activation = moved(subscriptionId, {
        amount: { amountMinor: 500, currency: 'USD' },
        payer: { email: `monthly${n}@example.com` },
        occurredAt: new Date(`${day}T10:00:00Z`),
      });
      const sale = payment({
        provider: 'paypal',
        paymentId: `SALE-NEW-${n}`,
        kind: 'recurring',
        subscriptionId,
        payer: {},
        occurredAt: new Date(`${day}T10:05:00Z`),
      });
      const before = await rollupSum('newSupporters', { day });
      if (order === 'activation first') {
        await runtime.ledger.apply(activation);
        await runtime.ledger.apply(sale);
      } else {
        await runtime.ledger.apply(sale);
        await runtime.ledger.apply(activation);
      }
      assert.equal((await rollupSum('newSupporters', { day })) - before, 1, order);
    }
  });

  test('ends in the latest state when a subscription’s activation, suspension, reactivation and cancellation race (two processes, a retry and the sweep)', async () => {
    // Each move is a guarded update on the version read: a move older than the stored one changes
    // nothing, whatever order the writes land in; MRR gains and loses the subscription once each.
    for (let round = 0; round < 10; round += 1) {
      const subscriptionId = `I-RACE${next()}`;
      const at = (day: string) => new Date(`2026-08-${day}T10:00:00Z`);
      const moves = [
        moved(subscriptionId, {
          amount: { amountMinor: 500, currency: 'USD' },
          payer: { email: `race${subscriptionId}@example.com` },
          occurredAt: at('01'),
          currentPeriodEnd: at('31'),
        }),
        moved(subscriptionId, { status: 'suspended', occurredAt: at('05') }),
        moved(subscriptionId, { status: 'active', occurredAt: at('07'), currentPeriodEnd: at('31') }),
        moved(subscriptionId, {
          status: 'cancelled',
          occurredAt: at('09'),
          endsAt: at('31'),
          currentPeriodEnd: at('31'),
        }),
      ];
      const shuffled = [...moves, moves[1]!, moves[3]!].sort(() => Math.random() - 0.5);
      await Promise.all(shuffled.map((fact) => runtime.ledger.apply(fact)));
      await runtime.ledger.settlePending();
      const stored = await one(Subscription, { providerSubscriptionId: subscriptionId });
      assert.equal(
        stored?.status,
        'cancelled',
        `round ${round}: ${shuffled.map((m) => m.status).join(', ')}`,
      );
      assert.equal((stored?.currentPeriodEnd as Date).toISOString(), at('31').toISOString());
      const movements = await mongoose.connection
        .collection('mrrmovements')
        .find({ subscriptionId: stored?._id })
        .toArray();
      assert.deepEqual(
        [
          movements.some((m) => (m.deltaMinor as number) === 500),
          movements.reduce((sum, m) => sum + (m.deltaMinor as number), 0),
        ],
        [true, 0],
        'MRR gains it and loses it once each',
      );
    }
  });

  test('moves the new-supporter count to an earlier payment that arrives late', async () => {
    const later = payment({
      payer: { email: 'twice@example.com' },
      occurredAt: new Date('2026-06-20T10:00:00Z'),
    });
    const earlier = payment({
      payer: { email: 'twice@example.com' },
      occurredAt: new Date('2026-06-10T10:00:00Z'),
    });
    await runtime.ledger.apply(later);
    assert.equal(await rollupSum('newSupporters', { day: '2026-06-20' }), 1);
    await runtime.ledger.apply(earlier);
    await runtime.ledger.apply(earlier);
    assert.equal(await rollupSum('newSupporters', { day: '2026-06-20' }), 0);
    assert.equal(await rollupSum('newSupporters', { day: '2026-06-10' }), 1);
  });

  test('gives a payment recorded without a payer its supporter, credit and receipt once a later fact knows the payer', async () => {
    // PayPal's capture webhook carries no payer; the reader's return does.
    const n = next();
    const fromWebhook = payment({ provider: 'paypal', paymentId: `CAPTURE-EARLY-${n}`, payer: {} });
    await runtime.ledger.apply(fromWebhook);
    const recorded = await one(Donation, { providerPaymentId: fromWebhook.paymentId });
    assert.equal(recorded?.supporterId, undefined);
    const outcome = await runtime.ledger.apply({
      ...fromWebhook,
      payer: { email: `returned${n}@example.com` },
    });
    assert.equal(outcome.result, 'applied');
    const donation = await one(Donation, { providerPaymentId: fromWebhook.paymentId });
    assert.ok(donation?.supporterId);
    assert.equal(await totalOf(`returned${n}@example.com`), 500);
    assert.equal((donation?.receipt as { status: string }).status, 'pending', 'the receipt can now go out');
    assert.equal(
      (await runtime.ledger.apply({ ...fromWebhook, payer: { email: 'someone-else@example.com' } })).result,
      'duplicate',
    );
  });

  test('brings a past-due subscription back to active when a later payment succeeds', async () => {
    const subscriptionId = `I-PASTDUE${next()}`;
    await runtime.ledger.apply(
      moved(subscriptionId, {
        amount: { amountMinor: 500, currency: 'USD' },
        payer: { email: 'late-payer@example.com' },
      }),
    );
    await runtime.ledger.apply(
      moved(subscriptionId, { status: 'past_due', occurredAt: new Date('2026-08-01T10:00:00Z') }),
    );
    await runtime.ledger.apply(
      payment({
        provider: 'paypal',
        paymentId: `SALE-${subscriptionId}`,
        kind: 'recurring',
        subscriptionId,
        payer: {},
        occurredAt: new Date('2026-08-03T10:00:00Z'),
      }),
    );
    assert.equal((await one(Subscription, { providerSubscriptionId: subscriptionId }))?.status, 'active');
  });

  test('never lets an older subscription event move the paid period back, take the supporter or unset the plan', async () => {
    const subscriptionId = `I-ORDER${next()}`;
    await runtime.ledger.apply(
      moved(subscriptionId, {
        planId: 'monthly-supporter',
        amount: { amountMinor: 500, currency: 'USD' },
        payer: { email: 'first-holder@example.com' },
        currentPeriodEnd: new Date('2026-08-01T10:00:00Z'),
        occurredAt: new Date('2026-07-01T10:00:00Z'),
      }),
    );
    await runtime.ledger.apply(
      moved(subscriptionId, {
        status: 'cancelled',
        payer: { email: 'someone-else@example.com' },
        currentPeriodEnd: new Date('2026-07-15T10:00:00Z'),
        occurredAt: new Date('2026-07-20T10:00:00Z'),
      }),
    );
    await runtime.ledger.apply(
      moved(subscriptionId, { planId: 'unknown', occurredAt: new Date('2026-06-30T10:00:00Z') }),
    );
    const sub = await one(Subscription, { providerSubscriptionId: subscriptionId });
    assert.equal(sub?.status, 'cancelled');
    assert.equal(sub?.planId, 'monthly-supporter');
    assert.deepEqual(sub?.currentPeriodEnd, new Date('2026-08-01T10:00:00Z'));
    const holder = await one(Supporter, { _id: sub?.supporterId });
    assert.equal(holder?.email, 'first-holder@example.com');
  });

  test('records a cancellation at the end of the paid period as churn on that day, not the day it was asked for', async () => {
    const subscriptionId = `I-CHURN${next()}`;
    await runtime.ledger.apply(
      moved(subscriptionId, {
        amount: { amountMinor: 700, currency: 'USD' },
        payer: { email: 'leaving@example.com' },
        occurredAt: new Date('2026-05-01T10:00:00Z'),
      }),
    );
    await runtime.ledger.apply(
      moved(subscriptionId, {
        status: 'cancelled',
        endsAt: new Date('2026-05-31T10:00:00Z'),
        occurredAt: new Date('2026-05-10T10:00:00Z'),
      }),
    );
    assert.equal(await rollupSum('mrrChurnMinor', { day: '2026-05-10' }), 0);
    assert.equal(await rollupSum('mrrChurnMinor', { day: '2026-05-31' }), 700);
    assert.equal(await rollupSum('mrrNewMinor', { day: '2026-05-01' }), 700);
  });
});

describe('ledger: rollups under races', () => {
  test('retries the first increment of a new rollup bucket that another process created at the same moment', async () => {
    // On a real MongoDB two processes can both miss the new bucket and both insert it: one insert
    // fails with a duplicate key although its increment was never applied. Reproduce exactly that
    // answer for the first upsert, with the other process's bucket already in place.
    const real = mongoose.connection;
    let raced = false;
    const rollups = real.collection('rollups');
    const racingCollection = new Proxy(rollups, {
      get(target, property, receiver) {
        if (property !== 'updateOne') return Reflect.get(target, property, receiver) as unknown;
        return async (filter: Record<string, unknown>, update: unknown, options?: { upsert?: boolean }) => {
          if (options?.upsert && !raced) {
            raced = true;
            const { marks: _marks, ...bucket } = filter;
            await target.insertOne({
              ...bucket,
              grossMinor: 500,
              count: 1,
              marks: ['payment:stripe:other-process'],
            });
            throw Object.assign(new Error('E11000 duplicate key error collection: rollups'), { code: 11000 });
          }
          return target.updateOne(filter, update as never, options);
        };
      },
    });
    const models = new Proxy(real.models, {
      get(target, name) {
        const model = target[name as string];
        if (name !== 'Rollup' || !model) return model;
        return new Proxy(model, {
          get: (m, p) => (p === 'collection' ? racingCollection : Reflect.get(m, p)),
        });
      },
    });
    const connection = new Proxy(real, { get: (c, p) => (p === 'models' ? models : Reflect.get(c, p)) });
    const repository = createLedgerRepository(connection);
    const bucket = {
      zone: 'UTC',
      day: '2030-01-01',
      currency: 'USD',
      provider: 'stripe' as const,
      planId: 'contributor',
    };
    await repository.incrementRollupOnce(bucket, ['payment:stripe:this-process'], {
      grossMinor: 700,
      count: 1,
    });
    assert.ok(raced);
    const stored = await one(Rollup, { day: '2030-01-01' });
    assert.equal(stored?.grossMinor, 1200, 'both processes counted');
    assert.equal(stored?.count, 2);
  });
});
