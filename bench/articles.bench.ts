/**
 * Article and home page throughput against a bare Express "hello", measured in the same run.
 *
 * The servers run in a child process (embedded store in memory, logging off) so the load
 * generator does not share their event loop. The article page is measured twice: as a first-time
 * reader sees it (no consent cookie: the shared page with the banner) and as a reader who accepted
 * everything sees it (signed consent cookie: their variant, with the comments widget). Target: both
 * ≥ 0.7 × hello.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = 2;
const TARGET_RATIO = 0.7;
const ARTICLE_SLUG = 'coastal-marsh-returns-after-sea-wall-is-opened';

interface Ports {
  hello: number;
  app: number;
  /** A consent cookie of a reader who accepted everything, as the app set it. */
  consentCookie: string;
}

async function serve(): Promise<void> {
  const [{ default: express }, { getConfig }, { createLogger }, { startRuntime }] = await Promise.all([
    import('express'),
    import('../src/config.js'),
    import('../src/log.js'),
    import('../src/runtime.js'),
  ]);
  const hello = express();
  hello.get('/', (_req, res) => {
    res.send('hello');
  });
  const runtime = await startRuntime(getConfig(), {
    embeddedPath: null,
    // Receipt and webhook retry timers are not part of serving pages.
    backgroundJobs: false,
    logger: createLogger({ level: 'silent' }),
    dbName: 'readerfund_bench',
  });
  const listen = (app: typeof hello) =>
    new Promise<number>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const appPort = await listen(runtime.app);
  const accepted = await fetch(`http://127.0.0.1:${appPort}/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ choice: 'accept_all', texts: runtime.consent.service.texts.hash }),
  });
  const consentCookie = (accepted.headers.get('set-cookie') ?? '').split(';')[0]!;
  if (accepted.status !== 303 || !consentCookie.startsWith('rf_consent=')) {
    throw new Error(`could not make a consent choice: ${accepted.status}`);
  }
  const ports: Ports = { hello: await listen(hello), app: appPort, consentCookie };
  process.send?.(ports);
}

interface Target {
  url: string;
  headers?: Record<string, string>;
}

function measure(target: Target, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: target.url,
    connections: CONNECTIONS,
    duration: seconds,
    pipelining: 1,
    ...(target.headers ? { headers: target.headers } : {}),
  });
}

async function main(): Promise<void> {
  const child: ChildProcess = fork(import.meta.filename, ['--serve'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'test' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const ports = await new Promise<Ports>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Ports));
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    const app = `http://127.0.0.1:${ports.app}`;
    // Warm the render cache and the JIT before measuring.
    const consented = { cookie: ports.consentCookie };
    await autocannon({ url: `${app}/articles/${ARTICLE_SLUG}`, connections: 10, amount: 2000 });
    await autocannon({
      url: `${app}/articles/${ARTICLE_SLUG}`,
      headers: consented,
      connections: 10,
      amount: 2000,
    });
    await autocannon({ url: `${app}/`, connections: 10, amount: 2000 });
    await autocannon({ url: `http://127.0.0.1:${ports.hello}/`, connections: 10, amount: 2000 });

    // The machine's load drifts during a run, so the three targets take turns in short rounds and
    // each one's rate is its total over all rounds.
    const targets = {
      hello: { url: `http://127.0.0.1:${ports.hello}/` },
      article: { url: `${app}/articles/${ARTICLE_SLUG}` },
      consented: { url: `${app}/articles/${ARTICLE_SLUG}`, headers: consented },
      home: { url: `${app}/` },
      // The app's own floor: the shared middleware (request logging, security headers) and nothing else.
      healthz: { url: `${app}/healthz` },
    };
    const names = ['hello', 'article', 'consented', 'home', 'healthz'] as const;
    const totals = Object.fromEntries(names.map((n) => [n, { requests: 0, failures: 0 }])) as Record<
      (typeof names)[number],
      { requests: number; failures: number }
    >;
    const p99 = Object.fromEntries(names.map((n) => [n, 0])) as Record<(typeof names)[number], number>;
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of names) {
        const r = await measure(targets[name], DURATION_SECONDS / ROUNDS);
        totals[name].requests += r.requests.total;
        totals[name].failures += r.non2xx + r.errors + r.timeouts;
        p99[name] = Math.max(p99[name], r.latency.p99);
      }
    }
    const rate = (name: keyof typeof totals) => totals[name].requests / DURATION_SECONDS;
    const helloRate = rate('hello');
    console.log(`${DURATION_SECONDS}s each in ${ROUNDS} rounds, ${CONNECTIONS} connections`);
    for (const [label, name] of [
      ['express hello', 'hello'],
      ['article, no consent cookie', 'article'],
      ['article, consent cookie', 'consented'],
      ['home page', 'home'],
      ['app /healthz', 'healthz'],
    ] as const) {
      console.log(
        `${label.padEnd(27)} ${rate(name).toFixed(0).padStart(8)} req/s  ${(rate(name) / helloRate).toFixed(2)} × hello  ` +
          `p99 ≤ ${p99[name]} ms  failures ${totals[name].failures}`,
      );
    }
    let passed = true;
    for (const [label, name] of [
      ['article page without a consent cookie', 'article'],
      ['article page with a consent cookie', 'consented'],
    ] as const) {
      const ratio = rate(name) / helloRate;
      const ok = ratio >= TARGET_RATIO && totals[name].failures === 0;
      passed &&= ok;
      console.log(
        `${ok ? 'PASS' : 'FAIL'}: ${label} at ${ratio.toFixed(2)} × Express hello (target ≥ ${TARGET_RATIO})`,
      );
    }
    process.exitCode = passed ? 0 : 1;
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main();
}
