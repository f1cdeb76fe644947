import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import nunjucks from 'nunjucks';
import request from 'supertest';
import { policyFromConfig } from '../../src/consent/policy.js';
import { policyTextTemplate, policyView } from '../../src/consent/texts.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false });
});
after(() => runtime.stop());

test('explains what is stored and lists the optional features as off until agreed', async () => {
  const res = await request(runtime.app).get('/privacy').expect(200);
  assert.equal(res.headers['set-cookie'], undefined);
  assert.match(res.text, /Until you make a choice we set no cookies/);
  assert.match(res.text, /Comments \(third-party widget\) — off until you agree/);
  assert.match(res.text, /we never see or store your card number/);
});

test('tells readers that article pages are counted without cookies or identifiers, unless counting is off', async () => {
  const counted = await request(runtime.app).get('/privacy').expect(200);
  assert.match(counted.text, /How often articles are read/);
  assert.match(counted.text, /no cookie is read or set for it/);
  // The same policy text with counting switched off (reports.articleViews: false).
  const env = new nunjucks.Environment(
    new nunjucks.FileSystemLoader(path.resolve(import.meta.dirname, '../../views')),
    {
      autoescape: true,
    },
  );
  const policy = { ...policyFromConfig(runtime.config), countsArticleViews: false };
  const text = env.render(policyTextTemplate, { site: runtime.config.site, policy: policyView(policy) });
  assert.match(text, /Until you make a choice we set no cookies/);
  assert.doesNotMatch(text, /How often articles are read/);
});
