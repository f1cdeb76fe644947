/**
 * Generators (fast-check) for what a hostile client sends to each route: wrong types, MongoDB
 * operators in bodies and query strings, prototype-pollution keys, huge and deeply nested bodies,
 * broken percent-encoding and raw invalid UTF-8, odd content types and encodings, oversized headers.
 *
 * Every generated write is refused by construction: one field the route requires is always spoiled
 * (replaced by an operator key, repeated, left out, made too long or sent in an encoding the form
 * parser does not read), so a route that answers such a request by writing a record has a bug.
 */
import fc from 'fast-check';
import type { HostileRequest } from './client.js';
import type { HostileWorld } from './world.js';

type Auth = 'none' | 'visitor' | 'finance' | 'admin' | 'forged';

interface PostTarget {
  family: string;
  path: (w: HostileWorld, segment: string) => string;
  /** Fields the route needs; one of them is always spoiled. */
  required: string[];
  /** Fields sent as a real page would send them (form tokens), unless spoiled. */
  valid?: (w: HostileWorld, auth: Auth) => Record<string, string>;
  auth: Auth[];
}

interface GetTarget {
  family: string;
  path: (w: HostileWorld, segment: string) => string;
  auth: Auth[];
  /** The query parameters the route reads. */
  params?: string[];
}

export const OPERATORS = [
  '$gt',
  '$gte',
  '$ne',
  '$where',
  '$regex',
  '$in',
  '$nin',
  '$exists',
  '$expr',
  '$function',
  '$or',
];
export const POLLUTION_KEYS = [
  '__proto__',
  '__proto__[polluted]',
  '__proto__.polluted',
  'constructor[prototype][polluted]',
  'constructor.prototype.polluted',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
];

/** Path segments that have broken lookups keyed by user input elsewhere. */
const hostileSegment = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'hasOwnProperty',
    'toString',
    '%24where',
    '%24gt',
    '%7B%22%24ne%22%3A1%7D',
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    '%00',
    '%E0%A4%A',
    '%FF%FE',
    '%C0%AF',
    '%ED%A0%80',
    '%',
    '%zz',
    'a'.repeat(3000),
    '000000000000000000000000',
    'ffffffffffffffffffffffff',
    'stripe',
    'paypal',
  ),
  fc.string({ maxLength: 30 }).map(pct),
);

const operatorValue = fc.oneof(
  fc.constantFrom(
    '',
    '1',
    'null',
    '{"$gt":""}',
    'function(){return true}',
    'this.x==this.x',
    '.*',
    '[object Object]',
  ),
  fc.string({ maxLength: 20 }),
);

/** Strings a form field may carry that a sloppy handler could trip on. */
const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '{"$gt":""}',
      "'; return true; var x='",
      '$where',
      'sleep(1000)',
      '<script>alert(1)</script>',
      '"><img src=x onerror=alert(1)>',
      '../../etc/passwd',
      '\u0000',
      '\ud800',
      '\uffff',
      '1e309',
      '-0',
      'NaN',
      'Infinity',
      '-1',
      '0x10',
      '9007199254740993',
      '5.000000000000000001',
      'true',
      'null',
      'undefined',
      '[]',
      '{}',
      '//evil.example',
      'https://evil.example/',
      '/\\evil.example',
      'javascript:alert(1)',
      'a@b',
      '2026-02-30',
      '0001-01-01',
      '+275760-09-13',
      '9999-12-31',
      'Etc/GMT+14',
      'Europe/../../etc',
      'UTC\u0000',
      'day',
      'EUR',
      'reader@example.com\r\nBcc: victim@example.com',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...OPERATORS), fc.string({ maxLength: 8 }))
      .chain(([op, v]) => fc.constantFrom(op, `{"${op}":"${v}"}`, `[${op}]=${v}`, `${v}${op}`)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 5000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 400 }).map((n) => '9'.repeat(n)) },
);

type Pair = [key: string, value: string];

/** `arb` one time in four, else null (fc.option's `freq` is the other way round: 1/freq is null). */
const sometimes = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** Extra keys: operators on any field, pollution keys, repeated keys. */
const extraPairs = (fields: string[]) =>
  fc.array(
    fc.oneof(
      fc.tuple(
        fc
          .tuple(fc.constantFrom(...fields, 'email', 'token', 'id'), fc.constantFrom(...OPERATORS))
          .map(([f, op]) => `${f}[${op}]`),
        operatorValue,
      ),
      fc.tuple(fc.constantFrom(...POLLUTION_KEYS), operatorValue),
      fc.tuple(fc.constantFrom(...OPERATORS), operatorValue),
    ),
    { maxLength: 4 },
  );

type Spoil = 'operator' | 'array' | 'missing' | 'oversize' | 'wrong-encoding' | 'huge' | 'many-fields';
const spoilKind = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom<Spoil>('operator', 'array', 'missing', 'oversize', 'wrong-encoding'),
  },
  // Over the form body limit (100 kB): refused before any handler sees it.
  { weight: 1, arbitrary: fc.constant<Spoil>('huge') },
  // More fields than the form parser reads (100): refused whole.
  { weight: 1, arbitrary: fc.constant<Spoil>('many-fields') },
);

/** Percent-encoding that is not UTF-8, or not percent-encoding at all. */
const brokenEscape = fc.constantFrom(
  '%E0%A4%A',
  '%FF',
  '%C0%AF',
  '%ED%A0%80',
  '%',
  '%zz',
  '%F4%90%80%80',
  '%00',
);

/** Percent-encodes the UTF-8 bytes of `s` (a lone surrogate becomes U+FFFD, as a browser sends it). */
function pct(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function encodePairs(pairs: Pair[], broken: string | null): string {
  const parts = pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`);
  if (broken) parts.push(`${broken}=${broken}`);
  return parts.join('&');
}

const formTypes = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/x-www-form-urlencoded; charset=utf-7',
  'application/x-www-form-urlencoded; charset=iso-8859-1',
  'application/x-www-form-urlencoded; charset="',
);
const otherTypes = fc.constantFrom(
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=----x',
  'application/xml',
  'application/octet-stream',
  '',
  '*/*',
  'application/x-www-form-urlencoded; charset=utf-16',
);

export interface GeneratedInput extends HostileRequest {
  auth: Auth;
}

/** Headers that go with an authenticated or anonymous request, same-origin unless cross-site is drawn. */
function baseHeaders(
  w: HostileWorld,
  auth: Auth,
  crossSite: string | null,
  accept: string,
): Record<string, string> {
  const cookie =
    auth === 'finance'
      ? w.finance.cookie
      : auth === 'admin'
        ? w.admin.cookie
        : auth === 'visitor'
          ? w.visitor.cookie
          : auth === 'forged'
            ? 'rf_staff=s%3Aforged.session; rf_consent=garbage.%FF; __proto__=x'
            : '';
  const site: Record<string, string> =
    crossSite === null
      ? { origin: w.baseUrl, 'sec-fetch-site': 'same-origin' }
      : crossSite === 'origin-null'
        ? { origin: 'null' }
        : crossSite === 'foreign'
          ? { origin: 'https://evil.example' }
          : { 'sec-fetch-site': 'cross-site' };
  return { accept, ...(cookie ? { cookie } : {}), ...site };
}

const crossSiteDraw = fc.oneof(
  { weight: 9, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom('origin-null', 'foreign', 'cross-site') },
);
const acceptDraw = fc.constantFrom('text/html', 'application/json', '*/*', 'text/csv', 'image/png', ';;;');
const extraHeaders = fc.dictionary(
  fc.constantFrom(
    'x-forwarded-for',
    'accept-language',
    'user-agent',
    'sec-gpc',
    'if-none-match',
    'range',
    'referer',
    'x-http-method-override',
  ),
  fc.oneof(
    fc.constantFrom(
      '1',
      '0',
      '$gt',
      '__proto__',
      'bytes=0-0,1-1,2-2',
      '*',
      'DELETE',
      '999.999.999.999, ::1, unknown',
    ),
    fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    fc.integer({ min: 100, max: 8000 }).map((n) => 'x'.repeat(n)),
  ),
  { maxKeys: 3 },
);

function postInput(w: HostileWorld, t: PostTarget) {
  return fc
    .record({
      auth: fc.constantFrom(...t.auth),
      segment: hostileSegment,
      spoilField: fc.constantFrom(...t.required),
      spoil: spoilKind,
      hugeSize: fc.integer({ min: 110_000, max: 200_000 }),
      // Forms are posted; other methods on the same paths must be refused as cleanly.
      method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE'),
      values: fc.array(hostileString, { minLength: t.required.length, maxLength: t.required.length }),
      keepValid: fc.boolean(),
      extra: extraPairs(t.required),
      broken: sometimes(brokenEscape),
      formType: formTypes,
      otherType: otherTypes,
      otherBody: fc.oneof(hostileJsonText, fc.string({ maxLength: 200 })),
      crossSite: crossSiteDraw,
      accept: acceptDraw,
      headers: extraHeaders,
      query: sometimes(queryString),
    })
    .map((d): GeneratedInput => {
      const valid = d.keepValid ? (t.valid?.(w, d.auth) ?? {}) : {};
      const pairs: Pair[] = [];
      t.required.forEach((field, i) => {
        const value = valid[field] ?? d.values[i]!;
        if (field !== d.spoilField) return void pairs.push([field, value]);
        switch (d.spoil) {
          case 'operator':
            pairs.push([`${field}[${OPERATORS[i % OPERATORS.length]}]`, value]);
            break;
          case 'array':
            pairs.push([field, value], [field, value]);
            break;
          case 'oversize':
            pairs.push([field, 'x'.repeat(20_000)]);
            break;
          case 'huge':
            pairs.push([field, 'x'.repeat(d.hugeSize)]);
            break;
          case 'many-fields':
            for (let n = 0; n < 150; n += 1) pairs.push([n % 2 ? field : `${field}${n}`, value]);
            break;
          case 'missing':
          case 'wrong-encoding':
            break;
        }
      });
      for (const [k, v] of Object.entries(valid)) if (!t.required.includes(k)) pairs.push([k, v]);
      pairs.push(...d.extra);
      const wrongEncoding = d.spoil === 'wrong-encoding';
      const body = wrongEncoding ? d.otherBody : encodePairs(pairs, d.broken);
      const headers = {
        ...d.headers,
        ...baseHeaders(w, d.auth, d.crossSite, d.accept),
        ...(wrongEncoding
          ? d.otherType
            ? { 'content-type': d.otherType }
            : {}
          : { 'content-type': d.formType }),
      };
      return {
        family: t.family,
        auth: d.auth,
        method: d.method,
        path: t.path(w, d.segment) + (d.query ? `?${d.query}` : ''),
        headers,
        body,
      };
    });
}

const GENERIC_PARAMS = ['from', 'to', 'tz', 'next', 'return', 'token', 'notice', 'status', 'id', 'q', 'page'];

/** A query string with operators, pollution keys, repeats and broken escapes; mostly the route's own parameters. */
const queryFor = (params: string[]) =>
  fc
    .tuple(
      fc.array(
        fc.tuple(
          fc.oneof(
            {
              weight: params.length ? 6 : 0,
              arbitrary: fc.constantFrom(...(params.length ? params : ['q'])),
            },
            { weight: 1, arbitrary: fc.constantFrom(...GENERIC_PARAMS) },
            { weight: 1, arbitrary: fc.constantFrom(...POLLUTION_KEYS) },
          ),
          sometimes(fc.constantFrom(...OPERATORS)),
          hostileString,
        ),
        { maxLength: 5 },
      ),
      sometimes(brokenEscape),
    )
    .map(([pairs, broken]) =>
      encodePairs(
        pairs.map(([k, op, v]) => [op ? `${k}[${op}]` : k, v.slice(0, 2000)]),
        broken,
      ),
    );
const queryString = queryFor([]);

function getInput(w: HostileWorld, t: GetTarget) {
  return fc
    .record({
      auth: fc.constantFrom(...t.auth),
      segment: hostileSegment,
      query: queryFor(t.params ?? []),
      crossSite: crossSiteDraw,
      accept: acceptDraw,
      headers: extraHeaders,
      method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'OPTIONS'),
    })
    .map((d): GeneratedInput => ({
      family: t.family,
      auth: d.auth,
      method: d.method,
      path: t.path(w, d.segment) + (d.query ? `?${d.query}` : ''),
      headers: { ...d.headers, ...baseHeaders(w, d.auth, d.crossSite, d.accept) },
    }));
}

/** JSON text that a parser may choke on: deep nesting, pollution keys, operators, huge arrays, numbers. */
const hostileJsonText = fc.oneof(
  fc
    .integer({ min: 100, max: 60_000 })
    .chain((depth) => fc.constantFrom('[', '{"a":').map((open) => ({ depth, open })))
    .map(({ depth, open }) =>
      open === '['
        ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
        : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
    ),
  fc.constantFrom(
    '{"__proto__":{"polluted":"yes"}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"email":{"$gt":""},"password":{"$ne":null}}',
    '{"$where":"sleep(100) || true"}',
    '{"id":{"$regex":".*"},"type":{"$exists":true}}',
    '{"data":{"object":{"id":{"$ne":1}}},"type":"checkout.session.completed"}',
    '{"event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":{"$gt":""}}}',
    '[' + '1,'.repeat(20_000) + '1]',
    '{"a":1e999999}',
    '{"a":' + '9'.repeat(5000) + '}',
    '"just a string"',
    'null',
    '{"a":"\\ud800"}',
    '{"a":1,"a":2,"__proto__":[]}',
    '{',
    '\u0000',
  ),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
);

/** Webhook deliveries: bodies as above, signatures that are wrong in every way. */
function webhookInput() {
  return fc
    .record({
      provider: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('stripe', 'paypal') },
        { weight: 1, arbitrary: hostileSegment },
      ),
      body: fc.oneof(
        { weight: 4, arbitrary: hostileJsonText },
        {
          weight: 1,
          arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1')),
        },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 200_000, max: 300_000 }).map((n) => `{"a":"${'x'.repeat(n)}"}`),
        },
      ),
      stripeSignature: fc.option(
        fc.oneof(
          fc.constantFrom(
            `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`,
            't=0,v1=abc',
            't=__proto__,v1=',
            'v1=,v1=,v1=',
            ',,,',
            `t=${'9'.repeat(400)},v1=x`,
          ),
          fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
        ),
      ),
      paypal: fc.option(
        fc.record({
          'paypal-transmission-id': fc.constantFrom(
            'abc',
            '__proto__',
            '$gt',
            '00000000-0000-0000-0000-000000000000',
          ),
          'paypal-transmission-time': fc.constantFrom('2026-12-01T00:00:00Z', 'yesterday', '0', '$ne'),
          'paypal-transmission-sig': fc.constantFrom('', 'AAAA', 'not base64!!'),
          'paypal-auth-algo': fc.constantFrom('SHA256withRSA', 'none', '__proto__', 'SHA1withRSA'),
          // Outside the allow-list every one: no certificate may be fetched from any of them.
          'paypal-cert-url': fc.constantFrom(
            'https://evil.example/cert.pem',
            'http://127.0.0.1:1/cert.pem',
            'file:///etc/passwd',
            'https://api.paypal.com.evil.example/cert.pem',
            'https://evil.example@api.sandbox.paypal.com/x',
            '//evil.example/cert',
            'not a url',
          ),
        }),
      ),
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-16', 'text/plain', ''),
      gzip: fc.nat(9).map((n) => n === 0),
    })
    .map((d): GeneratedInput => ({
      family: 'webhooks',
      auth: 'none',
      method: 'POST',
      path: `/webhooks/${d.provider}`,
      headers: {
        ...(d.contentType ? { 'content-type': d.contentType } : {}),
        ...(d.stripeSignature ? { 'stripe-signature': d.stripeSignature } : {}),
        ...(d.paypal ?? {}),
        ...(d.gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      body: Buffer.from(d.body, 'latin1').length > 0 ? Buffer.from(d.body) : '',
    }));
}

/** The JSON body parser under /api (no route there answers, but the parser reads every body first). */
function apiInput(w: HostileWorld) {
  return fc
    .record({
      segment: hostileSegment,
      body: hostileJsonText,
      contentType: fc.constantFrom(
        'application/json',
        'application/json; charset=utf-16',
        'application/json; charset=latin1',
        'application/vnd.api+json',
      ),
      encoding: fc.constantFrom('', '', '', 'gzip', 'deflate', 'br', 'x-unknown'),
      method: fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE'),
      crossSite: crossSiteDraw,
    })
    .map((d): GeneratedInput => ({
      family: 'api',
      auth: 'none',
      method: d.method,
      path: `/api/${d.segment}`,
      headers: {
        ...baseHeaders(w, 'none', d.crossSite, 'application/json'),
        'content-type': d.contentType,
        ...(d.encoding ? { 'content-encoding': d.encoding } : {}),
      },
      body: d.body,
    }));
}

const anyAuth: Auth[] = ['none', 'visitor', 'finance', 'admin', 'forged'];

export function postTargets(): PostTarget[] {
  const tok = (w: HostileWorld, auth: Auth) =>
    auth === 'finance' ? w.finance.csrf : auth === 'admin' ? w.admin.csrf : w.visitor.csrf;
  const staff = (path: string, required: string[], auth: Auth[] = anyAuth): PostTarget => ({
    family: 'staff',
    path: (w, seg) => path.replace(':id', seg === 'constructor' ? w.admin.id : seg),
    required: ['_csrf', ...required],
    valid: (w, auth) => ({ _csrf: tok(w, auth) }),
    auth,
  });
  return [
    {
      family: 'donations',
      path: () => '/donate',
      required: ['plan', 'provider', 'amount'],
      auth: ['none', 'forged'],
    },
    { family: 'consent', path: () => '/consent', required: ['choice', 'texts'], auth: ['none', 'forged'] },
    { family: 'supporters', path: () => '/manage/link', required: ['email'], auth: ['none'] },
    {
      family: 'supporters',
      path: (w, seg) =>
        `/manage/${w.supporter.manageToken}/subscriptions/${seg === 'stripe' ? w.supporter.subscriptionId : seg}/amount`,
      required: ['formToken', 'amount'],
      valid: (w) => ({ formToken: w.supporter.formToken }),
      auth: ['none'],
    },
    {
      family: 'supporters',
      path: (w, seg) =>
        `/manage/${w.supporter.manageToken}/subscriptions/${seg === 'stripe' ? w.supporter.subscriptionId : seg}/cancel`,
      required: ['formToken'],
      valid: (w) => ({ formToken: w.supporter.formToken }),
      auth: ['none'],
    },
    {
      family: 'supporters',
      path: (_w, seg) => `/manage/${seg}/subscriptions/${seg}/cancel`,
      required: ['formToken'],
      auth: ['none'],
    },
    { family: 'rights', path: () => '/rights', required: ['email'], auth: ['none'] },
    {
      family: 'rights',
      path: (w) => `/rights/${w.supporter.rightsToken}/erase`,
      required: ['formToken', 'confirm'],
      valid: (w) => ({ formToken: w.supporter.rightsFormToken, confirm: 'yes' }),
      auth: ['none'],
    },
    {
      family: 'rights',
      path: (_w, seg) => `/rights/${seg}/erase`,
      required: ['formToken', 'confirm'],
      auth: ['none'],
    },
    staff('/staff/login', ['email', 'password', 'next'], ['visitor', 'none', 'forged', 'finance']),
    staff('/staff/login/code', ['code', 'next'], ['visitor', 'none', 'forged']),
    staff('/staff/logout', [], anyAuth),
    staff('/staff/account/two-factor', ['code'], ['admin', 'finance', 'forged']),
    staff('/staff/users/invite', ['email', 'role', 'name'], ['admin', 'finance', 'visitor']),
    staff('/staff/users/:id/role', ['role'], ['admin', 'finance']),
    staff('/staff/users/:id/status', ['status'], ['admin', 'finance']),
    staff('/staff/invitation', ['token', 'password', 'confirmation'], ['visitor', 'none']),
    {
      ...staff('/staff/operations/webhooks/:id/replay', [], ['admin', 'finance', 'none']),
      family: 'reports',
    },
  ];
}

const REPORT_PARAMS = ['from', 'to', 'tz', 'granularity', 'currency'];

export function getTargets(): GetTarget[] {
  const reader = (path: (w: HostileWorld, s: string) => string): GetTarget => ({
    family: 'reader',
    path,
    auth: ['none', 'forged'],
  });
  return [
    { ...reader(() => '/'), params: ['page', 'q'] },
    { ...reader((_w, s) => `/section/${s}`), params: ['page'] },
    reader((_w, s) => `/articles/${s}`),
    reader(() => '/support'),
    reader(() => '/feed.xml'),
    reader(() => '/feed.atom'),
    { ...reader(() => '/privacy'), params: ['return'] },
    reader(() => '/.well-known/gpc.json'),
    reader(() => '/healthz'),
    reader(() => '/readyz'),
    reader(() => '/metrics'),
    reader((_w, s) => `/static/${s}`),
    reader((_w, s) => `/${s}`),
    {
      family: 'donations',
      path: (_w, s) => `/donate/return/${s}`,
      auth: ['none'],
      params: ['session_id', 'token', 'PayerID', 'subscription_id', 'ba_token', 'checkout'],
    },
    { family: 'donations', path: () => '/donate/cancelled', auth: ['none'] },
    { family: 'supporters', path: (_w, s) => `/manage/${s}`, auth: ['none'] },
    {
      family: 'supporters',
      path: (w) => `/manage/${w.supporter.manageToken}`,
      auth: ['none'],
      params: ['notice'],
    },
    {
      family: 'supporters',
      path: (w, s) => `/manage/${w.supporter.manageToken}/receipts/${s}`,
      auth: ['none'],
    },
    { family: 'supporters', path: (_w, s) => `/manage/${s}/receipts/${s}`, auth: ['none'] },
    { family: 'supporters', path: () => '/manage/link', auth: ['none'] },
    { family: 'rights', path: () => '/rights', auth: ['none'] },
    { family: 'rights', path: (_w, s) => `/rights/${s}`, auth: ['none'] },
    {
      family: 'rights',
      path: (w) => `/rights/${w.supporter.rightsToken}`,
      auth: ['none'],
      params: ['notice'],
    },
    { family: 'rights', path: (_w, s) => `/rights/${s}/export`, auth: ['none'] },
    { family: 'rights', path: (_w, s) => `/manage/${s}/rights`, auth: ['none'] },
    {
      family: 'staff',
      path: () => '/staff/login',
      auth: ['visitor', 'finance', 'forged'],
      params: ['next', 'ended', 'signedOut', 'welcome'],
    },
    { family: 'staff', path: () => '/staff/login/code', auth: ['visitor', 'forged'], params: ['next'] },
    { family: 'staff', path: () => '/staff', auth: anyAuth },
    {
      family: 'staff',
      path: () => '/staff/account',
      auth: ['finance', 'admin'],
      params: ['recoveryCodesLeft'],
    },
    { family: 'staff', path: () => '/staff/users', auth: ['admin', 'finance'], params: ['changed'] },
    { family: 'staff', path: () => '/staff/audit', auth: ['admin'], params: ['before'] },
    { family: 'staff', path: () => '/staff/invitation', auth: ['visitor'], params: ['token'] },
    { family: 'staff', path: (_w, s) => `/staff/${s}`, auth: anyAuth },
    { family: 'reports', path: () => '/staff/reports', auth: ['finance', 'admin'], params: REPORT_PARAMS },
    {
      family: 'reports',
      path: () => '/staff/reports.json',
      auth: ['finance', 'admin', 'none'],
      params: REPORT_PARAMS,
    },
    {
      family: 'reports',
      path: () => '/staff/reports/donations.csv',
      auth: ['finance', 'admin', 'none'],
      params: [...REPORT_PARAMS, 'bom'],
    },
    { family: 'reports', path: () => '/staff/operations', auth: ['admin'] },
    {
      family: 'reports',
      path: () => '/staff/operations/webhooks',
      auth: ['admin'],
      params: ['status', 'provider'],
    },
    {
      family: 'reports',
      path: (_w, s) => `/staff/operations/webhooks/${s}`,
      auth: ['admin'],
      params: ['replayed'],
    },
    { family: 'reports', path: () => '/staff/operations/consent', auth: ['admin'], params: ['id'] },
  ];
}

/** Every HTTP-level hostile input, one arbitrary for the whole app. */
export function hostileRequest(w: HostileWorld): fc.Arbitrary<GeneratedInput> {
  return fc.oneof(
    { weight: 10, arbitrary: fc.oneof(...postTargets().map((t) => postInput(w, t))) },
    { weight: 8, arbitrary: fc.oneof(...getTargets().map((t) => getInput(w, t))) },
    { weight: 2, arbitrary: webhookInput() },
    { weight: 1, arbitrary: apiInput(w) },
  );
}

/** Requests node:http will not write: raw invalid UTF-8 and oversized or malformed headers. */
export function rawRequest(w: HostileWorld): fc.Arbitrary<{ family: string; bytes: Buffer }> {
  const host = new URL(w.baseUrl).host;
  const invalidUtf8 = fc.constantFrom(
    Buffer.from([0xff, 0xfe]),
    Buffer.from([0xc3, 0x28]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0x80]),
  );
  const path = fc.constantFrom(
    '/',
    '/articles/x',
    '/donate',
    '/consent',
    '/manage/link',
    '/rights',
    '/staff/login',
    '/webhooks/stripe',
    '/webhooks/paypal',
    '/api/x',
    '/privacy',
  );
  const head = (
    method: string,
    target: Buffer | string,
    headers: ReadonlyArray<Buffer | string>,
    body: Buffer = Buffer.alloc(0),
  ) =>
    Buffer.concat([
      Buffer.from(`${method} `),
      Buffer.from(target),
      Buffer.from(` HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`),
      ...headers.flatMap((h) => [Buffer.from(h), Buffer.from('\r\n')]),
      ...(body.length ? [Buffer.from(`Content-Length: ${body.length}\r\n`)] : []),
      Buffer.from('\r\n'),
      body,
    ]);
  return fc.oneof(
    // Invalid UTF-8 in the request target.
    fc.tuple(path, invalidUtf8).map(([p, bad]) => ({
      family: 'transport',
      bytes: head('GET', Buffer.concat([Buffer.from(`${p}?q=`), bad]), []),
    })),
    // Invalid UTF-8 in header values the app reads (cookies, Origin, Fetch Metadata, user agent).
    fc
      .tuple(
        path,
        invalidUtf8,
        fc.constantFrom(
          'Cookie: rf_consent=',
          'Cookie: rf_staff=s%3A',
          'Origin: http://',
          'Sec-Fetch-Site: ',
          'User-Agent: ',
          'Accept: ',
          'Accept-Language: ',
          'Sec-GPC: ',
          'X-Forwarded-For: ',
          'Stripe-Signature: t=1,v1=',
        ),
        fc.constantFrom('GET', 'POST'),
      )
      .map(([p, bad, name, method]) => ({
        family: 'transport',
        bytes: head(
          method,
          p,
          [Buffer.concat([Buffer.from(name), bad]), 'Content-Type: application/x-www-form-urlencoded'],
          method === 'POST' ? Buffer.from('email=x') : undefined,
        ),
      })),
    // Invalid UTF-8 in a form or JSON body, not percent-encoded.
    fc
      .tuple(
        path,
        invalidUtf8,
        fc.constantFrom(
          'application/x-www-form-urlencoded',
          'application/json',
          'application/x-www-form-urlencoded; charset=utf-8',
        ),
      )
      .map(([p, bad, type]) => ({
        family: 'transport',
        bytes: head(
          'POST',
          p,
          [`Content-Type: ${type}`, 'Sec-Fetch-Site: same-origin'],
          Buffer.concat([
            Buffer.from(type.includes('json') ? '{"email":"' : 'email='),
            bad,
            Buffer.from(type.includes('json') ? '"}' : '&plan='),
          ]),
        ),
      })),
    // Oversized headers: one huge header, very many headers, a huge request target.
    fc
      .tuple(path, fc.integer({ min: 17_000, max: 120_000 }))
      .map(([p, n]) => ({ family: 'transport', bytes: head('GET', p, [`X-Big: ${'a'.repeat(n)}`]) })),
    fc.tuple(path, fc.integer({ min: 2_100, max: 4_000 })).map(([p, n]) => ({
      family: 'transport',
      bytes: head(
        'GET',
        p,
        Array.from({ length: n }, (_, i) => `X-H${i}: v`),
      ),
    })),
    fc
      .tuple(path, fc.integer({ min: 17_000, max: 80_000 }))
      .map(([p, n]) => ({ family: 'transport', bytes: head('GET', `${p}?q=${'a'.repeat(n)}`, []) })),
    fc.tuple(path, fc.integer({ min: 9_000, max: 15_000 })).map(([p, n]) => ({
      family: 'transport',
      bytes: head('GET', p, [`Cookie: rf_consent=${'a'.repeat(n)}`]),
    })),
    // Framing a proxy could be confused by: both lengths, bad lengths, control characters, bad versions.
    fc
      .tuple(
        path,
        fc.constantFrom(
          ['Content-Length: 5', 'Transfer-Encoding: chunked'],
          ['Content-Length: abc'],
          ['Content-Length: -1'],
          ['Content-Length: 5', 'Content-Length: 6'],
          ['Transfer-Encoding: gzip, chunked, identity'],
          ['X-Nul: a\u0000b'],
          ['Bad Header: x'],
          [' Folded: x'],
          ['Host: other.example'],
        ),
      )
      .map(([p, headers]) => ({
        family: 'transport',
        // The bytes a body of 5 would have, so the framing alone decides; the connection is closed after.
        bytes: Buffer.concat([head('POST', p, headers), Buffer.from('hello')]),
      })),
    fc
      .constantFrom(
        'GET / HTTP/9.9\r\n\r\n',
        'GET\r\n\r\n',
        'BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        '\u0000\u0001\u0002\r\n\r\n',
        'GET /%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      )
      .map((s) => ({ family: 'transport', bytes: Buffer.from(s, 'latin1') })),
  );
}
