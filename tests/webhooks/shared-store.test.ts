import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import path from 'node:path';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/embedded-mongo/index.js';
import type { Runtime } from '../../src/runtime.js';
import { Donation, Rollup } from '../helpers/ledger.js';
import { WebhookEvent } from '../../src/webhooks/models.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { paidSession, refundedCharge, signStripe, stripeEvent, stripeSecret, uid } from './helpers.js';

/**
 * Two app processes on one store: this test process runs one runtime, a child process the other,
 * both connected to a store that runs on its own (as MONGODB_URI would point at one).
 */
let store: EmbeddedMongo;
let runtime: Runtime;
let child: ChildProcess;
let server: Server;
const origins: string[] = [];
const dbName = `readerfund_shared_${uid().slice(0, 8)}`;
// Processes behind one endpoint share its configured secret (the simulator would make one per process).
const webhookSecret = `whsec_shared_${uid()}`;

before(async () => {
  store = await startEmbeddedMongo({ port: 0 });
  child = fork(path.join(import.meta.dirname, 'fixtures', 'app-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      NODE_ENV: 'test',
      SHARED_STORE_URI: store.uri,
      SHARED_DB_NAME: dbName,
      STRIPE_WEBHOOK_SECRET: webhookSecret,
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const childPort = new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the second app process exited with ${code}`)));
  });
  runtime = await startTestRuntime(
    { db: { uri: store.uri }, payments: { stripe: { webhookSecret } } },
    { backgroundJobs: false, dbName },
  );
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
  server = runtime.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  origins.push(`http://127.0.0.1:${port}`, `http://127.0.0.1:${await childPort}`);
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.disconnect();
    await exited;
  }
  await runtime?.stop();
  await store?.stop();
});

describe('Two app processes sharing one store', () => {
  it('records each payment once when both processes receive the same events at the same time', async () => {
    const secret = stripeSecret(runtime);
    const payments = Array.from({ length: 15 }, (_, i) => ({ pi: `pi_${uid()}`, amount: 100 + i }));
    const payment = (pi: string, amountMinor: number) =>
      stripeEvent('checkout.session.completed', paidSession({ paymentIntent: pi, amountMinor }));
    const events = payments.flatMap(({ pi, amount }) => [
      payment(pi, amount),
      // The same payment under a new event id, as a re-send from the provider's dashboard.
      payment(pi, amount),
    ]);
    const refunded = payments.slice(0, 5);
    const refunds = refunded.map(({ pi, amount }) =>
      stripeEvent(
        'charge.refunded',
        refundedCharge({ paymentIntent: pi, amountMinor: amount, refundedMinor: 50 }),
      ),
    );
    const post = (origin: string, body: string) =>
      fetch(`${origin}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signStripe(body, secret) },
        body,
      });
    const replies = await Promise.all(events.flatMap((body) => origins.map((origin) => post(origin, body))));
    for (const reply of replies) assert.equal(reply.status, 200);
    const refundReplies = await Promise.all(
      refunds.flatMap((body) => origins.map((origin) => post(origin, body))),
    );
    for (const reply of refundReplies) assert.equal(reply.status, 200);

    assert.equal(await Donation.countDocuments({}), payments.length);
    for (const { pi } of payments) assert.equal(await Donation.countDocuments({ providerPaymentId: pi }), 1);
    assert.equal(await WebhookEvent.countDocuments({}), events.length + refunds.length);
    assert.equal(await WebhookEvent.countDocuments({ status: 'processed' }), events.length + refunds.length);
    const rollups = await Rollup.find({ zone: 'UTC' }).lean();
    const sum = (key: 'grossMinor' | 'refundedMinor') =>
      rollups.reduce((total, r) => total + (r[key] ?? 0), 0);
    assert.equal(
      sum('grossMinor'),
      payments.reduce((total, p) => total + p.amount, 0),
    );
    assert.equal(sum('refundedMinor'), refunded.length * 50);
  });
});
