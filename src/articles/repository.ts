import mongoose, { Schema } from 'mongoose';
import type { Article, ArticleSummary } from './article.js';

/** A stored article plus the hash that lets a repeated import leave it untouched. */
export interface StoredArticle extends Omit<Article, 'updatedAt'> {
  contentHash: string;
}

export interface SectionInfo {
  slug: string;
  name: string;
  latestPublishedAt: Date;
}

/** Changes whenever any article is written or removed, by this process or another. */
export interface ContentVersion {
  newestUpdate: number;
  count: number;
}

interface ArticleDoc extends StoredArticle {
  createdAt: Date;
  updatedAt: Date;
}

const articleSchema = new Schema<ArticleDoc>(
  {
    slug: { type: String, required: true, unique: true },
    section: { type: String, required: true },
    sectionSlug: { type: String, required: true },
    title: { type: String, required: true },
    dateline: { type: String, required: true },
    byline: { type: String, required: true },
    summary: { type: String, required: true },
    body: { type: String, required: true },
    publishedAt: { type: Date, required: true },
    related: { type: [String], default: [] },
    contentHash: { type: String, required: true },
  },
  { collection: 'articles', timestamps: true, versionKey: false },
);
articleSchema.index({ publishedAt: -1, slug: 1 });
articleSchema.index({ sectionSlug: 1, publishedAt: -1, slug: 1 });
articleSchema.index({ updatedAt: -1 });

const ArticleModel =
  (mongoose.models.Article as mongoose.Model<ArticleDoc> | undefined) ??
  mongoose.model<ArticleDoc>('Article', articleSchema);

const summaryFields = {
  _id: 0,
  slug: 1,
  section: 1,
  sectionSlug: 1,
  title: 1,
  dateline: 1,
  byline: 1,
  summary: 1,
  publishedAt: 1,
  updatedAt: 1,
} as const;

const newestFirst = { publishedAt: -1, slug: 1 } as const;

type Lean = Record<string, unknown>;

function toSummary(doc: Lean): ArticleSummary {
  return {
    slug: String(doc.slug),
    section: String(doc.section),
    sectionSlug: String(doc.sectionSlug),
    title: String(doc.title),
    dateline: String(doc.dateline),
    byline: String(doc.byline),
    summary: String(doc.summary),
    publishedAt: new Date(doc.publishedAt as Date),
    updatedAt: new Date(doc.updatedAt as Date),
  };
}

function toArticle(doc: Lean): Article {
  return {
    ...toSummary(doc),
    body: String(doc.body),
    related: Array.isArray(doc.related) ? doc.related.map(String) : [],
  };
}

export type WriteOutcome = 'inserted' | 'updated' | 'unchanged';

/** Article storage. Mongoose stays in here; callers get plain objects. */
export const articleRepository = {
  async count(): Promise<number> {
    return ArticleModel.countDocuments({});
  },

  async contentVersion(): Promise<ContentVersion> {
    const [newest, count] = await Promise.all([
      ArticleModel.findOne({}, { _id: 0, updatedAt: 1 }).sort({ updatedAt: -1 }).lean<Lean>(),
      ArticleModel.countDocuments({}),
    ]);
    const updatedAt = newest?.updatedAt as Date | undefined;
    return { newestUpdate: updatedAt ? new Date(updatedAt).getTime() : 0, count };
  },

  async findBySlug(slug: string): Promise<Article | null> {
    const doc = await ArticleModel.findOne({ slug }, { _id: 0, contentHash: 0, createdAt: 0 }).lean<Lean>();
    return doc ? toArticle(doc) : null;
  },

  /** Summaries for the given slugs, in the order asked for; unknown slugs are left out. */
  async findSummariesBySlugs(slugs: string[]): Promise<ArticleSummary[]> {
    if (slugs.length === 0) return [];
    const docs = await ArticleModel.find({ slug: { $in: slugs } }, summaryFields).lean<Lean[]>();
    const bySlug = new Map(docs.map((d) => [String(d.slug), toSummary(d)]));
    return slugs.flatMap((s) => bySlug.get(s) ?? []);
  },

  async listLatest(options: {
    skip: number;
    limit: number;
    sectionSlug?: string;
  }): Promise<ArticleSummary[]> {
    const filter = options.sectionSlug ? { sectionSlug: options.sectionSlug } : {};
    const docs = await ArticleModel.find(filter, summaryFields)
      .sort(newestFirst)
      .skip(options.skip)
      .limit(options.limit)
      .lean<Lean[]>();
    return docs.map(toSummary);
  },

  /** The newest articles with their bodies, for the feeds. */
  async listLatestFull(limit: number): Promise<Article[]> {
    const docs = await ArticleModel.find({}, { _id: 0, contentHash: 0, createdAt: 0 })
      .sort(newestFirst)
      .limit(limit)
      .lean<Lean[]>();
    return docs.map(toArticle);
  },

  async countInSection(sectionSlug?: string): Promise<number> {
    return ArticleModel.countDocuments(sectionSlug ? { sectionSlug } : {});
  },

  /** The story after this one in its section: the next older one, else the newest other one. */
  async findNextInSection(
    article: Pick<Article, 'slug' | 'sectionSlug' | 'publishedAt'>,
  ): Promise<ArticleSummary | null> {
    const older = await ArticleModel.findOne(
      {
        sectionSlug: article.sectionSlug,
        $or: [
          { publishedAt: { $lt: article.publishedAt } },
          { publishedAt: article.publishedAt, slug: { $gt: article.slug } },
        ],
      },
      summaryFields,
    )
      .sort(newestFirst)
      .lean<Lean>();
    if (older) return toSummary(older);
    const newest = await ArticleModel.findOne(
      { sectionSlug: article.sectionSlug, slug: { $ne: article.slug } },
      summaryFields,
    )
      .sort(newestFirst)
      .lean<Lean>();
    return newest ? toSummary(newest) : null;
  },

  /** Every section that has at least one article, with its newest publication date. */
  async listSections(): Promise<SectionInfo[]> {
    const rows = await ArticleModel.aggregate<{ _id: string; name: string; latest: Date }>([
      { $sort: { publishedAt: -1 } },
      { $group: { _id: '$sectionSlug', name: { $first: '$section' }, latest: { $max: '$publishedAt' } } },
    ]);
    return rows.map((r) => ({ slug: r._id, name: r.name, latestPublishedAt: new Date(r.latest) }));
  },

  /** Inserts new slugs, updates changed ones and leaves identical ones alone (their updatedAt too). */
  async upsertMany(articles: StoredArticle[]): Promise<WriteOutcome[]> {
    if (articles.length === 0) return [];
    const existing = await ArticleModel.find(
      { slug: { $in: articles.map((a) => a.slug) } },
      { _id: 0, slug: 1, contentHash: 1 },
    ).lean<Lean[]>();
    const hashBySlug = new Map(existing.map((d) => [String(d.slug), String(d.contentHash)]));
    const outcomes: WriteOutcome[] = [];
    const ops: mongoose.AnyBulkWriteOperation<ArticleDoc>[] = [];
    for (const article of articles) {
      const hash = hashBySlug.get(article.slug);
      if (hash === article.contentHash) {
        outcomes.push('unchanged');
        continue;
      }
      outcomes.push(hash === undefined ? 'inserted' : 'updated');
      ops.push({ updateOne: { filter: { slug: article.slug }, update: { $set: article }, upsert: true } });
      hashBySlug.set(article.slug, article.contentHash);
    }
    if (ops.length > 0) await ArticleModel.bulkWrite(ops, { ordered: true });
    return outcomes;
  },
};

export type ArticleRepository = typeof articleRepository;
