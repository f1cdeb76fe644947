import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import Stripe from 'stripe';
import { STRIPE_API_VERSION } from '../../src/simulator/index.js';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/embedded-mongo/index.js';
import type { Runtime } from '../../src/runtime.js';
import { Donation } from '../helpers/ledger.js';
import { Reconciliation } from '../../src/webhooks/models.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { payStripeSession } from '../simulator/helpers.js';
import {
  deliverStripe,
  eventIdOf,
  paidSession,
  refundedCharge,
  stripeEvent,
  stripeSecret,
  uid,
} from './helpers.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

let store: EmbeddedMongo;
let runtime: Runtime;
const dbName = `readerfund_ops_${uid().slice(0, 8)}`;

before(async () => {
  // A store of its own, so the command-line tools can connect to it while the app runs.
  store = await startEmbeddedMongo({ port: 0 });
  runtime = await startTestRuntime({ db: { uri: store.uri } }, { backgroundJobs: false, dbName });
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
});
after(async () => {
  await runtime.stop();
  await store.stop();
});

describe('Reconciliation', () => {
  it('reports a provider payment missing from the ledger, records the finding, and is clean once it is recorded', async () => {
    const stripe = runtime.payments.providers.stripe!;
    const start = await stripe.startCheckout({
      checkoutId: new mongoose.Types.ObjectId().toHexString(),
      plan: { id: 'one-off', name: 'One-off support', interval: 'once' },
      amount: { amountMinor: 4200, currency: 'USD' },
      email: 'reader@example.com',
      description: 'A contribution to The Meridian Ledger',
      returnUrl: 'http://localhost/donate/return/stripe',
      cancelUrl: 'http://localhost/donate',
    });
    // Paid at Stripe, but its webhooks were lost: the ledger never heard of it.
    await payStripeSession(start.redirectUrl);
    await runtime.payments.simulator!.idle();

    const gap = await runtime.webhooks.reconcile({ days: 1 });
    assert.equal(gap.clean, false);
    const missing = gap.missing.filter((m) => m.amountMinor === 4200);
    assert.equal(missing.length, 1);
    const paymentId = missing[0]!.paymentId;
    assert.equal(missing[0]!.provider, 'stripe');
    assert.equal(missing[0]!.currency, 'USD');
    const stored = await Reconciliation.findById(gap.id).lean();
    assert.equal(stored?.missing.length, gap.missing.length);

    const payment = stripeEvent(
      'checkout.session.completed',
      paidSession({ paymentIntent: paymentId, amountMinor: 4200 }),
    );
    assert.equal((await deliverStripe(runtime.app, payment, stripeSecret(runtime))).status, 200);
    const after = await runtime.webhooks.reconcile({ days: 1 });
    assert.equal(after.missing.length, 0);
    assert.equal(after.mismatched.length, 0);
    assert.equal(after.clean, true);

    await Donation.updateOne({ providerPaymentId: paymentId }, { $set: { amountMinor: 4000 } });
    const differs = await runtime.webhooks.reconcile({ days: 1 });
    assert.deepEqual(
      differs.mismatched.map(({ paymentId: id, field, providerValue, ledgerValue }) => ({
        id,
        field,
        providerValue,
        ledgerValue,
      })),
      [{ id: paymentId, field: 'amount', providerValue: '4200 USD', ledgerValue: '4000 USD' }],
    );
    await Donation.updateOne({ providerPaymentId: paymentId }, { $set: { amountMinor: 4200 } });

    // Refunded at Stripe, and that webhook was lost too: the refunded amount differs.
    await stripe.refund(paymentId, { requestKey: `refund-${paymentId}` });
    const lostRefund = await runtime.webhooks.reconcile({ days: 1 });
    assert.deepEqual(
      lostRefund.mismatched.map(({ paymentId: id, field, providerValue, ledgerValue }) => ({
        id,
        field,
        providerValue,
        ledgerValue,
      })),
      [{ id: paymentId, field: 'refunded', providerValue: '4200', ledgerValue: '0' }],
    );
  });
});

describe('Reconciliation of disputes', () => {
  it('finds a dispute lost at the provider whose webhooks never arrived: the dispute state differs', async () => {
    const stripe = runtime.payments.providers.stripe!;
    const sim = runtime.payments.simulator!;
    const start = await stripe.startCheckout({
      checkoutId: new mongoose.Types.ObjectId().toHexString(),
      plan: { id: 'one-off', name: 'One-off support', interval: 'once' },
      amount: { amountMinor: 3100, currency: 'USD' },
      email: 'disputed@example.com',
      description: 'A contribution to The Meridian Ledger',
      returnUrl: 'http://localhost/donate/return/stripe',
      cancelUrl: 'http://localhost/donate',
    });
    // This card is paid and then disputed by the cardholder's bank.
    await payStripeSession(start.redirectUrl, '4000 0000 0000 0259');
    await sim.idle();
    const paymentId = (await runtime.webhooks.reconcile({ days: 1 })).missing.find(
      (m) => m.amountMinor === 3100,
    )!.paymentId;
    const payment = stripeEvent(
      'checkout.session.completed',
      paidSession({ paymentIntent: paymentId, amountMinor: 3100 }),
    );
    assert.equal((await deliverStripe(runtime.app, payment, stripeSecret(runtime))).status, 200);

    // The dispute is lost at Stripe and none of its webhooks reached us.
    const sdk = new Stripe('sk_test_reconcile', {
      apiVersion: STRIPE_API_VERSION,
      host: sim.stripe.host,
      port: sim.stripe.port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const disputeId = (await sdk.disputes.list({ payment_intent: paymentId })).data[0]!.id;
    await sdk.disputes.close(disputeId);
    await sim.idle();
    const report = await runtime.webhooks.reconcile({ days: 1 });
    const found = report.mismatched.filter((m) => m.paymentId === paymentId);
    assert.equal(report.clean, false);
    assert.deepEqual(
      found.map((m) => m.field),
      ['dispute'],
      JSON.stringify(found),
    );
  });
});

describe('Operator commands', () => {
  it('lists a failed event with its raw payload and replays it with `npm run webhooks -- replay`; the tools refuse a locked store clearly', async () => {
    const pi = `pi_${uid()}`;
    const refund = stripeEvent(
      'charge.refunded',
      refundedCharge({ paymentIntent: pi, amountMinor: 300, refundedMinor: 300 }),
    );
    assert.equal((await deliverStripe(runtime.app, refund, stripeSecret(runtime))).status, 500);
    const listed = await runtime.webhooks.list({ status: 'failed' });
    const failed = listed.find((e) => e.eventId === eventIdOf(refund));
    assert.ok(failed);
    assert.equal(failed.rawBody, refund);
    const payment = stripeEvent(
      'checkout.session.completed',
      paidSession({ paymentIntent: pi, amountMinor: 300 }),
    );
    assert.equal((await deliverStripe(runtime.app, payment, stripeSecret(runtime))).status, 200);

    const env = {
      ...process.env,
      NODE_ENV: 'test',
      MONGODB_URI: `${store.uri}/${dbName}`,
      LOG_LEVEL: 'silent',
      // The commands use the running app's simulator, never one of their own.
      SIMULATOR_STRIPE_PORT: String(runtime.payments.simulator!.stripe.port),
    };
    const tsx = ['--import', 'tsx'];
    const locked = mkdtempSync(path.join(tmpdir(), 'readerfund-locked-'));
    const holder = await startEmbeddedMongo({ dbPath: locked, port: 0 });
    try {
      const [replay, lockedOut] = await Promise.all([
        run(process.execPath, [...tsx, 'src/webhooks/cli.ts', 'replay', failed.id], { cwd: root, env }),
        run(process.execPath, [...tsx, 'src/webhooks/reconcile-cli.ts', '--days', '1'], {
          cwd: root,
          env: { ...env, MONGODB_URI: '', EMBEDDED_MONGO_PATH: locked },
        }).then(
          () => assert.fail('expected the command to refuse a locked data directory'),
          (err: { code: number; stderr: string }) => err,
        ),
      ]);
      assert.equal(JSON.parse(replay.stdout).status, 'processed');
      assert.equal(lockedOut.code, 1);
      assert.match(lockedOut.stderr, /npm run db:embedded/);
      assert.match(lockedOut.stderr, /MONGODB_URI/);
    } finally {
      await holder.stop();
      rmSync(locked, { recursive: true, force: true });
    }

    assert.equal((await Donation.findOne({ providerPaymentId: pi }).lean())?.status, 'refunded');
  });
});
