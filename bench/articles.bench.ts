/**
 * Article and home page throughput against a bare Express "hello", measured in the same run.
 *
 * The servers run in a child process (embedded store in memory, logging off) so the load
 * generator does not share their event loop. Target: article page ≥ 0.6 × hello.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = 2;
const TARGET_RATIO = 0.6;
const ARTICLE_SLUG = 'coastal-marsh-returns-after-sea-wall-is-opened';

interface Ports {
  hello: number;
  app: number;
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
  const ports: Ports = { hello: await listen(hello), app: await listen(runtime.app) };
  process.send?.(ports);
}

function measure(url: string, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration: seconds, pipelining: 1 });
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
    await autocannon({ url: `${app}/articles/${ARTICLE_SLUG}`, connections: 10, amount: 2000 });
    await autocannon({ url: `${app}/`, connections: 10, amount: 2000 });
    await autocannon({ url: `http://127.0.0.1:${ports.hello}/`, connections: 10, amount: 2000 });

    // The machine's load drifts during a run, so the three targets take turns in short rounds and
    // each one's rate is its total over all rounds.
    const targets = {
      hello: `http://127.0.0.1:${ports.hello}/`,
      article: `${app}/articles/${ARTICLE_SLUG}`,
      home: `${app}/`,
      // The app's own floor: the shared middleware (request logging, security headers) and nothing else.
      healthz: `${app}/healthz`,
    };
    const totals = {
      hello: { requests: 0, failures: 0 },
      article: { requests: 0, failures: 0 },
      home: { requests: 0, failures: 0 },
      healthz: { requests: 0, failures: 0 },
    };
    const p99 = { hello: 0, article: 0, home: 0, healthz: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of ['hello', 'article', 'home', 'healthz'] as const) {
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
      ['article page', 'article'],
      ['home page', 'home'],
      ['app /healthz', 'healthz'],
    ] as const) {
      console.log(
        `${label.padEnd(14)} ${rate(name).toFixed(0).padStart(8)} req/s  ${(rate(name) / helloRate).toFixed(2)} × hello  ` +
          `p99 ≤ ${p99[name]} ms  failures ${totals[name].failures}`,
      );
    }
    const articleRatio = rate('article') / helloRate;
    const ok = articleRatio >= TARGET_RATIO && totals.article.failures === 0;
    console.log(
      `${ok ? 'PASS' : 'FAIL'}: article page at ${articleRatio.toFixed(2)} × Express hello (target ≥ ${TARGET_RATIO})`,
    );
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main();
}
