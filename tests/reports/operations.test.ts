import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import Stripe from 'stripe';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { csrfFrom, has, hasNot, signedInAdmin, signedInFinance, type Agent } from './helpers.js';

let runtime: Runtime;
let admin: Agent;
let finance: Agent;
const events = () => mongoose.connection.collection('webhookevents');
const auditlog = () => mongoose.connection.collection('auditlog');
const uid = () => randomUUID().replace(/-/g, '').slice(0, 16);

function stripeEvent(type: string, object: Record<string, unknown>): string {
  return JSON.stringify(
    {
      id: `evt_ops_${uid()}`,
      object: 'event',
      created: Math.floor(Date.now() / 1000),
      type,
      data: { object },
      livemode: false,
    },
    null,
    2,
  );
}

function deliver(payload: string) {
  const secret = runtime.payments.simulator!.secrets.stripeWebhookSecret;
  return request(runtime.app)
    .post('/webhooks/stripe')
    .set('Content-Type', 'application/json; charset=utf-8')
    .set('Stripe-Signature', Stripe.webhooks.generateTestHeaderString({ payload, secret }))
    .send(payload);
}

const refundOfUnknownPayment = () =>
  stripeEvent('charge.refunded', {
    id: `ch_${uid()}`,
    object: 'charge',
    amount: 800,
    amount_refunded: 800,
    currency: 'usd',
    refunded: true,
    payment_intent: `pi_${uid()}`,
    metadata: {},
  });

let ignoredId: string;
let failedId: string;
let deadId: string;

before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
  // An event of a type the ledger does not use, carrying markup in a payer's name.
  const ignored = stripeEvent('customer.updated', {
    id: `cus_${uid()}`,
    object: 'customer',
    email: 'reader@example.com',
    name: '<script>alert("x")</script> Reader',
  });
  assert.equal((await deliver(ignored)).status, 200);
  // Refunds of payments nobody knows: kept as failed, to be retried.
  assert.equal((await deliver(refundOfUnknownPayment())).status, 500);
  assert.equal((await deliver(refundOfUnknownPayment())).status, 500);
  const stored = await events().find({}).sort({ receivedAt: 1 }).toArray();
  ignoredId = String(stored.find((e) => e.status === 'ignored')!._id);
  const failed = stored.filter((e) => e.status === 'failed');
  failedId = String(failed[0]!._id);
  deadId = String(failed[1]!._id);
  // What the sweep leaves after the last retry (12 attempts): set directly rather than waited for.
  await events().updateOne(
    { _id: failed[1]!._id },
    { $set: { attempts: 12 }, $unset: { nextAttemptAt: '' } },
  );
  admin = await signedInAdmin(runtime);
  finance = await signedInFinance(runtime);
});
after(() => runtime.stop());

describe('the webhook inbox', () => {
  test('shows how many events are failed, dead-lettered and ignored', async () => {
    const html = (await admin.get('/staff/operations').expect(200)).text;
    has(html, /failed \(will be retried\)<\/a>: <strong>2<\/strong>/);
    has(html, /dead letter \(no retries left\)<\/a>: <strong>1<\/strong>/);
    has(html, /ignored \(no payment facts\)<\/a>: <strong>1<\/strong>/);
    has(html, /<a href="\/staff\/audit">/);
  });

  test('lists events by status and provider', async () => {
    const failed = (await admin.get('/staff/operations/webhooks').expect(200)).text;
    assert.equal(failed.match(/charge\.refunded<\/a>/g)?.length, 2);
    has(failed, /not recorded yet/);
    const dead = (await admin.get('/staff/operations/webhooks?status=dead').expect(200)).text;
    assert.equal(dead.match(/charge\.refunded<\/a>/g)?.length, 1);
    has(dead, new RegExp(`/staff/operations/webhooks/${deadId}`));
    has(dead, /<strong>dead letter<\/strong>/);
    const ignored = (await admin.get('/staff/operations/webhooks?status=ignored&provider=stripe').expect(200))
      .text;
    has(ignored, /customer\.updated<\/a>/);
    const paypal = (await admin.get('/staff/operations/webhooks?status=ignored&provider=paypal').expect(200))
      .text;
    has(paypal, /No events with this status/);
    await admin.get('/staff/operations/webhooks?status=lost').expect(400);
  });

  test('shows the raw payload escaped, and records that it was read', async () => {
    const res = await admin.get(`/staff/operations/webhooks/${ignoredId}`).expect(200);
    // The JSON string as it was received (its quotes escaped by JSON), then escaped for HTML.
    has(
      res.text,
      /&quot;name&quot;: &quot;&lt;script&gt;alert\(&#92;&quot;x&#92;&quot;\)&lt;\/script&gt; Reader&quot;/,
    );
    hasNot(res.text, /<script>alert/);
    const entry = await auditlog()
      .find({ action: 'webhooks.payload_viewed' })
      .sort({ seq: -1 })
      .limit(1)
      .next();
    assert.equal(entry?.target.id, ignoredId);
    assert.equal(entry?.actor.role, 'admin');
    await admin.get('/staff/operations/webhooks/not-an-id').expect(404);
    await admin.get(`/staff/operations/webhooks/${new mongoose.Types.ObjectId().toHexString()}`).expect(404);
  });

  test('replays an event from its page with the form token, as npm run webhooks does, and audits it', async () => {
    const page = await admin.get(`/staff/operations/webhooks/${ignoredId}`).expect(200);
    const res = await admin
      .post(`/staff/operations/webhooks/${ignoredId}/replay`)
      .type('form')
      .send({ _csrf: csrfFrom(page.text) })
      .expect(303);
    assert.equal(res.headers.location, `/staff/operations/webhooks/${ignoredId}?replayed=ignored`);
    const after = await admin.get(res.headers.location).expect(200);
    has(after.text, /Replayed: the event is now <strong>ignored<\/strong>/);
    assert.equal((await events().findOne({ _id: new mongoose.Types.ObjectId(ignoredId) }))?.attempts, 2);
    const entry = await auditlog().find({ action: 'webhooks.replayed' }).sort({ seq: -1 }).limit(1).next();
    assert.deepEqual([entry?.target.id, entry?.details.status], [ignoredId, 'ignored']);

    const failedPage = await admin.get(`/staff/operations/webhooks/${failedId}`).expect(200);
    const again = await admin
      .post(`/staff/operations/webhooks/${failedId}/replay`)
      .type('form')
      .send({ _csrf: csrfFrom(failedPage.text) })
      .expect(303);
    assert.match(again.headers.location!, /replayed=failed$/, 'the payment is still unknown');
  });

  test('refuses a replay posted from another site, without the token, or by finance', async () => {
    const page = await admin.get(`/staff/operations/webhooks/${ignoredId}`).expect(200);
    const token = csrfFrom(page.text);
    const before = await auditlog().countDocuments({ action: 'webhooks.replayed' });
    const forged = await admin
      .post(`/staff/operations/webhooks/${ignoredId}/replay`)
      .set('Origin', 'http://evil.example')
      .set('Sec-Fetch-Site', 'cross-site')
      .type('form')
      .send({ _csrf: token })
      .expect(403);
    has(forged.text, /only be sent from our own pages/);
    const tokenless = await admin
      .post(`/staff/operations/webhooks/${ignoredId}/replay`)
      .type('form')
      .send({})
      .expect(403);
    has(tokenless.text, /This form has expired/);
    const financePage = await finance.get('/staff/reports').expect(200);
    await finance
      .post(`/staff/operations/webhooks/${ignoredId}/replay`)
      .type('form')
      .send({ _csrf: csrfFrom(financePage.text) })
      .expect(403);
    assert.equal(await auditlog().countDocuments({ action: 'webhooks.replayed' }), before);
  });
});

describe('reconciliation and rollup checks', () => {
  test('show the latest findings on the operations pages', async () => {
    const none = (await admin.get('/staff/operations').expect(200)).text;
    has(none, /No reconciliation has run yet/);
    has(none, /No rollup check has run yet/);
    await runtime.webhooks.reconcile({ days: 2 });
    await runtime.reports.rederive();
    const overview = (await admin.get('/staff/operations').expect(200)).text;
    has(overview, /the ledger matched the providers\./);
    has(overview, /<strong>no drift\.<\/strong>/);
    const runs = (await admin.get('/staff/operations/reconciliations').expect(200)).text;
    has(runs, /stripe: \d+ checked/);
    const checks = (await admin.get('/staff/operations/rollup-checks').expect(200)).text;
    has(checks, /\(command\): no drift/);
  });
});

describe('consent proof', () => {
  test('shows the proof of a consent id with the consent feature’s own check, and records the lookup', async () => {
    const answer = await request(runtime.app)
      .post('/consent')
      .type('form')
      .send({ choice: 'reject_all', texts: runtime.consent.service.texts.hash, return: '/' })
      .expect(303);
    const cookie = ([] as string[])
      .concat(answer.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('rf_consent='));
    const consentId = cookie!.slice('rf_consent='.length).split('.')[0]!;
    const res = await admin.get(`/staff/operations/consent?id=${consentId}`).expect(200);
    has(res.text, /<strong>the chain verifies<\/strong>/);
    has(res.text, /analytics: denied/);
    const entry = await auditlog().find({ action: 'consent.proof_viewed' }).sort({ seq: -1 }).limit(1).next();
    assert.deepEqual([entry?.target.id, entry?.details.verified], [consentId, true]);
  });

  test('says so when a well-formed id has no records, and refuses one that is not an id', async () => {
    const unknown = await admin.get(`/staff/operations/consent?id=${'A'.repeat(22)}`).expect(200);
    has(unknown.text, /nothing recorded under this id/);
    const bad = await admin.get('/staff/operations/consent?id=<b>x</b>').expect(400);
    has(bad.text, /A consent id is 22 characters/);
    hasNot(bad.text, /<b>x<\/b>/);
  });
});
