import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
});
after(() => runtime.stop());

test('explains what is stored and lists the optional features as off until agreed', async () => {
  const res = await request(runtime.app).get('/privacy').expect(200);
  assert.equal(res.headers['set-cookie'], undefined);
  assert.match(res.text, /Until you make a choice we set no cookies/);
  assert.match(res.text, /Comments \(third-party widget\) — off until you agree/);
  assert.match(res.text, /we never see or store your card number/);
});
