import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import request from 'supertest';
import { totpCode } from '../../src/staff/second-factor.js';
import {
  createStaff,
  csrfFrom,
  enrolTotp,
  postLogin,
  signedInAdmin,
  signedInFinance,
  startStaffHarness,
  type StaffHarness,
} from './helpers.js';

let h: StaffHarness;
before(async () => {
  h = await startStaffHarness();
});
after(() => h.close());

async function codeStep(agent: ReturnType<typeof request.agent>, email: string, password: string) {
  const res = await postLogin(agent, email, password);
  assert.equal(res.status, 303);
  assert.match(res.headers.location!, /^\/staff\/login\/code\?next=/);
  const page = await agent.get(res.headers.location!).expect(200);
  return (code: string) =>
    agent
      .post('/staff/login/code')
      .type('form')
      .send({ _csrf: csrfFrom(page.text), code, next: '/staff/account' });
}

describe('Two-factor sign-in', () => {
  it('sends an admin without TOTP to enrol before anything else', async () => {
    const admin = await createStaff(h, 'admin');
    const agent = request.agent(h.app);
    const res = await postLogin(agent, admin.email, admin.password);
    assert.equal(res.headers.location, '/staff/account/two-factor');
    for (const path of ['/staff', '/staff/users', '/staff/audit']) {
      const blocked = await agent.get(path).expect(303);
      assert.equal(blocked.headers.location, '/staff/account/two-factor', path);
    }
    const page = await agent.get('/staff/account/two-factor').expect(200);
    assert.match(page.text, /<img class="staff-qr" src="data:image\/svg\+xml;base64,/);
    assert.match(page.text, /Admin accounts need two-factor sign-in/);
  });

  it('enrols with a code from the app, shows ten recovery codes once, and keeps the secret sealed at rest', async () => {
    const { agent, email } = await signedInFinance(h);
    const [secret, ...codes] = await enrolTotp(h, agent);
    assert.equal(new Set(codes).size, 10);
    const again = await agent.get('/staff/account/two-factor').expect(200);
    assert.match(again.text, /Two-factor sign-in is on/);
    assert.doesNotMatch(again.text, /staff-recovery-codes|<li><code>/);
    const doc = await mongoose.connection.collection('staffusers').findOne({ email });
    const stored = JSON.stringify(doc);
    assert.doesNotMatch(stored, new RegExp(secret!));
    for (const code of codes) assert.doesNotMatch(stored, new RegExp(code));
    assert.match(String(doc?.totp?.sealedSecret), /^v1\./);
  });

  it('refuses a wrong enrolment code and leaves TOTP off', async () => {
    const { agent, email } = await signedInFinance(h);
    const page = await agent.get('/staff/account/two-factor').expect(200);
    const res = await agent
      .post('/staff/account/two-factor')
      .type('form')
      .send({ _csrf: csrfFrom(page.text), code: '000000' })
      .expect(400);
    assert.match(res.text, /That code did not match/);
    const doc = await mongoose.connection.collection('staffusers').findOne({ email });
    assert.equal(doc?.totp?.sealedSecret, undefined);
  });

  it('signs in with a TOTP code after the password, and refuses the same code a second time', async () => {
    const { agent, email, password } = await signedInFinance(h);
    const [secret] = await enrolTotp(h, agent);
    h.clock.advance(30_000);
    const code = totpCode(secret!, h.clock.now());

    const first = request.agent(h.app);
    const send = await codeStep(first, email, password);
    await first.get('/staff').expect(303); // not signed in between password and code
    const ok = await send(code);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.location, '/staff/account');
    await first.get('/staff').expect(200);

    const second = request.agent(h.app);
    const replay = await (await codeStep(second, email, password))(code);
    assert.equal(replay.status, 401);
    assert.match(replay.text, /That code did not work/);
  });

  it('accepts each recovery code once, and says how many are left', async () => {
    const { agent, email, password } = await signedInFinance(h);
    const [, recovery] = await enrolTotp(h, agent);
    const once = request.agent(h.app);
    const ok = await (await codeStep(once, email, password))(recovery!.toUpperCase().replace(/-/g, ' '));
    assert.equal(ok.headers.location, '/staff/account?recoveryCodesLeft=9');
    const page = await once.get(ok.headers.location).expect(200);
    assert.match(page.text, /9 codes are left/);
    const twice = await (await codeStep(request.agent(h.app), email, password))(recovery!);
    assert.equal(twice.status, 401);
  });

  it('lets one of two simultaneous uses of the same recovery code through, never both', async () => {
    const { agent, id } = await signedInFinance(h);
    const [, recovery] = await enrolTotp(h, agent);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => h.staff.service.verifySecondFactor(id, recovery!, {})),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
  });

  it('lets one of two simultaneous uses of the same TOTP code through, never both', async () => {
    const { agent, id } = await signedInFinance(h);
    const [secret] = await enrolTotp(h, agent);
    h.clock.advance(30_000);
    const code = totpCode(secret!, h.clock.now());
    const results = await Promise.all(
      Array.from({ length: 4 }, () => h.staff.service.verifySecondFactor(id, code, {})),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
  });

  it('locks the second step after repeated wrong codes', async () => {
    const { agent, email, password } = await signedInFinance(h);
    const [secret] = await enrolTotp(h, agent);
    const fresh = request.agent(h.app);
    const send = await codeStep(fresh, email, password);
    let last;
    for (let i = 0; i < 5; i += 1) last = await send('123456');
    assert.ok(last);
    assert.match(last.text, /Too many failed attempts/);
    h.clock.advance(30_000);
    const right = await send(totpCode(secret!, h.clock.now()));
    assert.equal(right.status, 401);
  });

  it('lets an enrolled admin into the admin pages', async () => {
    const admin = await signedInAdmin(h);
    await admin.agent.get('/staff/users').expect(200);
  });
});
