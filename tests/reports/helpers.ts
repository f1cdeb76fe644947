/**
 * Signing in to the whole product's staff area (runtime.app) for the reports and operations
 * tests, and reading a CSV back by RFC 4180's rules.
 */
import assert from 'node:assert/strict';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { totpCode } from '../../src/staff/second-factor.js';

export const PASSWORD = 'correct lantern 42 harbour';
let counter = 0;

export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, 'the page has a form token');
  return match[1]!;
}

export type Agent = ReturnType<typeof request.agent>;

async function login(runtime: Runtime, email: string): Promise<{ agent: Agent; location: string }> {
  const agent = request.agent(runtime.app);
  const page = await agent.get('/staff/login').expect(200);
  const res = await agent
    .post('/staff/login')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), email, password: PASSWORD, next: '/staff' })
    .expect(303);
  return { agent, location: res.headers.location as string };
}

/** A finance member signed in (no second factor needed for finance). */
export async function signedInFinance(runtime: Runtime): Promise<Agent> {
  counter += 1;
  const email = `finance-${counter}-${Date.now().toString(36)}@staff.example`;
  await runtime.staff.service.createAccount(
    { email, password: PASSWORD, role: 'finance', name: 'Fran Finance' },
    { kind: 'cli' },
  );
  const { agent, location } = await login(runtime, email);
  assert.equal(location, '/staff');
  return agent;
}

/** An admin signed in, with the second factor enrolled through the pages as admins must. */
export async function signedInAdmin(runtime: Runtime): Promise<Agent> {
  counter += 1;
  const email = `admin-${counter}-${Date.now().toString(36)}@staff.example`;
  await runtime.staff.service.createAccount(
    { email, password: PASSWORD, role: 'admin', name: 'Ada Admin' },
    { kind: 'cli' },
  );
  const { agent, location } = await login(runtime, email);
  assert.equal(location, '/staff/account/two-factor');
  const page = await agent.get('/staff/account/two-factor').expect(200);
  const secret = /<code class="staff-secret">([A-Z2-7 ]+)<\/code>/.exec(page.text)?.[1]?.replace(/ /g, '');
  assert.ok(secret, 'the enrolment page shows the key');
  await agent
    .post('/staff/account/two-factor')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), code: totpCode(secret, new Date()) })
    .expect(200);
  return agent;
}

/** Parses CSV text as RFC 4180 says: CRLF between records, quoted fields with "" for a quote. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 1;
    } else {
      assert.ok(c !== '\n' && c !== '\r', `a bare line break outside quotes at ${i}`);
      field += c;
    }
  }
  if (field !== '' || record.length) {
    record.push(field);
    records.push(record);
  }
  return records;
}

/** Rows as objects keyed by the header row. */
export function csvObjects(text: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(text);
  assert.ok(header, 'the CSV has a header row');
  return rows.map((row) => {
    assert.equal(row.length, header.length, `a row with ${row.length} cells: ${row.join(',')}`);
    return Object.fromEntries(header.map((name, i) => [name, row[i]!]));
  });
}

/** Like assert.match on a whole page, but a failure names the pattern, not the page. */
export function has(text: string, pattern: RegExp, what = 'the page'): void {
  assert.ok(pattern.test(text), `${what} should match ${String(pattern)}`);
}

export function hasNot(text: string, pattern: RegExp, what = 'the page'): void {
  assert.ok(!pattern.test(text), `${what} should not match ${String(pattern)}`);
}
