import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import request from 'supertest';
import {
  STRONG_PASSWORD,
  createStaff,
  csrfFrom,
  hours,
  outboxMessages,
  postLogin,
  signedInAdmin,
  signedInFinance,
  signInWithCode,
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

const staffusers = () => mongoose.connection.collection('staffusers');

async function invite(email: string, role = 'finance') {
  const page = await admin.agent.get('/staff/users').expect(200);
  const res = await admin.agent
    .post('/staff/users/invite')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), email, role, name: 'New Colleague' })
    .expect(200);
  const link = /id="invite-link"[^>]*value="([^"]+)"/.exec(res.text)?.[1]?.replace(/&amp;/g, '&');
  assert.ok(link, 'the admin sees the invitation link');
  return { link, path: link.replace(/^https?:\/\/[^/]+/, ''), page: res };
}

async function accept(path: string, password = STRONG_PASSWORD, confirmation = password) {
  const agent = request.agent(h.app);
  const page = await agent.get(path);
  if (page.status !== 200) return page;
  const token = new URL(path, 'http://x').searchParams.get('token')!;
  return agent
    .post('/staff/invitation')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), token, password, confirmation });
}

async function adminForm(path: string, fields: Record<string, string>, agent = admin.agent) {
  const page = await agent.get('/staff/users');
  const token = page.status === 200 ? csrfFrom(page.text) : 'none';
  return agent
    .post(path)
    .type('form')
    .send({ _csrf: token, ...fields });
}

describe('Invitations', () => {
  it('invites a finance member by email; the link sets the password once, and they can sign in', async () => {
    const email = uniqueEmail('invitee');
    const { link, path } = await invite(email);
    const mail = (await outboxMessages(h.outboxDir)).find((m) => m.includes(email));
    assert.ok(mail, 'the invitation is in the outbox');
    assert.ok(
      mail
        .replace(/=\r?\n/g, '')
        .replace(/=3D/g, '=')
        .includes(link),
      'the email carries the link',
    );

    const page = await request(h.app).get(path).expect(200);
    assert.match(page.text, /invited to the staff area as <strong>finance<\/strong>/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    const done = await accept(path);
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, '/staff/login?welcome=1');
    const again = await request(h.app).get(path).expect(403);
    assert.match(again.text, /already been used/);
    const signIn = await postLogin(request.agent(h.app), email, STRONG_PASSWORD);
    assert.equal(signIn.headers.location, '/staff');
  });

  it('refuses an expired invitation', async () => {
    const { path } = await invite(uniqueEmail('late'));
    h.clock.advance(hours(73));
    const res = await request(h.app).get(path).expect(403);
    assert.match(res.text, /invitation has expired/);
    // Three days on, the admin's own session has ended too: sign in again for the tests that follow.
    await admin.agent.get('/staff/users').expect(303);
    admin.agent = await signInWithCode(h, admin);
  });

  it('refuses an altered invitation: another account id, another expiry, or a changed signature', async () => {
    const { path } = await invite(uniqueEmail('altered'));
    const token = new URL(path, 'http://x').searchParams.get('token')!;
    const [id, expires, nonce, signature] = token.split('.');
    const other = await createStaff(h, 'finance', 'other');
    const altered = [
      `${other.id}.${expires}.${nonce}.${signature}`,
      `${id}.${Number(expires) + 86_400 * 30}.${nonce}.${signature}`,
      `${id}.${expires}.${nonce}.${signature!.slice(0, -2)}AA`,
      'not-a-token',
    ];
    for (const t of altered) {
      const res = await request(h.app)
        .get(`/staff/invitation?token=${encodeURIComponent(t)}`)
        .expect(403);
      assert.match(res.text, /not valid/);
    }
  });

  it('replaces an earlier link when the same person is invited again', async () => {
    const email = uniqueEmail('twice');
    const first = await invite(email);
    const second = await invite(email, 'admin');
    await request(h.app).get(first.path).expect(403);
    const page = await request(h.app).get(second.path).expect(200);
    assert.match(page.text, /as <strong>admin<\/strong>/);
  });

  it('keeps the invitation open when the password is too short or common, and says why', async () => {
    const { path } = await invite(uniqueEmail('weak'));
    const short = await accept(path, 'short');
    assert.equal(short.status, 400);
    assert.match(short.text, /at least 12 characters/);
    const common = await accept(path, 'password1234');
    assert.match(common.text, /most common/);
    const differ = await accept(path, STRONG_PASSWORD, `${STRONG_PASSWORD}!`);
    assert.match(differ.text, /not the same/);
    assert.equal((await accept(path)).status, 303);
  });

  it('refuses to invite someone who already has an account', async () => {
    const existing = await createStaff(h, 'finance', 'existing');
    const page = await admin.agent.get('/staff/users');
    const res = await admin.agent
      .post('/staff/users/invite')
      .type('form')
      .send({ _csrf: csrfFrom(page.text), email: existing.email, role: 'finance' })
      .expect(409);
    assert.match(res.text, /already has a staff account/);
    assert.match(res.text, /<nav class="staff-nav"/, 'the error page keeps the staff navigation');
  });

  it('answers an invitation form with an operator object or a repeated field with 400 and writes nothing', async () => {
    const before = await staffusers().countDocuments();
    const page = await admin.agent.get('/staff/users');
    const token = csrfFrom(page.text);
    await admin.agent
      .post('/staff/users/invite')
      .type('form')
      .send(`_csrf=${token}&email[$gt]=&role=finance`)
      .expect(400);
    await admin.agent
      .post('/staff/users/invite')
      .type('form')
      .send(`_csrf=${token}&email=a%40x.example&role=finance&role=admin`)
      .expect(400);
    await admin.agent
      .post('/staff/users/invite')
      .type('form')
      .send(`_csrf=${token}&email=a%40x.example&role=owner`)
      .expect(400);
    assert.equal(await staffusers().countDocuments(), before);
  });
});

describe('Roles and disabled accounts', () => {
  it('shows finance a 403 page with the staff navigation on admin pages, and refuses their admin posts', async () => {
    const finance = await signedInFinance(h);
    const page = await finance.agent.get('/staff/users').set('Accept', 'text/html').expect(403);
    assert.match(page.text, /for admins only/);
    assert.match(page.text, /<nav class="staff-nav"/);
    await finance.agent.get('/staff/audit').expect(403);
    const home = await finance.agent.get('/staff');
    const before = await staffusers().countDocuments();
    await finance.agent
      .post('/staff/users/invite')
      .type('form')
      .send({ _csrf: csrfFrom(home.text), email: uniqueEmail('sneaky'), role: 'admin' })
      .expect(403);
    assert.equal(await staffusers().countDocuments(), before);
  });

  it('ends a disabled member’s session at their next request, and refuses their sign-in', async () => {
    const finance = await signedInFinance(h);
    await finance.agent.get('/staff').expect(200);
    const res = await adminForm(`/staff/users/${finance.id}/status`, { status: 'disabled' });
    assert.equal(res.status, 303);
    const next = await finance.agent.get('/staff').expect(303);
    assert.match(next.headers.location!, /^\/staff\/login/);
    assert.equal((await postLogin(request.agent(h.app), finance.email, finance.password)).status, 401);
    await adminForm(`/staff/users/${finance.id}/status`, { status: 'active' });
    assert.equal((await postLogin(request.agent(h.app), finance.email, finance.password)).status, 303);
  });

  it('applies a role change from the next request on', async () => {
    const finance = await signedInFinance(h);
    await finance.agent.get('/staff/users').expect(403);
    await adminForm(`/staff/users/${finance.id}/role`, { role: 'admin' });
    // Now an admin, who must enrol before anything else.
    const res = await finance.agent.get('/staff/users').expect(303);
    assert.equal(res.headers.location, '/staff/account/two-factor');
  });
});
