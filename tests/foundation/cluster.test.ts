import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { submitHostedPage } from '../helpers/hosted-pages.js';
import { cleanEnv, freePort, startServerProcess } from './server-process.js';

/** /healthz on a connection of its own, so the cluster may hand it to any worker. */
function healthPid(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { pid: number }).pid);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.once('error', reject);
  });
}

async function pidsAnswering(port: number, tries = 12): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < tries; i++) pids.add(await healthPid(port));
  return pids;
}

function sample(text: string, line: RegExp): number | undefined {
  const match = text.split('\n').find((l) => line.test(l));
  return match === undefined ? undefined : Number(match.split(' ').pop());
}

test(
  'WEB_CONCURRENCY=2: two workers answer on one port, share the primary’s store and simulator, add up their metrics, are restarted when they die, and stop on SIGTERM',
  { timeout: 150_000 },
  async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-cluster-'));
    const metricsPort = await freePort();
    const env = cleanEnv({
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      WEB_CONCURRENCY: '2',
      EMBEDDED_MONGO_PATH: path.join(dir, 'db'),
      MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
      PORT: String(await freePort()),
      SIMULATOR_STRIPE_PORT: String(await freePort()),
      SIMULATOR_PAYPAL_PORT: String(await freePort()),
      METRICS_PORT: String(metricsPort),
      METRICS_TOKEN: 'cluster-metrics-token-0123456789',
    });
    const app = await startServerProcess({ env, cwd: dir });
    try {
      const base = `http://localhost:${app.port}`;
      assert.match(app.output(), /2 workers share port/);

      const pids = await pidsAnswering(app.port);
      assert.equal(pids.size, 2, `two worker pids answer: ${[...pids].join(', ')}`);
      assert.ok(!pids.has(app.child.pid!), 'the primary itself serves no requests');

      // A donation: started by one worker, paid at the primary's simulator, its webhook and the
      // reader's return taken by whichever worker gets them, all through the primary's store.
      const started = await fetch(`${base}/donate`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'plan=contributor&provider=stripe&amount=9&currency=USD',
      });
      assert.equal(started.status, 303);
      const paid = await submitHostedPage(started.headers.get('location')!, {
        email: 'cluster@example.com',
      });
      assert.equal(paid.status, 303);
      const thanks = await fetch(paid.location!);
      assert.equal(thanks.status, 200);
      assert.match(await thanks.text(), /Your contribution of <strong>\$9\.00<\/strong> has been received/);
      let delivered = false;
      for (let i = 0; i < 100 && !delivered; i++) {
        const state = (await (
          await fetch(`http://127.0.0.1:${env.SIMULATOR_STRIPE_PORT}/_simulator/state`)
        ).json()) as {
          deliveries: Array<{ eventType: string; status: string; lastStatusCode?: number }>;
        };
        delivered = state.deliveries.some(
          (d) =>
            d.eventType === 'checkout.session.completed' &&
            d.status === 'delivered' &&
            d.lastStatusCode === 200,
        );
        if (!delivered) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(delivered, 'the webhook was accepted by a worker with the shared signing secret');

      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.equal(sample(metrics, /^readerfund_cluster_workers_reporting /), 2);
      assert.equal(
        sample(metrics, /^readerfund_donations_started_total\{provider="stripe",interval="once"\} /),
        1,
      );
      assert.equal(sample(metrics, /^readerfund_donations_completed_total /), 1);
      const healthChecks = sample(
        metrics,
        /^readerfund_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} /,
      );
      assert.equal(healthChecks, 12, 'the requests of both workers are added up');
      assert.doesNotMatch(app.output(), /whsec_|sk_test_sim_/, 'the shared secrets are never logged');
      // Whichever worker a scrape on the app's port reaches, it shows the cluster's totals.
      for (let i = 0; i < 2; i++) {
        const viaApp = await fetch(`${base}/metrics`, {
          headers: { authorization: `Bearer ${env.METRICS_TOKEN}`, connection: 'close' },
        });
        assert.equal(viaApp.status, 200);
        const text = await viaApp.text();
        assert.equal(sample(text, /^readerfund_cluster_workers_reporting /), 2);
        assert.equal(sample(text, /^readerfund_donations_completed_total /), 1);
      }

      // A worker killed outright is replaced; the other keeps serving meanwhile.
      const [victim] = [...pids];
      process.kill(victim!, 'SIGKILL');
      let replaced = false;
      for (let i = 0; i < 60 && !replaced; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const now = await pidsAnswering(app.port, 4);
        assert.ok(!now.has(victim!));
        replaced = [...now].some((pid) => !pids.has(pid));
      }
      assert.ok(replaced, 'a new worker answers after one was killed');
      assert.match(app.output(), /a worker died; starting another/);

      const exited = once(app.child, 'exit');
      app.child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, app.output());
      assert.match(app.output(), /embedded store stopped/);
    } finally {
      await app.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
