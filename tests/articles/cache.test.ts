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
import { choose, consentCookieOf, consentIdOf, hasBanner, hasIframe } from '../consent/helpers.js';

const ARTICLE = '/articles/coastal-marsh-returns-after-sea-wall-is-opened';

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

describe('render cache and consent', () => {
  let runtime: Runtime;

  before(async () => {
    runtime = await startTestRuntime({}, { backgroundJobs: false });
  });
  after(async () => {
    await runtime.stop();
  });

  const get = (url: string, headers: Record<string, string> = {}) => {
    let req = request(runtime.app).get(url);
    for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
    return req.expect(200);
  };

  it('never serves one reader the banner state, consent id or widget of another', async () => {
    const accepted = [consentCookieOf(await choose(runtime.app, 'accept_all'))];
    accepted.push(consentCookieOf(await choose(runtime.app, 'accept_all')));
    const refused = consentCookieOf(await choose(runtime.app, 'reject_all'));
    const ids = [...accepted, refused].map(consentIdOf);

    // Interleaved, so each variant is built once and then served from the cache.
    for (let round = 0; round < 3; round++) {
      const [a1, stranger, r, a2, gpc] = await Promise.all([
        get(ARTICLE, { Cookie: accepted[0]! }),
        get(ARTICLE),
        get(ARTICLE, { Cookie: refused }),
        get(ARTICLE, { Cookie: accepted[1]! }),
        get(ARTICLE, { 'Sec-GPC': '1' }),
      ]);
      assert.ok(hasIframe(a1.text) && !hasBanner(a1.text), 'an accepting reader gets the widget, no banner');
      assert.ok(hasBanner(stranger.text) && !hasIframe(stranger.text), 'a new reader gets the banner only');
      assert.ok(!hasBanner(r.text) && !hasIframe(r.text), 'a refusing reader gets neither');
      assert.match(gpc.text, /opt-out signal is honoured/);
      assert.doesNotMatch(stranger.text, /opt-out signal is honoured/);
      // Readers in the same state share one cached page; different states never share an ETag.
      assert.equal(a1.headers.etag, a2.headers.etag);
      assert.equal(a1.text, a2.text);
      assert.equal(new Set([a1, stranger, r, gpc].map((p) => p.headers.etag)).size, 4);
      for (const page of [a1, stranger, r, a2, gpc]) {
        for (const id of ids) assert.ok(!page.text.includes(id), 'no consent id in a page');
        assert.equal(page.headers['set-cookie'], undefined);
        assert.equal(page.headers.vary, 'Cookie, Sec-GPC');
      }
      assert.match(stranger.headers['cache-control'] ?? '', /^public/);
      assert.match(gpc.headers['cache-control'] ?? '', /^public/);
      for (const page of [a1, r, a2]) assert.equal(page.headers['cache-control'], 'private, no-cache');
    }
  });

  it('keys conditional GETs on the consent state', async () => {
    const shared = await get(ARTICLE);
    await request(runtime.app).get(ARTICLE).set('If-None-Match', shared.headers.etag!).expect(304);
    const cookie = consentCookieOf(await choose(runtime.app, 'accept_all'));
    const mine = await request(runtime.app)
      .get(ARTICLE)
      .set('Cookie', cookie)
      .set('If-None-Match', shared.headers.etag!)
      .expect(200);
    assert.ok(hasIframe(mine.text));
    await request(runtime.app)
      .get(ARTICLE)
      .set('Cookie', cookie)
      .set('If-None-Match', mine.headers.etag!)
      .expect(304);
  });

  it('keeps a handful of variants per page, however many readers', async () => {
    const readers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => choose(runtime.app, i % 2 ? 'accept_all' : 'reject_all')),
    );
    const etags = new Set<string>();
    for (const res of readers)
      etags.add((await get('/support', { Cookie: consentCookieOf(res) })).headers.etag!);
    // Comments do not change /support, so accepting and refusing readers share one page there.
    assert.equal(etags.size, 1);
    const articleTags = new Set<string>();
    for (const res of readers)
      articleTags.add((await get(ARTICLE, { Cookie: consentCookieOf(res) })).headers.etag!);
    assert.equal(articleTags.size, 2);
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
