import type { AppConfig } from '../config.js';
import type { ArticleSummary } from './article.js';

export interface NavSection {
  slug: string;
  name: string;
}

export interface ListedArticle extends ArticleSummary {
  url: string;
  publishedIso: string;
  publishedDisplay: string;
}

/** Formats dates for readers in the site's locale, always on the UTC calendar day. */
export function createDateFormatter(config: AppConfig): (date: Date) => string {
  const format = new Intl.DateTimeFormat(config.site.locale, { dateStyle: 'long', timeZone: 'UTC' });
  return (date) => format.format(date);
}

export function presentListed(article: ArticleSummary, formatDate: (d: Date) => string): ListedArticle {
  return {
    ...article,
    url: `/articles/${article.slug}`,
    publishedIso: article.publishedAt.toISOString(),
    publishedDisplay: formatDate(article.publishedAt),
  };
}

/** Plain share links: each is an ordinary URL on the service's side, no script of theirs on ours. */
export function shareLinks(absoluteUrl: string, title: string): Array<{ name: string; href: string }> {
  const url = encodeURIComponent(absoluteUrl);
  const text = encodeURIComponent(title);
  return [
    { name: 'Email', href: `mailto:?subject=${text}&body=${url}` },
    { name: 'Bluesky', href: `https://bsky.app/intent/compose?text=${text}%20${url}` },
    { name: 'LinkedIn', href: `https://www.linkedin.com/sharing/share-offsite/?url=${url}` },
    { name: 'Reddit', href: `https://www.reddit.com/submit?url=${url}&title=${text}` },
    { name: 'Facebook', href: `https://www.facebook.com/sharer/sharer.php?u=${url}` },
  ];
}
