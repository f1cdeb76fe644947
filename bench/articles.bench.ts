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

function measure(url: string): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration: DURATION_SECONDS, pipelining: 1 });
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

    const hello = await measure(`http://127.0.0.1:${ports.hello}/`);
    const article = await measure(`${app}/articles/${ARTICLE_SLUG}`);
    const home = await measure(`${app}/`);
    const rate = (r: autocannon.Result) => r.requests.average;
    const failures = (r: autocannon.Result) => r.non2xx + r.errors + r.timeouts;
    const rows = [
      ['express hello', hello],
      ['article page', article],
      ['home page', home],
    ] as const;
    console.log(`${DURATION_SECONDS}s each, ${CONNECTIONS} connections`);
    for (const [name, r] of rows) {
      const ratio = rate(r) / rate(hello);
      console.log(
        `${name.padEnd(14)} ${rate(r).toFixed(0).padStart(8)} req/s  ${ratio.toFixed(2)} × hello  ` +
          `p99 ${r.latency.p99} ms  failures ${failures(r)}`,
      );
    }
    const articleRatio = rate(article) / rate(hello);
    const ok = articleRatio >= TARGET_RATIO && failures(article) === 0;
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
