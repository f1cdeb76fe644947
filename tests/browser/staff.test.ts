import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser } from 'playwright-core';
import mongoose from 'mongoose';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { watchEveryPage } from './every-page.js';
import { launchChromium } from './reader-helpers.js';

const everyPage = watchEveryPage('staff');

let server: TestServer;
let browser: Browser;
let foreign: http.Server;
let foreignUrl: string;
const email = 'finance-browser@staff.example';
const password = 'a long and unusual passphrase';

before(async () => {
  server = await startTestServer();
  await server.runtime.staff.service.createAccount(
    { email, password, role: 'finance', name: 'Fran Finance' },
    { kind: 'cli' },
  );
  // Another origin serving a copy of the sign-in form that posts to us, as a phishing page would.
  foreign = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><form method="post" action="${server.baseUrl}/staff/login">
      <input name="_csrf" value="x"><input name="email" value="${email}"><input name="password" value="${password}">
      <button type="submit">Go</button></form>`);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  foreignUrl = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`;
  browser = everyPage.watch(await launchChromium(), () => server.baseUrl);
});
after(async () => {
  await browser?.close();
  foreign?.close();
  await server?.close();
});

test(
  'a finance member signs in from the sign-in page on a phone-sized screen and sees the staff home',
  { timeout: 60_000 },
  async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const cspErrors: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspErrors.push(msg.text());
    });
    await page.goto(`${server.baseUrl}/staff`);
    await page.waitForURL(/\/staff\/login\?next=%2Fstaff/);
    assert.equal(await page.locator('h1').innerText(), 'Staff sign-in');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.baseUrl}/staff`);
    assert.equal(await page.locator('h1').innerText(), 'Staff area');
    assert.match(await page.locator('main').innerText(), /Welcome, Fran Finance/);
    assert.match(await page.locator('.staff-nav').innerText(), /Account/);
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    const cookies = await context.cookies();
    const staffCookie = cookies.find((c) => c.name === 'rf_staff');
    assert.equal(staffCookie?.httpOnly, true);
    assert.equal(staffCookie?.sameSite, 'Lax');
    assert.equal(staffCookie?.path, '/staff');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/staff\/login\?signedOut=1/);
    assert.match(await page.locator('main').innerText(), /You are signed out/);
    assert.deepEqual(cspErrors, []);
    await context.close();
  },
);

test('the sign-in form posted from another origin is refused', { timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sessionsBefore = await mongoose.connection.collection('sessions').countDocuments();
  await page.goto(foreignUrl);
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) => r.url() === `${server.baseUrl}/staff/login` && r.request().method() === 'POST',
    ),
    page.getByRole('button', { name: 'Go' }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.waitForLoadState();
  assert.match(await page.locator('main').innerText(), /only be sent from our own pages/);
  assert.equal((await context.cookies()).filter((c) => c.name === 'rf_staff').length, 0);
  assert.equal(await mongoose.connection.collection('sessions').countDocuments(), sessionsBefore);
  await context.close();
});
