import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { Supporter, one } from '../helpers/ledger.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eraseForm, give, outbox, post, requestRightsLink } from './helpers.js';

let server: TestServer;
const known = 'known.reader@example.com';
const rightsRequests = () => mongoose.connection.collection('rightsrequests');

before(async () => {
  server = await startTestServer({
    rights: {
      linkLifetimeMinutes: 1440,
      rateLimits: {
        perIp: { points: 1000, durationSeconds: 600 },
        perEmail: { points: 3, durationSeconds: 3600 },
      },
    },
  });
  await give(server, { email: known });
});
after(() => server.close());

/** The page without what differs per request anyway (the request id in a comment, nonces). */
const comparable = (html: string) => html.replace(/[A-Za-z0-9_-]{16,}/g, '…');

describe('asking for a link', () => {
  test('answers a known and an unknown address with the same page, and mails only the known one', async () => {
    const before = (await outbox(server.outboxDir)).length;
    const a = await post(`${server.baseUrl}/rights`, { email: known });
    const b = await post(`${server.baseUrl}/rights`, { email: 'nobody.here@example.com' });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const [pageA, pageB] = [await a.text(), await b.text()];
    assert.equal(comparable(pageA), comparable(pageB));
    assert.match(pageA, /If we hold data for that address/);
    assert.equal(a.headers.get('cache-control'), b.headers.get('cache-control'));
    await server.runtime.rights.service.idle();
    const mails = (await outbox(server.outboxDir)).slice(before);
    assert.deepEqual(
      mails.map((m) => m.to),
      [known],
    );
    const unknownLog = await server.runtime.rights.listRequests({ email: 'nobody.here@example.com' });
    assert.deepEqual(
      unknownLog.map((r) => [r.type, r.known]),
      [['link_requested', false]],
    );
  });

  test('is offered on /privacy and on the manage page, which opens the rights page directly', async () => {
    const privacy = await (await fetch(`${server.baseUrl}/privacy`)).text();
    assert.match(privacy, /<form class="rights-request-form" method="post" action="\/rights">/);
    const supporter = await one(Supporter, { email: known });
    // The link mailed by the test before revoked every link issued up to its own issue time, which
    // may be a second ahead of now: a current link is issued no earlier.
    const validFrom = (supporter!.linksValidFrom as Date | undefined)?.getTime() ?? 0;
    const manage = server.runtime.manageLinks.tokenFor(
      String(supporter!._id),
      new Date(Math.max(Date.now(), validFrom)),
    );
    const html = await (await fetch(`${server.baseUrl}/manage/${manage}`)).text();
    assert.match(html, new RegExp(`href="/manage/${manage}/rights"`));
    const res = await fetch(`${server.baseUrl}/manage/${manage}/rights`, { redirect: 'manual' });
    assert.equal(res.status, 303);
    const page = await fetch(new URL(res.headers.get('location')!, server.baseUrl));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Download my data/);
  });

  test('refuses a missing or invalid address with a 400 page, and logs nothing', async () => {
    const logged = await rightsRequests().countDocuments();
    const bodies: Array<Record<string, string>> = [{}, { email: 'not-an-address' }, { email: '' }];
    for (const fields of bodies) {
      const res = await post(`${server.baseUrl}/rights`, fields);
      assert.equal(res.status, 400);
      assert.match(await res.text(), /Please enter the email address you gave with/);
    }
    await server.runtime.rights.service.idle();
    assert.equal(await rightsRequests().countDocuments(), logged);
  });

  test('refuses operators and repeated or unknown fields with 400', async () => {
    const logged = await rightsRequests().countDocuments();
    const bodies: Array<Record<string, string | string[]>> = [
      { 'email[$ne]': 'x' },
      { email: [known, 'other@example.com'] },
      { email: known, extra: '1' },
    ];
    for (const fields of bodies) {
      assert.equal((await post(`${server.baseUrl}/rights`, fields)).status, 400);
    }
    await server.runtime.rights.service.idle();
    assert.equal(await rightsRequests().countDocuments(), logged);
  });

  test('refuses a cross-site post with 403 and records nothing', async () => {
    const logged = await rightsRequests().countDocuments();
    const mails = (await outbox(server.outboxDir)).length;
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'null', 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of foreign) {
      assert.equal((await post(`${server.baseUrl}/rights`, { email: known }, headers)).status, 403);
    }
    await server.runtime.rights.service.idle();
    assert.equal(await rightsRequests().countDocuments(), logged);
    assert.equal((await outbox(server.outboxDir)).length, mails);
  });

  test('limits requests per address, counting plus-addressing and case as one address', async () => {
    const address = 'limited.reader@example.com';
    const statuses = [];
    for (const email of [address, 'Limited.Reader@example.com', 'limited.reader+1@example.com', address]) {
      statuses.push((await post(`${server.baseUrl}/rights`, { email })).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const limited = await post(`${server.baseUrl}/rights`, { email: address });
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.match(await limited.text(), /Too many requests for this address/);
    const counters = await mongoose.connection.collection('ratelimits_rights_link_email').find({}).toArray();
    assert.ok(counters.length > 0);
    assert.ok(!JSON.stringify(counters).includes('limited.reader'), 'the counters hold no address');
  });
});

describe('links', () => {
  test('an expired link says so and offers a new one', async () => {
    const supporter = await one(Supporter, { email: known });
    const old = server.runtime.manageLinks.purposeToken(
      'rights',
      `${String(supporter!._id)}:email_link`,
      60,
      new Date(Date.now() - 2 * 3_600_000),
    );
    const res = await fetch(`${server.baseUrl}/rights/${old}`);
    assert.equal(res.status, 410);
    const html = await res.text();
    assert.match(html, /This link has expired/);
    assert.match(html, /action="\/rights"/);
    assert.equal((await fetch(`${server.baseUrl}/rights/${old}/export`)).status, 410);
  });

  test('a forged or altered link says it is not valid, and a manage token does not open it', async () => {
    const link = await requestRightsLink(server, known);
    const altered = link.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const res = await fetch(altered);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /This link is not valid/);
    const supporter = await one(Supporter, { email: known });
    // The link mailed by the test before revoked every link issued up to its own issue time, which
    // may be a second ahead of now: a current link is issued no earlier.
    const validFrom = (supporter!.linksValidFrom as Date | undefined)?.getTime() ?? 0;
    const manage = server.runtime.manageLinks.tokenFor(
      String(supporter!._id),
      new Date(Math.max(Date.now(), validFrom)),
    );
    assert.equal((await fetch(`${server.baseUrl}/rights/${manage}`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/rights/${manage}/export`)).status, 404);
  });

  test('erasure needs the page’s form token and the confirmation box, and refuses cross-site posts', async () => {
    const link = await requestRightsLink(server, known);
    const { action, formToken } = await eraseForm(link);
    assert.equal((await post(action, { confirm: 'yes' })).status, 403);
    assert.equal((await post(action, { formToken: 'x'.repeat(43), confirm: 'yes' })).status, 403);
    assert.equal((await post(action, { formToken })).status, 400);
    assert.equal((await post(action, { formToken, confirm: 'yes', 'x[$gt]': '' })).status, 400);
    assert.equal(
      (await post(action, { formToken, confirm: 'yes' }, { 'sec-fetch-site': 'cross-site' })).status,
      403,
    );
    const supporter = await one(Supporter, { email: known });
    assert.ok(supporter && !supporter.erasedAt, 'nothing was erased');
    assert.equal(await mongoose.connection.collection('erasures').countDocuments(), 0);
  });
});
