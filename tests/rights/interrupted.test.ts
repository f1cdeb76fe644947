import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { createMailer, type Mailer } from '../../src/supporters/mailer.js';
import { LedgerEntry, Supporter, one } from '../helpers/ledger.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  collectionsMentioning,
  eraseForm,
  give,
  outboxMentioning,
  post,
  rightsLinkFor,
  settle,
} from './helpers.js';

let server: TestServer;
let outboxDir: string;
/** While set, mail about a finished erasure fails, as an SMTP server that went away would. */
let mailDown = false;

before(async () => {
  outboxDir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-rights-outbox-'));
  const outbox = createMailer({ smtpUrl: '', from: 'Test <test@example.com>', outboxDir });
  const mailer: Mailer = {
    async send(mail) {
      if (mailDown && /has been erased/.test(mail.subject)) throw new Error('SMTP connection lost');
      await outbox.send(mail);
    },
    describe: () => outbox.describe(),
    rewriteStored: (rewrite) => outbox.rewriteStored!(rewrite),
  };
  server = await startTestServer({}, { mailer });
});
after(async () => {
  await server.close();
  await rm(outboxDir, { recursive: true, force: true });
});

const erasures = () => mongoose.connection.collection('erasures');

test('an erasure interrupted midway is finished by a retry, each step done once', async () => {
  const email = 'interrupted.reader@example.com';
  await give(server, { email, name: 'Ida Interrupted', amount: '6' });
  const entries = await LedgerEntry.countDocuments({});
  await post(`${server.baseUrl}/rights`, { email });
  await server.runtime.rights.service.idle();
  const link = await rightsLinkFor(outboxDir, email);
  const { action, formToken } = await eraseForm(link);

  mailDown = true;
  const failed = await post(action, { formToken, confirm: 'yes' });
  assert.equal(failed.status, 303, 'the reader is sent to the page, which says it is under way');
  const marked = await erasures().findOne({});
  assert.equal(marked?.status, 'running');
  assert.deepEqual(marked?.done, ['subscriptions', 'supporter', 'checkouts', 'consent', 'webhooks']);
  assert.equal(marked?.subject?.email, email, 'the mark keeps what the remaining steps need');
  const supporter = await one(Supporter, { _id: new mongoose.Types.ObjectId(String(marked._id)) });
  assert.ok(supporter?.erasedAt, 'the supporter was pseudonymised before the failure');
  const page = await (await fetch(link)).text();
  assert.match(page, /Your erasure is under way/);

  // The retry waits out the failed attempt; the sweep takes it up (as it would after a crash).
  assert.deepEqual(await server.runtime.rights.sweep(), { resumed: 0, lateScrubbed: 0 });
  mailDown = false;
  const later = new Date(Date.now() + 60 * 60_000);
  const swept = await server.runtime.rights.sweep(later);
  assert.equal(swept.resumed, 1);
  await settle(server);

  const done = await erasures().findOne({});
  assert.equal(done?.status, 'done');
  assert.equal(done?.subject, undefined, 'the person’s own values are gone from the mark');
  assert.deepEqual(await collectionsMentioning(email), {});
  assert.deepEqual(await outboxMentioning(outboxDir, email), []);
  assert.equal(await LedgerEntry.countDocuments({}), entries);
  const log = await server.runtime.rights.listRequests({ email });
  assert.deepEqual(
    log.map((r) => r.type).filter((t) => t.startsWith('erasure')),
    ['erasure_done', 'erasure_requested'],
  );
  assert.match(await (await fetch(link)).text(), /Your data has been erased/);

  // Past the window for late webhook deliveries, the keyed hashes that recognised the person go.
  assert.ok((await erasures().findOne({}))?.hashes.emails.length);
  await server.runtime.rights.sweep(new Date(Date.now() + 5 * 86_400_000));
  assert.deepEqual((await erasures().findOne({}))?.hashes, { emails: [], values: [] });
});

test('two erasure requests at once run it once', async () => {
  const email = 'double.click@example.com';
  await give(server, { email, amount: '4' });
  await post(`${server.baseUrl}/rights`, { email });
  await server.runtime.rights.service.idle();
  const link = await rightsLinkFor(outboxDir, email);
  const { action, formToken } = await eraseForm(link);
  const answers = await Promise.all([
    post(action, { formToken, confirm: 'yes' }),
    post(action, { formToken, confirm: 'yes' }),
  ]);
  assert.deepEqual(
    answers.map((a) => a.status),
    [303, 303],
  );
  await settle(server);
  const log = await server.runtime.rights.listRequests({ email });
  assert.equal(log.filter((r) => r.type === 'erasure_requested').length, 1);
  assert.equal(log.filter((r) => r.type === 'erasure_done').length, 1);
  assert.deepEqual(await collectionsMentioning(email), {});
});
