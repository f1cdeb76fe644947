/**
 * Embedded store benchmark, measured through the plain mongodb driver against the store running
 * as its own process (`npm run db:embedded`) with its journal on. Every rate is reported as a
 * ratio to the driver's own ping round-trip rate measured in the same run. Each rate is the best
 * of a few short windows, so that a busy machine disturbs the figures less.
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

const WINDOW_MS = 1000;
const ROUNDS = 3;
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

/** Sequential operations per second: the best of a few windows. */
async function rate(fn: (i: number) => Promise<unknown>): Promise<number> {
  let i = 0;
  for (let w = 0; w < 300; w++) await fn(i++); // warm-up
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < WINDOW_MS) {
      await fn(i++);
      n++;
    }
    best = Math.max(best, (n * 1000) / (performance.now() - start));
  }
  return best;
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

async function concurrentRate(uri: string): Promise<number> {
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
  const next = (w: Worker): Promise<{ ready?: boolean; done?: number; error?: string }> =>
    once(w, 'message').then(([m]) => m as { ready?: boolean; done?: number; error?: string });
  const check = (m: { error?: string }): void => {
    if (m.error) throw new Error(m.error);
  };
  (await Promise.all(workers.map(next))).forEach(check);
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    const results = workers.map(next);
    for (const w of workers) w.postMessage('go');
    const msgs = await Promise.all(results);
    msgs.forEach(check);
    const done = msgs.reduce((a, m) => a + (m.done ?? 0), 0);
    best = Math.max(best, (done * 1000) / (performance.now() - start));
  }
  await Promise.all(workers.map((w) => once(w, 'exit')));
  return best;
}

async function main(): Promise<void> {
  const dbPath = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-mongo-bench-'));
  const { uri, child } = await startStore(dbPath);
  const client = await MongoClient.connect(uri);
  const db = client.db('bench');
  const rows: [string, string, string, string, boolean | undefined][] = [];
  const fmt = (r: number): string => `${Math.round(r).toLocaleString('en')}/s`;
  try {
    const admin = db.admin();
    const ping = await rate(() => admin.command({ ping: 1 }));
    rows.push(['driver ping round trips', fmt(ping), '1.00', 'reference', undefined]);

    const seq = db.collection('sequential');
    const insertRate = await rate((i) => seq.insertOne({ i, name: `reader ${i}`, amount: i % 100 }));
    rows.push([
      'sequential insertOne (acknowledged)',
      fmt(insertRate),
      (insertRate / ping).toFixed(2),
      '≥ 0.60 × ping',
      insertRate >= 0.6 * ping,
    ]);

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
    const findRate = await rate(async (i) => {
      const k = (i * 7919) % DOCS;
      const d = await people.findOne({ email: `reader${k}@example.org` });
      if (!d) throw new Error(`reader${k} not found`);
    });
    rows.push([
      `findOne by indexed field, ${DOCS / 1000}k docs`,
      fmt(findRate),
      (findRate / ping).toFixed(2),
      '≥ 0.60 × ping',
      findRate >= 0.6 * ping,
    ]);

    const concRate = await concurrentRate(uri);
    rows.push([
      `${INSERTERS} concurrent inserters (${CLIENT_THREADS} clients)`,
      fmt(concRate),
      `${(concRate / ping).toFixed(2)} (${(concRate / insertRate).toFixed(2)} × seq)`,
      '≥ 2 × sequential insert',
      concRate >= 2 * insertRate,
    ]);

    let groupMs = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      const groups = await people
        .aggregate([
          { $group: { _id: '$plan', total: { $sum: '$amount' }, n: { $sum: 1 } } },
          { $sort: { total: -1 } },
        ])
        .toArray();
      groupMs = Math.min(groupMs, performance.now() - t0);
      if (groups.length !== 20) throw new Error(`expected 20 groups, got ${groups.length}`);
    }
    rows.push([
      `$group over ${DOCS / 1000}k docs`,
      `${Math.round(groupMs)} ms`,
      '-',
      '< 1000 ms',
      groupMs < 1000,
    ]);
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
}

main().catch((err: unknown) => {
  console.error(err);
});
