import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AppConfig } from '../../src/config.js';
import type { Runtime, RuntimeOptions } from '../../src/runtime.js';
import { startTestRuntime } from './runtime.js';

type Overrides = Partial<Record<keyof AppConfig, unknown>>;

export interface TestServer {
  runtime: Runtime;
  baseUrl: string;
  outboxDir: string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The whole product on a real port: app, in-memory embedded store and the payment simulator, with
 * PUBLIC_URL pointing at the app so providers redirect back and deliver webhooks to it.
 */
export async function startTestServer(
  overrides: Overrides = {},
  options: RuntimeOptions = {},
): Promise<TestServer> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const outboxDir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-outbox-'));
  const site = { ...((overrides.site as object) ?? {}), publicUrl: baseUrl };
  const mail = { ...((overrides.mail as object) ?? {}), outboxDir };
  const runtime = await startTestRuntime({ ...overrides, site, mail }, { backgroundJobs: false, ...options });
  const server: Server = await new Promise((resolve) => {
    const s = runtime.app.listen(port, '127.0.0.1', () => resolve(s));
  });
  runtime.payments.simulator?.setWebhookTargets({
    stripe: `${baseUrl}/webhooks/stripe`,
    paypal: `${baseUrl}/webhooks/paypal`,
  });
  return {
    runtime,
    baseUrl,
    outboxDir,
    async close() {
      await runtime.payments.simulator?.idle();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await runtime.stop();
      await rm(outboxDir, { recursive: true, force: true });
    },
  };
}
