import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { redactedPaths } from '../../src/log.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
let app: express.Express;
const lines: Array<Record<string, unknown>> = [];

before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: 'info', redact: { paths: redactedPaths, censor: '[redacted]' } }, sink);
  const routes = express.Router();
  routes.get('/page', (_req, res) => {
    res.send('ok');
  });
  routes.post('/manage/:token/cancel', (req, res) => {
    req.log.info({ card: '4242424242424242' }, 'handled');
    res.status(303).end();
  });
  app = createApp({
    config: runtime.config,
    logger,
    store: runtime.store,
    formActionOrigins: [],
    routers: [routes],
  });
});
after(() => runtime.stop());

test('logs writes and refusals with their request id, but not successful page reads', async () => {
  lines.length = 0;
  await request(app).get('/page').expect(200);
  await request(app).get('/missing').set('Accept', 'application/json').expect(404);
  const res = await request(app).post('/manage/secret-token-123/cancel?session_id=cs_x').expect(303);
  const id = res.headers['x-request-id'];
  assert.equal(
    lines.some((l) => l.path === '/page'),
    false,
  );
  assert.ok(lines.some((l) => l.path === '/missing' && l.status === 404));
  const write = lines.find((l) => l.msg === 'request' && l.method === 'POST');
  assert.equal(write?.path, '/manage/[token]/cancel');
  assert.equal(write?.reqId, id);
  const handled = lines.find((l) => l.msg === 'handled');
  assert.equal(handled?.reqId, id, 'handler logs carry the request id');
  assert.equal(handled?.card, '[redacted]');
  assert.doesNotMatch(JSON.stringify(lines), /secret-token-123|4242424242424242|cs_x/);
});
