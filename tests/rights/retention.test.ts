import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import mongoose from 'mongoose';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/embedded-mongo/index.js';
import type { RetentionRun } from '../../src/consent/index.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

/** Two app processes on one store (as behind a load balancer): this one and a child. */
let store: EmbeddedMongo;
let runtime: Runtime;
let child: ChildProcess;
const dbName = `readerfund_retention_${randomUUID().slice(0, 8)}`;
const events = () => mongoose.connection.collection('webhookevents');
const day = 86_400_000;

before(async () => {
  store = await startEmbeddedMongo({ port: 0 });
  child = fork(path.join(import.meta.dirname, 'fixtures', 'retention-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'test', SHARED_STORE_URI: store.uri, SHARED_DB_NAME: dbName },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the second app process exited with ${code}`)));
  });
  runtime = await startTestRuntime(
    { db: { uri: store.uri } },
    {
      backgroundJobs: false,
      dbName,
      payments: { providers: {}, formActionOrigins: [], stop: async () => undefined },
    },
  );
});

after(async () => {
  if (child?.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.disconnect();
    await exited;
  }
  await runtime?.stop();
  await store?.stop();
});

function childRun(now: Date): Promise<RetentionRun | null> {
  return new Promise((resolve, reject) => {
    child.once('message', (m: { result?: RetentionRun | null; error?: string }) =>
      m.error ? reject(new Error(m.error)) : resolve(m.result ?? null),
    );
    child.send({ now: now.toISOString() });
  });
}

function event(daysAgo: number, status: string, now: Date) {
  return {
    provider: 'stripe',
    eventId: `evt_${randomUUID()}`,
    type: 'checkout.session.completed',
    eventCreatedAt: new Date(now.getTime() - daysAgo * day),
    rawBody: JSON.stringify({
      id: 'evt',
      data: { object: { customer_details: { email: 'old@example.com' } } },
    }),
    status,
    attempts: 1,
    receivedAt: new Date(now.getTime() - daysAgo * day),
  };
}

test('empties raw webhook payloads past retention once a day across two processes', async () => {
  const now = new Date();
  await events().insertMany([
    event(120, 'processed', now),
    event(91, 'ignored', now),
    event(89, 'processed', now),
    event(120, 'failed', now),
  ]);
  const [here, there] = await Promise.all([runtime.consent.runRetentionIfDue(now), childRun(now)]);
  const ran = [here, there].filter((r) => r !== null);
  assert.equal(ran.length, 1, 'exactly one process ran today’s job');
  assert.equal(ran[0]!.webhookPayloads, 2);

  const stored = await events().find({}).sort({ receivedAt: 1 }).toArray();
  const byAge = stored.map((e) => [e.status, e.rawBody === '', !!e.rawPrunedAt]);
  assert.deepEqual(byAge, [
    ['processed', true, true],
    ['failed', false, false],
    ['ignored', true, true],
    ['processed', false, false],
  ]);
  assert.equal(await runtime.consent.runRetentionIfDue(now), null, 'done for today');
  assert.equal(await childRun(new Date(now.getTime() + 60_000)), null);
  const tomorrow = new Date(now.getTime() + 2 * day);
  const next = [await runtime.consent.runRetentionIfDue(tomorrow), await childRun(tomorrow)];
  assert.deepEqual(
    next.map((r) => r?.webhookPayloads ?? null),
    [1, null],
    'the next day the payload that came of age is emptied, once',
  );
});

test('a run that failed is tried again the same day', async () => {
  const at = new Date(Date.now() + 10 * day);
  const runs = mongoose.connection.collection('jobruns');
  await runs.insertOne({
    job: 'consent-retention',
    day: at.toISOString().slice(0, 10),
    status: 'failed',
    claimedAt: at,
    leaseUntil: new Date(at.getTime() - 1000),
    attempts: 1,
    lastError: 'store went away',
  });
  const result = await runtime.consent.runRetentionIfDue(at);
  assert.ok(result, 'the failed run is taken up again');
  const run = await runs.findOne({ job: 'consent-retention', day: at.toISOString().slice(0, 10) });
  assert.equal(run?.status, 'done');
});
