/**
 * The bare Express "hello" every figure in the table is compared with: a server in a child process
 * (so it does not share the load generator's event loop) measured flat out with autocannon, and one
 * request at a time for its round trip.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import type { Baseline } from './figures.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.HELLO_SECONDS ?? 3);

async function serve(): Promise<void> {
  const { default: express } = await import('express');
  const hello = express();
  hello.get('/', (_req, res) => {
    res.send('hello');
  });
  const server = hello.listen(0, '127.0.0.1', () => {
    process.send?.((server.address() as AddressInfo).port);
  });
  process.on('disconnect', () => process.exit(0));
}

/** Measures the hello server once: requests/s flat out and the mean round trip of one connection. */
export async function measureHello(): Promise<Baseline> {
  const child = fork(import.meta.filename, ['--serve'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const [port] = (await once(child, 'message')) as [number];
    const url = `http://127.0.0.1:${port}/`;
    await autocannon({ url, connections: 10, amount: 3000 }); // JIT
    const flat = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
    const single = await autocannon({ url, connections: 1, duration: Math.max(1, SECONDS / 2) });
    return {
      helloRate: flat.requests.total / SECONDS,
      helloRoundTripMs: (Math.max(1, SECONDS / 2) * 1000) / Math.max(1, single.requests.total),
    };
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

if (process.argv.includes('--serve')) await serve();
