import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { createArticleViewCounter } from '../../src/reports/article-views.js';
import { dayInZone } from '../../src/reports/periods.js';
import { startLedgerRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
const slug = 'coastal-marsh-returns-after-sea-wall-is-opened';
const views = () => mongoose.connection.collection('articleviews');

before(async () => {
  runtime = await startLedgerRuntime();
});
after(() => runtime.stop());

describe('article views', () => {
  test('counts article pages answered, per zone and day, keeping nothing about the reader', async () => {
    const first = await request(runtime.app)
      .get(`/articles/${slug}`)
      .set('User-Agent', 'Reader/1.0')
      .expect(200);
    assert.equal(first.headers['set-cookie'], undefined, 'no cookie is set');
    assert.match(first.headers['cache-control'] ?? '', /^public/, 'the page stays cacheable');
    await request(runtime.app).get(`/articles/${slug}`).expect(200);
    // A revalidation is a view as well.
    await request(runtime.app).get(`/articles/${slug}`).set('If-None-Match', first.headers.etag!).expect(304);
    // Not views: a HEAD, a page that does not exist, a browser's speculative prefetch.
    await request(runtime.app).head(`/articles/${slug}`).expect(200);
    await request(runtime.app).get('/articles/no-such-story').expect(404);
    await request(runtime.app).get(`/articles/${slug}`).set('Sec-Purpose', 'prefetch').expect(200);
    assert.equal(await views().countDocuments(), 0, 'nothing is written on the page path');

    const now = new Date();
    assert.equal(await runtime.reports.viewCounter.flush(), 3);
    const docs = await views()
      .find({}, { projection: { _id: 0 } })
      .sort({ zone: 1 })
      .toArray();
    assert.deepEqual(
      docs,
      ['America/New_York', 'UTC'].map((zone) => {
        const day = dayInZone(zone, now);
        return { zone, month: day.slice(0, 7), articleSlug: slug, views: 3, days: { [day.slice(8, 10)]: 3 } };
      }),
    );
    await request(runtime.app).get(`/articles/${slug}`).expect(200);
    await runtime.reports.viewCounter.flush();
    assert.equal(
      (await views().findOne({ zone: 'UTC' }))?.views,
      4,
      'later flushes add ($inc) to the same document',
    );
  });

  test('keeps the counts for the next flush when the store refuses a write', async () => {
    let fail = true;
    const written: number[] = [];
    const counter = createArticleViewCounter({
      zones: ['UTC'],
      logger: runtime.logger,
      repository: {
        addViews: async (counts) => {
          if (fail) throw new Error('store unavailable');
          written.push(counts.reduce((s, c) => s + c.views, 0));
        },
      },
    });
    const app = (await import('express')).default();
    app.use(counter.middleware);
    app.get('/articles/:slug', (_req, res) => void res.send('ok'));
    await request(app).get('/articles/a-story').expect(200);
    await request(app).get('/articles/a-story').expect(200);
    await assert.rejects(counter.flush(), /store unavailable/);
    fail = false;
    assert.equal(await counter.flush(), 2);
    assert.deepEqual(written, [2]);
  });

  test('bounds what it keeps between flushes: beyond the limit, views are dropped, not memory', async () => {
    const counts: number[] = [];
    const counter = createArticleViewCounter({
      zones: ['UTC'],
      logger: runtime.logger,
      maxKeys: 2,
      repository: { addViews: async (c) => void counts.push(c.length) },
    });
    const app = (await import('express')).default();
    app.use(counter.middleware);
    app.get('/articles/:slug', (_req, res) => void res.send('ok'));
    for (const s of ['one', 'two', 'three', 'one']) await request(app).get(`/articles/${s}`).expect(200);
    assert.equal(await counter.flush(), 3, 'two articles kept (one of them twice), the third dropped');
    assert.deepEqual(counts, [2]);
  });
});
