/**
 * POST /donate → 303 throughput and latency, with the payment simulator answering.
 *
 * The app (and its simulator) run in a child process so the load generator does not share their
 * event loop. The provider's own time is measured separately by creating Checkout Sessions
 * straight through the Stripe SDK, so the app's share of p99 can be read off.
 * Target: p99 < 50 ms excluding the provider's own time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const TARGET_P99_MS = 50;

interface Ready {
  port: number;
  providerP99Ms: number;
  providerMeanMs: number;
}

async function serve(): Promise<void> {
  const [{ testConfig }, { createLogger }, { startRuntime }] = await Promise.all([
    import('../tests/helpers/runtime.js'),
    import('../src/log.js'),
    import('../src/runtime.js'),
  ]);
  const server = await import('node:net').then(
    (net) =>
      new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = probe.address() as AddressInfo;
          probe.close(() => resolve(port));
        });
      }),
  );
  const config = testConfig({
    site: { publicUrl: `http://127.0.0.1:${server}` },
    donations: {
      rateLimits: {
        perIp: { points: 1_000_000, durationSeconds: 60 },
        perEmail: { points: 1_000_000, durationSeconds: 60 },
      },
    },
  });
  const runtime = await startRuntime(config, {
    embeddedPath: null,
    logger: createLogger({ level: 'silent' }),
    dbName: 'readerfund_bench',
    backgroundJobs: false,
  });
  await new Promise<void>((resolve) => runtime.app.listen(server, '127.0.0.1', () => resolve()));

  // The provider's own time: Checkout Session creation through the same adapter, sequentially.
  const stripe = runtime.payments.providers.stripe!;
  const samples: number[] = [];
  for (let i = 0; i < 300; i += 1) {
    const started = performance.now();
    await stripe.startCheckout({
      checkoutId: `bench${i.toString().padStart(20, '0')}`,
      plan: { id: 'contributor', name: 'Contributor', interval: 'once' },
      amount: { amountMinor: 500, currency: 'USD' },
      returnUrl: `http://127.0.0.1:${server}/donate/thanks`,
      cancelUrl: `http://127.0.0.1:${server}/donate/cancelled`,
    });
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const ready: Ready = {
    port: server,
    providerP99Ms: samples[Math.floor(samples.length * 0.99)]!,
    providerMeanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
  process.send?.(ready);
}

async function main(): Promise<void> {
  const child: ChildProcess = fork(import.meta.filename, ['--serve'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'test' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Ready));
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    const result = await autocannon({
      url: `http://127.0.0.1:${ready.port}/donate`,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: `http://127.0.0.1:${ready.port}`,
        'sec-fetch-site': 'same-origin',
      },
      body: 'plan=contributor&provider=stripe&amount=5&currency=USD',
      connections: CONNECTIONS,
      duration: DURATION_SECONDS,
    });
    const redirects = result['3xx'];
    const p99 = result.latency.p99;
    const appShare = p99 - ready.providerP99Ms;
    console.log(`POST /donate → 303 with ${CONNECTIONS} connections for ${DURATION_SECONDS} s`);
    console.table({
      'requests/s': Math.round(result.requests.average),
      '303 answers': redirects,
      'other answers': result['2xx'] + result['4xx'] + result['5xx'] + result.non2xx - redirects,
      'p50 ms': result.latency.p50,
      'p99 ms': p99,
      "provider's own p99 ms (sequential)": Number(ready.providerP99Ms.toFixed(1)),
      "p99 excluding provider's time ms": Number(appShare.toFixed(1)),
    });
    console.log(
      `${appShare < TARGET_P99_MS ? 'PASS' : 'FAIL'}: p99 excluding provider time ${appShare.toFixed(1)} ms (target < ${TARGET_P99_MS} ms)`,
    );
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) {
  serve().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
