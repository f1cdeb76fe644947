import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import request from 'supertest';
import {
  csrfFrom,
  postLogin,
  signInWithCode,
  signedInAdmin,
  startStaffHarness,
  uniqueEmail,
  type StaffHarness,
} from './helpers.js';

let h: StaffHarness;
let admin: Awaited<ReturnType<typeof signedInAdmin>>;

before(async () => {
  h = await startStaffHarness();
  admin = await signedInAdmin(h);
});
after(() => h.close());

const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

describe('Audit log', () => {
  it('records who did what, when and from where for sign-in, invitation, role change, disabling and sign-out', async () => {
    const email = uniqueEmail('audited');
    let page = await admin.agent.get('/staff/users');
    const invited = await admin.agent
      .post('/staff/users/invite')
      .set('User-Agent', CHROME)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), email, role: 'finance' })
      .expect(200);
    const accountId = /\/staff\/invitation\?token=([a-f0-9]{24})\./.exec(invited.text)?.[1];
    assert.ok(accountId);
    page = await admin.agent.get('/staff/users');
    await admin.agent
      .post(`/staff/users/${accountId}/role`)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), role: 'admin' })
      .expect(303);
    await admin.agent
      .post(`/staff/users/${accountId}/status`)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), status: 'disabled' })
      .expect(303);
    await postLogin(request.agent(h.app), email, 'never had a password');

    const { entries } = await h.staff.audit.list({ limit: 20 });
    const actions = entries.map((e) => e.action);
    for (const action of [
      'staff.signed_in',
      'staff.two_factor_enrolled',
      'staff.invited',
      'staff.role_changed',
      'staff.disabled',
      'staff.sign_in_failed',
    ]) {
      assert.ok(actions.includes(action), `${action} is recorded`);
    }
    const invite = entries.find((e) => e.action === 'staff.invited')!;
    assert.deepEqual(invite.actor, { kind: 'staff', id: admin.id, email: admin.email, role: 'admin' });
    assert.deepEqual(invite.target, { type: 'staff', id: accountId, label: email });
    assert.equal(invite.details?.role, 'finance');
    assert.equal(invite.context?.userAgentFamily, 'Chrome on Linux');
    assert.match(String(invite.context?.ip), /127\.0\.0\.1/);
    assert.ok(invite.context?.requestId);
    const role = entries.find((e) => e.action === 'staff.role_changed')!;
    assert.deepEqual(role.details, { from: 'finance', to: 'admin' });
    // Newest first, numbered without gaps.
    assert.deepEqual(
      entries.map((e) => e.seq),
      [...entries].map((e) => e.seq).sort((a, b) => b - a),
    );

    const out = await admin.agent.get('/staff');
    await admin.agent
      .post('/staff/logout')
      .type('form')
      .send({ _csrf: csrfFrom(out.text) })
      .expect(303);
    const last = (await h.staff.audit.list({ limit: 1 })).entries[0]!;
    assert.equal(last.action, 'staff.signed_out');
    assert.equal(await h.staff.audit.verify(), null);
  });

  it('lists the log for admins, newest first, 50 to a page', async () => {
    for (let i = 0; i < 55; i += 1) {
      await h.staff.audit.record({ actor: { kind: 'cli' }, action: 'test.filler', details: { i } });
    }
    // Signed out at the end of the previous test: in again with a fresh code.
    const signedIn = await signInWithCode(h, admin);
    const first = await signedIn.get('/staff/audit').expect(200);
    const seqs = [...first.text.matchAll(/<td data-label="#">(\d+)<\/td>/g)].map((m) => Number(m[1]));
    assert.equal(seqs.length, 50);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
    );
    const older = /href="\/staff\/audit\?before=(\d+)"/.exec(first.text)?.[1];
    assert.equal(Number(older), seqs[49]);
    const second = await signedIn.get(`/staff/audit?before=${older}`).expect(200);
    const next = [...second.text.matchAll(/<td data-label="#">(\d+)<\/td>/g)].map((m) => Number(m[1]));
    assert.ok(next.length > 0 && next[0]! < seqs[49]!);
    await signedIn.get('/staff/audit?before=abc').expect(400);
  });

  it('numbers entries appended at the same moment one after another, and the chain still holds', async () => {
    const before = (await h.staff.audit.list({ limit: 1 })).entries[0]!.seq;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        h.staff.audit.record({ actor: { kind: 'cli' }, action: 'test.concurrent', details: { i } }),
      ),
    );
    const { entries } = await h.staff.audit.list({ limit: 12 });
    assert.deepEqual(
      entries.map((e) => e.seq),
      Array.from({ length: 12 }, (_, i) => before + 12 - i),
    );
    assert.equal(await h.staff.audit.verify(), null);
  });

  it('shows an edited entry as a break in the chain', async () => {
    const target = (await h.staff.audit.list({ limit: 5 })).entries[4]!;
    await mongoose.connection
      .collection('auditlog')
      .updateOne({ seq: target.seq }, { $set: { 'actor.email': 'someone-else@example.com' } });
    assert.equal(await h.staff.audit.verify(), target.seq);
  });
});
