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

// C0 and C1 controls, DEL, bidirectional overrides and lone surrogates: invisible, not allowed in
// XML (the feeds), or able to reorder what a reader sees. Summaries may break lines.
const OTHER_CONTROLS = '\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff';
const CONTROL = new RegExp(`[\\u0000-\\u001f${OTHER_CONTROLS}]`, 'u');
const CONTROL_EXCEPT_NEWLINE = new RegExp(`[\\u0000-\\u0009\\u000b-\\u001f${OTHER_CONTROLS}]`, 'u');
const MARKUP = /<[a-zA-Z/!?]/;
const ENTITY = /&(?:[a-zA-Z][a-zA-Z0-9]*|#\d+|#x[0-9a-fA-F]+);/;

/**
 * Text shown as text: in pages (escaped), and in feeds whose readers render titles and summaries as
 * HTML. Markup or entities there mean the file was exported as HTML; refuse it with the reason
 * rather than show readers tags or let a feed reader run them.
 */
function plainText(max: number, options: { multiline?: boolean } = {}) {
  const controls = options.multiline ? CONTROL_EXCEPT_NEWLINE : CONTROL;
  return text(max).superRefine((value, ctx) => {
    const markup = MARKUP.exec(value);
    if (markup) {
      const tag = value.slice(markup.index, markup.index + 20).split('>')[0];
      ctx.addIssue({ code: 'custom', message: `must be plain text, without HTML tags (found "${tag}>")` });
      return;
    }
    const entity = ENTITY.exec(value);
    if (entity) {
      ctx.addIssue({
        code: 'custom',
        message: `must be plain text: write the character itself instead of the HTML entity "${entity[0]}"`,
      });
      return;
    }
    const control = controls.exec(value);
    if (control) {
      const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      ctx.addIssue({
        code: 'custom',
        message: `must not contain control characters (found U+${code}${options.multiline ? '' : '; this field is one line'})`,
      });
    }
  });
}

/** One article as written by an editor or an import file, before sanitising. */
export const articleInputSchema = z
  .object({
    slug,
    // A section name also becomes an attribute of the Atom feed's category, where "<" is not allowed.
    section: plainText(60).refine((v) => !/[<>]/.test(v), 'must not contain "<" or ">"'),
    title: plainText(200),
    dateline: plainText(120),
    byline: plainText(120),
    summary: plainText(600, { multiline: true }),
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
