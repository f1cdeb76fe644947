import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { AppError } from '../../src/errors.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
let app: express.Express;

before(async () => {
  runtime = await startTestRuntime();
  const failing = express.Router();
  failing.get('/boom', () => {
    throw new Error('database password is hunter2');
  });
  failing.get('/api/boom', () => {
    throw new Error('internal detail');
  });
  failing.get('/conflict', () => {
    throw new AppError('conflict', 'That plan was changed meanwhile.');
  });
  failing.post('/api/echo', (req, res) => {
    res.json(req.body);
  });
  failing.post('/form', (_req, res) => {
    res.send('accepted');
  });
  app = createApp({
    config: runtime.config,
    logger: runtime.logger,
    store: runtime.store,
    formActionOrigins: ['https://checkout.stripe.com'],
    routers: [failing],
  });
});
after(() => runtime.stop());

describe('health', () => {
  test('answers /healthz with JSON while the process is up', async () => {
    const res = await request(app).get('/healthz').expect(200).expect('Content-Type', /json/);
    assert.equal(res.body.status, 'ok');
  });

  test('answers /readyz with 200 when the store replies', async () => {
    const res = await request(app).get('/readyz').expect(200);
    assert.deepEqual(res.body, { status: 'ready', store: 'reachable' });
  });
});

describe('errors', () => {
  test('shows a 404 page to browsers for an unknown path', async () => {
    const res = await request(app).get('/no-such-page').set('Accept', 'text/html').expect(404);
    assert.match(res.headers['content-type']!, /html/);
    assert.match(res.text, /Page not found/);
    assert.match(res.text, /<main id="main"/);
  });

  test('answers API clients with JSON for an unknown path', async () => {
    const res = await request(app).get('/api/nothing').expect(404).expect('Content-Type', /json/);
    assert.equal(res.body.error.kind, 'not_found');
    assert.ok(res.body.error.requestId);
  });

  test('hides the detail of an unexpected error behind a generic message and a reference', async () => {
    const res = await request(app).get('/boom').set('Accept', 'text/html').expect(500);
    assert.match(res.text, /Something went wrong/);
    assert.doesNotMatch(res.text, /hunter2/);
    assert.match(res.text, new RegExp(String(res.headers['x-request-id'])));
    const json = await request(app).get('/api/boom').expect(500);
    assert.equal(json.body.error.kind, 'internal');
    assert.doesNotMatch(JSON.stringify(json.body), /internal detail/);
  });

  test('maps an error kind to its status with the message a person can read', async () => {
    const res = await request(app).get('/conflict').set('Accept', 'application/json').expect(409);
    assert.equal(res.body.error.message, 'That plan was changed meanwhile.');
  });

  test('refuses a body over the size limit with 413', async () => {
    const res = await request(app)
      .post('/api/echo')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ text: 'x'.repeat(200 * 1024) }))
      .expect(413);
    assert.equal(res.body.error.kind, 'payload_too_large');
  });

  test('answers malformed JSON with 400 and a readable message', async () => {
    const res = await request(app)
      .post('/api/echo')
      .set('Content-Type', 'application/json')
      .send('{"broken":')
      .expect(400);
    assert.equal(res.body.error.message, 'The request body could not be read.');
  });
});

describe('security headers', () => {
  test('sends a strict content security policy and hardening headers', async () => {
    const res = await request(app).get('/healthz');
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /form-action 'self' https:\/\/checkout\.stripe\.com/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'strict-origin-when-cross-origin');
    assert.equal(res.headers['x-powered-by'], undefined);
  });

  test('forbids framing in both headers and switches off powerful browser features', async () => {
    const res = await request(app).get('/healthz');
    assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(res.headers['x-frame-options'], 'DENY');
    const policy = String(res.headers['permissions-policy']);
    for (const feature of ['camera', 'microphone', 'geolocation', 'payment', 'usb']) {
      assert.match(policy, new RegExp(`(^|, )${feature}=\\(\\)`));
    }
  });

  test('passes a request id through and returns it', async () => {
    const res = await request(app).get('/healthz').set('X-Request-Id', 'abc12345-test');
    assert.equal(res.headers['x-request-id'], 'abc12345-test');
  });
});

describe('cross-site form posts', () => {
  test('refuses a post that the browser marks as cross-site', async () => {
    const res = await request(app)
      .post('/form')
      .set('Sec-Fetch-Site', 'cross-site')
      .set('Accept', 'text/html')
      .type('form')
      .send('a=1')
      .expect(403);
    assert.match(res.text, /only be sent from our own pages/);
  });

  test('refuses a post from a foreign Origin', async () => {
    await request(app)
      .post('/form')
      .set('Origin', 'https://evil.example')
      .type('form')
      .send('a=1')
      .expect(403);
  });

  test('refuses a post whose Origin matches the Host it sent but not our public address', async () => {
    await request(app)
      .post('/form')
      .set('Host', 'evil.example')
      .set('Origin', 'http://evil.example')
      .type('form')
      .send('a=1')
      .expect(403);
  });

  test('refuses a post with Origin null from a browser without Fetch Metadata', async () => {
    await request(app).post('/form').set('Origin', 'null').type('form').send('a=1').expect(403);
  });

  test('accepts a same-origin post from a page whose referrer policy nulls Origin', async () => {
    await request(app)
      .post('/form')
      .set('Sec-Fetch-Site', 'same-origin')
      .set('Origin', 'null')
      .type('form')
      .send('a=1')
      .expect(200, 'accepted');
  });

  test('refuses a post the browser marks as same-site (a sibling subdomain) whatever its Origin', async () => {
    await request(app)
      .post('/form')
      .set('Sec-Fetch-Site', 'same-site')
      .set('Origin', 'http://localhost:3000')
      .type('form')
      .send('a=1')
      .expect(403);
  });

  test('accepts a same-origin post', async () => {
    await request(app)
      .post('/form')
      .set('Sec-Fetch-Site', 'same-origin')
      .set('Origin', 'http://localhost:3000')
      .type('form')
      .send('a=1')
      .expect(200, 'accepted');
  });
});
