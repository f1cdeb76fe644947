/**
 * POST /donate → 303 throughput and latency, with the payment simulator answering.
 *
 * The app and the payment simulator each run in a child process of their own, as in production
 * where the provider is elsewhere, so none shares an event loop with the load generator. The
 * provider's own time is measured separately by creating Checkout Sessions through the same
 * adapter, one at a time, so the app's share of p99 can be read off.
 * Target: p99 < 50 ms excluding the provider's own time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import type { SimulatorSecrets } from '../src/payments/index.js';
import { publish } from './figures.js';

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const TARGET_P99_MS = 50;

interface Ready {
  port: number;
  providerP99Ms: number;
  providerMeanMs: number;
}

interface SimulatorEndpoints {
  stripe: { host: string; port: number; baseUrl: string };
  paypal: { baseUrl: string; certUrl: string };
  secrets: SimulatorSecrets;
}

async function simulate(): Promise<void> {
  const [{ startPaymentSimulator }, { newSimulatorSecrets }] = await Promise.all([
    import('../src/simulator/index.js'),
    import('../src/payments/index.js'),
  ]);
  const secrets = newSimulatorSecrets();
  const sim = await startPaymentSimulator({
    stripeWebhookSecret: secrets.stripeWebhookSecret,
    paypalWebhookId: secrets.paypalWebhookId,
  });
  const endpoints: SimulatorEndpoints = { stripe: sim.stripe, paypal: sim.paypal, secrets };
  process.send?.(endpoints);
}

async function serve(): Promise<void> {
  const [{ testConfig }, { createLogger }, { startRuntime }, { paymentsForSimulator }] = await Promise.all([
    import('../tests/helpers/runtime.js'),
    import('../src/log.js'),
    import('../src/runtime.js'),
    import('../src/payments/index.js'),
  ]);
  const endpoints = JSON.parse(process.env.SIMULATOR_ENDPOINTS!) as SimulatorEndpoints;
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
  const logger = createLogger({ level: 'silent' });
  const payments = {
    ...paymentsForSimulator(config, logger, endpoints, endpoints.secrets),
    stop: async () => undefined,
  };
  const runtime = await startRuntime(config, {
    embeddedPath: null,
    logger,
    payments,
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
      description: 'A contribution to The Meridian Ledger',
      returnUrl: `http://127.0.0.1:${server}/donate/return/stripe`,
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

function start<T>(
  role: string,
  env: Record<string, string> = {},
): { child: ChildProcess; ready: Promise<T> } {
  const child = fork(import.meta.filename, [role], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise<T>((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`${role} process exited with ${code}`)));
  });
  return { child, ready };
}

async function main(): Promise<void> {
  const simulator = start<SimulatorEndpoints>('--simulate');
  const endpoints = await simulator.ready;
  const app = start<Ready>('--serve', { SIMULATOR_ENDPOINTS: JSON.stringify(endpoints) });
  const child = app.child;
  try {
    const ready = await app.ready;
    const load = (overallRate?: number) =>
      autocannon({
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
        ...(overallRate ? { overallRate } : {}),
      });
    // Throughput flat out; latency at half that rate, where a queue is not the whole story.
    const saturated = await load();
    const steadyRate = Math.max(1, Math.floor(saturated.requests.average / 2));
    const steady = await load(steadyRate);
    const appShare = steady.latency.p99 - ready.providerP99Ms;
    const others = (r: autocannon.Result) => r['2xx'] + r.non2xx - r['3xx'];
    console.log(`POST /donate → 303, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per phase`);
    console.table({
      'flat out': {
        'requests/s': Math.round(saturated.requests.average),
        '303 answers': saturated['3xx'],
        'other answers': others(saturated),
        'p50 ms': saturated.latency.p50,
        'p99 ms': saturated.latency.p99,
      },
      [`steady ${steadyRate}/s`]: {
        'requests/s': Math.round(steady.requests.average),
        '303 answers': steady['3xx'],
        'other answers': others(steady),
        'p50 ms': steady.latency.p50,
        'p99 ms': steady.latency.p99,
      },
    });
    console.log(
      `provider's own p99 (sequential): ${ready.providerP99Ms.toFixed(1)} ms, mean ${ready.providerMeanMs.toFixed(1)} ms`,
    );
    console.log(
      `${appShare < TARGET_P99_MS ? 'PASS' : 'FAIL'}: p99 at ${steadyRate}/s excluding provider time ${appShare.toFixed(1)} ms (target < ${TARGET_P99_MS} ms)`,
    );
    const unexpected = others(saturated) + others(steady) + saturated.errors + steady.errors;
    publish([
      {
        name: 'POST /donate → 303, flat out',
        value: saturated.requests.total / DURATION_SECONDS,
        unit: 'req/s',
        note: `p50 ${saturated.latency.p50} ms, p99 ${saturated.latency.p99} ms`,
      },
      {
        name: `POST /donate p99 at ${steadyRate}/s (half flat out)`,
        value: steady.latency.p99,
        unit: 'ms',
        note: `p50 ${steady.latency.p50} ms, provider's own p99 ${ready.providerP99Ms.toFixed(1)} ms`,
      },
      {
        name: `POST /donate p99 at ${steadyRate}/s excluding provider time`,
        value: appShare,
        unit: 'ms',
        target: `< ${TARGET_P99_MS} ms`,
        pass: appShare < TARGET_P99_MS,
      },
      {
        name: 'POST /donate answers other than 303, connection errors',
        value: unexpected,
        unit: 'errors',
        target: '0',
        pass: unexpected === 0,
      },
    ]);
  } finally {
    child.kill('SIGTERM');
    simulator.child.kill('SIGTERM');
  }
}

if (process.argv.includes('--simulate')) {
  simulate().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else if (process.argv.includes('--serve')) {
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
