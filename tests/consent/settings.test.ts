import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config.js';
import { startTestRuntime, testConfig } from '../helpers/runtime.js';
import { consentRecords, postConsent, setCookies } from './helpers.js';

describe('consent settings', () => {
  it('marks the consent cookie Secure on an https site and limits how often one connection may choose', async () => {
    const runtime = await startTestRuntime(
      {
        site: { publicUrl: 'https://news.example' },
        consent: { rateLimit: { points: 2, durationSeconds: 600 } },
      },
      { backgroundJobs: false },
    );
    try {
      const texts = runtime.consent.service.texts.hash;
      const first = await postConsent(runtime.app, { choice: 'reject_all', texts }).expect(303);
      assert.match(setCookies(first)[0]!, /; Secure/);
      await postConsent(runtime.app, { choice: 'accept_all', texts }).expect(303);
      const before = await consentRecords().countDocuments();
      const limited = await postConsent(runtime.app, { choice: 'accept_all', texts }).expect(429);
      assert.match(limited.text, /Too many choices/);
      assert.equal(await consentRecords().countDocuments(), before);
    } finally {
      await runtime.stop();
    }
  });

  it('refuses a configuration without the necessary category or with a category twice, naming the key', () => {
    const base = testConfig().consent.categories;
    assert.throws(
      () => testConfig({ consent: { categories: base.filter((c) => c.id !== 'necessary') } }),
      (err: unknown) => err instanceof ConfigError && /consent\.categories/.test(err.message),
    );
    assert.throws(
      () => testConfig({ consent: { categories: [...base, base[1]!] } }),
      (err: unknown) =>
        err instanceof ConfigError && /consent\.categories\.4\.id is used twice/.test(err.message),
    );
    assert.throws(
      () => testConfig({ consent: { commentsWidget: { origin: 'not a url', embedPath: '/embed' } } }),
      (err: unknown) => err instanceof ConfigError && /consent\.commentsWidget\.origin/.test(err.message),
    );
  });
});
