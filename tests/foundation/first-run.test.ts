import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { submitHostedPage } from '../helpers/hosted-pages.js';
import { cleanEnv, freePort, runEntry, startServerProcess } from './server-process.js';

interface Delivery {
  provider: string;
  eventType: string;
  status: string;
  lastStatusCode?: number;
}

async function deliveries(stripePort: number): Promise<Delivery[]> {
  const res = await fetch(`http://127.0.0.1:${stripePort}/_simulator/state`);
  return ((await res.json()) as { deliveries: Delivery[] }).deliveries;
}

async function withDataFolder<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-first-run-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `npm start` as a newcomer runs it: development, a data folder of its own, the ports given. */
async function newcomerEnv(dir: string, settings: Record<string, string> = {}) {
  return cleanEnv({
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    EMBEDDED_MONGO_PATH: path.join(dir, 'db'),
    MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
    PORT: String(await freePort()),
    SIMULATOR_STRIPE_PORT: String(await freePort()),
    SIMULATOR_PAYPAL_PORT: String(await freePort()),
    ...settings,
  });
}

describe('first run', () => {
  test(
    'PORT without PUBLIC_URL: the start log shows the real address and a one-off card donation is recorded',
    { timeout: 90_000 },
    () =>
      withDataFolder(async (dir) => {
        const env = await newcomerEnv(dir);
        const app = await startServerProcess({ env, cwd: dir });
        try {
          const base = `http://localhost:${app.port}`;
          assert.equal(String(app.port), env.PORT);
          assert.match(app.output(), new RegExp(`Readerfund is serving on port ${app.port}: open ${base}`));
          assert.doesNotMatch(app.output(), /localhost:3000/);
          assert.match(app.output(), /Listening on 127\.0\.0\.1 only.*Set HOST=0\.0\.0\.0/);

          const started = await fetch(`${base}/donate`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'plan=contributor&provider=stripe&amount=12&currency=USD',
          });
          assert.equal(started.status, 303);
          const paid = await submitHostedPage(started.headers.get('location')!, {
            email: 'first-run@example.com',
          });
          assert.equal(paid.status, 303);
          const back = paid.location!;
          assert.ok(back.startsWith(`${base}/donate/return/stripe`), `the reader is sent back to ${back}`);
          const thanks = await fetch(back);
          assert.equal(thanks.status, 200);
          assert.match(
            await thanks.text(),
            /Your contribution of <strong>\$12\.00<\/strong> has been received/,
          );

          // The simulator's webhook reached this app too (not a port nobody listens on).
          let completed: Delivery | undefined;
          for (let i = 0; i < 100 && completed?.status !== 'delivered'; i++) {
            completed = (await deliveries(Number(env.SIMULATOR_STRIPE_PORT))).find(
              (d) => d.eventType === 'checkout.session.completed',
            );
            if (completed?.status !== 'delivered') await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(completed?.status, 'delivered');
          assert.equal(completed?.lastStatusCode, 200);
        } finally {
          await app.stop();
        }
      }),
  );

  test(
    'reads settings from .env (the environment wins), and warns of a PUBLIC_URL that does not lead to the app',
    { timeout: 60_000 },
    () =>
      withDataFolder(async (dir) => {
        const env = await newcomerEnv(dir, { SITE_NAME: 'Set In The Environment' });
        const filePort = await freePort();
        await writeFile(
          path.join(dir, '.env'),
          `# a newcomer's settings\nPORT=${filePort}\nSITE_NAME=Set In The File\nPUBLIC_URL=http://localhost:3999\n`,
        );
        delete env.PORT;
        const app = await startServerProcess({ env, cwd: dir });
        try {
          assert.equal(app.port, filePort);
          const home = await (await fetch(`http://localhost:${app.port}/`)).text();
          assert.match(home, /Set In The Environment/);
          assert.match(
            app.output(),
            new RegExp(
              `PUBLIC_URL is http://localhost:3999, but the app listens at http://localhost:${filePort}`,
            ),
          );
        } finally {
          await app.stop();
        }
      }),
  );

  test(
    'a second copy with another data folder says which settings to change for each port it needs',
    { timeout: 90_000 },
    () =>
      withDataFolder(async (dir) => {
        const env = await newcomerEnv(dir);
        const first = await startServerProcess({ env, cwd: dir });
        try {
          const simulatorTaken = await runEntry('src/server.ts', [], {
            cwd: dir,
            env: { ...env, PORT: String(await freePort()), EMBEDDED_MONGO_PATH: path.join(dir, 'second') },
          });
          assert.equal(simulatorTaken.code, 1);
          assert.match(simulatorTaken.stderr, /SIMULATOR_STRIPE_PORT, SIMULATOR_PAYPAL_PORT and PORT/);
          assert.doesNotMatch(simulatorTaken.stderr, /EADDRINUSE/);

          const appTaken = await runEntry('src/server.ts', [], {
            cwd: dir,
            env: { ...env, EMBEDDED_MONGO_PATH: path.join(dir, 'third') },
          });
          assert.equal(appTaken.code, 1);
          assert.match(appTaken.stderr, new RegExp(`Port ${env.PORT} on 127\\.0\\.0\\.1 is already in use`));
          assert.match(appTaken.stderr, /Set PORT to a free port/);
          assert.doesNotMatch(appTaken.stderr, /EADDRINUSE/);
        } finally {
          await first.stop();
        }
      }),
  );
});
