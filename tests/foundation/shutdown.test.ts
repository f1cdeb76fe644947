import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';

/** Starts `src/server.ts` as a real process and resolves with its port once it listens. */
async function startServerProcess(dataDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', EMBEDDED_MONGO_PATH: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Readerfund is serving on port (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, port, output: () => output };
}

test(
  'finishes a request in flight on SIGTERM, refuses new ones, and exits 0',
  { timeout: 60_000 },
  async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-shutdown-'));
    try {
      const { child, port, output } = await startServerProcess(dataDir);
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      let response = '';
      socket.on('data', (chunk: Buffer) => (response += chunk.toString()));
      // Half a form body: the request is in flight until the rest arrives.
      socket.write(
        'POST /not-here HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n' +
          'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\nabc',
      );
      await new Promise((r) => setTimeout(r, 200));
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));

      const refused = await new Promise<boolean>((resolve) => {
        const probe = net.connect(port, '127.0.0.1');
        probe.once('connect', () => {
          probe.destroy();
          resolve(false);
        });
        probe.once('error', () => resolve(true));
      });
      assert.equal(refused, true, 'new connections are refused while shutting down');

      socket.write('defghij');
      await once(socket, 'end');
      assert.match(response, /^HTTP\/1\.1 404 /);
      assert.match(response, /Page not found/);

      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output());
      // Well inside the 10 s limit: nothing should wait for the forced close.
      assert.ok(Date.now() - signalledAt < 5_000, `exits promptly (took ${Date.now() - signalledAt} ms)`);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  },
);
