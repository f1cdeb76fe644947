import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { startTestRuntime } from '../helpers/runtime.js';
import type { Runtime } from '../../src/runtime.js';

const ARTICLE = 'coastal-marsh-returns-after-sea-wall-is-opened';

describe('reader pages', () => {
  let runtime: Runtime;

  before(async () => {
    runtime = await startTestRuntime();
  });
  after(async () => {
    await runtime.stop();
  });

  describe('home page', () => {
    it('lists the latest articles grouped by section, with section navigation', async () => {
      const res = await request(runtime.app)
        .get('/')
        .expect(200)
        .expect('Content-Type', /text\/html/);
      assert.match(res.text, /<nav aria-label="Sections">/);
      for (const section of ['climate', 'science-space', 'cities', 'technology']) {
        assert.match(res.text, new RegExp(`href="/section/${section}"`));
      }
      assert.ok((res.text.match(/class="section-group"/g) ?? []).length >= 3);
      // The newest demo story leads the page.
      const first = res.text.indexOf('River towns rebuild their flood walls');
      const older = res.text.indexOf('School streets close to cars');
      assert.ok(first > 0 && (older === -1 || first < older));
      assert.match(res.text, /href="\/\?page=2"/);
    });

    it('serves the second page and answers 404 beyond the last one', async () => {
      const second = await request(runtime.app).get('/?page=2').expect(200);
      assert.match(second.text, /Page 2 of 2/);
      assert.match(second.text, /School streets close to cars at the bell/);
      await request(runtime.app).get('/?page=3').expect(404);
    });

    it('answers 404 for page numbers that are not positive integers', async () => {
      for (const page of ['0', '-1', 'abc', '1.5', '99999999']) {
        await request(runtime.app).get(`/?page=${page}`).expect(404);
      }
    });
  });

  describe('section page', () => {
    it('lists only the articles of that section and marks it current in the navigation', async () => {
      const res = await request(runtime.app).get('/section/cities').expect(200);
      assert.match(res.text, /<h1>Cities/);
      assert.match(res.text, /href="\/section\/cities" aria-current="page"/);
      assert.match(res.text, /Night buses return to the eastern wards/);
      assert.doesNotMatch(res.text, /A coastal marsh returns/);
    });

    it('answers 404 for an unknown section and for a page past its end', async () => {
      await request(runtime.app).get('/section/no-such-section').expect(404);
      await request(runtime.app).get('/section/cities?page=2').expect(404);
    });
  });

  describe('article page', () => {
    it('names the article in every form of its donation panel, so a gift from it is attributed to it', async () => {
      const page = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      const forms = page.text.match(/<form class="plan"[\s\S]*?<\/form>/g) ?? [];
      assert.ok(forms.length >= 2, 'one form per plan');
      for (const form of forms)
        assert.ok(form.includes(`<input type="hidden" name="article" value="${ARTICLE}">`));
      const support = await request(runtime.app).get('/support').expect(200);
      assert.doesNotMatch(support.text, /name="article"/, 'the support page is no article');
    });

    it('shows the section, dateline, byline, body, teaser and related links', async () => {
      const res = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      assert.match(
        res.text,
        /<h1 id="article-title">A coastal marsh returns, ten years after the sea wall was opened<\/h1>/,
      );
      assert.match(res.text, /class="section-label"><a href="\/section\/climate">Climate<\/a>/);
      assert.match(res.text, /by Ines Marchetti/);
      assert.match(res.text, /Saltmere · <time datetime="2026-11-12T07:00:00.000Z">/);
      assert.match(res.text, /<h2>What the numbers show<\/h2>/);
      // The next story in the section is the next older one.
      assert.match(
        res.text,
        /Next in Climate[\s\S]*Insurers start pricing flood risk street by street[\s\S]*Read more/,
      );
      assert.match(
        res.text,
        /Related stories[\s\S]*href="\/articles\/river-towns-rebuild-flood-walls-with-salvaged-stone"/,
      );
    });

    it('offers plain share links with absolute URLs and no third-party script', async () => {
      const res = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      const absolute = encodeURIComponent(`${runtime.config.site.publicUrl}/articles/${ARTICLE}`);
      assert.match(
        res.text,
        new RegExp(`href="https://www.reddit.com/submit\\?url=${absolute.replace(/[.%]/g, '\\$&')}`),
      );
      assert.doesNotMatch(res.text, /<script/);
      assert.doesNotMatch(res.text, /<iframe/);
    });

    it('renders a comments placeholder that points to the privacy page instead of loading a widget', async () => {
      const res = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      const comments = /<section class="comments" id="comments"[\s\S]*?<\/section>/.exec(res.text)?.[0] ?? '';
      assert.match(comments, /third-party service/);
      assert.match(comments, /href="\/privacy"/);
    });

    it('shows the donation panel under the article with one form per plan', async () => {
      const res = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      const panelAt = res.text.indexOf('class="donation-panel"');
      assert.ok(panelAt > res.text.indexOf('</article>'));
      const forms =
        res.text.match(/<form class="plan" method="post" action="\/donate"[\s\S]*?<\/form>/g) ?? [];
      assert.equal(forms.length, 2);
      const [contributor, monthly] = forms as [string, string];
      assert.match(contributor, /Contributor[\s\S]*How much would you like to give\?/);
      assert.match(
        contributor,
        /type="radio" class="amount-choice" id="[^"]+" name="amount" value="5.00" checked>/,
      );
      assert.match(contributor, /name="amount" value="other">/);
      assert.match(contributor, /name="plan" value="contributor"/);
      assert.match(contributor, /name="provider" value="stripe">Card</);
      assert.match(contributor, /name="provider" value="paypal"[^>]*>PayPal</);
      assert.match(contributor, /type="text" id="[^"]+" name="otherAmount" inputmode="decimal"/);
      assert.match(contributor, /type="hidden" name="currency" value="USD"/);
      assert.match(
        contributor,
        /<div class="hp-field" aria-hidden="true">[\s\S]*name="website"[^>]*tabindex="-1" autocomplete="off"/,
      );
      assert.match(monthly, /Monthly Supporter[\s\S]*How much would you like to give each month\?/);
      assert.match(monthly, /charged today and then on the same day each month/);
      assert.match(monthly, /value="paypal"/);
    });

    it('answers an unknown slug with a real 404 page', async () => {
      const res = await request(runtime.app)
        .get('/articles/no-such-story')
        .expect(404)
        .expect('Content-Type', /html/);
      assert.match(res.text, /Page not found/);
      assert.notEqual(res.headers['cache-control'], 'public, max-age=60, stale-while-revalidate=300');
      await request(runtime.app).get('/articles/Not%20A%20Slug').expect(404);
    });

    it('keeps the site navigation on error pages, also for a refusal made before any page route', async () => {
      const missing = await request(runtime.app).get('/no-such-page').expect(404);
      const refused = await request(runtime.app)
        .post('/donate')
        .set('Origin', 'https://elsewhere.example')
        .type('form')
        .send({ plan: 'contributor', provider: 'stripe' })
        .expect(403);
      const expired = await request(runtime.app).get('/manage/not-a-link').expect(404);
      for (const page of [missing, refused, expired]) {
        assert.match(page.text, /<nav aria-label="Sections">[\s\S]*href="\/section\/climate"/);
        assert.match(page.text, /<link rel="icon" href="\/static\/favicon.svg" type="image\/svg\+xml">/);
      }
    });
  });

  describe('support page', () => {
    it('shows the donation panel with both plans', async () => {
      const res = await request(runtime.app).get('/support').expect(200);
      assert.match(res.text, /<h1>Support our journalism<\/h1>/);
      assert.equal((res.text.match(/action="\/donate"/g) ?? []).length, 2);
    });

    it('offers the form to email a new manage link', async () => {
      const res = await request(runtime.app).get('/support').expect(200);
      assert.match(res.text, /<form class="manage-link-form" method="post" action="\/manage\/link">/);
      assert.match(res.text, /Email me a link/);
    });
  });

  describe('privacy and caching', () => {
    for (const url of [
      '/',
      '/section/climate',
      `/articles/${ARTICLE}`,
      '/support',
      '/feed.xml',
      '/feed.atom',
    ]) {
      it(`sets no cookie and lets shared caches keep ${url}`, async () => {
        const res = await request(runtime.app).get(url).expect(200);
        assert.equal(res.headers['set-cookie'], undefined);
        assert.equal(res.headers['cache-control'], 'public, max-age=60, stale-while-revalidate=300');
        assert.match(res.headers.etag ?? '', /^"[^"]+"$/, 'a strong ETag');
      });
    }

    it('dates an article page by its newest shown article', async () => {
      const res = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      const lastModified = Date.parse(res.headers['last-modified'] ?? '');
      assert.ok(Number.isFinite(lastModified));
      assert.ok(lastModified <= Date.now());
    });

    it('answers a conditional GET with a matching ETag with 304 and no body', async () => {
      const first = await request(runtime.app).get(`/articles/${ARTICLE}`).expect(200);
      const res = await request(runtime.app)
        .get(`/articles/${ARTICLE}`)
        .set('If-None-Match', first.headers.etag!)
        .expect(304);
      assert.equal(res.text ?? '', '');
      assert.equal(res.headers.etag, first.headers.etag);
    });

    it('answers a conditional GET with a current If-Modified-Since with 304', async () => {
      const first = await request(runtime.app).get('/section/climate').expect(200);
      await request(runtime.app)
        .get('/section/climate')
        .set('If-Modified-Since', first.headers['last-modified']!)
        .expect(304);
    });

    it('answers 200 when the ETag no longer matches', async () => {
      await request(runtime.app).get(`/articles/${ARTICLE}`).set('If-None-Match', '"stale"').expect(200);
    });

    it('serves identical bytes and ETag from the render cache on repeated requests', async () => {
      const a = await request(runtime.app).get('/').expect(200);
      const b = await request(runtime.app).get('/?utm_source=newsletter').expect(200);
      assert.equal(a.headers.etag, b.headers.etag);
      assert.equal(a.text, b.text);
    });
  });
});
