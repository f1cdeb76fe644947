import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerEntry, Rollup, Subscription, Supporter, one } from '../helpers/ledger.js';
import type { PersonalDataExport } from '../../src/rights/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  acceptCookies,
  collectionsMentioning,
  consentIdOf,
  eraseForm,
  give,
  outbox,
  outboxMentioning,
  post,
  requestRightsLink,
  settle,
} from './helpers.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(() => server.close());

/** Ledger figures that erasure must leave exactly as they were. */
async function ledgerFigures() {
  const entries = await LedgerEntry.find({}, { _id: 0, key: 1, amountMinor: 1, currency: 1, occurredAt: 1 })
    .sort({ key: 1 })
    .lean();
  const rollups = await Rollup.find({}, { _id: 0, marks: 0 })
    .sort({ zone: 1, day: 1, provider: 1, planId: 1 })
    .lean();
  const money = rollups.map((r) => ({
    zone: r.zone,
    day: r.day,
    provider: r.provider,
    planId: r.planId,
    currency: r.currency,
    grossMinor: r.grossMinor,
    count: r.count,
    refundedMinor: r.refundedMinor,
    newSupporters: r.newSupporters,
  }));
  return { entries, total: entries.reduce((sum, e) => sum + e.amountMinor, 0), rollups, money };
}

describe('export', () => {
  const email = 'ada.export@example.com';
  let cookie: string;

  before(async () => {
    cookie = await acceptCookies(server);
    await give(server, { email, name: 'Ada Exportwell', amount: '12', cookie });
  });

  test('the export holds the reader’s profile, payments with ledger entries, receipts and consent history', async () => {
    const link = await requestRightsLink(server, email);
    const page = await fetch(link);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cache-control'), 'private, no-store');
    assert.match(await page.text(), /Download my data/);

    const res = await fetch(`${link}/export`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /attachment; filename="?personal-data-\d{4}-\d{2}-\d{2}\.json"?/,
    );
    const data = (await res.json()) as PersonalDataExport;
    assert.equal(data.format, 'readerfund.personal-data');
    assert.equal(data.formatVersion, 1);
    assert.equal(data.profile.email, email);
    assert.equal(data.profile.name, 'Ada Exportwell');
    assert.deepEqual(data.profile.totals, [{ amountMinor: 1200, currency: 'USD', amount: '12.00' }]);
    assert.equal(data.payments.length, 1);
    const payment = data.payments[0]!;
    assert.equal(payment.provider, 'stripe');
    assert.equal(payment.amountMinor, 1200);
    assert.equal(payment.amount, '12.00');
    assert.match(payment.providerPaymentId, /^pi_/);
    assert.equal(payment.ledgerEntries.length, 1);
    assert.equal(payment.ledgerEntries[0]!.type, 'payment');
    assert.equal(payment.ledgerEntries[0]!.amountMinor, 1200);
    assert.equal(data.receipts.length, 1);
    assert.equal(data.receipts[0]!.status, 'sent');
    assert.ok(data.receipts[0]!.sentAt);
    assert.equal(data.checkouts.length, 1);
    assert.equal(data.checkouts[0]!.consentId, consentIdOf(cookie));

    assert.equal(data.consent.length, 1, 'the consent id on the checkout is linked to the supporter');
    assert.equal(data.consent[0]!.consentId, consentIdOf(cookie));
    assert.equal(data.consent[0]!.chainVerifies, true);
    assert.equal(data.consent[0]!.records[0]!.source, 'accept_all');
    assert.equal(data.consent[0]!.records[0]!.choices.comments, 'granted');
    assert.deepEqual(data.requests.map((r) => r.type).sort(), [
      'export_downloaded',
      'link_requested',
      'link_sent',
    ]);
    assert.ok(data.about.payments, 'the document describes its sections');
  });

  test('every request is in the log, without the address itself', async () => {
    const log = await server.runtime.rights.listRequests({ email });
    assert.ok(log.length >= 3);
    assert.ok(log.every((entry) => entry.emailHash && !JSON.stringify(entry).includes(email)));
    assert.equal((await collectionsMentioning(email)).rightsrequests, undefined);
  });
});

describe('erasure', () => {
  const email = 'grace.erase@example.com';
  const name = 'Grace Erasewell';

  before(async () => {
    const cookie = await acceptCookies(server);
    // The address typed on our form goes onto the checkout and into the rate limiter's counters too.
    await give(server, { email, name, amount: '7', cookie, formEmail: email });
    await give(server, { email, name, amount: '9' });
  });

  test('removes the email from every collection and the outbox, while ledger totals and rollups stay', async () => {
    const mentioned = await collectionsMentioning(email);
    for (const collection of ['supporters', 'checkouts', 'webhookevents']) {
      assert.ok(mentioned[collection], `before erasure ${collection} mentions the address`);
    }
    assert.ok(
      (await outboxMentioning(server.outboxDir, email)).length >= 2,
      'the receipts are in the outbox',
    );
    const supporterBefore = await one(Supporter, { email });
    const figuresBefore = await ledgerFigures();

    const link = await requestRightsLink(server, email);
    const { action, formToken } = await eraseForm(link);
    const res = await post(action, { formToken, confirm: 'yes' });
    assert.equal(res.status, 303);
    await settle(server);

    assert.deepEqual(await collectionsMentioning(email), {}, 'no collection mentions the address');
    assert.deepEqual(await collectionsMentioning(name), {}, 'no collection mentions the name');
    assert.deepEqual(await outboxMentioning(server.outboxDir, email), []);
    assert.deepEqual(await outboxMentioning(server.outboxDir, name), []);

    const supporter = await one(Supporter, { _id: supporterBefore!._id });
    assert.match(String(supporter!.email), /^erased-[0-9a-f]{20}@invalid$/);
    assert.ok(supporter!.erasedAt);
    assert.equal(supporter!.name, undefined);
    assert.deepEqual(supporter!.totals, supporterBefore!.totals, 'the supporter totals stay');
    const figuresAfter = await ledgerFigures();
    assert.deepEqual(figuresAfter.entries, figuresBefore.entries, 'every ledger entry stays as it was');
    assert.equal(figuresAfter.total, figuresBefore.total);
    assert.deepEqual(figuresAfter.rollups, figuresBefore.rollups, 'the rollups are untouched');

    const page = await fetch(`${new URL(res.headers.get('location')!, link)}`);
    const html = await page.text();
    assert.match(html, /Your data has been erased/);
    assert.match(html, /records of your 2 payment\(s\)/);
    assert.match(html, /§ 257 HGB/);
    const confirmation = (await outbox(server.outboxDir)).find((m) => /has been erased/.test(m.subject));
    assert.ok(confirmation, 'a confirmation was mailed');
    assert.equal(confirmation.to, supporter!.email, 'our copy of it is addressed to the pseudonym');
    assert.match(confirmation.raw.replace(/=\n/g, ''), /Kept: the records of your 2 payment/);
  });

  test('an erased reader’s old links no longer open anything, and asking again changes nothing', async () => {
    const supporter = await one(Supporter, { erasedAt: { $exists: true } });
    const manage = server.runtime.manageLinks.tokenFor(String(supporter!._id));
    assert.equal((await fetch(`${server.baseUrl}/manage/${manage}`)).status, 410);
    const before = (await outbox(server.outboxDir)).length;
    const res = await post(`${server.baseUrl}/rights`, { email });
    assert.equal(res.status, 200);
    await server.runtime.rights.service.idle();
    assert.equal((await outbox(server.outboxDir)).length, before, 'nothing is mailed to an erased address');
    const log = await server.runtime.rights.listRequests({ email, type: 'erasure_done' });
    assert.equal(log.length, 1);
  });
});

describe('erasure of a monthly supporter', () => {
  const email = 'monthly.erase@example.com';

  before(async () => {
    await give(server, { email, plan: 'monthly-supporter', provider: 'paypal' });
  });

  test('cancels at the provider first and records the cancellation in the ledger', async () => {
    const sub = await one(Subscription, { provider: 'paypal', status: 'active' });
    assert.ok(sub);
    const entriesBefore = await LedgerEntry.countDocuments({});
    const link = await requestRightsLink(server, email);
    assert.match(await (await fetch(link)).text(), /first cancel your monthly support/);
    const { action, formToken } = await eraseForm(link);
    assert.equal((await post(action, { formToken, confirm: 'yes' })).status, 303);
    await settle(server);

    const after = await one(Subscription, { _id: sub._id });
    assert.equal(after!.status, 'cancelled');
    assert.ok(after!.cancelledAt);
    const provider = server.runtime.payments.providers.paypal!;
    const outcome = await provider.resolveCheckout(String(sub.providerSubscriptionId), 'month');
    assert.notEqual(outcome.status, 'paid', 'PayPal no longer reports it active');
    assert.equal(await LedgerEntry.countDocuments({}), entriesBefore, 'no money moved');
    // PayPal's cancellation notice arrived after the erasure, naming the subscriber: scrubbed too.
    assert.deepEqual(await collectionsMentioning(email), {});
    assert.deepEqual(await collectionsMentioning('Sandbox Buyer'), {});
  });
});
