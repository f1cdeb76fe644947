/**
 * Embedded store benchmark, measured through the plain mongodb driver against the store running
 * as its own process (`npm run db:embedded`) with its journal on. Every rate is reported as a
 * ratio to the driver's own ping round-trip rate measured in the same run. The measurements take
 * turns in a few rounds of short windows and each reports its best window, so that a busy machine
 * disturbs the figures less.
 *   npx tsx bench/embedded-mongo.bench.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MongoClient } from 'mongodb';
import { publish, type Figure } from './figures.js';

const WINDOW_MS = 1000;
const ROUNDS = 4;
const DOCS = 100_000;
const CLIENT_THREADS = 2;
const INSERTERS = 32;

/** Runs the store through its CLI, as several app processes sharing one store would. */
async function startStore(dbPath: string): Promise<{ uri: string; child: ChildProcess }> {
  const cli = fileURLToPath(new URL('../src/embedded-mongo/cli.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--dbpath', dbPath], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    const m = /mongodb:\/\/\S+/.exec(out);
    if (m) return { uri: m[0], child };
  }
  throw new Error(`the store exited before printing its URI: ${out}`);
}

/** Sequential operations per second over one window. */
async function windowRate(fn: (i: number) => Promise<unknown>, counter: { i: number }): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < WINDOW_MS) {
    await fn(counter.i++);
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

async function warm(fn: (i: number) => Promise<unknown>, counter: { i: number }): Promise<void> {
  for (let w = 0; w < 300; w++) await fn(counter.i++);
}

// Each client thread is its own driver instance (like one app process) running several inserters.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { MongoClient } = require(workerData.driver);
(async () => {
  const { uri, inserters, windowMs, rounds, thread } = workerData;
  const client = await MongoClient.connect(uri, { maxPoolSize: inserters, minPoolSize: inserters });
  const c = client.db('bench').collection('concurrent');
  await Promise.all(Array.from({ length: inserters }, async (_, w) => {
    for (let i = 0; i < 50; i++) await c.insertOne({ warm: true, thread, w, i });
  }));
  parentPort.postMessage({ ready: true });
  for (let r = 0; r < rounds; r++) {
    await new Promise((resolve) => parentPort.once('message', resolve));
    let done = 0;
    const end = performance.now() + windowMs;
    await Promise.all(Array.from({ length: inserters }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        await c.insertOne({ thread, w, i, name: 'reader ' + i, amount: i % 100 });
        done++;
      }
    }));
    parentPort.postMessage({ done });
  }
  await client.close();
})().catch((err) => { parentPort.postMessage({ error: String(err) }); });
`;

interface ConcurrentClients {
  /** Runs one window with every inserter of every client thread; returns inserts per second. */
  round(): Promise<number>;
  close(): Promise<void>;
}

async function startConcurrentClients(uri: string): Promise<ConcurrentClients> {
  const driver = createRequire(import.meta.url).resolve('mongodb');
  const perThread = INSERTERS / CLIENT_THREADS;
  const workers = Array.from(
    { length: CLIENT_THREADS },
    (_, thread) =>
      new Worker(workerSource, {
        eval: true,
        workerData: { uri, inserters: perThread, windowMs: WINDOW_MS, rounds: ROUNDS, thread, driver },
      }),
  );
  const exited = workers.map((w) => once(w, 'exit'));
  type Msg = { ready?: boolean; done?: number; error?: string };
  const next = (w: Worker): Promise<Msg> => once(w, 'message').then(([m]) => m as Msg);
  const check = (m: Msg): void => {
    if (m.error) throw new Error(m.error);
  };
  (await Promise.all(workers.map(next))).forEach(check);
  return {
    async round() {
      const start = performance.now();
      const results = workers.map(next);
      for (const w of workers) w.postMessage('go');
      const msgs = await Promise.all(results);
      msgs.forEach(check);
      const done = msgs.reduce((a, m) => a + (m.done ?? 0), 0);
      return (done * 1000) / (performance.now() - start);
    },
    async close() {
      await Promise.all(exited);
    },
  };
}

async function main(): Promise<void> {
  const dbPath = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-mongo-bench-'));
  const { uri, child } = await startStore(dbPath);
  const client = await MongoClient.connect(uri);
  const db = client.db('bench');
  const rows: [string, string, string, string, boolean | undefined][] = [];
  const figures: Figure[] = [];
  const fmt = (r: number): string => `${Math.round(r).toLocaleString('en')}/s`;
  try {
    const admin = db.admin();
    const seq = db.collection('sequential');
    const people = db.collection('people');
    await people.createIndex({ email: 1 }, { unique: true });
    for (let b = 0; b < DOCS; b += 5000) {
      const docs = [];
      for (let i = b; i < b + 5000; i++)
        docs.push({
          email: `reader${i}@example.org`,
          name: `Reader ${i}`,
          plan: `p${i % 20}`,
          amount: i % 500,
        });
      await people.insertMany(docs, { ordered: false });
    }
    const ping = (): Promise<unknown> => admin.command({ ping: 1 });
    const insert = (i: number): Promise<unknown> =>
      seq.insertOne({ i, name: `reader ${i}`, amount: i % 100 });
    const find = async (i: number): Promise<void> => {
      const k = (i * 7919) % DOCS;
      const d = await people.findOne({ email: `reader${k}@example.org` });
      if (!d) throw new Error(`reader${k} not found`);
    };
    const group = async (): Promise<number> => {
      const t0 = performance.now();
      const groups = await people
        .aggregate([
          { $group: { _id: '$plan', total: { $sum: '$amount' }, n: { $sum: 1 } } },
          { $sort: { total: -1 } },
        ])
        .toArray();
      if (groups.length !== 20) throw new Error(`expected 20 groups, got ${groups.length}`);
      return performance.now() - t0;
    };
    const counters = { ping: { i: 0 }, insert: { i: 0 }, find: { i: 0 } };
    await warm(ping, counters.ping);
    await warm(insert, counters.insert);
    await warm(find, counters.find);
    const clients = await startConcurrentClients(uri);

    // the measurements take turns, so that a change in machine load affects them alike
    const best = { ping: 0, insert: 0, find: 0, concurrent: 0, groupMs: Infinity };
    for (let r = 0; r < ROUNDS; r++) {
      best.ping = Math.max(best.ping, await windowRate(ping, counters.ping));
      best.insert = Math.max(best.insert, await windowRate(insert, counters.insert));
      best.find = Math.max(best.find, await windowRate(find, counters.find));
      best.concurrent = Math.max(best.concurrent, await clients.round());
      best.groupMs = Math.min(best.groupMs, await group());
    }
    await clients.close();

    rows.push(['driver ping round trips', fmt(best.ping), '1.00', 'reference', undefined]);
    rows.push([
      'sequential insertOne (acknowledged)',
      fmt(best.insert),
      (best.insert / best.ping).toFixed(2),
      '≥ 0.60 × ping',
      best.insert >= 0.6 * best.ping,
    ]);
    rows.push([
      `findOne by indexed field, ${DOCS / 1000}k docs`,
      fmt(best.find),
      (best.find / best.ping).toFixed(2),
      '≥ 0.60 × ping',
      best.find >= 0.6 * best.ping,
    ]);
    rows.push([
      `${INSERTERS} concurrent inserters (${CLIENT_THREADS} clients)`,
      fmt(best.concurrent),
      `${(best.concurrent / best.ping).toFixed(2)} (${(best.concurrent / best.insert).toFixed(2)} × seq)`,
      '≥ 2 × sequential insert',
      best.concurrent >= 2 * best.insert,
    ]);
    rows.push([
      `$group over ${DOCS / 1000}k docs`,
      `${Math.round(best.groupMs)} ms`,
      '-',
      '< 1000 ms',
      best.groupMs < 1000,
    ]);
    const ofPing = (rate: number) => `${(rate / best.ping).toFixed(2)} × ping`;
    figures.push(
      { name: 'driver ping round trips', value: best.ping, unit: 'ops/s' },
      {
        name: 'sequential insertOne (acknowledged)',
        value: best.insert,
        unit: 'ops/s',
        target: '≥ 0.60 × ping',
        pass: best.insert >= 0.6 * best.ping,
        note: ofPing(best.insert),
      },
      {
        name: `findOne by indexed field, ${DOCS / 1000}k docs`,
        value: best.find,
        unit: 'ops/s',
        target: '≥ 0.60 × ping',
        pass: best.find >= 0.6 * best.ping,
        note: ofPing(best.find),
      },
      {
        name: `${INSERTERS} concurrent inserters (${CLIENT_THREADS} clients)`,
        value: best.concurrent,
        unit: 'ops/s',
        target: '≥ 2 × sequential insert',
        pass: best.concurrent >= 2 * best.insert,
        note: `${(best.concurrent / best.insert).toFixed(2)} × sequential`,
      },
      {
        name: `$group over ${DOCS / 1000}k docs`,
        value: best.groupMs,
        unit: 'ms',
        target: '< 1000 ms',
        pass: best.groupMs < 1000,
      },
    );
  } finally {
    await client.close();
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    fs.rmSync(dbPath, { recursive: true, force: true });
  }
  const widths = [44, 12, 22, 24];
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 8)).join(' ');
  console.log(line(['measurement', 'rate', 'ratio to ping', 'target', 'result']));
  for (const [name, value, ratio, target, pass] of rows)
    console.log(line([name, value, ratio, target, pass === undefined ? '' : pass ? 'PASS' : 'FAIL']));
  publish(figures);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
