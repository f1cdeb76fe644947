/**
 * The processes of the reliability run: the embedded store as its own process on a fixed port and
 * data directory (so it can be killed and started again where the apps expect it), and app
 * processes that can be killed with SIGKILL and started again.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppProcessMessage } from '../fixtures/app-process.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface StoreProcess {
  uri: string;
  child: ChildProcess;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** `npm run db:embedded` on a given port and data directory. */
export async function startStoreProcess(port: number, dbPath: string): Promise<StoreProcess> {
  const cli = fileURLToPath(new URL('../../../src/embedded-mongo/cli.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cli, '--port', String(port), '--dbpath', dbPath],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test' },
    },
  );
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  let out = '';
  let uri: string | undefined;
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    uri = /mongodb:\/\/\S+/.exec(out)?.[0];
    if (uri) break;
  }
  if (!uri) {
    if (child.exitCode === null) await once(child, 'exit');
    throw new Error(`the store exited (${child.exitCode}) before printing its URI: ${err}`);
  }
  child.stdout.resume();
  const gone = () =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : once(child, 'exit').then(() => undefined);
  return {
    uri,
    child,
    async kill() {
      child.kill('SIGKILL');
      await gone();
    },
    async stop() {
      child.kill('SIGTERM');
      await gone();
    },
  };
}

export interface AppProcess {
  origin: string;
  pid: number;
  child: ChildProcess;
  alive: boolean;
  /** Requests the test has in flight to this process right now. */
  inFlight: number;
  /**
   * The webhook sweep and the ledger's settling (of records left unsettled longer than
   * `settleOlderThanMs`), as the background timers would run them.
   */
  sweep(settleOlderThanMs?: number, failedNow?: boolean): Promise<{ swept: number; settled: number }>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  const child = fork(path.join(import.meta.dirname, '..', 'fixtures', 'app-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    const onMessage = (m: AppProcessMessage) => {
      if ('ready' in m) {
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(m);
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`an app process exited with ${code} while starting`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  let nextId = 1;
  const gone = () =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : once(child, 'exit').then(() => undefined);
  const app: AppProcess = {
    origin: `http://127.0.0.1:${ready.port}`,
    pid: ready.pid,
    child,
    alive: true,
    inFlight: 0,
    sweep(settleOlderThanMs = 0, failedNow = false) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const onExit = () => {
          child.off('message', onMessage);
          reject(new Error('the app process exited during a sweep'));
        };
        const onMessage = (m: AppProcessMessage) => {
          if (!('id' in m) || m.id !== id) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          if ('error' in m) reject(new Error(m.error));
          else resolve({ swept: m.swept, settled: m.settled });
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send({ sweep: true, id, settleOlderThanMs, failedNow });
      });
    },
    async kill() {
      app.alive = false;
      child.kill('SIGKILL');
      await gone();
    },
    async stop() {
      app.alive = false;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = gone();
      child.disconnect();
      await exited;
    },
  };
  return app;
}
