import { Router, type Application, type Request, type Response } from 'express';
import { z } from 'zod';
import type { AppConfig } from '../config.js';
import type { ConsentRequestState } from '../consent/index.js';
import { notFound } from '../errors.js';
import { slugPattern } from './article.js';
import { buildDonationPanel } from '../donations/panel.js';
import { articleUrl, buildFeeds, feedContentTypes } from './feeds.js';
import { cachedPage, type CachedPage, type PageCache } from './page-cache.js';
import { createDateFormatter, presentListed, shareLinks, type NavSection } from './presenters.js';
import type { ArticleService } from './service.js';

/** Shared caches (a CDN) may keep a page a minute and serve it stale while they fetch a new one. */
export const publicCacheControl = 'public, max-age=60, stale-while-revalidate=300';
/** A page that differs per reader must never be stored by a shared cache. */
export const privateCacheControl = 'private, no-cache';

/**
 * Optional categories that change each page: the comments widget sits under articles only. Pages
 * are cached per consent variant (see src/consent/state.ts), never per reader.
 */
const articleUses = ['comments'] as const;
const noUses = [] as const;

const htmlType = 'text/html; charset=utf-8';

/** Only a plain positive page number names a page; anything else is a page that does not exist. */
const pageQuerySchema = z.object({
  page: z
    .string()
    .regex(/^[1-9]\d{0,5}$/)
    .transform(Number)
    .optional(),
});
const slugSchema = z.string().regex(slugPattern).max(120);

interface PageSource {
  view: string;
  context: Record<string, unknown>;
  lastModified: Date | null;
}

function renderView(app: Application, view: string, context: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    app.render(view, context, (err, html) => (err ? reject(err) : resolve(html ?? '')));
  });
}

function sendPage(res: Response, page: CachedPage, perReader: boolean): void {
  res.set('Cache-Control', perReader ? privateCacheControl : publicCacheControl);
  res.set('ETag', page.etag);
  if (page.lastModifiedHeader) res.set('Last-Modified', page.lastModifiedHeader);
  // Express answers 304 itself when the request's validators match these headers.
  res.type(page.contentType).send(page.body);
}

function pageNumber(req: Request): number {
  const parsed = pageQuerySchema.safeParse(req.query);
  if (!parsed.success) throw notFound();
  return parsed.data.page ?? 1;
}

function slugParam(value: unknown): string {
  const parsed = slugSchema.safeParse(value);
  if (!parsed.success) throw notFound();
  return parsed.data;
}

export interface ArticleRoutesDeps {
  config: AppConfig;
  service: ArticleService;
  cache: PageCache;
  navSections: () => Promise<NavSection[]>;
}

export function createArticleRoutes(deps: ArticleRoutesDeps): Router {
  const { config, service, cache } = deps;
  const formatDate = createDateFormatter(config);
  const base = config.site.publicUrl;
  const router = Router();

  /**
   * Renders a page once per consent variant and serves it from the cache after that. Readers who
   * have made a choice get their variant as `private` (a shared cache keeps only the no-choice
   * pages, which hold no reader's data). When an earlier middleware marks the request as per-reader
   * (res.locals.perReader), the page is rendered with res.locals instead and not cached.
   */
  async function serve(
    req: Request,
    res: Response,
    page: { key: string; path: string; uses: readonly string[] },
    load: () => Promise<PageSource | null>,
  ) {
    const perReader = res.locals.perReader === true;
    const consent = (res.locals.consentState as ConsentRequestState | undefined)?.forPage(page.uses) ?? null;
    const key = `${page.key}|${consent?.key ?? '-'}`;
    const shared = !perReader && (consent === null || consent.ask);
    const hit = perReader ? undefined : cache.peek(key);
    if (hit) return sendPage(res, hit, !shared);
    const build = async (): Promise<CachedPage | null> => {
      const source = await load();
      if (!source) return null;
      const navSections = await deps.navSections();
      const context = { ...source.context, navSections, consent, consentReturn: page.path };
      const html = await renderView(
        req.app,
        source.view,
        perReader ? { ...res.locals, ...context } : context,
      );
      return cachedPage(html, htmlType, source.lastModified);
    };
    let built: CachedPage | null;
    if (perReader) {
      await cache.ensureFresh();
      built = await build();
    } else {
      built = await cache.get(key, build);
    }
    if (!built) throw notFound();
    sendPage(res, built, !shared);
  }

  router.get('/', async (req, res) => {
    const page = pageNumber(req);
    const path = page > 1 ? `/?page=${page}` : '/';
    await serve(req, res, { key: `home:${page}`, path, uses: noUses }, async () => {
      const home = await service.homePage(page);
      if (!home) return null;
      return {
        view: 'home.njk',
        lastModified: home.lastModified,
        context: {
          title: page > 1 ? `Latest stories, page ${page}` : undefined,
          description: config.site.tagline,
          canonical: page > 1 ? `${base}/?page=${page}` : `${base}/`,
          groups: home.groups.map((g) => ({
            ...g,
            articles: g.articles.map((a) => presentListed(a, formatDate)),
          })),
          pagination: home.pagination,
          basePath: '/',
        },
      };
    });
  });

  router.get('/section/:slug', async (req, res) => {
    const slug = slugParam(req.params.slug);
    const page = pageNumber(req);
    const path = `/section/${slug}${page > 1 ? `?page=${page}` : ''}`;
    await serve(req, res, { key: `section:${slug}:${page}`, path, uses: noUses }, async () => {
      const section = await service.sectionPage(slug, page);
      if (!section) return null;
      return {
        view: 'section.njk',
        lastModified: section.lastModified,
        context: {
          title: page > 1 ? `${section.section.name}, page ${page}` : section.section.name,
          description: `The latest ${section.section.name} stories from ${config.site.name}.`,
          canonical: `${base}/section/${slug}${page > 1 ? `?page=${page}` : ''}`,
          currentSection: slug,
          section: section.section,
          articles: section.articles.map((a) => presentListed(a, formatDate)),
          pagination: section.pagination,
          basePath: `/section/${slug}`,
        },
      };
    });
  });

  router.get('/articles/:slug', async (req, res) => {
    const slug = slugParam(req.params.slug);
    const path = `/articles/${slug}`;
    await serve(req, res, { key: `article:${slug}`, path, uses: articleUses }, async () => {
      const found = await service.articlePage(slug);
      if (!found) return null;
      const { article } = found;
      const url = articleUrl(base, article.slug);
      return {
        view: 'articles/article.njk',
        lastModified: found.lastModified,
        context: {
          title: article.title,
          description: article.summary,
          canonical: url,
          currentSection: article.sectionSlug,
          article: {
            ...presentListed(article, formatDate),
            body: article.body,
          },
          next: found.next ? presentListed(found.next, formatDate) : null,
          related: found.related.map((r) => presentListed(r, formatDate)),
          share: shareLinks(url, article.title),
          donationPanel: buildDonationPanel(config, { articleSlug: article.slug }),
        },
      };
    });
  });

  router.get('/support', async (req, res) => {
    await serve(req, res, { key: 'support', path: '/support', uses: noUses }, async () => ({
      view: 'support.njk',
      lastModified: null,
      context: {
        title: 'Support our journalism',
        description: `${config.site.name} has no paywall. Readers like you keep it that way.`,
        canonical: `${base}/support`,
        donationPanel: buildDonationPanel(config),
      },
    }));
  });

  async function serveFeed(res: Response, kind: 'rss' | 'atom') {
    const page = await cache.get(`feed:${kind}`, async () => {
      const articles = await service.feedArticles();
      const feeds = buildFeeds(config, articles);
      const newest = articles.reduce<Date | null>(
        (max, a) => (!max || a.updatedAt > max ? a.updatedAt : max),
        null,
      );
      return cachedPage(feeds[kind], feedContentTypes[kind], newest);
    });
    if (!page) throw notFound();
    sendPage(res, page, false);
  }

  router.get('/feed.xml', (_req, res) => serveFeed(res, 'rss'));
  router.get('/feed.atom', (_req, res) => serveFeed(res, 'atom'));

  return router;
}
