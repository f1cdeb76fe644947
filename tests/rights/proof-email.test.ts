import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { signedInAdmin } from '../reports/helpers.js';
import { acceptCookies, consentIdOf, give } from './helpers.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const dbName = `readerfund_proof_${randomUUID().slice(0, 8)}`;
let server: TestServer;

before(async () => {
  server = await startTestServer({}, { dbName });
});
after(() => server.close());

test('`consent proof <email>` prints the chains of the consent ids linked to that supporter', async () => {
  const email = 'proof.reader@example.com';
  const cookie = await acceptCookies(server);
  await give(server, { email, cookie, amount: '3' });
  await give(server, { email: 'no.cookie@example.com', amount: '3' });
  const env = {
    ...process.env,
    NODE_ENV: 'test',
    MONGODB_URI: `${server.runtime.store.uri}/${dbName}`,
    LOG_LEVEL: 'silent',
  };
  const cli = ['--import', 'tsx', 'src/consent/cli.ts', 'proof'];
  const proof = await run(process.execPath, [...cli, email.toUpperCase()], { cwd: root, env });
  assert.match(proof.stdout, /1 linked consent id\(s\)/);
  assert.match(proof.stdout, /Linked .* through a checkout/);
  assert.match(
    proof.stdout,
    new RegExp(`Consent id ${consentIdOf(cookie)}: 1 record\\(s\\)\\nChain: VERIFIED`),
  );
  assert.match(proof.stdout, /source=accept_all/);

  const none = await run(process.execPath, [...cli, 'no.cookie@example.com'], { cwd: root, env }).then(
    () => assert.fail('a supporter without linked consent ids has no proof to give'),
    (err: { code: number; stdout: string }) => err,
  );
  assert.equal(none.code, 2);
  assert.match(none.stdout, /none of its payments was started with a consent cookie/);
});

test('an admin finds the consent ids of a supporter by email on the operations page, and opens the proof', async () => {
  const email = 'ops.lookup@example.com';
  const cookie = await acceptCookies(server);
  await give(server, { email, cookie, amount: '4' });
  const admin = await signedInAdmin(server.runtime);
  const found = await admin.get(
    `/staff/operations/consent?email=${encodeURIComponent(' OPS.Lookup@example.com ')}`,
  );
  assert.equal(found.status, 200);
  assert.match(found.text, /1 consent id\(s\) linked to ops\.lookup@example\.com/);
  const href = `/staff/operations/consent?id=${consentIdOf(cookie)}`;
  assert.ok(found.text.includes(`href="${href}"`), 'the id links to its proof');
  const proof = await admin.get(href).expect(200);
  assert.match(proof.text, /<strong>the chain verifies<\/strong>/);

  const unknown = await admin.get('/staff/operations/consent?email=nobody%40example.com').expect(200);
  assert.match(unknown.text, /No consent id is linked to nobody@example\.com/);
  const bad = await admin.get('/staff/operations/consent?email=%3Cb%3Enot-an-address').expect(400);
  assert.match(bad.text, /Enter the email address the reader gave/);
  assert.doesNotMatch(bad.text, /<b>not-an-address/);
});
