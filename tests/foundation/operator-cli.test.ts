import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/embedded-mongo/index.js';
import { submitHostedPage } from '../helpers/hosted-pages.js';
import { cleanEnv, freePort, runEntry, startServerProcess, type ServerProcess } from './server-process.js';

let store: EmbeddedMongo;
let dir: string;
let env: NodeJS.ProcessEnv;
let app: ServerProcess;

/** Settles once the simulator has delivered every webhook it queued to the app. */
async function webhooksDelivered(stripePort: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`http://127.0.0.1:${stripePort}/_simulator/state`);
    const { deliveries } = (await res.json()) as { deliveries: Array<{ status: string }> };
    if (deliveries.length > 0 && deliveries.every((d) => d.status === 'delivered')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the simulator did not deliver its webhooks');
}

before(async () => {
  // The store on its own, as the README says to run it when commands must work beside the app.
  store = await startEmbeddedMongo({ port: 0 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-cli-'));
  env = cleanEnv({
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    MONGODB_URI: `${store.uri}/readerfund_cli_beside_app`,
    MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
    PORT: String(await freePort()),
    SIMULATOR_STRIPE_PORT: String(await freePort()),
    SIMULATOR_PAYPAL_PORT: String(await freePort()),
  });
  app = await startServerProcess({ env: { ...env, LOG_LEVEL: 'info' }, cwd: dir });
  const started = await fetch(`http://localhost:${app.port}/donate`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'plan=contributor&provider=stripe&amount=9&currency=USD',
  });
  const paid = await submitHostedPage(started.headers.get('location')!, { email: 'cli@example.com' });
  assert.equal(paid.status, 303);
  await webhooksDelivered(env.SIMULATOR_STRIPE_PORT!);
});
after(async () => {
  await app?.stop();
  await store?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('operator commands beside a running app', () => {
  test(
    '`webhooks list` and `show` read the inbox without starting a simulator',
    { timeout: 60_000 },
    async () => {
      const list = await runEntry('src/webhooks/cli.ts', ['list', '--json'], { env, cwd: dir });
      assert.equal(list.code, 0, list.stderr);
      const events = JSON.parse(list.stdout) as Array<{ id: string; type: string }>;
      const completed = events.find((e) => e.type === 'checkout.session.completed');
      assert.ok(completed, list.stdout);
      const show = await runEntry('src/webhooks/cli.ts', ['show', completed.id], { env, cwd: dir });
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /--- raw payload ---/);
      assert.doesNotMatch(list.stderr + show.stderr, /EADDRINUSE|in use/);
    },
  );

  test('`webhooks replay` and `reconcile` use the running app’s simulator', { timeout: 60_000 }, async () => {
    const list = await runEntry('src/webhooks/cli.ts', ['list', '--json'], { env, cwd: dir });
    const event = (JSON.parse(list.stdout) as Array<{ id: string; type: string }>).find(
      (e) => e.type === 'checkout.session.completed',
    )!;
    const replay = await runEntry('src/webhooks/cli.ts', ['replay', event.id], { env, cwd: dir });
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal((JSON.parse(replay.stdout) as { status: string }).status, 'processed');

    const reconcile = await runEntry('src/webhooks/reconcile-cli.ts', ['--days', '1'], { env, cwd: dir });
    assert.equal(reconcile.code, 0, reconcile.stdout + reconcile.stderr);
    assert.match(reconcile.stdout, /stripe: 1 payments checked/);
    assert.match(reconcile.stdout, /The ledger matches the providers\./);
  });

  test(
    '`reconcile` explains what to start when no app’s simulator answers',
    { timeout: 60_000 },
    async () => {
      const elsewhere = { ...env, SIMULATOR_STRIPE_PORT: String(await freePort()) };
      const result = await runEntry('src/webhooks/reconcile-cli.ts', ['--days', '1'], {
        env: elsewhere,
        cwd: dir,
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /No simulator answers at http:\/\/127\.0\.0\.1:\d+ \(SIMULATOR_STRIPE_PORT\)/,
      );
      assert.match(result.stderr, /start the app first/);
    },
  );
});
