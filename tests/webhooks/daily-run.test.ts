import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { claimDailyRun, runDaily } from '../../src/webhooks/daily-run.js';
import type { Runtime } from '../../src/runtime.js';
import { startLedgerRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
before(async () => {
  runtime = await startLedgerRuntime();
});
after(() => runtime.stop());

test('lets exactly one of several processes run a daily job each day, and never repeats a finished run', async () => {
  let runs = 0;
  const work = async () => void (runs += 1);
  const day = new Date('2026-11-27T03:00:00Z');
  const claims = await Promise.all(Array.from({ length: 4 }, () => runDaily('reconcile', work, () => day)));
  assert.equal(claims.filter(Boolean).length, 1);
  assert.equal(runs, 1);
  assert.equal(await runDaily('reconcile', work, () => new Date('2026-11-27T23:00:00Z')), false);
  assert.equal(await runDaily('reconcile', work, () => new Date('2026-11-28T00:30:00Z')), true);
  assert.equal(runs, 2);
});

test('tries a failed daily run again later the same day instead of leaving the day out', async () => {
  const failing = () => Promise.reject(new Error('provider down'));
  await assert.rejects(runDaily('nightly-check', failing, () => new Date('2026-11-29T03:00:00Z')));
  let ran = false;
  const work = async () => void (ran = true);
  assert.equal(
    await runDaily('nightly-check', work, () => new Date('2026-11-29T03:05:00Z')),
    false,
    'it waits a little',
  );
  assert.equal(await runDaily('nightly-check', work, () => new Date('2026-11-29T04:00:00Z')), true);
  assert.ok(ran);
});

test('lets another process take over a run whose process died before finishing', async () => {
  const start = new Date('2026-11-30T03:00:00Z');
  assert.equal(await claimDailyRun('reconcile', start, 60_000), true);
  assert.equal(
    await claimDailyRun('reconcile', new Date(start.getTime() + 30_000)),
    false,
    'still within its lease',
  );
  assert.equal(await claimDailyRun('reconcile', new Date(start.getTime() + 61_000)), true);
});
