import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { subMonths } from 'date-fns';
import request from 'supertest';
import { ConsentCookieCodec, deriveKey } from '../../src/consent/cookie.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime, testConfig } from '../helpers/runtime.js';
import {
  ARTICLE,
  choose,
  consentCookieOf,
  consentIdOf,
  consentTexts,
  hasBanner,
  hasIframe,
  recordsOf,
} from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

// A real MONGODB_URI keeps its data across runtimes by itself; the embedded store needs a folder.
const onDisk = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'readerfund-consent-'));
  dirs.push(dir);
  return path.join(dir, 'db');
};

describe('a choice across restarts and policy versions', () => {
  it('accept, reject and custom survive reloads and a restart; a new policy version asks again and continues the chain', async () => {
    const embeddedPath = onDisk();
    const dbName = `readerfund_test_${randomUUID().slice(0, 8)}`;
    const start = (overrides = {}) =>
      startTestRuntime(overrides, { embeddedPath, dbName, backgroundJobs: false });

    let runtime: Runtime = await start();
    let cookie: string;
    /** Each reader's cookie and whether their choice shows the comments widget. */
    const readers: Array<[string, boolean]> = [];
    try {
      cookie = consentCookieOf(await choose(runtime.app, 'accept_all'));
      readers.push([cookie, true]);
      readers.push([consentCookieOf(await choose(runtime.app, 'reject_all')), false]);
      readers.push([consentCookieOf(await choose(runtime.app, 'custom', { grant: ['comments'] })), true]);
      for (let reload = 0; reload < 3; reload++) {
        for (const [reader, comments] of readers) {
          const page = await request(runtime.app).get(ARTICLE).set('Cookie', reader).expect(200);
          assert.equal(hasBanner(page.text), false);
          assert.equal(hasIframe(page.text), comments);
        }
      }
    } finally {
      await runtime.stop();
    }

    runtime = await start();
    try {
      for (const [reader, comments] of readers) {
        const page = await request(runtime.app).get(ARTICLE).set('Cookie', reader).expect(200);
        assert.equal(hasBanner(page.text), false, 'the choice stands after a restart');
        assert.equal(hasIframe(page.text), comments);
        const records = await recordsOf(consentIdOf(reader));
        assert.equal(records.length, 1, 'the record survived the restart');
        assert.equal((await runtime.consent.audit.proof(consentIdOf(reader))).check.verified, true);
      }
    } finally {
      await runtime.stop();
    }

    runtime = await start({ consent: { policyVersion: '2027-03-01' } });
    try {
      const page = await request(runtime.app).get(ARTICLE).set('Cookie', cookie).expect(200);
      assert.ok(hasBanner(page.text), 'a new policy version asks again');
      assert.equal(hasIframe(page.text), false, 'and nothing of the old consent is used meanwhile');
      const privacy = await request(runtime.app).get('/privacy').set('Cookie', cookie).expect(200);
      assert.match(privacy.text, /Your earlier choice no longer stands/);

      const again = await choose(runtime.app, 'reject_all', { cookie });
      assert.equal(consentIdOf(consentCookieOf(again)), consentIdOf(cookie), 'the same consent id goes on');
      const records = await recordsOf(consentIdOf(cookie));
      assert.deepEqual(
        records.map((r) => [r.seq, r.policyVersion, r.source]),
        [
          [1, testConfig().consent.policyVersion, 'accept_all'],
          [2, '2027-03-01', 'reject_all'],
        ],
      );
      const proof = await runtime.consent.audit.proof(consentIdOf(cookie));
      assert.equal(proof.check.verified, true, proof.check.problems.join('; '));
      assert.deepEqual(
        proof.texts.map((t) => [t.policyVersion, t.intact]),
        [
          [testConfig().consent.policyVersion, true],
          ['2027-03-01', true],
        ],
      );
      assert.equal(await consentTexts().countDocuments(), 2, 'one stored text per version');
    } finally {
      await runtime.stop();
    }
  });

  it('asks again once a choice is older than the configured period, and not before', async () => {
    const runtime = await startTestRuntime({}, { backgroundJobs: false });
    try {
      const codec = new ConsentCookieCodec(deriveKey(runtime.config.secrets.session, 'consent-cookie'));
      const cookieFrom = (decidedAt: Date) =>
        `rf_consent=${codec.encode({
          consentId: 'AAAAAAAAAAAAAAAAAAAAAA',
          policyVersion: runtime.config.consent.policyVersion,
          decidedAt,
          granted: ['comments'],
          seq: 1,
        })}`;
      const fresh = await request(runtime.app)
        .get(ARTICLE)
        .set('Cookie', cookieFrom(subMonths(new Date(), 5)));
      assert.equal(hasBanner(fresh.text), false);
      assert.ok(hasIframe(fresh.text));
      const stale = await request(runtime.app)
        .get(ARTICLE)
        .set('Cookie', cookieFrom(subMonths(new Date(), 7)));
      assert.ok(hasBanner(stale.text));
      assert.equal(hasIframe(stale.text), false);
      const forged = cookieFrom(new Date()).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
      const tampered = await request(runtime.app).get(ARTICLE).set('Cookie', forged);
      assert.ok(hasBanner(tampered.text), 'a cookie we did not sign counts for nothing');
      assert.equal(hasIframe(tampered.text), false);
    } finally {
      await runtime.stop();
    }
  });
});
