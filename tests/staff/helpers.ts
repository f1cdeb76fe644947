import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import type express from 'express';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { createMailer } from '../../src/supporters/mailer.js';
import type { Runtime } from '../../src/runtime.js';
import { createStaffFeature, type StaffFeature } from '../../src/staff/index.js';
import { totpCode } from '../../src/staff/second-factor.js';
import { startTestRuntime, testConfig } from '../helpers/runtime.js';

export const STRONG_PASSWORD = 'correct lantern 42 harbour';

/** A clock the tests move by hand: idle and absolute lifetimes are checked without waiting. */
export class TestClock {
  private t = Date.now();
  now = () => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

export const minutes = (n: number) => n * 60_000;
export const hours = (n: number) => n * 3_600_000;

export interface StaffHarness {
  runtime: Runtime;
  app: express.Express;
  staff: StaffFeature;
  clock: TestClock;
  outboxDir: string;
  close(): Promise<void>;
}

/**
 * The staff area on the real embedded store, with its own clock and outbox. The app is built from
 * the same parts as the product's (createApp + the staff feature), so requests go through the
 * cross-site check, the body parsers and the error pages as they do in production.
 */
export async function startStaffHarness(overrides: Record<string, unknown> = {}): Promise<StaffHarness> {
  const runtime = await startTestRuntime(overrides, { backgroundJobs: false });
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
  const outboxDir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-staff-outbox-'));
  const clock = new TestClock();
  const staff = createStaffFeature({
    config: runtime.config,
    logger: runtime.logger,
    connection: runtime.store.connection,
    secrets: runtime.config.secrets,
    mailer: createMailer({ ...runtime.config.mail, outboxDir }),
    now: clock.now,
  });
  await staff.service.ready();
  const app = createApp({
    config: runtime.config,
    logger: runtime.logger,
    store: runtime.store,
    formActionOrigins: [],
    routers: [staff.router],
  });
  return {
    runtime,
    app,
    staff,
    clock,
    outboxDir,
    async close() {
      await runtime.stop();
      await rm(outboxDir, { recursive: true, force: true });
    },
  };
}

/**
 * A second staff app with other settings on the same store and connection (mongoose has one
 * connection per process, so a test file runs one runtime).
 */
export function otherStaffApp(h: StaffHarness, overrides: Record<string, unknown>): express.Express {
  const config = testConfig(overrides);
  const staff = createStaffFeature({
    config,
    logger: h.runtime.logger,
    connection: h.runtime.store.connection,
    secrets: config.secrets,
    now: h.clock.now,
  });
  return createApp({
    config,
    logger: h.runtime.logger,
    store: h.runtime.store,
    formActionOrigins: [],
    routers: [staff.router],
  });
}

let counter = 0;
export const uniqueEmail = (label: string) =>
  `${label}-${Date.now().toString(36)}-${(counter += 1)}@staff.example`;

export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, 'the page has a form token');
  return match[1]!;
}

export function cookieValue(res: request.Response, name = 'rf_staff'): string | undefined {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const line = cookies.find((c) => c.startsWith(`${name}=`));
  return line?.split(';')[0]!.slice(name.length + 1);
}

export async function createStaff(
  h: StaffHarness,
  role: 'admin' | 'finance',
  label: string = role,
): Promise<{ id: string; email: string; password: string }> {
  const email = uniqueEmail(label);
  const account = await h.staff.service.createAccount(
    { email, password: STRONG_PASSWORD, role, name: `${label} person` },
    { kind: 'cli' },
  );
  return { id: account.id, email, password: STRONG_PASSWORD };
}

/** Posts the sign-in form the way a browser on our page does: with its token, from our origin. */
export async function postLogin(
  agent: ReturnType<typeof request.agent>,
  email: string,
  password: string,
  next?: string,
): Promise<request.Response> {
  const page = await agent.get(`/staff/login${next ? `?next=${encodeURIComponent(next)}` : ''}`).expect(200);
  return agent
    .post('/staff/login')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), email, password, next: next ?? '/staff' });
}

/** Enrols TOTP through the pages and returns the secret the QR code carried. */
export async function enrolTotp(h: StaffHarness, agent: ReturnType<typeof request.agent>): Promise<string[]> {
  const page = await agent.get('/staff/account/two-factor').expect(200);
  const secret = /<code class="staff-secret">([A-Z2-7 ]+)<\/code>/.exec(page.text)?.[1]?.replace(/ /g, '');
  assert.ok(secret, 'the enrolment page shows the key');
  const done = await agent
    .post('/staff/account/two-factor')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), code: totpCode(secret, h.clock.now()) })
    .expect(200);
  const codes = [...done.text.matchAll(/<li><code>([a-z0-9-]{19})<\/code><\/li>/g)].map((m) => m[1]!);
  assert.equal(codes.length, 10);
  return [secret, ...codes];
}

/** A signed-in admin with TOTP enrolled (admins cannot use the staff area without it). */
export async function signedInAdmin(h: StaffHarness) {
  const admin = await createStaff(h, 'admin');
  const agent = request.agent(h.app);
  const res = await postLogin(agent, admin.email, admin.password);
  assert.equal(res.headers.location, '/staff/account/two-factor');
  const [secret, ...recoveryCodes] = await enrolTotp(h, agent);
  return { ...admin, agent, secret: secret!, recoveryCodes };
}

export async function signedInFinance(h: StaffHarness) {
  const finance = await createStaff(h, 'finance');
  const agent = request.agent(h.app);
  const res = await postLogin(agent, finance.email, finance.password);
  assert.equal(res.status, 303);
  assert.equal(res.headers.location, '/staff');
  return { ...finance, agent };
}

export async function outboxMessages(dir: string): Promise<string[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).sort();
  return Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')));
}

/** Signs in with password and a fresh TOTP code (the clock moves on a step, as a person's would). */
export async function signInWithCode(
  h: StaffHarness,
  account: { email: string; password: string; secret: string },
): Promise<ReturnType<typeof request.agent>> {
  h.clock.advance(30_000);
  const agent = request.agent(h.app);
  const res = await postLogin(agent, account.email, account.password);
  const page = await agent.get(res.headers.location!).expect(200);
  await agent
    .post('/staff/login/code')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), code: totpCode(account.secret, h.clock.now()) })
    .expect(303);
  return agent;
}
