import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { claimDailyRun } from '../../src/webhooks/daily-run.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
});
after(() => runtime.stop());

test('lets exactly one of several processes run the daily reconciliation each day', async () => {
  const day = new Date('2026-11-27T03:00:00Z');
  const claims = await Promise.all(Array.from({ length: 4 }, () => claimDailyRun('reconcile', day)));
  assert.equal(claims.filter(Boolean).length, 1);
  assert.equal(await claimDailyRun('reconcile', new Date('2026-11-27T23:00:00Z')), false);
  assert.equal(await claimDailyRun('reconcile', new Date('2026-11-28T00:30:00Z')), true);
});
