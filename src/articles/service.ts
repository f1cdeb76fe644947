import { createHash } from 'node:crypto';
import type { Article, ArticleSummary, ValidArticleInput } from './article.js';
import { sectionSlugOf } from './article.js';
import { sanitizeArticleBody } from './sanitize.js';
import type {
  ArticleRepository,
  ContentVersion,
  SectionInfo,
  StoredArticle,
  WriteOutcome,
} from './repository.js';

export interface Pagination {
  page: number;
  pageCount: number;
  previousPage: number | null;
  nextPage: number | null;
}

export interface SectionGroup {
  slug: string;
  name: string;
  articles: ArticleSummary[];
}

export interface HomePage {
  groups: SectionGroup[];
  pagination: Pagination;
  lastModified: Date | null;
}

export interface SectionPage {
  section: { slug: string; name: string };
  articles: ArticleSummary[];
  pagination: Pagination;
  lastModified: Date | null;
}

export interface ArticlePage {
  article: Article;
  next: ArticleSummary | null;
  related: ArticleSummary[];
  lastModified: Date;
}

export interface SaveSummary {
  inserted: number;
  updated: number;
  unchanged: number;
}

export interface ArticleServiceOptions {
  pageSize: number;
  feedSize: number;
  /** Called after any local write, so caches can drop what they hold. */
  onChange?: () => void;
}

function newest(dates: Date[]): Date | null {
  let max: Date | null = null;
  for (const d of dates) if (!max || d > max) max = d;
  return max;
}

/** Turns validated input into what is stored: sanitised body, section slug and a content hash. */
export function prepareArticle(input: ValidArticleInput): StoredArticle {
  const body = sanitizeArticleBody(input.body);
  const stored = {
    slug: input.slug,
    section: input.section,
    sectionSlug: sectionSlugOf(input.section),
    title: input.title,
    dateline: input.dateline,
    byline: input.byline,
    summary: input.summary,
    body,
    publishedAt: input.publishedAt,
    related: input.related.filter((s) => s !== input.slug),
  };
  const contentHash = createHash('sha256')
    .update(JSON.stringify({ ...stored, publishedAt: stored.publishedAt.toISOString() }))
    .digest('hex');
  return { ...stored, contentHash };
}

export function createArticleService(repository: ArticleRepository, options: ArticleServiceOptions) {
  const { pageSize } = options;

  function paginate(page: number, total: number): Pagination | null {
    const pageCount = Math.max(1, Math.ceil(total / pageSize));
    if (!Number.isInteger(page) || page < 1 || page > pageCount) return null;
    return {
      page,
      pageCount,
      previousPage: page > 1 ? page - 1 : null,
      nextPage: page < pageCount ? page + 1 : null,
    };
  }

  return {
    /** Stores articles by slug; a repeated import of the same content changes nothing. */
    async saveArticles(
      inputs: ValidArticleInput[],
    ): Promise<{ outcomes: WriteOutcome[]; summary: SaveSummary }> {
      const outcomes = await repository.upsertMany(inputs.map(prepareArticle));
      const summary: SaveSummary = { inserted: 0, updated: 0, unchanged: 0 };
      for (const outcome of outcomes) summary[outcome] += 1;
      if (summary.inserted + summary.updated > 0) options.onChange?.();
      return { outcomes, summary };
    },

    async countArticles(): Promise<number> {
      return repository.count();
    },

    async contentVersion(): Promise<ContentVersion> {
      return repository.contentVersion();
    },

    /** Sections ordered by their newest story. */
    async sections(): Promise<SectionInfo[]> {
      const sections = await repository.listSections();
      return sections.sort(
        (a, b) =>
          b.latestPublishedAt.getTime() - a.latestPublishedAt.getTime() || a.name.localeCompare(b.name),
      );
    },

    /** The latest articles, one page of them, grouped by section in order of each section's newest story. */
    async homePage(page: number): Promise<HomePage | null> {
      const pagination = paginate(page, await repository.countInSection());
      if (!pagination) return null;
      const articles = await repository.listLatest({ skip: (page - 1) * pageSize, limit: pageSize });
      const groups = new Map<string, SectionGroup>();
      for (const article of articles) {
        let group = groups.get(article.sectionSlug);
        if (!group) {
          group = { slug: article.sectionSlug, name: article.section, articles: [] };
          groups.set(article.sectionSlug, group);
        }
        group.articles.push(article);
      }
      return {
        groups: [...groups.values()],
        pagination,
        lastModified: newest(articles.map((a) => a.updatedAt)),
      };
    },

    async sectionPage(sectionSlug: string, page: number): Promise<SectionPage | null> {
      const total = await repository.countInSection(sectionSlug);
      if (total === 0) return null;
      const pagination = paginate(page, total);
      if (!pagination) return null;
      const articles = await repository.listLatest({
        sectionSlug,
        skip: (page - 1) * pageSize,
        limit: pageSize,
      });
      const first = articles[0];
      if (!first) return null;
      return {
        section: { slug: sectionSlug, name: first.section },
        articles,
        pagination,
        lastModified: newest(articles.map((a) => a.updatedAt)),
      };
    },

    async articlePage(slug: string): Promise<ArticlePage | null> {
      const stored = await repository.findBySlug(slug);
      if (!stored) return null;
      // Bodies are sanitised on the way in; doing it again here (once per cache fill) guards
      // against rows written to the store by other means.
      const article = { ...stored, body: sanitizeArticleBody(stored.body) };
      const [next, related] = await Promise.all([
        repository.findNextInSection(article),
        repository.findSummariesBySlugs(article.related),
      ]);
      const shown = [
        article.updatedAt,
        ...(next ? [next.updatedAt] : []),
        ...related.map((r) => r.updatedAt),
      ];
      return { article, next, related, lastModified: newest(shown) ?? article.updatedAt };
    },

    async feedArticles(): Promise<Article[]> {
      return repository.listLatestFull(options.feedSize);
    },
  };
}

export type ArticleService = ReturnType<typeof createArticleService>;
