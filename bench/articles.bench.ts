/**
 * Article and home page throughput against a bare Express "hello", measured in the same run.
 *
 * The servers run in a child process (embedded store in memory, logging off) so the load
 * generator does not share their event loop. The article page is measured twice: as a first-time
 * reader sees it (no consent cookie: the shared page with the banner) and as a reader who accepted
 * everything sees it (signed consent cookie: their variant, with the comments widget). Target: both
 * ≥ 0.7 × hello.
 *
 * Then the article page from the real server process (`src/server.ts`) with WEB_CONCURRENCY=1 (one
 * process) and 2 (a cluster primary and two workers): a figure, with no target, because the
 * machine's two cores are shared by the load generator and the workers alike.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The pid that answered /healthz on a connection of its own (the cluster may pick any worker). */
function healthPid(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as { pid: number }).pid : null);
        } catch {
          resolve(null);
        }
      });
    });
    req.once('error', () => resolve(null));
  });
}

interface ServerProcess {
  url: string;
  stop(): Promise<void>;
}

/** `src/server.ts` as a process of its own, with an in-folder store; resolves once `workers` pids answer. */
async function startServerProcess(workers: number): Promise<ServerProcess> {
  const root = path.resolve(import.meta.dirname, '..');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-bench-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'server.ts')], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      WEB_CONCURRENCY: String(workers),
      PORT: String(port),
      EMBEDDED_MONGO_PATH: path.join(dir, 'db'),
      MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const pids = new Set<number>();
  const deadline = Date.now() + 60_000;
  while (pids.size < workers) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`the server with WEB_CONCURRENCY=${workers} did not start`);
    }
    const pid = await healthPid(port);
    if (pid === null) await new Promise((r) => setTimeout(r, 200));
    else pids.add(pid);
  }
  return { url: `http://127.0.0.1:${port}`, stop };
}

/** Article page throughput from the server process with 1 and 2 workers, taking turns. */
async function measureWorkers(): Promise<void> {
  const servers = { 1: await startServerProcess(1), 2: await startServerProcess(2) };
  try {
    const article = (n: 1 | 2) => `${servers[n].url}/articles/${ARTICLE_SLUG}`;
    for (const n of [1, 2] as const) {
      await autocannon({ url: article(n), connections: 10, amount: 3000 });
    }
    const totals = { 1: 0, 2: 0 };
    const p99 = { 1: 0, 2: 0 };
    const failures = { 1: 0, 2: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of [1, 2] as const) {
        const r = await measure({ url: article(n) }, DURATION_SECONDS / ROUNDS);
        totals[n] += r.requests.total;
        failures[n] += r.non2xx + r.errors + r.timeouts;
        p99[n] = Math.max(p99[n], r.latency.p99);
      }
    }
    const rate = (n: 1 | 2) => totals[n] / DURATION_SECONDS;
    console.log(
      `\nserver process (tsx src/server.ts), article page, ${os.availableParallelism()} cores shared with the load generator:`,
    );
    for (const n of [1, 2] as const) {
      console.log(
        `${`WEB_CONCURRENCY=${n}`.padEnd(27)} ${rate(n).toFixed(0).padStart(8)} req/s  ${(rate(n) / rate(1)).toFixed(2)} × 1 worker  ` +
          `p99 ≤ ${p99[n]} ms  failures ${failures[n]}`,
      );
    }
    console.log(
      'FIGURE: workers scale with free cores; here autocannon takes one of the two, so 2 workers cannot double 1.',
    );
  } finally {
    await Promise.all([servers[1].stop(), servers[2].stop()]);
  }
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
  if (process.env.BENCH_WORKERS !== '0') await measureWorkers();
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main();
}
