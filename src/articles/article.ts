import { z } from 'zod';

/** An article as the rest of the feature sees it: plain data, no mongoose. */
export interface Article {
  slug: string;
  /** Display name of the section, e.g. "Science & Space". */
  section: string;
  /** URL form of the section, derived from its name. */
  sectionSlug: string;
  title: string;
  /** Where the story was filed from, e.g. "Tromsø, Norway". */
  dateline: string;
  byline: string;
  /** Plain text, shown in lists and feeds. */
  summary: string;
  /** Sanitised HTML. */
  body: string;
  publishedAt: Date;
  related: string[];
  updatedAt: Date;
}

/** The fields of a list entry: everything but the body. */
export type ArticleSummary = Omit<Article, 'body' | 'related'>;

export const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const slug = z.string().trim().max(120).regex(slugPattern, 'must be lowercase words joined by dashes');
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

/** One article as written by an editor or an import file, before sanitising. */
export const articleInputSchema = z
  .object({
    slug,
    section: text(60),
    title: text(200),
    dateline: text(120),
    byline: text(120),
    summary: text(600),
    body: text(200_000),
    publishedAt: z.coerce
      .date()
      .refine((d) => !Number.isNaN(d.getTime()), 'must be a date such as 2026-11-02T09:00:00Z'),
    related: z.array(slug).max(12).default([]),
  })
  .strict();

export type ArticleInput = z.input<typeof articleInputSchema>;
export type ValidArticleInput = z.output<typeof articleInputSchema>;

/** "Science & Space" → "science-space". */
export function sectionSlugOf(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
