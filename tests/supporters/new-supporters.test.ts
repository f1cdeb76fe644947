/**
 * A supporter is counted as new once, on the day of their earliest payment, however their payments
 * arrive and wherever settling one of them was cut off (a process killed, the store dropped).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { createCheckoutRepository } from '../../src/donations/repository.js';
import { checkoutLinks } from '../../src/donations/service.js';
import { createLogger } from '../../src/log.js';
import type { PaymentSucceeded } from '../../src/payments/types.js';
import { createLedger } from '../../src/supporters/ledger.js';
import { createLedgerRepository } from '../../src/supporters/repository.js';
import type { Runtime } from '../../src/runtime.js';
import { startLedgerRuntime } from '../helpers/runtime.js';
import { LedgerEntry, Supporter, one, rollupSum } from '../helpers/ledger.js';

let runtime: Runtime;
before(async () => {
  runtime = await startLedgerRuntime();
});
after(() => runtime.stop());

const gift = (email: string, paymentId: string, at: string): PaymentSucceeded => ({
  type: 'payment.succeeded',
  provider: 'stripe',
  paymentId,
  amount: { amountMinor: 500, currency: 'USD' },
  kind: 'one_off',
  occurredAt: new Date(at),
  payer: { email },
});

/**
 * A second process's ledger on the same store, whose rollup writes fail while `down` is set: the
 * store going away in the middle of settling a payment, after the supporter was already written.
 */
function ledgerWithFlakyRollups(flaky: { down: boolean }) {
  const real = mongoose.connection;
  const rollups = real.collection('rollups');
  const failingCollection = new Proxy(rollups, {
    get(target, property, receiver) {
      if (property !== 'updateOne') return Reflect.get(target, property, receiver) as unknown;
      return (...args: Parameters<typeof rollups.updateOne>) => {
        if (flaky.down) return Promise.reject(new Error('connection to the store closed'));
        return target.updateOne(...args);
      };
    },
  });
  const models = new Proxy(real.models, {
    get(target, name) {
      const model = target[name as string];
      if (name !== 'Rollup' || !model) return model;
      return new Proxy(model, {
        get: (m, p) => (p === 'collection' ? failingCollection : Reflect.get(m, p)),
      });
    },
  });
  const connection = new Proxy(real, { get: (c, p) => (p === 'models' ? models : Reflect.get(c, p)) });
  return createLedger({
    logger: createLogger({ level: 'silent' }),
    repository: createLedgerRepository(connection),
    checkouts: checkoutLinks(createCheckoutRepository(real)),
    plans: runtime.config.donations.plans,
    reporting: runtime.config.reports,
  });
}

describe('ledger: new supporters', () => {
  test('counts a supporter as new only on their earliest payment when settling an earlier one was cut off halfway', async () => {
    const email = 'cut-off-halfway@example.com';
    const latest = gift(email, 'pi_new_latest', '2026-04-20T10:00:00Z');
    const middle = gift(email, 'pi_new_middle', '2026-04-15T10:00:00Z');
    const earliest = gift(email, 'pi_new_earliest', '2026-04-10T10:00:00Z');

    await runtime.ledger.apply(latest);
    // The middle payment takes the first place from the latest, then its process loses the store
    // before the count is moved.
    const flaky = { down: true };
    await assert.rejects(ledgerWithFlakyRollups(flaky).apply(middle));
    // Meanwhile the earliest payment arrives at the other process, and the middle one is delivered again.
    await runtime.ledger.apply(earliest);
    await runtime.ledger.apply(middle);

    assert.equal(await rollupSum('newSupporters', { day: '2026-04-20' }), 0, 'not on the latest payment');
    assert.equal(await rollupSum('newSupporters', { day: '2026-04-15' }), 0, 'not on the middle payment');
    assert.equal(await rollupSum('newSupporters', { day: '2026-04-10' }), 1, 'on the earliest payment');
    const marked = await LedgerEntry.find({ providerPaymentId: /^pi_new_/, newSupporter: true }).lean();
    assert.deepEqual(
      marked.map((e) => e.providerPaymentId),
      ['pi_new_earliest'],
    );
    const supporter = await one(Supporter, { email });
    assert.equal(supporter?.donationCount, 3);
    assert.equal((supporter?.totals as Record<string, number>).USD, 1500);
  });

  test('counts a supporter as new only on their earliest payment when their payments arrive at once, latest first', async () => {
    const email = 'all-at-once@example.com';
    const days = ['2026-03-25', '2026-03-20', '2026-03-15', '2026-03-10', '2026-03-05'];
    const gifts = days.map((day, i) => gift(email, `pi_at_once_${i}`, `${day}T10:00:00Z`));
    await Promise.all(gifts.map((g) => runtime.ledger.apply(g)));
    for (const day of days.slice(0, -1))
      assert.equal(await rollupSum('newSupporters', { day }), 0, `not on ${day}`);
    assert.equal(await rollupSum('newSupporters', { day: '2026-03-05' }), 1);
    const marked = await LedgerEntry.find({ providerPaymentId: /^pi_at_once_/, newSupporter: true }).lean();
    assert.deepEqual(
      marked.map((e) => e.providerPaymentId),
      ['pi_at_once_4'],
    );
  });
});
