import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose from 'mongoose';
import * as OTPAuth from 'otpauth';
import { type Browser, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium, mailTo } from './reader-helpers.js';

const everyPage = watchEveryPage('staff-admin');

let server: TestServer;
let browser: Browser;
let foreign: http.Server;
let foreignOrigin = '';
/** What the page on the other origin shows: a copy of one of our forms, posting to our app. */
let foreignForm = '';

const adminEmail = 'admin-browser@staff.example';
const adminPassword = 'a long and unusual passphrase';
const inviteeEmail = 'new-finance@staff.example';
const inviteePassword = 'kettle orchard ninety lanterns';
/** A finance member with an account already, whose role and status the admin changes. */
const memberEmail = 'mo-member@staff.example';
const memberPassword = 'quiet harbour seventeen gulls';

/** What the first test leaves for the others: the admin's key as an app holds it, and the rest. */
const admin = { secret: '', recoveryCodes: [] as string[] };

const staffusers = () => mongoose.connection.collection('staffusers');
const audit = () => mongoose.connection.collection('auditlog');

/** The code an authenticator app shows for this key at this time (RFC 6238 defaults, as apps use). */
function appCode(secret: string, at: Date): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate({
    timestamp: at.getTime(),
  });
}

before(async () => {
  server = await startTestServer();
  await server.runtime.staff.service.createAccount(
    { email: adminEmail, password: adminPassword, role: 'admin', name: 'Ada Admin' },
    { kind: 'cli' },
  );
  await server.runtime.staff.service.createAccount(
    { email: memberEmail, password: memberPassword, role: 'finance', name: 'Mo Member' },
    { kind: 'cli' },
  );
  foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(foreignForm);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  // Same host, another port: another origin but the same site, so the browser still sends the
  // SameSite=Lax staff cookie; only the cross-site check stands between this page and our forms.
  foreignOrigin = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`;
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => foreign?.close(resolve));
  await server?.close();
});

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(`${server.baseUrl}/staff/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
}

async function typeCode(page: Page, code: string): Promise<void> {
  await page.waitForURL(/\/staff\/login\/code\?next=/);
  assert.equal(await page.locator('h1').innerText(), 'Enter your code');
  await page
    .getByLabel('The 6-digit code from your authenticator app, or one of your recovery codes')
    .fill(code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForLoadState();
}

/** Signs the admin in with the password and one of their recovery codes, typed on the code page. */
async function signInAdminWithRecoveryCode(page: Page): Promise<void> {
  const code = admin.recoveryCodes.shift();
  assert.ok(code, 'a recovery code is left');
  await signIn(page, adminEmail, adminPassword);
  await typeCode(page, code);
  await page.waitForURL(/\/staff\/account\?recoveryCodesLeft=\d+$/);
}

/**
 * Opens, in a new tab of the same browser context, a page on the other origin whose only form
 * posts `fields` to `action`, clicks its button, and answers what came back and whether the
 * browser sent the staff cookie with it.
 */
async function clickForeignForm(page: Page, action: string, fields: Record<string, string>) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  foreignForm = `<!doctype html><title>A look-alike</title><form method="post" action="${server.baseUrl}${action}">${inputs}<button>Go</button></form>`;
  const tab = await page.context().newPage();
  await tab.goto(`${foreignOrigin}/`);
  const [response] = await Promise.all([
    tab.waitForResponse((r) => r.url() === `${server.baseUrl}${action}` && r.request().method() === 'POST'),
    tab.getByRole('button', { name: 'Go' }).click(),
  ]);
  await tab.waitForLoadState();
  const sent = await response.request().allHeaders();
  const result = {
    status: response.status(),
    text: await tab.locator('main').innerText(),
    sentStaffCookie: /(^|; )rf_staff=/.test(sent.cookie ?? ''),
  };
  await tab.close();
  return result;
}

test(
  'an admin signs in from the sign-in page, is sent to enrol two-factor, types the code from the key on the page and sees ten recovery codes',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, adminEmail, adminPassword);
    await page.waitForURL(`${server.baseUrl}/staff/account/two-factor`);
    assert.equal(await page.locator('h1').innerText(), 'Two-factor sign-in');
    assert.match(await page.locator('[role="status"]').innerText(), /Admin accounts need two-factor sign-in/);
    // Nothing else of the staff area opens before enrolment.
    assert.equal(
      (await context.request.get(`${server.baseUrl}/staff/users`, { maxRedirects: 0 })).status(),
      303,
    );
    const qrWidth = Number(await page.evaluate('document.querySelector("img.staff-qr").naturalWidth'));
    assert.ok(qrWidth > 0, 'the QR code is drawn');
    admin.secret = (await page.locator('code.staff-secret').innerText()).replace(/\s+/g, '');
    assert.match(admin.secret, /^[A-Z2-7]{32}$/);
    await page.getByLabel('Enter the 6-digit code the app now shows').fill(appCode(admin.secret, new Date()));
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await page.waitForLoadState();
    assert.equal(await page.locator('h1').innerText(), 'Your recovery codes');
    admin.recoveryCodes = await page.locator('ol.staff-recovery-codes li code').allInnerTexts();
    assert.equal(admin.recoveryCodes.length, 10);
    assert.equal(new Set(admin.recoveryCodes).size, 10);
    for (const code of admin.recoveryCodes) assert.match(code, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
    await page.getByRole('link', { name: 'Continue to the staff area' }).click();
    await page.waitForURL(`${server.baseUrl}/staff`);
    assert.equal(await page.locator('h1').innerText(), 'Staff area');
    await page.goto(`${server.baseUrl}/staff/users`);
    assert.equal(await page.locator('h1').innerText(), 'Staff accounts');
    await context.close();
  },
);

test(
  'an enrolled admin signs in with the password and then the code from the app, typed on the code page',
  { timeout: 60_000 },
  async () => {
    assert.ok(admin.secret, 'the admin enrolled in the first test');
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, adminEmail, adminPassword);
    await page.waitForURL(/\/staff\/login\/code\?next=/);
    // Not signed in between the password and the code.
    assert.equal(
      (await context.request.get(`${server.baseUrl}/staff/users`, { maxRedirects: 0 })).status(),
      303,
    );
    // The code of the next time step: the enrolment spent this one, and each step works once.
    await typeCode(page, appCode(admin.secret, new Date(Date.now() + 30_000)));
    await page.waitForURL(`${server.baseUrl}/staff`);
    assert.equal(await page.locator('h1').innerText(), 'Staff area');
    await page.goto(`${server.baseUrl}/staff/users`);
    assert.equal(await page.locator('h1').innerText(), 'Staff accounts');
    await context.close();
  },
);

test(
  'the admin invites a finance member from the staff accounts page; the mailed link opens the password form, which sets the password from its page (not from another origin), and the member signs in',
  { timeout: 90_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInAdminWithRecoveryCode(page);
    await page
      .getByRole('navigation', { name: 'Staff area' })
      .getByRole('link', { name: 'Staff', exact: true })
      .click();
    await page.waitForURL(`${server.baseUrl}/staff/users`);
    await page.getByLabel('Email').fill(inviteeEmail);
    await page.getByLabel('Name (optional)').fill('Fern Finance');
    await page.getByLabel('Role').selectOption('finance');
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    await page.waitForLoadState();
    assert.equal(await page.locator('h1').innerText(), 'Invitation ready');
    assert.match(
      await page.locator('main').innerText(),
      new RegExp(`We emailed this link to ${inviteeEmail}`),
    );
    const shownLink = await page.getByLabel('Invitation link').inputValue();
    const [mail, ...more] = await mailTo(server.outboxDir, inviteeEmail);
    assert.ok(mail, 'the invitation was mailed');
    assert.equal(more.length, 0);
    const mailedLink = /https?:\/\/\S+\/staff\/invitation\?token=\S+/.exec(mail.text)?.[0];
    assert.ok(mailedLink, 'the mail carries a link');
    assert.equal(mailedLink, shownLink, 'the mail carries the link the admin sees');
    assert.equal((await staffusers().findOne({ email: inviteeEmail }))?.status, 'invited');

    // The new member opens the link in their own browser and chooses a password.
    const inviteeContext = await browser.newContext();
    const invitee = await inviteeContext.newPage();
    const opened = await invitee.goto(mailedLink);
    assert.equal(opened?.headers()['referrer-policy'], 'no-referrer');
    assert.equal(await invitee.locator('h1').innerText(), 'Choose your password');
    assert.match(
      await invitee.locator('main').innerText(),
      /Welcome, Fern Finance\. You are invited to the staff area as finance/,
    );

    // The same form, with this page's own token and the link's, sent from another origin: refused.
    const invitationFields = {
      _csrf: await invitee.locator('form[action="/staff/invitation"] input[name="_csrf"]').inputValue(),
      token: new URL(mailedLink).searchParams.get('token')!,
      password: 'a password chosen by someone else',
      confirmation: 'a password chosen by someone else',
    };
    const refused = await clickForeignForm(invitee, '/staff/invitation', invitationFields);
    assert.equal(refused.status, 403);
    assert.match(refused.text, /only be sent from our own pages/);
    assert.equal((await staffusers().findOne({ email: inviteeEmail }))?.status, 'invited');
    assert.equal(await audit().countDocuments({ action: 'staff.invitation_accepted' }), 0);

    await invitee.getByLabel('Password (at least 12 characters)').fill(inviteePassword);
    await invitee.getByLabel('The same password again').fill(inviteePassword);
    const [answer] = await Promise.all([
      invitee.waitForResponse(
        (r) => r.url() === `${server.baseUrl}/staff/invitation` && r.request().method() === 'POST',
      ),
      invitee.getByRole('button', { name: 'Set password' }).click(),
    ]);
    await invitee.waitForLoadState();
    assert.equal(
      answer.status(),
      303,
      `Set password answered ${answer.status()} with the fields ${answer
        .request()
        .postData()
        ?.replace(
          /password=[^&]*|confirmation=[^&]*|token=[^&]*|_csrf=[^&]*/g,
          (f) => `${f.split('=')[0]}=…`,
        )}: ${await invitee.locator('main').innerText()}`,
    );
    await invitee.waitForURL(`${server.baseUrl}/staff/login?welcome=1`);
    assert.match(await invitee.locator('[role="status"]').innerText(), /Your password is set/);
    await invitee.getByLabel('Email').fill(inviteeEmail);
    await invitee.getByLabel('Password').fill(inviteePassword);
    await invitee.getByRole('button', { name: 'Sign in' }).click();
    await invitee.waitForURL(`${server.baseUrl}/staff`);
    assert.match(await invitee.locator('main').innerText(), /Welcome, Fern Finance/);
    assert.equal((await staffusers().findOne({ email: inviteeEmail }))?.status, 'active');
    await inviteeContext.close();

    await page.goto(`${server.baseUrl}/staff/users`);
    assert.match(
      await page.locator('tbody tr', { hasText: inviteeEmail }).innerText(),
      /finance[\s\S]*active/,
    );
    await context.close();
  },
);

test(
  'the admin makes a finance member admin and then disables them with the buttons on their row, each taking effect on the member’s next page, and signs out',
  { timeout: 90_000 },
  async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInAdminWithRecoveryCode(page);

    const memberContext = await browser.newContext();
    const member = await memberContext.newPage();
    await signIn(member, memberEmail, memberPassword);
    await member.waitForURL(`${server.baseUrl}/staff`);
    assert.match(await member.locator('main').innerText(), /Welcome, Mo Member/);

    await page.goto(`${server.baseUrl}/staff/users`);
    const row = page.locator('tbody tr', { hasText: memberEmail });
    assert.match(await row.innerText(), /finance[\s\S]*active/);
    await row.getByRole('button', { name: 'Make admin' }).click();
    await page.waitForURL(/\/staff\/users\?changed=/);
    assert.match(
      await page.locator('[role="status"]').innerText(),
      new RegExp(`Saved the change to ${memberEmail}`),
    );
    assert.match(await row.locator('td[data-label="Role"]').innerText(), /^admin/);
    assert.equal((await staffusers().findOne({ email: memberEmail }))?.role, 'admin');
    // Now an admin, the member must enrol two-factor before anything else.
    await member.reload();
    await member.waitForURL(`${server.baseUrl}/staff/account/two-factor`);

    await row.getByRole('button', { name: 'Disable' }).click();
    await page.waitForURL(/\/staff\/users\?changed=/);
    assert.match(await row.locator('td[data-label="Status"]').innerText(), /^disabled/);
    assert.equal(await row.getByRole('button', { name: 'Enable' }).count(), 1);
    assert.equal((await staffusers().findOne({ email: memberEmail }))?.status, 'disabled');
    await member.goto(`${server.baseUrl}/staff`);
    await member.waitForURL(/\/staff\/login/);
    assert.equal(await member.locator('h1').innerText(), 'Staff sign-in');
    await memberContext.close();

    const actions = await audit()
      .find({ 'target.label': memberEmail, actor: { $exists: true } }, { sort: { _id: 1 } })
      .map((entry) => `${entry.action as string} by ${entry.actor.email as string}`)
      .toArray();
    assert.deepEqual(actions.slice(-2), [
      `staff.role_changed by ${adminEmail}`,
      `staff.disabled by ${adminEmail}`,
    ]);

    const staffCookie = async () => (await context.cookies()).find((c) => c.name === 'rf_staff')?.value;
    const signedInCookie = await staffCookie();
    assert.ok(signedInCookie);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${server.baseUrl}/staff/login?signedOut=1`);
    assert.match(await page.locator('[role="status"]').innerText(), /You are signed out/);
    // The sign-in page starts a new, empty session for its form token; the signed-in one is gone.
    assert.notEqual(await staffCookie(), signedInCookie);
    await page.goto(`${server.baseUrl}/staff/users`);
    await page.waitForURL(/\/staff\/login\?next=/);
    await context.close();
  },
);

test(
  'the invite, role, status and sign-out forms posted from another origin are refused and change nothing',
  { timeout: 90_000 },
  async () => {
    const memberBefore = await staffusers().findOne({ email: memberEmail });
    assert.ok(memberBefore);
    const memberId = String(memberBefore._id);
    // Each form asks for the opposite of what the member is now, so any effect would show.
    const otherRole = memberBefore.role === 'admin' ? 'finance' : 'admin';
    const otherStatus = memberBefore.status === 'disabled' ? 'active' : 'disabled';
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInAdminWithRecoveryCode(page);
    await page.goto(`${server.baseUrl}/staff/users`);
    // The real token of this session, as a page that had stolen it would send it.
    const token = await page.locator('form[action="/staff/users/invite"] input[name="_csrf"]').inputValue();
    const accountsBefore = await staffusers().countDocuments();
    const auditBefore = await audit().countDocuments();

    const forms: Array<[string, Record<string, string>]> = [
      ['/staff/users/invite', { _csrf: token, email: 'intruder@elsewhere.example', role: 'admin' }],
      [`/staff/users/${memberId}/role`, { _csrf: token, role: otherRole }],
      [`/staff/users/${memberId}/status`, { _csrf: token, status: otherStatus }],
      ['/staff/logout', { _csrf: token }],
    ];
    for (const [action, fields] of forms) {
      const refused = await clickForeignForm(page, action, fields);
      assert.equal(refused.status, 403, action);
      assert.match(refused.text, /only be sent from our own pages/, action);
      assert.ok(refused.sentStaffCookie, `the browser sent the staff cookie to ${action}`);
    }

    assert.equal(await staffusers().countDocuments(), accountsBefore);
    assert.equal(await staffusers().countDocuments({ email: 'intruder@elsewhere.example' }), 0);
    assert.deepEqual(await mailTo(server.outboxDir, 'intruder@elsewhere.example'), []);
    const memberAfter = await staffusers().findOne({ email: memberEmail });
    assert.equal(memberAfter?.role, memberBefore.role);
    assert.equal(memberAfter?.status, memberBefore.status);
    assert.equal(await audit().countDocuments(), auditBefore, 'nothing was done, so nothing audited');
    // Still signed in: the refused sign-out ended nothing.
    await page.reload();
    assert.equal(await page.locator('h1').innerText(), 'Staff accounts');
    assert.match(
      await page.locator('tbody tr', { hasText: memberEmail }).innerText(),
      new RegExp(`${memberBefore.role as string}[\\s\\S]*${memberBefore.status as string}`),
    );
    await context.close();
  },
);

test(
  'the second-factor code form posted from another origin is refused, spends no code and signs no one in',
  { timeout: 60_000 },
  async () => {
    assert.ok(admin.recoveryCodes.length > 0, 'the admin has recovery codes left');
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, adminEmail, adminPassword);
    await page.waitForURL(/\/staff\/login\/code\?next=/);
    const token = await page.locator('form[action="/staff/login/code"] input[name="_csrf"]').inputValue();
    const code = admin.recoveryCodes.shift()!;
    const left = admin.recoveryCodes.length;
    const auditBefore = await audit().countDocuments();

    const refused = await clickForeignForm(page, '/staff/login/code', {
      _csrf: token,
      code,
      next: '/staff/users',
    });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /only be sent from our own pages/);
    assert.ok(refused.sentStaffCookie, 'the browser sent the staff cookie');
    assert.equal(await audit().countDocuments(), auditBefore);
    assert.equal(
      (await context.request.get(`${server.baseUrl}/staff/users`, { maxRedirects: 0 })).status(),
      303,
    );

    // The same recovery code still works, once, from our own page.
    await typeCode(page, code);
    await page.waitForURL(`${server.baseUrl}/staff/account?recoveryCodesLeft=${left}`);
    assert.match(await page.locator('[role="status"]').innerText(), new RegExp(`${left} codes are left`));
    await context.close();
  },
);
