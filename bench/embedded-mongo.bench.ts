/**
 * Embedded store benchmark, measured through the plain mongodb driver against a store with its
 * journal on. Every rate is reported as a ratio to the driver's own ping round-trip rate.
 *   npx tsx bench/embedded-mongo.bench.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

const DURATION_MS = 3000;

async function rate(fn: (i: number) => Promise<unknown>, ms = DURATION_MS): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(-1 - i); // warm-up
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) await fn(n++);
  return (n * 1000) / (performance.now() - start);
}

/** Runs the store as its own process through the CLI, as several app processes would share it. */
async function startStore(dbPath: string): Promise<{ uri: string; child: ChildProcess }> {
  const cli = fileURLToPath(new URL('../src/embedded-mongo/cli.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--dbpath', dbPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    const m = /mongodb:\/\/\S+/.exec(out);
    if (m) return { uri: m[0], child };
  }
  throw new Error(`the store exited before printing its URI: ${out}`);
}

async function main(): Promise<void> {
  const dbPath = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-mongo-bench-'));
  const { uri, child } = await startStore(dbPath);
  const store = {
    uri,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
  const client = await MongoClient.connect(store.uri, { maxPoolSize: 64 });
  const db = client.db('bench');
  const rows: { name: string; value: string; ratio: string; target: string; pass: boolean }[] = [];
  try {
    const admin = db.admin();
    const ping = await rate(() => admin.command({ ping: 1 }));

    const seq = db.collection('seq');
    const insertRate = await rate((i) => seq.insertOne({ i, name: `reader ${i}`, amount: i % 100 }));

    const people = db.collection('people');
    await people.createIndex({ email: 1 }, { unique: true });
    const N = 100_000;
    for (let b = 0; b < N; b += 5000) {
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
      const k = i < 0 ? 0 : (i * 7919) % N;
      const d = await people.findOne({ email: `reader${k}@example.org` });
      if (!d) throw new Error(`missing reader${k}`);
    });

    const conc = db.collection('conc');
    const workers = 32;
    let stop = false;
    let done = 0;
    const start = performance.now();
    setTimeout(() => (stop = true), DURATION_MS);
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          await conc.insertOne({ w, i, name: `reader ${w}-${i}`, amount: i % 100 });
          done++;
        }
      }),
    );
    const concRate = (done * 1000) / (performance.now() - start);

    const t0 = performance.now();
    const groups = await people
      .aggregate([
        { $group: { _id: '$plan', total: { $sum: '$amount' }, n: { $sum: 1 } } },
        { $sort: { total: -1 } },
      ])
      .toArray();
    const groupMs = performance.now() - t0;
    if (groups.length !== 20) throw new Error(`expected 20 groups, got ${groups.length}`);

    const fmt = (r: number): string => `${Math.round(r).toLocaleString('en')}/s`;
    rows.push({ name: 'ping round trips', value: fmt(ping), ratio: '1.00', target: 'reference', pass: true });
    rows.push({
      name: 'sequential insertOne (acknowledged)',
      value: fmt(insertRate),
      ratio: (insertRate / ping).toFixed(2),
      target: '≥ 0.6 × ping',
      pass: insertRate >= 0.6 * ping,
    });
    rows.push({
      name: 'findOne by indexed field, 100k docs',
      value: fmt(findRate),
      ratio: (findRate / ping).toFixed(2),
      target: '≥ 0.6 × ping',
      pass: findRate >= 0.6 * ping,
    });
    rows.push({
      name: `${workers} concurrent inserters`,
      value: fmt(concRate),
      ratio: `${(concRate / ping).toFixed(2)} (${(concRate / insertRate).toFixed(2)} × seq)`,
      target: '≥ 2 × sequential insert',
      pass: concRate >= 2 * insertRate,
    });
    rows.push({
      name: '$group over 100k docs',
      value: `${Math.round(groupMs)} ms`,
      ratio: '-',
      target: '< 1000 ms',
      pass: groupMs < 1000,
    });
  } finally {
    await client.close();
    await store.stop();
    fs.rmSync(dbPath, { recursive: true, force: true });
  }
  const w = [40, 14, 26, 24];
  const line = (c: string[]): string => c.map((x, i) => x.padEnd(w[i] ?? 10)).join(' ');
  console.log(line(['measurement', 'rate', 'ratio to ping', 'target']) + ' result');
  for (const r of rows)
    console.log(line([r.name, r.value, r.ratio, r.target]) + ' ' + (r.pass ? 'PASS' : 'FAIL'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 0;
});
