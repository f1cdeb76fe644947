import { Feed, type FeedOptions, type Item } from 'feed';
import type { AppConfig } from '../config.js';
import type { Article } from './article.js';
import { sanitizeArticleBody } from './sanitize.js';

export const feedContentTypes = {
  rss: 'application/rss+xml; charset=utf-8',
  atom: 'application/atom+xml; charset=utf-8',
} as const;

export function articleUrl(publicUrl: string, slug: string): string {
  return `${publicUrl}/articles/${encodeURIComponent(slug)}`;
}

// Characters XML 1.0 does not allow at all; one of them makes a whole feed unreadable.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udfff]/gu;

function xmlText(value: string): string {
  return value.replace(NOT_XML, '');
}

/**
 * Titles and summaries are plain text, but the feed library writes them into fields that feed
 * readers render as HTML (Atom `type="html"`, RSS `<description>`), inside CDATA. Escaping them
 * as HTML makes readers show the text as written, tags and all, instead of running it.
 */
function htmlEscaped(value: string): string {
  return xmlText(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The library escapes only "&" in attribute values (the Atom category label); "<" would break the XML. */
function attributeText(value: string): string {
  return xmlText(value).replace(/[<>]/g, '');
}

/** The RSS 2.0 and Atom documents for the newest articles, every link absolute, every field escaped. */
export function buildFeeds(config: AppConfig, articles: Article[]): { rss: string; atom: string } {
  const base = config.site.publicUrl;
  let updated = new Date(0);
  for (const a of articles) if (a.updatedAt > updated) updated = a.updatedAt;
  const options: FeedOptions = {
    id: `${base}/`,
    title: xmlText(config.site.name),
    description: xmlText(config.site.tagline),
    link: `${base}/`,
    language: config.site.locale.split('-')[0] ?? 'en',
    updated,
    generator: false,
    copyright: xmlText(`© ${config.site.name}`),
    feedLinks: { rss: `${base}/feed.xml`, atom: `${base}/feed.atom` },
    ttl: 15,
  };
  // Two documents: RSS 2.0's <author> must be an email address, which bylines are not, so the RSS
  // feed names the writer in <dc:creator> (the RSS Best Practices Profile); Atom has <author><name>.
  const rssFeed = new Feed(options);
  const atomFeed = new Feed(options);
  for (const article of articles) {
    const link = articleUrl(base, article.slug);
    const item: Item = {
      title: htmlEscaped(article.title),
      id: link,
      guid: link,
      link,
      date: article.publishedAt,
      published: article.publishedAt,
      description: htmlEscaped(article.summary),
      // Sanitised when saved; again here, so a record written before a rule existed cannot reach readers.
      content: xmlText(sanitizeArticleBody(article.body)),
      category: [{ name: attributeText(article.section), domain: `${base}/section/${article.sectionSlug}` }],
    };
    const byline = xmlText(article.byline);
    // The dc namespace is declared by the library whenever items carry content (always here).
    rssFeed.addItem({ ...item, extensions: [{ name: 'dc:creator', objects: { _text: byline } }] });
    atomFeed.addItem({ ...item, author: [{ name: byline }] });
  }
  return { rss: rssFeed.rss2(), atom: atomFeed.atom1() };
}
