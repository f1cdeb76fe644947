import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConsentCookieCodec, deriveKey, readCookie } from '../../src/consent/cookie.js';
import { sealRecord, verifyChain, type ConsentRecord } from '../../src/consent/records.js';
import { safeReturnPath } from '../../src/consent/return-path.js';

describe('consent cookie', () => {
  const codec = new ConsentCookieCodec(deriveKey('a server secret', 'consent-cookie'));
  const summary = {
    consentId: 'abcdefghijklmnopqrstuv',
    policyVersion: '2026-11-01',
    decidedAt: new Date('2026-11-20T10:00:00Z'),
    granted: ['comments'],
    seq: 3,
  };

  it('reads back what it wrote and refuses anything changed or signed with another key', () => {
    const value = codec.encode(summary);
    assert.deepEqual(codec.decode(value), summary);
    const [id, payload, signature] = value.split('.') as [string, string, string];
    const grantAll = Buffer.from(
      JSON.stringify({ v: '2026-11-01', t: 1795000000, g: ['advertising', 'analytics', 'comments'], n: 3 }),
    ).toString('base64url');
    assert.equal(codec.decode(`${id}.${grantAll}.${signature}`), null);
    assert.equal(codec.decode(`Zbcdefghijklmnopqrstuv.${payload}.${signature}`), null);
    const other = new ConsentCookieCodec(deriveKey('another secret', 'consent-cookie'));
    assert.equal(other.decode(value), null);
    for (const junk of ['', '...', 'x.y', `${value}x`, 'a'.repeat(600)])
      assert.equal(codec.decode(junk), null);
  });

  it('finds its cookie among others and not inside another cookie', () => {
    assert.equal(readCookie('a=1; rf_consent=v.w.x; b=2', 'rf_consent'), 'v.w.x');
    assert.equal(readCookie('rf_consent=first', 'rf_consent'), 'first');
    assert.equal(readCookie('xrf_consent=no; other=1', 'rf_consent'), undefined);
    assert.equal(readCookie('xrf_consent=no; rf_consent=yes', 'rf_consent'), 'yes');
    assert.equal(readCookie(undefined, 'rf_consent'), undefined);
  });
});

describe('return path', () => {
  const origin = 'https://news.example';
  it('keeps own paths and drops everything else', () => {
    assert.equal(safeReturnPath('/articles/x?y=1#comments', origin), '/articles/x?y=1#comments');
    for (const bad of [
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      '/a\nb',
      '/a/../..//evil.example',
      '/a/%2e%2e/%2e%2e//evil.example',
      'x',
      42,
      null,
    ]) {
      assert.equal(safeReturnPath(bad, origin), null, String(bad));
    }
  });
});

describe('record chain', () => {
  const content = (n: number) => ({
    id: `cr_${n}`,
    consentId: 'abcdefghijklmnopqrstuv',
    recordedAt: new Date(Date.UTC(2026, 0, n)),
    policyVersion: '1',
    textHash: 'f'.repeat(64),
    locale: 'en',
    choices: { necessary: 'granted' as const, comments: n % 2 ? ('granted' as const) : ('denied' as const) },
    source: 'custom' as const,
    gpc: false,
    browserFamily: 'Firefox',
    ipHash: 'h',
  });
  const chain = (length: number) => {
    const records: ConsentRecord[] = [];
    for (let n = 1; n <= length; n++) records.push(sealRecord(content(n), records.at(-1) ?? null));
    return records;
  };

  it('verifies in any order and notices an edited record, even one hashed again', () => {
    const records = chain(4);
    assert.equal(verifyChain([...records].reverse(), new Date(0)).verified, true);
    const edited = records.map((r) =>
      r.seq === 2 ? { ...r, choices: { ...r.choices, comments: 'granted' as const } } : r,
    );
    assert.match(verifyChain(edited, new Date(0)).problems.join(), /record #2 .*changed/);
    // Re-hashing an edited record does not help: the next record still points to the old hash.
    const resealed = records.map((r, i) =>
      r.seq === 2 ? sealRecord({ ...content(2), choices: edited[1]!.choices }, records[0]!) : records[i]!,
    );
    assert.match(
      verifyChain(resealed, new Date(0)).problems.join(),
      /record #3 .*does not point to the record before it/,
    );
  });
});
