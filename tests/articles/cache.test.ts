import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from 'express';
import request from 'supertest';
import { startTestRuntime } from '../helpers/runtime.js';
import type { Runtime } from '../../src/runtime.js';
import { createApp } from '../../src/app.js';
import {
  createArticlesFeature,
  createDefaultArticleService,
  importArticles,
  parseImportText,
} from '../../src/articles/index.js';
import { PageCache } from '../../src/articles/page-cache.js';

function row(slug: string, title: string) {
  return JSON.stringify({
    slug,
    section: 'Climate',
    title,
    dateline: 'Elsewhere',
    byline: 'Second Process',
    summary: 'Written by another process.',
    body: '<p>Text.</p>',
    publishedAt: '2030-01-01T00:00:00Z',
  });
}

describe('render cache', () => {
  let runtime: Runtime;

  before(async () => {
    runtime = await startTestRuntime();
  });
  after(async () => {
    await runtime.stop();
  });

  /** A second app on the same store, as another process behind the load balancer would be. */
  function otherProcess(versionCheckIntervalMs: number, routers: Router[] = []) {
    const feature = createArticlesFeature({
      config: runtime.config,
      logger: runtime.logger,
      options: { versionCheckIntervalMs },
    });
    return createApp({
      config: runtime.config,
      logger: runtime.logger,
      store: runtime.store,
      formActionOrigins: [],
      routers: [...routers, feature.router],
    });
  }

  it('notices articles written by another process once the content version is checked again', async () => {
    const app = otherProcess(50);
    const before = await request(app).get('/section/climate').expect(200);
    assert.doesNotMatch(before.text, /From the other process/);

    await importArticles(
      createDefaultArticleService(),
      parseImportText(row('from-elsewhere', 'From the other process')),
    );
    await new Promise((resolve) => setTimeout(resolve, 80));

    const after = await request(app).get('/section/climate').expect(200);
    assert.match(after.text, /From the other process/);
    assert.notEqual(after.headers.etag, before.headers.etag);
    // The old validator no longer matches, so a conditional GET gets the new page.
    await request(app).get('/section/climate').set('If-None-Match', before.headers.etag!).expect(200);
  });

  it('keeps serving the cached page between content version checks', async () => {
    const app = otherProcess(60_000);
    const first = await request(app).get('/').expect(200);
    await importArticles(
      createDefaultArticleService(),
      parseImportText(row('quiet-change', 'A quiet change')),
    );
    const second = await request(app).get('/').expect(200);
    assert.equal(second.text, first.text);
  });

  it('renders a page marked per-reader fresh and as private', async () => {
    const markPerReader = Router().use((req, res, next) => {
      if (req.get('cookie')?.includes('consent=')) res.locals.perReader = true;
      next();
    });
    const app = otherProcess(1000, [markPerReader]);
    const shared = await request(app).get('/support').expect(200);
    assert.match(shared.headers['cache-control'] ?? '', /^public/);
    const personal = await request(app).get('/support').set('Cookie', 'consent=abc').expect(200);
    assert.equal(personal.headers['cache-control'], 'private, no-cache');
    assert.equal(personal.headers['set-cookie'], undefined);
  });
});

describe('PageCache', () => {
  const page = (body: string) => ({
    body: Buffer.from(body),
    contentType: 'text/plain',
    etag: `"${body}"`,
    lastModified: null,
    lastModifiedHeader: null,
  });

  it('builds a page once for concurrent misses of the same key', async () => {
    const cache = new PageCache({
      maxEntries: 10,
      versionCheckIntervalMs: 1000,
      readVersion: async () => ({ newestUpdate: 1, count: 1 }),
    });
    let builds = 0;
    const build = async () => {
      builds += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return page('x');
    };
    const results = await Promise.all([cache.get('k', build), cache.get('k', build), cache.get('k', build)]);
    assert.equal(builds, 1);
    assert.deepEqual(results, [page('x'), page('x'), page('x')]);
  });

  it('drops everything when the content version changes and the least recently used page when full', async () => {
    let version = { newestUpdate: 1, count: 1 };
    let clock = 0;
    const cache = new PageCache({
      maxEntries: 2,
      versionCheckIntervalMs: 100,
      readVersion: async () => version,
      now: () => clock,
    });
    await cache.get('a', async () => page('a'));
    await cache.get('b', async () => page('b'));
    await cache.get('a', async () => page('a2'));
    await cache.get('c', async () => page('c'));
    assert.equal(cache.size, 2);
    assert.deepEqual(
      await cache.get('a', async () => page('a3')),
      page('a'),
      'a was used recently and stays',
    );
    assert.deepEqual(await cache.get('b', async () => page('b2')), page('b2'), 'b was evicted');

    version = { newestUpdate: 2, count: 1 };
    assert.deepEqual(await cache.get('a', async () => page('a4')), page('a'), 'not checked again yet');
    clock = 150;
    assert.deepEqual(await cache.get('a', async () => page('a5')), page('a5'));
  });

  it('does not keep a page built before an invalidation', async () => {
    const cache = new PageCache({
      maxEntries: 10,
      versionCheckIntervalMs: 1000,
      readVersion: async () => ({ newestUpdate: 1, count: 1 }),
    });
    const stale = cache.get('k', async () => {
      cache.invalidate();
      return page('old');
    });
    assert.deepEqual(await stale, page('old'));
    assert.deepEqual(await cache.get('k', async () => page('new')), page('new'));
  });
});
