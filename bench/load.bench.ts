/**
 * Mixed traffic for a minute (LOAD_SECONDS): readers 90 % (home, sections, articles with and
 * without a consent cookie, feeds), donation starts through the donation form, signed webhook
 * deliveries from both providers, and one finance report a second from a signed-in staff member.
 *
 * Reported: throughput and p50/p99 per route, errors (any answer but the one the route gives, and
 * any connection error or timeout: target 0), and the app process's RSS sampled every second
 * (no growth trend: the mean of the last 10 s at most 1.25 × the mean of the first 10 s).
 *
 * Each part runs in a process of its own, as in production: the embedded store standalone (or
 * MONGODB_URI), the payment simulator (which keeps its payments in memory, so in the app's process
 * it would make the app's RSS grow with every checkout), and the app with its background jobs on.
 * The load comes from this process, one autocannon instance per route, each at a fixed rate, so the
 * mix is what the shares say. The total rate is LOAD_RATE, or a quarter of what the reader pages
 * alone reach flat out during the warm-up (the writes cost many times a page, and the store, the
 * simulator and the load generator share the machine's cores). The run is also judged on whether
 * that rate was sustained (≥ 0.95 × offered): a server that falls behind gets fewer requests at a
 * fixed rate, not more errors.
 *
 *   npm run bench -- load              LOAD_SECONDS=10 for a short run
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type { SimulatorSecrets } from '../src/payments/index.js';
import { paypalSign, paypalSignedMessage, stripeSignatureHeader } from '../src/simulator/signing.js';
import { publish, type Figure } from './figures.js';
import { stripeBenchEvent } from './stripe-events.js';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const WARM_SECONDS = Number(process.env.LOAD_WARM_SECONDS ?? 4);
const RSS_WINDOW_SECONDS = Math.min(10, Math.max(1, Math.floor(SECONDS / 3)));
const RSS_GROWTH_LIMIT = 1.25;
const SUSTAINED_SHARE = 0.95;
const DB_NAME = 'readerfund_bench_load';

const ARTICLES = [
  'river-towns-rebuild-flood-walls-with-salvaged-stone',
  'coastal-marsh-returns-after-sea-wall-is-opened',
  'insurers-map-street-level-flood-risk',
  'small-telescope-network-tracks-near-earth-rock',
  'night-buses-return-to-the-eastern-wards',
  'a-library-that-lends-tools-not-books',
  'open-source-tool-helps-councils-publish-spending',
  'repair-cafes-push-for-a-right-to-spare-parts',
];

// ----------------------------------------------------------------------------------------------
// The parts, each in its own process
// ----------------------------------------------------------------------------------------------

interface SimulatorReady {
  stripe: { host: string; port: number; baseUrl: string };
  paypal: { baseUrl: string; certUrl: string };
  secrets: SimulatorSecrets;
  /** The key the simulator signs PayPal webhooks with, so this process can sign deliveries alike. */
  paypalPrivateKeyPem: string;
}

async function simulate(): Promise<void> {
  const [{ startPaymentSimulator }, { newSimulatorSecrets }, { processSigningKey }] = await Promise.all([
    import('../src/simulator/index.js'),
    import('../src/payments/index.js'),
    import('../src/simulator/signing.js'),
  ]);
  const secrets = newSimulatorSecrets();
  const sim = await startPaymentSimulator({
    stripeWebhookSecret: secrets.stripeWebhookSecret,
    paypalWebhookId: secrets.paypalWebhookId,
  });
  const key = await processSigningKey();
  process.send?.({
    stripe: sim.stripe,
    paypal: sim.paypal,
    secrets,
    paypalPrivateKeyPem: key.privateKeyPem,
  } satisfies SimulatorReady);
}

interface AppReady {
  port: number;
  email: string;
  password: string;
  consentTextsHash: string;
}

async function serve(): Promise<void> {
  const [{ testConfig }, { createLogger }, { startRuntime }, { paymentsForSimulator }, net] =
    await Promise.all([
      import('../tests/helpers/runtime.js'),
      import('../src/log.js'),
      import('../src/runtime.js'),
      import('../src/payments/index.js'),
      import('node:net'),
    ]);
  const simulator = JSON.parse(process.env.LOAD_SIMULATOR!) as SimulatorReady;
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const unlimited = { points: 1_000_000, durationSeconds: 60 };
  // Every request comes from 127.0.0.1: the per-IP limits would refuse the load, not the app.
  const config = testConfig({
    site: { publicUrl: `http://127.0.0.1:${port}` },
    mail: { outboxDir: process.env.MAIL_OUTBOX_DIR! },
    donations: { rateLimits: { perIp: unlimited, perEmail: unlimited } },
    consent: { rateLimit: unlimited },
    staff: { rateLimits: { signInPerIp: unlimited } },
  });
  const logger = createLogger({ level: 'silent' });
  const runtime = await startRuntime(config, {
    embeddedPath: null,
    logger,
    dbName: DB_NAME,
    payments: {
      ...paymentsForSimulator(config, logger, simulator, simulator.secrets),
      stop: async () => undefined,
    },
    // Receipts, webhook retries and unfinished checkouts run on their timers, as in production.
    backgroundJobs: true,
  });
  const email = `load-finance-${Date.now()}@staff.example`;
  const password = 'load finance passphrase 2026';
  await runtime.staff.service.createAccount(
    { email, password, role: 'finance', name: 'Load' },
    { kind: 'cli' },
  );
  const server = runtime.app.listen(port, '127.0.0.1', () => {
    process.send?.({
      port,
      email,
      password,
      consentTextsHash: runtime.consent.service.texts.hash,
    } satisfies AppReady);
  });
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void runtime.stop().finally(() => process.exit(0));
  });
  // The live heap after a full collection: what RSS samples cannot tell from garbage not yet collected.
  process.on('message', (message) => {
    if (message !== 'heap') return;
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ heapUsedMb: process.memoryUsage().heapUsed / 1024 / 1024 });
  });
}

function liveHeapMb(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { heapUsedMb: number }).heapUsedMb));
    child.send('heap');
  });
}

function start<T>(
  role: string,
  env: Record<string, string> = {},
  execArgv: string[] = [],
): { child: ChildProcess; ready: Promise<T> } {
  const child = fork(import.meta.filename, [role], {
    execArgv: ['--import', 'tsx', ...execArgv],
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise<T>((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`${role} process exited with ${code}`)));
  });
  return { child, ready };
}

/** The embedded store on its own, in memory, as `npm run db:embedded` runs it. */
async function startStandaloneStore(): Promise<{ uri: string; process: ChildProcess }> {
  const child = fork(
    path.join(import.meta.dirname, '..', 'src', 'embedded-mongo', 'cli.ts'),
    ['--port', '0', '--in-memory'],
    {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /mongodb:\/\/[^\s]+/.exec(out);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`embedded store exited with ${code}`)));
  });
  return { uri, process: child };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

// ----------------------------------------------------------------------------------------------
// What a reader, a donor, a provider and a finance member send
// ----------------------------------------------------------------------------------------------

/** Signs in as a finance member does (the sign-in page's token, then the form), returning the session cookie. */
async function signIn(base: string, email: string, password: string): Promise<string> {
  const page = await fetch(`${base}/staff/login`);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  const res = await fetch(`${base}/staff/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie, Origin: base },
    body: new URLSearchParams({ _csrf: token ?? '', email, password, next: '/staff' }),
  });
  const signedIn = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  if (res.status !== 303 || !signedIn) throw new Error(`could not sign in: ${res.status}`);
  return signedIn;
}

/** A reader accepts everything on the consent banner; returns the consent cookie the app set. */
async function consentCookie(base: string, textsHash: string): Promise<string> {
  const res = await fetch(`${base}/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: base },
    body: new URLSearchParams({ choice: 'accept_all', texts: textsHash }),
  });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  if (res.status !== 303 || !cookie.startsWith('rf_consent=')) {
    throw new Error(`could not make a consent choice: ${res.status}`);
  }
  return cookie;
}

/**
 * The donation form's fields as the article page renders them (hidden plan and currency, the
 * checked amount, the empty honeypot) and the provider buttons: one body per form and provider.
 */
async function donationBodies(base: string): Promise<string[]> {
  const html = await (await fetch(`${base}/articles/${ARTICLES[0]}`)).text();
  const forms = [...html.matchAll(/<form[^>]*action="\/donate"[^>]*>([\s\S]*?)<\/form>/g)].map((m) => m[1]!);
  const bodies: string[] = [];
  for (const form of forms) {
    const fields = new URLSearchParams();
    for (const input of form.matchAll(/<input\b[^>]*>/g)) {
      const tag = input[0];
      const name = /name="([^"]+)"/.exec(tag)?.[1];
      const value = /value="([^"]*)"/.exec(tag)?.[1] ?? '';
      const type = /type="([^"]+)"/.exec(tag)?.[1] ?? 'text';
      if (!name || name === 'otherAmount') continue;
      if (type === 'radio' && !/\schecked\b/.test(tag)) continue;
      fields.set(name, value);
    }
    const select = /<select[^>]*name="([^"]+)"[^>]*>([\s\S]*?)<\/select>/.exec(form);
    if (select) {
      const selected =
        /<option[^>]*value="([^"]+)"[^>]*selected/.exec(select[2]!) ??
        /<option[^>]*value="([^"]+)"/.exec(select[2]!);
      if (selected) fields.set(select[1]!, selected[1]!);
    }
    for (const button of form.matchAll(/<button[^>]*name="provider"[^>]*value="([^"]+)"/g)) {
      const body = new URLSearchParams(fields);
      body.set('provider', button[1]!);
      bodies.push(body.toString());
    }
  }
  if (bodies.length === 0) throw new Error('no donation form with provider buttons on the article page');
  return bodies;
}

interface Delivery {
  path: string;
  body: string;
  headers: Record<string, string>;
}

/**
 * The i-th Stripe delivery, signed as it is sent (as Stripe does, so a long run stays inside the
 * signature's tolerance): even ones paid Checkout Sessions into the ledger, odd ones customer updates.
 */
function stripeDelivery(i: number, secret: string): Delivery {
  const now = Math.floor(Date.now() / 1000);
  const id = randomUUID().replace(/-/g, '');
  const payment = i % 2 === 0;
  const body = stripeBenchEvent({
    tag: 'load',
    i,
    id,
    payment,
    now,
    amountSteps: 20,
    payers: 300,
    planId: 'contributor',
    name: 'Load Reader',
  });
  return {
    path: '/webhooks/stripe',
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': stripeSignatureHeader(body, secret, now),
    },
  };
}

/**
 * The i-th PayPal delivery, signed as it is sent, of a type Readerfund does not use: verified
 * against the simulator's certificate, stored, marked ignored.
 */
function paypalDelivery(i: number, simulator: SimulatorReady): Delivery {
  const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const id = randomUUID().replace(/-/g, '').slice(0, 17).toUpperCase();
  const body = JSON.stringify({
    id: `WH-LOAD-${id}`,
    event_version: '1.0',
    create_time: time,
    resource_type: 'product',
    event_type: 'CATALOG.PRODUCT.UPDATED',
    summary: 'A product was updated',
    resource: { id: `PROD-LOAD-${i}`, name: 'Load', type: 'DIGITAL' },
  });
  const transmissionId = randomUUID();
  const message = paypalSignedMessage(transmissionId, time, simulator.secrets.paypalWebhookId, body);
  return {
    path: '/webhooks/paypal',
    body,
    headers: {
      'content-type': 'application/json',
      'paypal-transmission-id': transmissionId,
      'paypal-transmission-time': time,
      'paypal-transmission-sig': paypalSign(message, simulator.paypalPrivateKeyPem),
      'paypal-cert-url': simulator.paypal.certUrl,
      'paypal-auth-algo': 'SHA256withRSA',
    },
  };
}

// ----------------------------------------------------------------------------------------------
// The load
// ----------------------------------------------------------------------------------------------

interface Route {
  name: string;
  /** Share of the total rate; the staff report has a fixed rate instead. */
  share?: number;
  rate?: number;
  /** The answer this route gives; anything else is an error. */
  expect: number;
  /** The next request (path, method, headers, body), called once per request. */
  next: () => { path: string; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string };
}

interface Outcome {
  route: Route;
  offered: number;
  result: autocannon.Result;
  /** Answers with another status than expected, by status. */
  unexpected: Map<number, number>;
}

function cycle<T>(list: readonly T[]): () => T {
  let i = 0;
  return () => list[i++ % list.length]!;
}

function drive(base: string, route: Route, rate: number, seconds: number): Promise<Outcome> {
  // Enough connections that a slow answer does not hold the rate back.
  const connections = Math.max(1, Math.min(50, Math.ceil(rate / 15)));
  const unexpected = new Map<number, number>();
  let finish: (err: Error | null, result: autocannon.Result) => void = () => undefined;
  const done = new Promise<Outcome>((resolve, reject) => {
    finish = (err, result) => (err ? reject(err) : resolve({ route, offered: rate, result, unexpected }));
  });
  const instance = autocannon(
    {
      url: base,
      connections,
      overallRate: Math.max(1, Math.round(rate)),
      duration: seconds,
      requests: [
        {
          setupRequest: (req) => {
            const next = route.next();
            return {
              ...req,
              method: next.method ?? 'GET',
              path: next.path,
              ...(next.headers ? { headers: next.headers } : {}),
              ...(next.body !== undefined ? { body: next.body } : {}),
            };
          },
        },
      ],
    },
    (err, result) => finish(err, result),
  );
  instance.on('response', (_client, status) => {
    if (status !== route.expect) unexpected.set(status, (unexpected.get(status) ?? 0) + 1);
  });
  return done;
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

async function main(): Promise<void> {
  const outbox = mkdtempSync(path.join(os.tmpdir(), 'readerfund-load-outbox-'));
  const store = process.env.MONGODB_URI ? null : await startStandaloneStore();
  const simulator = start<SimulatorReady>('--simulate');
  let app: ReturnType<typeof start<AppReady>> | undefined;
  try {
    const sim = await simulator.ready;
    app = start<AppReady>(
      '--serve',
      {
        LOAD_SIMULATOR: JSON.stringify(sim),
        MAIL_OUTBOX_DIR: outbox,
        ...(store ? { MONGODB_URI: store.uri } : {}),
      },
      // For the live heap after a full collection, before and after the run.
      ['--expose-gc'],
    );
    const ready = await app.ready;
    const base = `http://127.0.0.1:${ready.port}`;
    const pid = app.child.pid!;

    const [staffCookie, consented, donations] = await Promise.all([
      signIn(base, ready.email, ready.password),
      consentCookie(base, ready.consentTextsHash),
      donationBodies(base),
    ]);
    const sections = [
      ...new Set(
        [...(await (await fetch(base)).text()).matchAll(/href="(\/section\/[^"]+)"/g)].map((m) => m[1]!),
      ),
    ];
    if (sections.length === 0) throw new Error('no section links on the home page');

    const formHeaders = {
      'content-type': 'application/x-www-form-urlencoded',
      origin: base,
      'sec-fetch-site': 'same-origin',
    };
    const nextArticle = cycle(ARTICLES);
    const nextSection = cycle(sections);
    const nextDonation = cycle(donations);
    let stripeSent = 0;
    let paypalSent = 0;
    const nextStripe = () => stripeDelivery(stripeSent++, sim.secrets.stripeWebhookSecret);
    const nextPayPal = () => paypalDelivery(paypalSent++, sim);
    const routes: Route[] = [
      { name: 'GET /', share: 0.2, expect: 200, next: () => ({ path: '/' }) },
      { name: 'GET /section/:slug', share: 0.15, expect: 200, next: () => ({ path: nextSection() }) },
      {
        name: 'GET /articles/:slug',
        share: 0.3,
        expect: 200,
        next: () => ({ path: `/articles/${nextArticle()}` }),
      },
      {
        name: 'GET /articles/:slug, consent cookie',
        share: 0.15,
        expect: 200,
        next: () => ({ path: `/articles/${nextArticle()}`, headers: { cookie: consented } }),
      },
      { name: 'GET /feed.xml', share: 0.05, expect: 200, next: () => ({ path: '/feed.xml' }) },
      { name: 'GET /feed.atom', share: 0.05, expect: 200, next: () => ({ path: '/feed.atom' }) },
      {
        name: 'POST /donate',
        share: 0.04,
        expect: 303,
        next: () => ({ path: '/donate', method: 'POST', headers: formHeaders, body: nextDonation() }),
      },
      {
        name: 'POST /webhooks/stripe',
        share: 0.04,
        expect: 200,
        next: () => {
          const d = nextStripe();
          return { path: d.path, method: 'POST', headers: d.headers, body: d.body };
        },
      },
      {
        name: 'POST /webhooks/paypal',
        share: 0.02,
        expect: 200,
        next: () => {
          const d = nextPayPal();
          return { path: d.path, method: 'POST', headers: d.headers, body: d.body };
        },
      },
      {
        name: 'GET /staff/reports',
        rate: 1,
        expect: 200,
        next: () => ({ path: '/staff/reports', headers: { cookie: staffCookie } }),
      },
    ];
    const readers = routes.filter((r) => r.name.startsWith('GET /') && r.share !== undefined);

    // Warm-up: the reader pages flat out (JIT, render caches), which also says what the machine
    // serves right now; then a little of every route.
    let readerRate = 0;
    {
      const warm = await Promise.all(
        readers.map((route) =>
          autocannon({
            url: base,
            connections: 4,
            duration: WARM_SECONDS,
            requests: [{ setupRequest: (req) => ({ ...req, ...route.next() }) }],
          }),
        ),
      );
      readerRate = warm.reduce((a, r) => a + r.requests.total, 0) / WARM_SECONDS;
    }
    const total = Number(process.env.LOAD_RATE ?? Math.max(50, Math.round(readerRate / 4)));
    const rateOf = (route: Route) => route.rate ?? (route.share ?? 0) * total;
    const warmChecks = await Promise.all(
      routes.map((route) => drive(base, route, Math.max(2, rateOf(route) / 4), 1)),
    );
    for (const check of warmChecks) {
      if (check.unexpected.size > 0 || check.result.errors > 0) {
        throw new Error(
          `${check.route.name} answered ${[...check.unexpected].map(([s, n]) => `${n} × ${s}`).join(', ')} ` +
            `(${check.result.errors} errors) during the warm-up`,
        );
      }
    }
    console.log(
      `reader pages flat out during the warm-up: ${readerRate.toFixed(0)} req/s; offering ${total} req/s ` +
        `(${process.env.LOAD_RATE ? 'LOAD_RATE' : 'a quarter of that'}) plus 1 report/s for ${SECONDS} s`,
    );

    // The run: every route at once, the app's RSS sampled every second.
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 1000);
    const heapBefore = await liveHeapMb(app.child);
    const rssBefore = rssMb(pid);
    const outcomes = await Promise.all(routes.map((route) => drive(base, route, rateOf(route), SECONDS)));
    clearInterval(sampler);
    const heapAfter = await liveHeapMb(app.child);

    // Per route: throughput, latency and errors.
    const figures: Figure[] = [];
    let errors = 0;
    let served = 0;
    let offered = 0;
    const widths = [36, 10, 10, 8, 8, 8];
    const line = (cells: string[]) =>
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]!) : c.padStart(widths[i]!))).join(' ');
    console.log(line(['route', 'offered/s', 'served/s', 'p50 ms', 'p99 ms', 'errors']));
    for (const o of outcomes) {
      const r = o.result;
      const wrong = [...o.unexpected.values()].reduce((a, b) => a + b, 0);
      const routeErrors = wrong + r.errors + r.timeouts;
      const rate = r.requests.total / SECONDS;
      errors += routeErrors;
      served += r.requests.total;
      offered += o.offered * SECONDS;
      const statuses = [...o.unexpected].map(([s, n]) => `${n} × ${s}`).join(', ');
      console.log(
        line([
          o.route.name,
          o.offered.toFixed(1),
          rate.toFixed(1),
          String(r.latency.p50),
          String(r.latency.p99),
          String(routeErrors),
        ]) + (statuses ? `  (${statuses})` : ''),
      );
      figures.push({
        name: `${o.route.name}: p99`,
        value: r.latency.p99,
        unit: 'ms',
        note: `${rate.toFixed(1)} req/s, p50 ${r.latency.p50} ms${routeErrors ? `, ${routeErrors} errors` : ''}`,
      });
    }
    const readerServed = outcomes
      .filter((o) => readers.includes(o.route))
      .reduce((a, o) => a + o.result.requests.total, 0);

    // RSS: the first and the last window of the run.
    const window = RSS_WINDOW_SECONDS;
    const first = mean(samples.slice(0, window));
    const last = mean(samples.slice(-window));
    const rssOk = samples.length >= 2 && last <= first * RSS_GROWTH_LIMIT;
    console.log(
      `served ${(served / SECONDS).toFixed(0)} of ${(offered / SECONDS).toFixed(0)} req/s offered, ` +
        `readers ${((readerServed / served) * 100).toFixed(1)} %; errors ${errors}`,
    );
    console.log(
      `app RSS: ${rssBefore.toFixed(0)} MB before; mean of the first ${window} s ${first.toFixed(0)} MB, ` +
        `of the last ${window} s ${last.toFixed(0)} MB (${(last / first).toFixed(2)} ×); ` +
        `samples ${samples.map((s) => s.toFixed(0)).join(' ')}`,
    );
    console.log(
      `app live heap after a full GC: ${heapBefore.toFixed(0)} MB before the run, ${heapAfter.toFixed(0)} MB after`,
    );
    const sustained = served / offered;
    figures.unshift(
      {
        name: 'mixed traffic served',
        value: served / SECONDS,
        unit: 'req/s',
        target: `≥ ${SUSTAINED_SHARE} × offered`,
        pass: sustained >= SUSTAINED_SHARE,
        note: `${(offered / SECONDS).toFixed(0)} req/s offered for ${SECONDS} s, readers ${((readerServed / served) * 100).toFixed(1)} %`,
      },
      {
        name: 'errors (unexpected status, connection error, timeout)',
        value: errors,
        unit: 'errors',
        target: '0',
        pass: errors === 0,
      },
      {
        name: `app RSS, mean of the last ${window} s`,
        value: last,
        unit: 'MB',
        target: `≤ ${RSS_GROWTH_LIMIT} × first ${window} s`,
        pass: rssOk,
        note: `first ${window} s ${first.toFixed(0)} MB, ${(last / first).toFixed(2)} ×`,
      },
      {
        name: 'app live heap after a full GC, after the run',
        value: heapAfter,
        unit: 'MB',
        note: `${heapBefore.toFixed(0)} MB before it`,
      },
    );
    console.log(
      `${errors === 0 && rssOk && sustained >= SUSTAINED_SHARE ? 'PASS' : 'FAIL'}: mixed load ` +
        `(0 errors, RSS last ≤ ${RSS_GROWTH_LIMIT} × first, served ≥ ${SUSTAINED_SHARE} × offered)`,
    );
    publish(figures);
    if (figures.some((f) => f.pass === false)) process.exitCode = 1;
  } finally {
    await stop(app?.child);
    await stop(simulator.child);
    await stop(store?.process);
    rmSync(outbox, { recursive: true, force: true });
  }
}

if (process.argv.includes('--simulate')) {
  simulate().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else if (process.argv.includes('--serve')) {
  serve().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
