import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import mongoose from 'mongoose';
import { MongoNetworkError } from 'mongodb';
import type { Runtime } from '../../src/runtime.js';
import type { Ledger } from '../../src/supporters/ledger.js';
import { Donation } from '../helpers/ledger.js';
import { createWebhooksFeature } from '../../src/webhooks/index.js';
import { WebhookEvent } from '../../src/webhooks/models.js';
import { startTestRuntime } from '../helpers/runtime.js';
import {
  deliverStripe,
  eventIdOf,
  paidSession,
  refundedCharge,
  stripeEvent,
  stripeSecret,
  uid,
} from './helpers.js';

let runtime: Runtime;
let secret: string;
let dbName: string;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
  secret = stripeSecret(runtime);
  dbName = runtime.store.connection.name;
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
  await settled();
});
after(async () => {
  await runtime.stop();
});

/** Waits for start-up index builds, so cutting the connection in a test interrupts only the test. */
async function settled(): Promise<void> {
  await Promise.all(mongoose.modelNames().map((name) => mongoose.model(name).init()));
  const db = runtime.store.connection.db!;
  for (let i = 0; i < 100; i += 1) {
    const names = (await db.listCollections().toArray())
      .map((c) => c.name)
      .filter((n) => n.startsWith('ratelimits_'));
    const indexed = await Promise.all(names.map(async (n) => (await db.collection(n).indexes()).length > 1));
    if (names.length >= 2 && indexed.every(Boolean)) return;
    await sleep(20);
  }
}

/** The webhook feature on its own app, with test-sized leases and retry waits. */
function feature(options: { ledger?: Ledger; leaseMs?: number; baseMs?: number; maxAttempts?: number } = {}) {
  const webhooks = createWebhooksFeature({
    config: runtime.config,
    logger: runtime.logger,
    providers: runtime.payments.providers,
    ledger: options.ledger ?? runtime.ledger,
    leaseMs: options.leaseMs ?? 60_000,
    retry: { baseMs: options.baseMs ?? 50, maxAttempts: options.maxAttempts ?? 12 },
  });
  return { webhooks, app: express().use(webhooks.router) };
}

const payment = (pi: string, amountMinor = 500) =>
  stripeEvent('checkout.session.completed', paidSession({ paymentIntent: pi, amountMinor }));
const refund = (pi: string, amountMinor = 500) =>
  stripeEvent(
    'charge.refunded',
    refundedCharge({ paymentIntent: pi, amountMinor, refundedMinor: amountMinor }),
  );
const reconnect = () => mongoose.connect(runtime.store.uri, { dbName, serverSelectionTimeoutMS: 10_000 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Webhooks when the store fails', () => {
  it('answers 503 while the store is disconnected, then records the redelivered event once', async () => {
    const pi = `pi_${uid()}`;
    const event = payment(pi, 1500);
    await mongoose.disconnect();
    try {
      const down = await deliverStripe(runtime.app, event, secret);
      assert.equal(down.status, 503);
    } finally {
      await reconnect();
    }
    assert.equal(await WebhookEvent.countDocuments({ eventId: eventIdOf(event) }), 0);
    const up = await deliverStripe(runtime.app, event, secret);
    assert.deepEqual(up.body, { received: true, status: 'processed' });
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 1);
  });

  it('keeps its lease while a slow provider answers for longer than the lease, so no other process takes the event over', async () => {
    // One attempt only, so the event that fails here is not due in the later tests' sweeps.
    const first = feature({ leaseMs: 300, maxAttempts: 1 });
    const second = feature({ leaseMs: 300 });
    const simulator = runtime.payments.simulator!;
    simulator.setLatency(700);
    try {
      // A refund of a payment nobody recorded: the service asks Stripe twice (its invoice, then the payment).
      const refund = stripeEvent(
        'charge.refunded',
        refundedCharge({ paymentIntent: `pi_${uid()}`, amountMinor: 300, refundedMinor: 300 }),
      );
      const delivery = deliverStripe(first.app, refund, secret).then((res) => res);
      await sleep(900);
      assert.equal(await second.webhooks.sweeper.sweepOnce(), 0, 'another process’s sweep leaves it alone');
      await delivery;
      const stored = await WebhookEvent.findOne({ eventId: eventIdOf(refund) }).lean();
      assert.equal(stored?.attempts, 1, 'worked on once');
    } finally {
      simulator.setLatency(0);
    }
  });

  it('keeps an event whose store went down mid-processing, writes nothing half, and finishes it on redelivery', async () => {
    const pi = `pi_${uid()}`;
    const event = payment(pi, 2100);
    let drop = true;
    const ledger: Ledger = {
      ...runtime.ledger,
      async apply(fact) {
        if (drop) {
          drop = false;
          // The connection goes away after the event is stored, before the ledger writes.
          await mongoose.disconnect();
          throw new MongoNetworkError('connection to the store was closed');
        }
        return runtime.ledger.apply(fact);
      },
    };
    const { app } = feature({ ledger });
    const down = await deliverStripe(app, event, secret);
    assert.equal(down.status, 500);
    await reconnect();
    const stored = await WebhookEvent.findOne({ eventId: eventIdOf(event) }).lean();
    assert.equal(stored?.rawBody, event);
    assert.equal(stored?.status, 'processing', 'the failure could not be written; the lease covers it');
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 0);

    const again = await deliverStripe(app, event, secret);
    assert.deepEqual(again.body, { received: true, status: 'processed' });
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 1);
    const done = await WebhookEvent.findOne({ eventId: eventIdOf(event) }).lean();
    assert.equal(done?.status, 'processed');
    assert.equal(done?.attempts, 2);
  });

  it('lets the sweep take over an event whose holder died once its lease runs out', async () => {
    const pi = `pi_${uid()}`;
    const event = payment(pi, 1700);
    const { webhooks, app } = feature({ leaseMs: 100 });
    // Stored and claimed by a process that then vanished.
    await WebhookEvent.create({
      provider: 'stripe',
      eventId: eventIdOf(event),
      type: 'checkout.session.completed',
      eventCreatedAt: new Date(),
      rawBody: event,
      status: 'processing',
      attempts: 1,
      receivedAt: new Date(),
      lockedBy: 'another-host:1234:dead',
      leaseUntil: new Date(Date.now() + 150),
    });
    const meanwhile = await deliverStripe(app, event, secret);
    assert.deepEqual(meanwhile.body, { received: true, status: 'in_progress' });
    assert.equal(await webhooks.sweeper.sweepOnce(), 0, 'the lease is still valid');
    await sleep(200);
    assert.equal(await webhooks.sweeper.sweepOnce(), 1);
    assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 1);
    assert.equal((await WebhookEvent.findOne({ eventId: eventIdOf(event) }).lean())?.status, 'processed');
  });
});

describe('Webhook retries', () => {
  it('retries a failed event in the background sweep with backoff, and nothing is counted twice', async () => {
    const pi = `pi_${uid()}`;
    const { webhooks, app } = feature({ baseMs: 150 });
    const early = refund(pi, 900);
    assert.equal((await deliverStripe(app, early, secret)).status, 500);
    assert.equal((await deliverStripe(app, payment(pi, 900), secret)).status, 200);
    assert.equal(await webhooks.sweeper.sweepOnce(), 0, 'not due before its backoff');
    await sleep(200);
    webhooks.sweeper.start(20);
    for (let i = 0; i < 50; i += 1) {
      const stored = await WebhookEvent.findOne({ eventId: eventIdOf(early) }).lean();
      if (stored?.status === 'processed') break;
      await sleep(20);
    }
    await webhooks.sweeper.stop();
    const donation = await Donation.findOne({ providerPaymentId: pi }).lean();
    assert.equal(donation?.status, 'refunded');
    assert.equal(donation?.refundedMinor, 900);
    assert.equal((await WebhookEvent.findOne({ eventId: eventIdOf(early) }).lean())?.status, 'processed');
  });

  it('leaves an event in the dead-letter queue after its last attempt, and an operator replay recovers it', async () => {
    const pi = `pi_${uid()}`;
    const { webhooks, app } = feature({ baseMs: 1, maxAttempts: 2 });
    const early = refund(pi, 400);
    assert.equal((await deliverStripe(app, early, secret)).status, 500);
    await sleep(5);
    assert.equal(await webhooks.sweeper.sweepOnce(), 1);
    const dead = await WebhookEvent.findOne({ eventId: eventIdOf(early) }).lean();
    assert.equal(dead?.status, 'failed');
    assert.equal(dead?.attempts, 2);
    assert.equal(dead?.nextAttemptAt, undefined);
    assert.equal(await webhooks.sweeper.sweepOnce(), 0, 'the sweep leaves dead letters alone');
    assert.ok((await webhooks.list({ status: 'failed' })).some((e) => e.eventId === eventIdOf(early)));

    assert.equal((await deliverStripe(app, payment(pi, 400), secret)).status, 200);
    const replayed = await webhooks.replay(eventIdOf(early));
    assert.equal(replayed?.status, 'processed');
    assert.equal((await Donation.findOne({ providerPaymentId: pi }).lean())?.status, 'refunded');
  });
});
