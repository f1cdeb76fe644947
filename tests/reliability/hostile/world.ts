/**
 * The whole product on a real port with everything a hostile client could aim at: a monthly
 * supporter with a manage link, a receipt and a rights link; a signed-in finance person; a
 * signed-in admin with two-factor; an anonymous visitor holding a sign-in form. Everything is made
 * through the product's own pages and the payment simulator, as people would.
 */
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { totpCode } from '../../../src/staff/second-factor.js';
import { getPage, submitHostedPage } from '../../helpers/hosted-pages.js';
import { manageLinkFor } from '../../helpers/outbox.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

export const STRONG_PASSWORD = 'correct lantern 42 harbour';

/** A browser's cookie jar for one site, as far as these tests need one. */
export class Jar {
  private cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/** A same-origin browser: our Origin, Sec-Fetch-Site same-origin, cookies kept. */
export function browser(baseUrl: string, jar = new Jar()) {
  const go = async (
    path: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: {
        accept: 'text/html',
        cookie: jar.header(),
        ...(init.form
          ? {
              'content-type': 'application/x-www-form-urlencoded',
              origin: baseUrl,
              'sec-fetch-site': 'same-origin',
            }
          : {}),
        ...init.headers,
      },
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    jar.take(res);
    return { status: res.status, location: res.headers.get('location'), html: await res.text(), res };
  };
  return { jar, go };
}

export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, 'the page has a staff form token');
  return match[1]!;
}

export interface SignedIn {
  cookie: string;
  csrf: string;
  email: string;
}

export interface HostileWorld {
  server: TestServer;
  baseUrl: string;
  finance: SignedIn;
  admin: SignedIn & { id: string };
  /** A visitor on the sign-in page: a session that holds only a form token. */
  visitor: { cookie: string; csrf: string };
  supporter: {
    email: string;
    manageToken: string;
    formToken: string;
    subscriptionId: string;
    donationId: string;
    rightsToken: string;
    rightsFormToken: string;
  };
  close(): Promise<void>;
}

let counter = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${(counter += 1)}`;

export async function signIn(
  server: TestServer,
  role: 'finance' | 'admin',
): Promise<SignedIn & { id: string }> {
  const email = `${unique(role)}@staff.example`;
  const account = await server.runtime.staff.service.createAccount(
    { email, password: STRONG_PASSWORD, role, name: `${role} person` },
    { kind: 'cli' },
  );
  const b = browser(server.baseUrl);
  const page = await b.go('/staff/login');
  const res = await b.go('/staff/login', {
    form: { _csrf: csrfFrom(page.html), email, password: STRONG_PASSWORD, next: '/staff' },
  });
  assert.equal(res.status, 303, `${role} signs in`);
  if (role === 'admin') {
    assert.equal(res.location, '/staff/account/two-factor');
    const enrol = await b.go('/staff/account/two-factor');
    const secret = /<code class="staff-secret">([A-Z2-7 ]+)<\/code>/.exec(enrol.html)?.[1]?.replace(/ /g, '');
    assert.ok(secret, 'the enrolment page shows the key');
    const done = await b.go('/staff/account/two-factor', {
      form: { _csrf: csrfFrom(enrol.html), code: totpCode(secret, new Date()) },
    });
    assert.equal(done.status, 200, 'the admin enrols a second factor');
  }
  const home = await b.go('/staff');
  assert.equal(home.status, 200, `${role} reaches the staff area`);
  return { cookie: b.jar.header(), csrf: csrfFrom(home.html), email, id: account.id };
}

/** Starts monthly support through the simulator's hosted page and reads the manage link from the receipt. */
export async function monthlySupporter(server: TestServer, fields: { email: string; name?: string }) {
  const b = browser(server.baseUrl);
  const start = await b.go('/donate', {
    form: { plan: 'monthly-supporter', provider: 'stripe', amount: '5' },
  });
  assert.equal(start.status, 303, 'the donation starts');
  const approved = await submitHostedPage(start.location!, {
    email: fields.email,
    ...(fields.name !== undefined ? { name: fields.name } : {}),
  });
  assert.ok(approved.location, 'the hosted page approves the payment');
  await getPage(approved.location);
  await server.runtime.payments.simulator!.idle();
  await server.runtime.receipts.sweep();
  const link = await manageLinkFor(server.outboxDir, fields.email);
  assert.ok(link, `a receipt with a manage link went to ${fields.email}`);
  const manageToken = new URL(link).pathname.split('/')[2]!;
  const manage = await b.go(`/manage/${manageToken}`);
  assert.equal(manage.status, 200, 'the manage page opens');
  return { manageToken, html: manage.html };
}

export async function startHostileWorld(overrides: Record<string, unknown> = {}): Promise<HostileWorld> {
  const server = await startTestServer(overrides);
  const baseUrl = server.baseUrl;
  const email = `${unique('reader')}@example.com`;
  const { manageToken, html } = await monthlySupporter(server, { email, name: 'Ada Reader' });
  const formToken = /name="formToken" value="([^"]+)"/.exec(html)?.[1];
  const subscriptionId = /\/subscriptions\/([^/"]+)\/cancel"/.exec(html)?.[1];
  const donationId = /\/receipts\/([a-f0-9]{24})"/.exec(html)?.[1];
  assert.ok(
    formToken && subscriptionId && donationId,
    'the manage page shows the subscription and a receipt',
  );

  const b = browser(baseUrl);
  const toRights = await b.go(`/manage/${manageToken}/rights`);
  assert.equal(toRights.status, 303, 'the manage page leads to the rights page');
  const rightsToken = toRights.location!.split('/').at(-1)!;
  const rights = await b.go(`/rights/${rightsToken}`);
  const rightsFormToken = /name="formToken" value="([^"]+)"/.exec(rights.html)?.[1];
  assert.ok(rightsFormToken, 'the rights page has its erase form');

  const finance = await signIn(server, 'finance');
  const admin = await signIn(server, 'admin');
  const v = browser(baseUrl);
  const login = await v.go('/staff/login');
  const visitor = { cookie: v.jar.header(), csrf: csrfFrom(login.html) };

  return {
    server,
    baseUrl,
    finance,
    admin,
    visitor,
    supporter: { email, manageToken, formToken, subscriptionId, donationId, rightsToken, rightsFormToken },
    close: () => server.close(),
  };
}

/** Documents in every collection of the app's database, by collection. */
export async function countDocuments(): Promise<Record<string, number>> {
  const db = mongoose.connection.db;
  assert.ok(db, 'the store is connected');
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = await db.collection(name).countDocuments({});
  return counts;
}

/** Collections whose count changed between two snapshots, with before → after. */
export function changedCounts(
  before: Record<string, number>,
  after: Record<string, number>,
  allowed: (name: string) => boolean = () => false,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (allowed(name)) continue;
    if ((before[name] ?? 0) !== (after[name] ?? 0)) out[name] = `${before[name] ?? 0} → ${after[name] ?? 0}`;
  }
  return out;
}
