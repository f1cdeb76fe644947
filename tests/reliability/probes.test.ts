/**
 * Probes an attacker would try first, each in one place and briefly, against the whole product on
 * a real port: forged cross-site posts, stored XSS, NoSQL operators, session fixation, brute force,
 * open redirects and a PayPal certificate URL outside the allow-list. Each must be refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createDefaultArticleService, importArticles, parseImportText } from '../../src/articles/index.js';
import { readOutbox } from '../helpers/outbox.js';
import {
  browser,
  changedCounts,
  countDocuments,
  csrfFrom,
  Jar,
  monthlySupporter,
  startHostileWorld,
  STRONG_PASSWORD,
  type HostileWorld,
} from './hostile/world.js';

/** Sign-in attempts one connection may make in the window; the brute-force probe runs into it. */
const SIGN_IN_POINTS = 10;

let world: HostileWorld;
let base: string;

before(async () => {
  world = await startHostileWorld({
    staff: { rateLimits: { signInPerIp: { points: SIGN_IN_POINTS, durationSeconds: 900 } } },
  });
  base = world.baseUrl;
});
after(() => world?.close());

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
    body,
  });

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** The text/html parts of the mails to `email` in the outbox, quoted-printable undone. */
async function htmlPartsOfMailsTo(email: string): Promise<string[]> {
  const parts: string[] = [];
  for (const file of await readdir(world.server.outboxDir)) {
    const raw = await readFile(path.join(world.server.outboxDir, file), 'utf8');
    if (!raw.includes(email)) continue;
    for (const part of raw.split(/\r?\n--/)) {
      const [head = '', ...body] = part.split(/\r?\n\r?\n/);
      if (!/content-type:\s*text\/html/i.test(head)) continue;
      parts.push(
        body
          .join('\n\n')
          .replace(/=\r?\n/g, '')
          .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      );
    }
  }
  return parts;
}

/** Where a browser would go: the Location header resolved as the WHATWG URL parser does. */
const landsOnOwnSite = (location: string | null) =>
  location !== null && new URL(location, base).origin === base;

// Reader forms take a post with neither Origin nor Sec-Fetch-Site (curl, a server-side client):
// no browser sends that for a form, and reader forms carry no session a forger could ride.
describe('Cross-site posts are refused', () => {
  const crossSite: Array<[string, Record<string, string>]> = [
    ['Origin: null', { origin: 'null' }],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site', origin: 'https://sub.evil.example' }],
    [
      'a foreign Origin beside Sec-Fetch-Site: cross-site',
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    ],
  ];

  test('on every reader form, and on staff forms even with a valid session and token', async () => {
    const s = world.supporter;
    const privacy = await browser(base).go('/privacy');
    const texts = /name="texts" value="([0-9a-f]{64})"/.exec(privacy.html)![1]!;
    const readerForms: Array<[string, string]> = [
      ['/donate', form({ plan: 'contributor', provider: 'stripe', amount: '5' })],
      ['/consent', form({ choice: 'accept_all', texts })],
      ['/manage/link', form({ email: s.email })],
      ['/rights', form({ email: s.email })],
      [`/manage/${s.manageToken}/subscriptions/${s.subscriptionId}/cancel`, form({ formToken: s.formToken })],
      [
        `/manage/${s.manageToken}/subscriptions/${s.subscriptionId}/amount`,
        form({ formToken: s.formToken, amount: '9' }),
      ],
      [`/rights/${s.rightsToken}/erase`, form({ formToken: s.rightsFormToken, confirm: 'yes' })],
    ];
    const staffForms: Array<[string, string, string]> = [
      ['/staff/logout', form({ _csrf: world.admin.csrf }), world.admin.cookie],
      [
        '/staff/users/invite',
        form({ _csrf: world.admin.csrf, email: 'new@staff.example', role: 'admin' }),
        world.admin.cookie,
      ],
      [
        '/staff/login',
        form({ _csrf: world.visitor.csrf, email: world.finance.email, password: STRONG_PASSWORD }),
        world.visitor.cookie,
      ],
    ];
    const countsBefore = await countDocuments();
    const mailsBefore = (await readOutbox(world.server.outboxDir)).length;
    const answers: string[] = [];
    for (const [label, headers] of crossSite) {
      for (const [path, body] of readerForms)
        answers.push(`${(await post(path, body, headers)).status} ${path} ${label}`);
      for (const [path, body, cookie] of staffForms) {
        answers.push(`${(await post(path, body, { ...headers, cookie })).status} ${path} ${label}`);
      }
    }
    // Same origin but without the form's token: the token is what stands between a page on
    // another site (or a non-browser client) and the action.
    const same = { origin: base, 'sec-fetch-site': 'same-origin' };
    const tokenless: Array<[string, string, string]> = [
      [`/manage/${s.manageToken}/subscriptions/${s.subscriptionId}/cancel`, '', ''],
      [`/manage/${s.manageToken}/subscriptions/${s.subscriptionId}/amount`, form({ amount: '9' }), ''],
      [`/rights/${s.rightsToken}/erase`, form({ confirm: 'yes' }), ''],
      ['/staff/logout', '', world.admin.cookie],
      ['/staff/users/invite', form({ email: 'new@staff.example', role: 'admin' }), world.admin.cookie],
      ['/staff/login', form({ email: world.finance.email, password: STRONG_PASSWORD }), ''],
      [
        '/staff/users/invite',
        form({ _csrf: world.finance.csrf, email: 'new@staff.example', role: 'admin' }),
        world.admin.cookie,
      ],
    ];
    for (const [path, body, cookie] of tokenless) {
      answers.push(
        `${(await post(path, body, { ...same, ...(cookie ? { cookie } : {}) })).status} ${path} without its token`,
      );
    }
    const refused = answers.filter((a) => a.startsWith('403 '));
    assert.deepEqual(
      answers.filter((a) => !a.startsWith('403 ')),
      [],
      'every forged post is answered 403',
    );
    assert.equal(
      refused.length,
      crossSite.length * (readerForms.length + staffForms.length) + tokenless.length,
    );
    assert.deepEqual(
      changedCounts(countsBefore, await countDocuments(), (n) => n === 'sessions'),
      {},
      'nothing was written',
    );
    assert.equal((await readOutbox(world.server.outboxDir)).length, mailsBefore, 'no mail was sent');
    const admin = await fetch(`${base}/staff`, {
      headers: { cookie: world.admin.cookie },
      redirect: 'manual',
    });
    assert.equal(admin.status, 200, 'the admin is still signed in');

    // The same consent form from our own page goes through: the refusals above are the Origin's doing.
    const ok = await post('/consent', form({ choice: 'reject_all', texts }), same);
    assert.equal(ok.status, 303);
  });
});

describe('Stored XSS is neutralised', () => {
  test('an imported article keeps no script, handler or javascript: link, and a title with markup is refused', async () => {
    const row = (slug: string, extra: Record<string, unknown>) =>
      JSON.stringify({
        slug,
        section: 'Probes',
        title: `Probe ${slug}`,
        dateline: 'Saltmere',
        byline: 'A. Tester',
        summary: 'A probe.',
        body: '<p>Text</p>',
        publishedAt: '2026-11-12T07:00:00Z',
        related: [],
        ...extra,
      });
    const parsed = parseImportText(
      `[${row('xss-body', {
        body:
          '<p onclick="alert(1)">Hello</p><script>alert("body")</script><img src=x onerror="alert(2)">' +
          '<a href="javascript:alert(3)">link</a><iframe src="https://evil.example"></iframe>' +
          '<svg><script>alert(4)</script></svg><style>*{}</style><form action="https://evil.example"><input></form>',
      })},\n${row('xss-title', { title: '<script>alert("title")</script>' })}]`,
    );
    const report = await importArticles(createDefaultArticleService(), parsed);
    assert.equal(report.inserted, 1);
    assert.equal(report.rejected, 1, 'the title with markup is refused');

    const page = await fetch(`${base}/articles/xss-body`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Hello/);
    for (const bad of [
      'alert(',
      'onerror',
      'onclick',
      'javascript:',
      '<iframe',
      'evil.example',
      '<style>*',
    ]) {
      assert.ok(!html.includes(bad), `the article page does not carry ${bad}`);
    }
    assert.doesNotMatch(page.headers.get('content-security-policy') ?? '', /script-src[^;]*unsafe-inline/);
    assert.equal((await fetch(`${base}/articles/xss-title`)).status, 404);
  });

  test("a supporter's name with markup is only ever text: manage page, receipt email and receipt download", async () => {
    const name = '<script>alert("name")</script><img src=x onerror=alert(1)>';
    const email = `xss-${Date.now().toString(36)}@example.com`;
    const { manageToken, html } = await monthlySupporter(world.server, { email, name });
    for (const bad of ['<script>alert("name")', '<img src=x'])
      assert.ok(!html.includes(bad), `manage page: ${bad}`);
    // The plain-text part may carry the name as typed (it is text); the HTML part must escape it.
    const htmlParts = await htmlPartsOfMailsTo(email);
    assert.ok(htmlParts.length > 0, 'an HTML receipt went out');
    for (const part of htmlParts) {
      for (const bad of ['<script>alert("name")', '<img src=x'])
        assert.ok(!part.includes(bad), `receipt email: ${bad}`);
    }
    assert.ok(
      htmlParts.some((p) => p.includes('&lt;script&gt;alert(')),
      'the HTML receipt shows the name escaped',
    );
    const donationId = /\/receipts\/([a-f0-9]{24})"/.exec(html)![1]!;
    const receipt = await fetch(`${base}/manage/${manageToken}/receipts/${donationId}`);
    assert.equal(receipt.status, 200);
    assert.match(receipt.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(receipt.headers.get('content-disposition') ?? '', /^attachment/);
    assert.equal(receipt.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('NoSQL operator injection', () => {
  test('operators in sign-in bodies sign no one in', async () => {
    const v = browser(base);
    const page = await v.go('/staff/login');
    const csrf = csrfFrom(page.html);
    const same = { origin: base, 'sec-fetch-site': 'same-origin', cookie: v.jar.header() };
    const bodies: Array<[string, string]> = [
      ['application/x-www-form-urlencoded', `_csrf=${encodeURIComponent(csrf)}&email[$ne]=x&password[$ne]=x`],
      [
        'application/x-www-form-urlencoded',
        `_csrf=${encodeURIComponent(csrf)}&email=${encodeURIComponent(world.finance.email)}&password[$gt]=`,
      ],
      [
        'application/x-www-form-urlencoded',
        `_csrf=${encodeURIComponent(csrf)}&email[$regex]=.*&password=${encodeURIComponent(STRONG_PASSWORD)}`,
      ],
      [
        'application/x-www-form-urlencoded',
        `_csrf=${encodeURIComponent(csrf)}&email=${encodeURIComponent('{"$ne":null}')}&password=${encodeURIComponent('{"$ne":null}')}`,
      ],
      [
        'application/x-www-form-urlencoded',
        `_csrf=${encodeURIComponent(csrf)}&email=a&email=${encodeURIComponent(world.finance.email)}&password=x`,
      ],
      ['application/json', JSON.stringify({ _csrf: csrf, email: { $ne: null }, password: { $ne: null } })],
      [
        'application/json',
        JSON.stringify({ _csrf: csrf, email: world.finance.email, password: { $gt: '' } }),
      ],
    ];
    for (const [type, body] of bodies) {
      const res = await post('/staff/login', body, { ...same, 'content-type': type });
      assert.ok([400, 401, 403].includes(res.status), `${body} → ${res.status}`);
      assert.notEqual(res.headers.get('location'), '/staff');
      v.jar.take(res);
    }
    const home = await fetch(`${base}/staff`, {
      headers: { cookie: v.jar.header(), accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(home.status, 303, 'the visitor is still not signed in');
    assert.match(home.headers.get('location') ?? '', /^\/staff\/login/);
  });

  test('operators on lookup routes find nothing, send nothing and answer 4xx', async () => {
    const mailsBefore = (await readOutbox(world.server.outboxDir)).length;
    const same = { origin: base, 'sec-fetch-site': 'same-origin' };
    const posts: Array<[string, string]> = [
      ['/manage/link', 'email[$ne]=x'],
      ['/manage/link', 'email[$regex]=.*'],
      ['/rights', 'email[$ne]=x'],
      ['/rights', 'email[$gt]='],
      ['/rights', `email=${world.supporter.email}&email=other@example.com`],
    ];
    for (const [path, body] of posts) {
      const res = await post(path, body, same);
      assert.equal(res.status, 400, `${path} ${body}`);
    }
    const gets = [
      '/donate/return/stripe?session_id[$ne]=x',
      '/donate/return/stripe?session_id=%7B%22%24ne%22%3Anull%7D',
      '/donate/return/paypal?token[$gt]=&subscription_id[$ne]=x',
      '/donate/return/__proto__?session_id=x',
      '/manage/%7B%22%24ne%22%3Anull%7D',
      `/manage/${world.supporter.manageToken}/receipts/%7B%22%24ne%22%3Anull%7D`,
      '/rights/%7B%22%24ne%22%3Anull%7D/export',
      '/staff/invitation?token[$ne]=x',
      '/staff/invitation?token=%7B%22%24ne%22%3Anull%7D',
    ];
    for (const path of gets) {
      const res = await fetch(`${base}${path}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.ok(res.status >= 400 && res.status < 500, `${path} → ${res.status}`);
      const text = await res.text();
      assert.ok(!text.includes(world.supporter.email), `${path} shows no supporter`);
    }
    const adminLookups = [
      '/staff/operations/consent?id[$regex]=.*',
      '/staff/operations/consent?id=%7B%22%24ne%22%3Anull%7D',
      '/staff/operations/webhooks?status[$ne]=x',
      '/staff/operations/webhooks/%7B%22%24ne%22%3Anull%7D',
    ];
    for (const path of adminLookups) {
      const res = await fetch(`${base}${path}`, {
        headers: { accept: 'text/html', cookie: world.admin.cookie },
        redirect: 'manual',
      });
      assert.ok([200, 400, 404].includes(res.status), `${path} → ${res.status}`);
      const text = await res.text();
      assert.ok(!/"event_type"|checkout\.session\.completed/.test(text), `${path} lists no webhook payload`);
    }
    assert.equal((await readOutbox(world.server.outboxDir)).length, mailsBefore, 'no link was mailed');
  });
});

describe('Session fixation', () => {
  test('the session id before sign-in is not the one after, and a planted id is not adopted', async () => {
    const v = browser(base);
    const page = await v.go('/staff/login');
    const before = v.jar.get('rf_staff');
    assert.ok(before, 'the sign-in page starts a session for its form token');
    const signed = await v.go('/staff/login', {
      form: {
        _csrf: csrfFrom(page.html),
        email: world.finance.email,
        password: STRONG_PASSWORD,
        next: '/staff',
      },
    });
    assert.equal(signed.status, 303);
    const afterId = v.jar.get('rf_staff');
    assert.ok(afterId && afterId !== before, 'sign-in issues a new session id');
    const sid = (cookie: string) => decodeURIComponent(cookie).split('.')[0];
    assert.notEqual(sid(afterId), sid(before));
    const old = await fetch(`${base}/staff`, {
      headers: { cookie: `rf_staff=${before}`, accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(old.status, 303, 'the pre-sign-in session id gives no access');
    const fresh = await fetch(`${base}/staff`, {
      headers: { cookie: `rf_staff=${afterId}`, accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(fresh.status, 200);

    // An attacker's planted (unsigned) id is ignored: the browser gets a session of its own.
    const jar = new Jar();
    const planted = 's%3Aattacker-chosen-id.forged';
    const res = await fetch(`${base}/staff/login`, { headers: { cookie: `rf_staff=${planted}` } });
    jar.take(res);
    assert.ok(jar.get('rf_staff') && jar.get('rf_staff') !== planted);
    assert.ok(!decodeURIComponent(jar.get('rf_staff')!).includes('attacker-chosen-id'));
  });
});

describe('Open redirects', () => {
  const targets = [
    '//evil.example',
    '//evil.example/staff',
    'https://evil.example',
    'https://evil.example/staff',
    'http:evil.example',
    'https:evil.example/staff',
    '/\\evil.example',
    '\\/evil.example',
    '\\\\evil.example',
    '/%2F/evil.example',
    '%2F%2Fevil.example',
    '/%5Cevil.example',
    '/%09/evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    ' //evil.example',
    '/staff//evil.example',
    '/staff/\\evil.example',
    '/staff/../..//evil.example',
    '/staff@evil.example',
    '/staff:pw@evil.example',
    '/staff%2F%2Fevil.example',
    '/staff/%2e%2e/%2e%2e//evil.example',
    'javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    '///evil.example',
    '/.evil.example',
    '/%252F%252Fevil.example',
  ];

  test('the staff `next` parameter stays inside the staff area, signed in or signing in', async () => {
    const bad: string[] = [];
    for (const next of targets) {
      const res = await fetch(`${base}/staff/login?next=${encodeURIComponent(next)}`, {
        headers: { cookie: world.finance.cookie, accept: 'text/html' },
        redirect: 'manual',
      });
      const location = res.headers.get('location');
      if (
        res.status !== 303 ||
        !landsOnOwnSite(location) ||
        !new URL(location!, base).pathname.startsWith('/staff')
      )
        bad.push(`${JSON.stringify(next)} → ${res.status} ${location}`);
    }
    // The sign-in form itself: a few of them, as each costs a sign-in attempt.
    for (const next of ['//evil.example', '/\\evil.example', 'https://evil.example']) {
      const v = browser(base);
      const page = await v.go('/staff/login');
      const res = await v.go('/staff/login', {
        form: { _csrf: csrfFrom(page.html), email: world.finance.email, password: STRONG_PASSWORD, next },
      });
      if (res.status !== 303 || !landsOnOwnSite(res.location))
        bad.push(`POST ${JSON.stringify(next)} → ${res.status} ${res.location}`);
    }
    assert.deepEqual(bad, []);
  });

  test('the consent `return` parameter stays on this site, on the form and on the privacy page', async () => {
    const privacy = await browser(base).go('/privacy');
    const texts = /name="texts" value="([0-9a-f]{64})"/.exec(privacy.html)![1]!;
    const bad: string[] = [];
    for (const target of targets) {
      const res = await post('/consent', form({ choice: 'reject_all', texts, return: target }), {
        origin: base,
        'sec-fetch-site': 'same-origin',
      });
      const location = res.headers.get('location');
      if (res.status !== 303 || !landsOnOwnSite(location))
        bad.push(`POST ${JSON.stringify(target)} → ${res.status} ${location}`);
      const page = await fetch(`${base}/privacy?return=${encodeURIComponent(target)}`, {
        headers: { accept: 'text/html' },
      });
      const html = await page.text();
      for (const m of html.matchAll(/(?:href|value|action)="([^"]*)"/g)) {
        const value = m[1]!.replace(/&amp;/g, '&').replace(/&#x2F;/g, '/');
        if (/evil\.example|^javascript:|^data:/.test(value) && !landsOnOwnSite(value))
          bad.push(`GET /privacy?return=${JSON.stringify(target)} carries ${value}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});

describe('PayPal certificate URL outside the allow-list', () => {
  test('is refused without any request to it or to PayPal', async () => {
    let hits = 0;
    const trap = http.createServer((_req, res) => {
      hits += 1;
      res.end('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const port = (trap.address() as AddressInfo).port;
    try {
      // The trap answers: the zero below is the app's doing, not a dead address.
      assert.equal((await fetch(`http://127.0.0.1:${port}/check`)).status, 200);
      hits = 0;
      const certPath = '/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';
      const certUrls = [
        `http://127.0.0.1:${port}${certPath}`,
        `https://127.0.0.1:${port}${certPath}`,
        `http://localhost:${port}${certPath}`,
        `https://api.paypal.com@127.0.0.1:${port}${certPath}`,
        `https://api.paypal.com:${port}${certPath}`,
        `http://api.paypal.com${certPath}`,
        `https://api.paypal.com.evil.example${certPath}`,
        `https://evil.example${certPath}`,
        `https://api.paypal.com/v1/notifications/certs/../../../evil`,
        `https://api.paypal.com/elsewhere/cert.pem`,
        `file:///etc/passwd`,
        `//127.0.0.1:${port}${certPath}`,
      ];
      const simulatorBefore = world.server.runtime.payments.simulator!.requestCount();
      const countsBefore = await countDocuments();
      for (const certUrl of certUrls) {
        const body = JSON.stringify({
          id: `WH-PROBE-${Math.random().toString(36).slice(2)}`,
          event_type: 'PAYMENT.CAPTURE.COMPLETED',
          resource_type: 'capture',
          resource: { id: 'CAPTURE-PROBE', amount: { currency_code: 'EUR', value: '5.00' } },
        });
        const res = await fetch(`${base}/webhooks/paypal`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'paypal-transmission-id': `probe-${Math.random().toString(36).slice(2)}`,
            'paypal-transmission-time': new Date().toISOString(),
            'paypal-transmission-sig': Buffer.from('forged').toString('base64'),
            'paypal-auth-algo': 'SHA256withRSA',
            'paypal-cert-url': certUrl,
          },
          body,
        });
        assert.equal(res.status, 400, `${certUrl} is refused`);
      }
      assert.equal(hits, 0, 'no request reached the certificate address');
      assert.equal(
        world.server.runtime.payments.simulator!.requestCount(),
        simulatorBefore,
        'no call to PayPal',
      );
      assert.deepEqual(changedCounts(countsBefore, await countDocuments()), {}, 'no event was recorded');
    } finally {
      await new Promise<void>((resolve) => trap.close(() => resolve()));
    }
  });
});

describe('Brute force on sign-in', () => {
  // Last in this file: it uses up the sign-in budget of this connection.
  test('is rate limited by connection, the right password included once the limit is reached', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < SIGN_IN_POINTS + 2 && !statuses.includes(429); i += 1) {
      const v = browser(base);
      const page = await v.go('/staff/login');
      const res = await v.go('/staff/login', {
        form: {
          _csrf: csrfFrom(page.html),
          email: world.finance.email,
          password: `wrong guess ${i}`,
          next: '/staff',
        },
      });
      statuses.push(res.status);
    }
    assert.ok(statuses.includes(429), `attempts were answered ${statuses.join(', ')}`);
    assert.ok(statuses.length <= SIGN_IN_POINTS, `limited within ${SIGN_IN_POINTS} attempts`);
    assert.deepEqual(
      statuses.slice(0, -1).filter((s) => s !== 401),
      [],
      'wrong passwords before the limit get 401',
    );
    const v = browser(base);
    const page = await v.go('/staff/login');
    const right = await v.go('/staff/login', {
      form: {
        _csrf: csrfFrom(page.html),
        email: world.finance.email,
        password: STRONG_PASSWORD,
        next: '/staff',
      },
    });
    assert.equal(right.status, 429, 'the right password waits too');
  });
});
