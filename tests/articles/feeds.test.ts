import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { articleInputSchema, createDefaultArticleService } from '../../src/articles/index.js';
import type { ValidArticleInput } from '../../src/articles/article.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

const hostileTitle = 'x </title><script>alert(1)</script>';
const hostileSummary = 'A summary ]]> with <img src=x onerror=alert(2)> & a "quote"\u0001';
const hostileSection = 'Odd <Section>';

/** Feed readers render these fields as HTML; what they would see once they decode it. */
function decodeHtml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** CDATA sections as the parser keeps them (possibly split in two around "]]>"), joined. */
function cdata(value: unknown): string {
  const node = value as { __cdata?: string | string[] };
  const parts = node.__cdata;
  return Array.isArray(parts) ? parts.join('') : (parts ?? '');
}

describe('feeds with markup in stored titles and summaries', () => {
  let runtime: Runtime;
  const parser = new XMLParser({
    ignoreAttributes: false,
    cdataPropName: '__cdata',
    isArray: (n) => n === 'entry' || n === 'item',
  });

  before(async () => {
    runtime = await startTestRuntime();
    // Stored before titles were validated as plain text (an old import, or a direct write).
    const valid = articleInputSchema.parse({
      slug: 'feed-hostile',
      section: 'Placeholder',
      title: 'Placeholder',
      dateline: 'Testville',
      byline: 'Test Writer',
      summary: 'Placeholder',
      body: '<p>Body.</p>',
      publishedAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const record: ValidArticleInput = {
      ...valid,
      title: hostileTitle,
      summary: hostileSummary,
      section: hostileSection,
    };
    await createDefaultArticleService().saveArticles([record]);
  });
  after(() => runtime.stop());

  it('escapes the title and summary in the Atom feed so readers show them as text', async () => {
    const res = await request(runtime.app).get('/feed.atom').expect(200);
    assert.equal(XMLValidator.validate(res.text), true);
    assert.doesNotMatch(res.text, /<script>/);
    const entry = (
      parser.parse(res.text) as { feed: { entry: Array<Record<string, unknown>> } }
    ).feed.entry.find((e) => String(e.id).endsWith('/articles/feed-hostile'))!;
    assert.ok(entry);
    const title = cdata(entry.title);
    const summary = cdata(entry.summary);
    assert.doesNotMatch(title, /</);
    assert.doesNotMatch(summary, /</);
    assert.equal(decodeHtml(title), hostileTitle);
    assert.equal(decodeHtml(summary), hostileSummary.replace('\u0001', ''));
    assert.equal((entry.category as Record<string, string>)['@_label'], 'Odd Section');
  });

  it('escapes the title and description in the RSS feed', async () => {
    const res = await request(runtime.app).get('/feed.xml').expect(200);
    assert.equal(XMLValidator.validate(res.text), true);
    assert.doesNotMatch(res.text, /<script>|<img/);
    const item = (
      parser.parse(res.text) as { rss: { channel: { item: Array<Record<string, unknown>> } } }
    ).rss.channel.item.find((i) => String(i.link).endsWith('/articles/feed-hostile'))!;
    assert.ok(item);
    assert.equal(decodeHtml(cdata(item.title)), hostileTitle);
    assert.equal(decodeHtml(cdata(item.description)), hostileSummary.replace('\u0001', ''));
  });

  it('names the writer as RSS 2.0 allows: dc:creator in RSS (its author element wants an email), author name in Atom', async () => {
    const rss = await request(runtime.app).get('/feed.xml').expect(200);
    assert.equal(XMLValidator.validate(rss.text), true);
    assert.match(rss.text, /<rss[^>]* xmlns:dc="http:\/\/purl\.org\/dc\/elements\/1\.1\/"/);
    assert.doesNotMatch(rss.text, /<author>/);
    const item = (
      parser.parse(rss.text) as { rss: { channel: { item: Array<Record<string, unknown>> } } }
    ).rss.channel.item.find((i) => String(i.link).endsWith('/articles/feed-hostile'))!;
    assert.equal(item['dc:creator'], 'Test Writer');

    const atom = await request(runtime.app).get('/feed.atom').expect(200);
    const entry = (
      parser.parse(atom.text) as { feed: { entry: Array<Record<string, unknown>> } }
    ).feed.entry.find((e) => String(e.id).endsWith('/articles/feed-hostile'))!;
    assert.deepEqual(entry.author, { name: 'Test Writer' });
  });
});
