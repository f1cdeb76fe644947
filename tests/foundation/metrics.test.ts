import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { submitHostedPage } from '../helpers/hosted-pages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { startMetricsServer } from '../../src/metrics/http.js';
import { routeLabel } from '../../src/metrics/index.js';

const TOKEN = 'metrics-token-for-the-tests-0123456789';

/** The value of one sample line (`name{labels} value`), or undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[4]);
  }
  return undefined;
}

async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('metrics at /metrics', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ metrics: { token: TOKEN } });
  });
  after(() => server.close());

  test('refuses a scrape without the bearer token, or with another one', async () => {
    const none = await request(server.runtime.app).get('/metrics');
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'] ?? '', /^Bearer/);
    assert.doesNotMatch(none.text, /readerfund_/);
    const wrong = await request(server.runtime.app)
      .get('/metrics')
      .set('Authorization', `Bearer ${TOKEN.slice(0, -1)}x`);
    assert.equal(wrong.status, 401);
    const basic = await request(server.runtime.app).get('/metrics').set('Authorization', `Basic ${TOKEN}`);
    assert.equal(basic.status, 401);
  });

  test('counts a donation started and completed, its webhook deliveries, and the receipt pending', async () => {
    // The first scrape of this app: the counts read from the store are not cached yet.
    const started = await request(server.runtime.app)
      .post('/donate')
      .type('form')
      .send({ plan: 'contributor', provider: 'stripe', amount: '7', currency: 'USD' });
    assert.equal(started.status, 303);
    const paid = await submitHostedPage(started.headers.location!, { email: 'counted@example.com' });
    assert.equal(paid.status, 303);
    await server.runtime.payments.simulator!.idle();

    const text = await scrape(server.baseUrl);
    assert.equal(
      sample(text, 'readerfund_donations_started_total', { provider: 'stripe', interval: 'once' }),
      1,
    );
    assert.equal(sample(text, 'readerfund_donations_completed_total'), 1);
    assert.ok(
      (sample(text, 'readerfund_webhook_deliveries_total', { provider: 'stripe', outcome: 'processed' }) ??
        0) >= 1,
      text,
    );
    // Background jobs are off here: the receipt waits for the sender.
    assert.equal(sample(text, 'readerfund_receipts_pending'), 1);
    assert.equal(sample(text, 'readerfund_webhook_inbox_backlog'), 0);
    assert.equal(sample(text, 'readerfund_webhook_dead_letters'), 0);
  });

  test('counts requests by route pattern, never by the path a token travels in', async () => {
    const token = 'a-manage-token-nobody-may-see-in-metrics';
    await request(server.runtime.app).get(`/manage/${token}`);
    await request(server.runtime.app).get('/articles/no-such-story');
    await request(server.runtime.app).get('/static/does-not-exist.css');
    await request(server.runtime.app).get('/staff/login');
    const text = await scrape(server.baseUrl);
    assert.doesNotMatch(text, new RegExp(token));
    assert.doesNotMatch(text, /no-such-story/);
    const count = (route: string, status: string) =>
      sample(text, 'readerfund_http_request_duration_seconds_count', { method: 'GET', route, status });
    assert.ok((count('/manage/:token', '404') ?? count('/manage/:token', '200') ?? 0) >= 1, text);
    assert.equal(count('/articles/:slug', '404'), 1);
    assert.equal(count('/static/*', '404'), 1);
    assert.equal(count('/staff/login', '200'), 1);
    assert.ok(sample(text, 'process_resident_memory_bytes')! > 0, 'default process metrics are there');
    assert.equal(sample(text, 'readerfund_store_up'), 1);
    assert.ok(sample(text, 'readerfund_store_round_trip_seconds')! > 0);
  });

  test('counts a forged webhook as rejected, with the provider it claimed', async () => {
    const forged = await request(server.runtime.app)
      .post('/webhooks/stripe')
      .set('Stripe-Signature', 't=1,v1=00')
      .type('json')
      .send('{"id":"evt_forged","type":"checkout.session.completed"}');
    assert.equal(forged.status, 400);
    await request(server.runtime.app).post('/webhooks/elsewhere').type('json').send('{}');
    const text = await scrape(server.baseUrl);
    assert.ok(
      (sample(text, 'readerfund_webhook_deliveries_total', { provider: 'stripe', outcome: 'rejected' }) ??
        0) >= 1,
    );
    assert.equal(
      sample(text, 'readerfund_webhook_deliveries_total', {
        provider: 'unknown',
        outcome: 'unknown_provider',
      }),
      1,
    );
    assert.doesNotMatch(text, /elsewhere/);
  });
});

test('without METRICS_TOKEN there is no /metrics on the app port', async () => {
  const runtime = await startTestRuntime({}, { backgroundJobs: false });
  try {
    const res = await request(runtime.app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    assert.equal(res.status, 404);
  } finally {
    await runtime.stop();
  }
});

test('METRICS_PORT serves the metrics without a token, and nothing else', async () => {
  const runtime = await startTestRuntime({}, { backgroundJobs: false });
  const server = await startMetricsServer({
    port: 0,
    host: '127.0.0.1',
    source: runtime.metrics,
    logger: runtime.logger,
  });
  try {
    await request(runtime.app).get('/healthz');
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.equal(
      sample(text, 'readerfund_http_request_duration_seconds_count', { route: '/healthz', status: '200' }),
      1,
    );
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status, 404);
  } finally {
    await server.close();
    await runtime.stop();
  }
});

test('a route under a mount with parameters is labelled by its pattern, never by the values', () => {
  const label = (req: Record<string, unknown>) => routeLabel(req as never);
  assert.equal(
    label({ route: { path: '/articles/:slug' }, baseUrl: '', url: '/articles/x' }),
    '/articles/:slug',
  );
  assert.equal(label({ route: { path: '/login' }, baseUrl: '/staff', url: '/login' }), '/staff/login');
  assert.equal(label({ route: { path: '/' }, baseUrl: '/staff', url: '/' }), '/staff');
  assert.equal(
    label({ route: { path: '/export' }, baseUrl: '/rights/Zm9vYmFy-token-123', url: '/export' }),
    '/[mount]/export',
  );
  assert.equal(label({ baseUrl: '', url: '/nowhere', originalUrl: '/nowhere/secret' }), '(no route)');
  assert.equal(label({ url: '/site.css', originalUrl: '/static/site.css' }), '/static/*');
});
