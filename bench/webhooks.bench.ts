/**
 * Webhook deliveries per second with signature verification and storage, and p99 latency.
 *
 * The app runs in a child process (embedded store in memory, logging off, background jobs off) so
 * the load generator does not share its event loop. Every request is a distinct, correctly signed
 * Stripe event: most are a type the app does not use (`customer.updated`: verified, stored raw,
 * marked ignored), the rest are paid `checkout.session.completed` events that go through to the
 * ledger (donation, supporter, rollup). Concurrency is what a provider uses when it delivers a
 * backlog, not a browser crowd. Target: ≥ 1,000 deliveries/s and p99 < 50 ms for verification and
 * storage; the payment mix shows what the ledger adds on top.
 *
 * As in production, the database is a process of its own: the embedded store is started
 * standalone (or MONGODB_URI is used when set), so the app's event loop is the app's alone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Stripe from 'stripe';
import { publish, type Figure } from './figures.js';
import { stripeBenchEvent } from './stripe-events.js';

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const PAYMENT_SHARE = Number(process.env.BENCH_PAYMENT_SHARE ?? 0.2);
const TARGET_RATE = 1000;
const TARGET_P99_MS = 50;
/** Deliveries/s with payments into the ledger before the ledger's rework (low end of 311–376). */
const LEDGER_TARGET_RATE = 311;

interface Ready {
  port: number;
  secret: string;
}
interface Counts {
  events: number;
  ignored: number;
  processed: number;
  failed: number;
  donations: number;
}

async function serve(): Promise<void> {
  const [{ getConfig }, { createLogger }, { startRuntime }, mongoose] = await Promise.all([
    import('../src/config.js'),
    import('../src/log.js'),
    import('../src/runtime.js'),
    import('mongoose'),
  ]);
  const config = getConfig();
  const runtime = await startRuntime(config, {
    embeddedPath: null,
    logger: createLogger({ level: 'silent' }),
    dbName: 'readerfund_bench_webhooks',
    backgroundJobs: false,
  });
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
  const server = runtime.app.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.send?.({
      port,
      secret: runtime.payments.simulator?.secrets.stripeWebhookSecret ?? config.payments.stripe.webhookSecret,
    });
  });
  process.on('message', (message) => {
    if (message !== 'counts') return;
    const db = mongoose.default.connection.db!;
    const events = db.collection('webhookevents');
    void Promise.all([
      events.countDocuments({}),
      events.countDocuments({ status: 'ignored' }),
      events.countDocuments({ status: 'processed' }),
      events.countDocuments({ status: 'failed' }),
      db.collection('donations').countDocuments({}),
    ]).then(([all, ignored, processed, failed, donations]) =>
      process.send?.({ events: all, ignored, processed, failed, donations } satisfies Counts),
    );
  });
}

/** Distinct signed deliveries, generated before the clock starts (signing is the sender's cost). */
function deliveries(
  count: number,
  secret: string,
  paymentShare: number,
): Array<{ body: string; signature: string }> {
  const now = Math.floor(Date.now() / 1000);
  const every = paymentShare > 0 ? Math.round(1 / paymentShare) : 0;
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const id = randomUUID().replace(/-/g, '');
    const payment = every > 0 && i % every === 0;
    const body = stripeBenchEvent({
      tag: 'bench',
      i,
      id,
      payment,
      now,
      amountSteps: 50,
      payers: 500,
      planId: 'one-off',
      name: 'Bench Reader',
    });
    out.push({
      body,
      signature: Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: now }),
    });
  }
  return out;
}

function fire(
  url: string,
  list: Array<{ body: string; signature: string }>,
  options: { duration?: number; amount?: number },
) {
  let next = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    pipelining: 1,
    ...options,
    requests: [
      {
        method: 'POST',
        path: '/webhooks/stripe',
        setupRequest: (req) => {
          // Wraps around only if the app outruns the prepared list (then repeats are duplicates).
          const d = list[next++ % list.length]!;
          return {
            ...req,
            body: d.body,
            headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': d.signature },
          };
        },
      },
    ],
  });
}

function report(label: string, result: autocannon.Result, seconds: number, judged = true): boolean {
  const rate = result.requests.total / seconds;
  const failures = result.non2xx + result.errors + result.timeouts;
  const ok = rate >= TARGET_RATE && result.latency.p99 < TARGET_P99_MS && failures === 0;
  const verdict = judged ? (ok ? 'PASS' : 'FAIL') : '(for information)';
  console.log(
    `${label.padEnd(34)} ${rate.toFixed(0).padStart(6)} deliveries/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  failures ${failures}  ${verdict}`,
  );
  return ok;
}

async function main(): Promise<void> {
  // Receipts for the benchmark's payments are really written (they run beside the webhooks), but
  // into a folder of their own that goes away afterwards.
  const outbox = mkdtempSync(path.join(tmpdir(), 'readerfund-bench-outbox-'));
  const store = process.env.MONGODB_URI ? null : await startStandaloneStore();
  const child: ChildProcess = fork(import.meta.filename, ['--serve'], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      NODE_ENV: process.env.NODE_ENV ?? 'test',
      MAIL_OUTBOX_DIR: outbox,
      ...(store ? { MONGODB_URI: store.uri } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Ready));
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${ready.port}`;
    // Enough distinct events that none repeats within a phase at up to ~8,000 deliveries/s.
    const perPhase = DURATION_SECONDS * 8000;
    const warm = deliveries(2000, ready.secret, PAYMENT_SHARE);
    const ignoredOnly = deliveries(perPhase, ready.secret, 0);
    const mixed = deliveries(perPhase, ready.secret, PAYMENT_SHARE);
    await fire(url, warm, { amount: warm.length }); // JIT, indexes, connection pool

    // The app's own floor on this machine right now: the shared middleware and nothing else.
    const floor = await autocannon({ url: `${url}/healthz`, connections: CONNECTIONS, duration: 2 });
    console.log(
      `${DURATION_SECONDS}s per phase, ${CONNECTIONS} connections; target ≥ ${TARGET_RATE} deliveries/s and p99 < ${TARGET_P99_MS} ms`,
    );
    console.log(
      `${'app floor (GET /healthz)'.padEnd(34)} ${(floor.requests.total / 2).toFixed(0).padStart(6)} requests/s    p50 ${floor.latency.p50} ms  p99 ${floor.latency.p99} ms`,
    );
    const a = await fire(url, ignoredOnly, { duration: DURATION_SECONDS });
    const ok = report('verified + stored', a, DURATION_SECONDS);
    const b = await fire(url, mixed, { duration: DURATION_SECONDS });
    report(`with ${Math.round(PAYMENT_SHARE * 100)}% payments into the ledger`, b, DURATION_SECONDS, false);
    const ledgerRate = b.requests.total / DURATION_SECONDS;
    console.log(
      `${ledgerRate >= LEDGER_TARGET_RATE ? 'PASS' : 'FAIL'}: with payments into the ledger at ${ledgerRate.toFixed(0)} deliveries/s ` +
        `(target ≥ ${LEDGER_TARGET_RATE}/s, the rate before the ledger's rework)`,
    );

    const counts = await new Promise<Counts>((resolve) => {
      child.once('message', (m) => resolve(m as Counts));
      child.send('counts');
    });
    const sent = warm.length + Math.min(a.requests.total, perPhase) + Math.min(b.requests.total, perPhase);
    console.log(
      `store after the run: ${counts.events} events (${counts.processed} processed, ${counts.ignored} ignored, ${counts.failed} failed), ` +
        `${counts.donations} donations; about ${sent} distinct deliveries sent`,
    );
    console.log(`${ok ? 'PASS' : 'FAIL'}: webhook deliveries verified and stored`);
    const failures = (r: autocannon.Result) => r.non2xx + r.errors + r.timeouts;
    const figures: Figure[] = [
      {
        name: 'app floor, GET /healthz',
        value: floor.requests.total / 2,
        unit: 'req/s',
        note: `${CONNECTIONS} connections`,
      },
      {
        name: 'deliveries verified + stored',
        value: a.requests.total / DURATION_SECONDS,
        unit: 'deliveries/s',
        target: `≥ ${TARGET_RATE}/s`,
        pass: a.requests.total / DURATION_SECONDS >= TARGET_RATE,
      },
      {
        name: 'deliveries verified + stored: p99',
        value: a.latency.p99,
        unit: 'ms',
        target: `< ${TARGET_P99_MS} ms`,
        pass: a.latency.p99 < TARGET_P99_MS,
        note: `p50 ${a.latency.p50} ms`,
      },
      {
        name: 'deliveries verified + stored: failures',
        value: failures(a),
        unit: 'errors',
        target: '0',
        pass: failures(a) === 0,
      },
      {
        name: `deliveries with ${Math.round(PAYMENT_SHARE * 100)}% payments into the ledger`,
        value: b.requests.total / DURATION_SECONDS,
        unit: 'deliveries/s',
        // The ledger's rework must be no slower than the 311–376/s measured before it.
        target: `≥ ${LEDGER_TARGET_RATE}/s`,
        pass: b.requests.total / DURATION_SECONDS >= LEDGER_TARGET_RATE && failures(b) === 0,
        note: `p50 ${b.latency.p50} ms, p99 ${b.latency.p99} ms, failures ${failures(b)}`,
      },
    ];
    publish(figures);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    rmSync(outbox, { recursive: true, force: true });
    store?.process.kill('SIGTERM');
  }
}

/** The embedded store on its own, in memory, as `npm run db:embedded` runs it. */
async function startStandaloneStore(): Promise<{ uri: string; process: ChildProcess }> {
  const child = fork(
    path.join(import.meta.dirname, '..', 'src', 'embedded-mongo', 'cli.ts'),
    ['--port', '0', '--in-memory'],
    {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /mongodb:\/\/[^\s]+/.exec(out);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`embedded store exited with ${code}`)));
  });
  return { uri, process: child };
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main();
}
