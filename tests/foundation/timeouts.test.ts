import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { testConfig } from '../helpers/runtime.js';
import { cleanEnv, startServerProcess } from './server-process.js';

/** Opens a connection, writes `head`, and resolves with what the server answers before closing it. */
async function trickle(port: number, head: string): Promise<{ answer: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.write(head);
  // Then nothing more: the body (or the end of the headers) never comes.
  const closed = await new Promise<boolean>((resolve) => {
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 20_000);
    socket.once('close', () => {
      clearTimeout(giveUp);
      resolve(true);
    });
  });
  return { answer, closed };
}

test('the server timeouts default to 30 s for a request, 20 s for its headers and 5 s keep-alive', () => {
  const { server } = testConfig();
  assert.deepEqual(
    [server.requestTimeoutMs, server.headersTimeoutMs, server.keepAliveTimeoutMs],
    [30_000, 20_000, 5_000],
  );
});

test(
  'cuts off a request whose body or headers trickle in past the configured timeouts',
  { timeout: 90_000 },
  async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-timeouts-'));
    const app = await startServerProcess({
      env: cleanEnv({
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        EMBEDDED_MONGO_PATH: path.join(dir, 'db'),
        REQUEST_TIMEOUT_MS: '2000',
        HEADERS_TIMEOUT_MS: '1000',
      }),
    });
    try {
      const slowBody = await trickle(
        app.port,
        'POST /donate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
          'Content-Length: 1000\r\n\r\nplan=contri',
      );
      assert.equal(slowBody.closed, true, 'the connection is closed');
      assert.match(slowBody.answer, /^HTTP\/1\.1 408 /);

      const slowHeaders = await trickle(app.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
      assert.equal(slowHeaders.closed, true);
      assert.match(slowHeaders.answer, /^HTTP\/1\.1 408 /);
    } finally {
      await app.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
