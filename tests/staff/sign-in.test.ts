import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import request from 'supertest';
import { Router } from 'express';
import { messages } from '../../src/staff/service.js';
import {
  STRONG_PASSWORD,
  cookieValue,
  createStaff,
  csrfFrom,
  hours,
  minutes,
  otherStaffApp,
  postLogin,
  signedInFinance,
  startStaffHarness,
  uniqueEmail,
  type StaffHarness,
} from './helpers.js';

let h: StaffHarness;

before(async () => {
  h = await startStaffHarness();
  // What a reports feature will do: mount its router and guard it.
  const reports = Router();
  reports.get('/reports', h.staff.requireStaff('finance'), (_req, res) => {
    res.render('staff/home', { title: 'Reports' });
  });
  reports.get('/reports.json', h.staff.requireStaff('finance'), (_req, res) => {
    res.json({ ok: true });
  });
  reports.get('/reports/donations.csv', h.staff.requireStaff('finance'), (_req, res) => {
    res.type('text/csv').send('id\n');
  });
  h.staff.mount(reports, { nav: { label: 'Reports', href: '/staff/reports', role: 'finance' } });
});
after(() => h.close());

const sessions = () => mongoose.connection.collection('sessions');
const sidOf = (cookie: string) => decodeURIComponent(cookie).replace(/^s:/, '').split('.')[0]!;

describe('Staff cookies', () => {
  it('leaves reader pages without any cookie, and gives the sign-in page our own httpOnly, SameSite=Lax cookie scoped to /staff', async () => {
    const home = await request(h.app).get('/healthz').expect(200);
    assert.equal(home.headers['set-cookie'], undefined);
    const login = await request(h.app).get('/staff/login').expect(200);
    const cookie = ([] as string[])
      .concat(login.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('rf_staff='));
    assert.ok(cookie);
    assert.match(cookie, /; Path=\/staff/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.doesNotMatch(cookie, /; Secure/);
    assert.equal(login.headers['cache-control'], 'private, no-store');
  });

  it('marks the cookie Secure when the public address is https', async () => {
    const secure = otherStaffApp(h, {
      site: { publicUrl: 'https://news.example' },
      server: { trustProxy: true },
    });
    const login = await request(secure).get('/staff/login').set('X-Forwarded-Proto', 'https').expect(200);
    const cookie = ([] as string[])
      .concat(login.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('rf_staff='));
    assert.match(cookie ?? '', /; Secure/);
  });
});

describe('Signing in and out', () => {
  it('signs a finance member in with email and password, shows the staff home with its navigation, and signs out for good', async () => {
    const finance = await createStaff(h, 'finance');
    const agent = request.agent(h.app);
    const res = await postLogin(agent, finance.email.toUpperCase(), finance.password);
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, '/staff');
    const sessionCookie = cookieValue(res)!;
    const home = await agent.get('/staff').expect(200);
    assert.match(home.text, /Reports are coming|reports.*are coming/i);
    assert.match(home.text, /<nav class="staff-nav"/);
    assert.match(home.text, /href="\/staff\/reports"/);
    assert.doesNotMatch(home.text, /href="\/staff\/users"/, 'finance does not see admin links');

    const out = await agent
      .post('/staff/logout')
      .type('form')
      .send({ _csrf: csrfFrom(home.text) })
      .expect(303);
    assert.equal(out.headers.location, '/staff/login?signedOut=1');
    assert.equal(await sessions().countDocuments({ _id: sidOf(sessionCookie) as never }), 0);
    const replay = await request(h.app).get('/staff').set('Cookie', `rf_staff=${sessionCookie}`).expect(303);
    assert.match(replay.headers.location!, /^\/staff\/login\?next=%2Fstaff/);
  });

  it('gives a new session id at sign-in, so a session planted before sign-in is never signed in', async () => {
    const finance = await createStaff(h, 'finance');
    const page = await request(h.app).get('/staff/login').expect(200);
    const planted = cookieValue(page)!;
    const res = await request(h.app)
      .post('/staff/login')
      .set('Cookie', `rf_staff=${planted}`)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), email: finance.email, password: finance.password })
      .expect(303);
    const issued = cookieValue(res)!;
    assert.notEqual(sidOf(issued), sidOf(planted));
    await request(h.app).get('/staff').set('Cookie', `rf_staff=${issued}`).expect(200);
    const withPlanted = await request(h.app).get('/staff').set('Cookie', `rf_staff=${planted}`).expect(303);
    assert.match(withPlanted.headers.location!, /^\/staff\/login/);
  });

  it('answers a wrong password, an unknown email and a disabled account with the same words and status', async () => {
    const finance = await createStaff(h, 'finance');
    const disabled = await createStaff(h, 'finance', 'disabled');
    const admin = await createStaff(h, 'admin', 'second-admin');
    await h.staff.service.setDisabled(
      { id: admin.id, email: admin.email, name: '', role: 'admin', totpEnabled: true },
      disabled.id,
      true,
      {},
    );
    const answers = [];
    for (const [email, password] of [
      [finance.email, 'not the right password at all'],
      [uniqueEmail('nobody'), 'not the right password at all'],
      [disabled.email, disabled.password],
    ] as const) {
      const res = await postLogin(request.agent(h.app), email, password);
      answers.push({ status: res.status, error: /role="alert">([^<]+)</.exec(res.text)?.[1] });
    }
    assert.deepEqual(
      answers,
      Array(3).fill({ status: 401, error: messages.signInFailed.replace(/'/g, '&#39;') }),
    );
  });

  it('follows a same-site staff `next` after sign-in and ignores one pointing elsewhere', async () => {
    const finance = await createStaff(h, 'finance');
    const inside = await postLogin(
      request.agent(h.app),
      finance.email,
      finance.password,
      '/staff/reports?period=2026-01',
    );
    assert.equal(inside.headers.location, '/staff/reports?period=2026-01');
    for (const next of [
      'https://evil.example/staff',
      '//evil.example/staff',
      '/staff/../articles',
      '/\\evil.example',
    ]) {
      const res = await postLogin(request.agent(h.app), finance.email, finance.password, next);
      assert.equal(res.headers.location, '/staff', next);
    }
  });
});

describe('Lockout', () => {
  it('locks an account for 15 minutes after 5 wrong passwords within 15 minutes, even against the right password, then lets it in', async () => {
    const finance = await createStaff(h, 'finance');
    for (let i = 0; i < 5; i += 1) {
      const res = await postLogin(request.agent(h.app), finance.email, `wrong password number ${i}`);
      assert.equal(res.status, 401);
    }
    const locked = await postLogin(request.agent(h.app), finance.email, finance.password);
    assert.equal(locked.status, 401);
    assert.match(locked.text, /After several failed attempts/);
    h.clock.advance(minutes(16));
    const open = await postLogin(request.agent(h.app), finance.email, finance.password);
    assert.equal(open.status, 303);
  });

  it('does not lock for failures spread beyond the 15-minute window', async () => {
    const finance = await createStaff(h, 'finance');
    for (let i = 0; i < 8; i += 1) {
      await postLogin(request.agent(h.app), finance.email, 'a wrong password again');
      h.clock.advance(minutes(4));
    }
    const res = await postLogin(request.agent(h.app), finance.email, finance.password);
    assert.equal(res.status, 303);
  });

  it('counts every one of many wrong passwords sent at the same moment', async () => {
    const finance = await createStaff(h, 'finance');
    await Promise.all(
      Array.from({ length: 5 }, () =>
        h.staff.service.signIn(finance.email, 'simultaneous wrong password', {}),
      ),
    );
    const result = await h.staff.service.signIn(finance.email, finance.password, {});
    assert.equal(result.ok, false);
  });
});

describe('Session lifetime', () => {
  it('ends a session idle for more than 30 minutes and says why on the sign-in page', async () => {
    const { agent } = await signedInFinance(h);
    h.clock.advance(minutes(29));
    await agent.get('/staff').expect(200);
    h.clock.advance(minutes(31));
    const res = await agent.get('/staff/account').expect(303);
    assert.equal(res.headers.location, '/staff/login?next=%2Fstaff%2Faccount&ended=idle');
    const page = await agent.get(res.headers.location).expect(200);
    assert.match(page.text, /signed out after 30 minutes without activity/);
    await agent.get('/staff').expect(303);
  });

  it('ends even a busy session 12 hours after sign-in', async () => {
    const { agent } = await signedInFinance(h);
    for (let elapsed = 0; elapsed < hours(12) - minutes(25); elapsed += minutes(25)) {
      h.clock.advance(minutes(25));
      await agent.get('/staff').expect(200);
    }
    h.clock.advance(minutes(25));
    const res = await agent.get('/staff').expect(303);
    assert.match(res.headers.location!, /ended=absolute/);
  });

  it('sends a form posted after the session ended back to sign in, not to an error', async () => {
    const { agent } = await signedInFinance(h);
    const page = await agent.get('/staff').expect(200);
    h.clock.advance(minutes(45));
    const res = await agent
      .post('/staff/logout')
      .type('form')
      .send({ _csrf: csrfFrom(page.text) })
      .expect(303);
    assert.equal(res.headers.location, '/staff/login?ended=idle');
  });
});

describe('Guards', () => {
  it('redirects a page request without a session to sign in, and answers JSON and CSV paths with 401', async () => {
    const page = await request(h.app).get('/staff/reports').set('Accept', 'text/html').expect(303);
    assert.equal(page.headers.location, '/staff/login?next=%2Fstaff%2Freports');
    const json = await request(h.app).get('/staff/reports.json').expect(401);
    assert.equal(json.body.error.kind, 'unauthorized');
    await request(h.app).get('/staff/reports/donations.csv').set('Accept', 'text/html').expect(401);
  });

  it('lets finance read a mounted finance page and its JSON', async () => {
    const { agent } = await signedInFinance(h);
    const page = await agent.get('/staff/reports').expect(200);
    assert.match(page.text, /aria-current="page">Reports</);
    assert.deepEqual((await agent.get('/staff/reports.json').expect(200)).body, { ok: true });
  });

  it('refuses a sign-in form posted from another site (403) and one without its form token (403)', async () => {
    const finance = await createStaff(h, 'finance');
    const page = await request.agent(h.app).get('/staff/login');
    const forged = await request(h.app)
      .post('/staff/login')
      .set('Origin', 'https://evil.example')
      .set('Accept', 'text/html')
      .type('form')
      .send({ _csrf: csrfFrom(page.text), email: finance.email, password: finance.password })
      .expect(403);
    assert.match(forged.text, /only be sent from our own pages/);
    const tokenless = await request
      .agent(h.app)
      .post('/staff/login')
      .type('form')
      .send({ _csrf: 'guessed', email: finance.email, password: finance.password })
      .expect(403);
    assert.match(tokenless.text, /form has expired/);
    assert.equal(cookieValue(tokenless), undefined);
  });

  it('answers a sign-in form with wrong types or unexpected fields with a 400 page', async () => {
    const agent = request.agent(h.app);
    const page = await agent.get('/staff/login');
    const token = csrfFrom(page.text);
    const repeated = await agent
      .post('/staff/login')
      .type('form')
      .send(`_csrf=${token}&email=a%40x.example&email=b%40x.example&password=whatever-it-is`)
      .expect(400);
    assert.match(repeated.text, /email address was not sent as expected/);
    await agent
      .post('/staff/login')
      .type('form')
      .send(`_csrf=${token}&email[$ne]=x&password=whatever-it-is`)
      .expect(400);
  });

  it('stores the password as an argon2id hash and never keeps it in plain text', async () => {
    const finance = await createStaff(h, 'finance');
    const doc = await mongoose.connection.collection('staffusers').findOne({ email: finance.email });
    assert.match(String(doc?.passwordHash), /^\$argon2id\$/);
    assert.doesNotMatch(JSON.stringify(doc), new RegExp(STRONG_PASSWORD));
  });
});
