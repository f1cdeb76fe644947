import { Feed } from 'feed';
import type { AppConfig } from '../config.js';
import type { Article } from './article.js';

export const feedContentTypes = {
  rss: 'application/rss+xml; charset=utf-8',
  atom: 'application/atom+xml; charset=utf-8',
} as const;

export function articleUrl(publicUrl: string, slug: string): string {
  return `${publicUrl}/articles/${encodeURIComponent(slug)}`;
}

/** The RSS 2.0 and Atom documents for the newest articles, every link absolute. */
export function buildFeeds(config: AppConfig, articles: Article[]): { rss: string; atom: string } {
  const base = config.site.publicUrl;
  let updated = new Date(0);
  for (const a of articles) if (a.updatedAt > updated) updated = a.updatedAt;
  const feed = new Feed({
    id: `${base}/`,
    title: config.site.name,
    description: config.site.tagline,
    link: `${base}/`,
    language: config.site.locale.split('-')[0] ?? 'en',
    updated,
    generator: false,
    copyright: `© ${config.site.name}`,
    feedLinks: { rss: `${base}/feed.xml`, atom: `${base}/feed.atom` },
    ttl: 15,
  });
  for (const article of articles) {
    const link = articleUrl(base, article.slug);
    feed.addItem({
      title: article.title,
      id: link,
      guid: link,
      link,
      date: article.publishedAt,
      published: article.publishedAt,
      description: article.summary,
      content: article.body,
      author: [{ name: article.byline }],
      category: [{ name: article.section, domain: `${base}/section/${article.sectionSlug}` }],
    });
  }
  return { rss: feed.rss2(), atom: feed.atom1() };
}
