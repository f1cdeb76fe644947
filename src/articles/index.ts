import type { RequestHandler, Router } from 'express';
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { articleInputSchema } from './article.js';
import { demoArticles } from './demo-content.js';
import { PageCache } from './page-cache.js';
import type { NavSection } from './presenters.js';
import { articleRepository } from './repository.js';
import { createArticleRoutes } from './routes.js';
import { createArticleService, type ArticleService } from './service.js';

export { articleInputSchema, type Article, type ArticleInput } from './article.js';
export { parseImportText, importArticles, type ImportReport, type ImportRowError } from './import.js';

export interface ArticlesFeature {
  /** GET /, /section/:slug, /articles/:slug, /support, /feed.xml, /feed.atom */
  router: Router;
  /**
   * Gives every page rendered after it — other features' pages, error pages, refusals made before
   * any router — the site navigation: the last section list computed, read without a query.
   */
  navigation: RequestHandler;
  /** Inserts the demo articles into an empty store; answers how many it inserted. */
  seedDemoContentIfEmpty(): Promise<number>;
}

export interface ArticlesFeatureOptions {
  /** Articles per list page (home, sections). */
  pageSize?: number;
  feedSize?: number;
  /** How often, at most, to look for changes other processes made to the articles. */
  versionCheckIntervalMs?: number;
  maxCachedPages?: number;
}

/** The article service on the default mongoose connection, for the import CLI and tests. */
export function createDefaultArticleService(
  options: ArticlesFeatureOptions & { onChange?: () => void } = {},
): ArticleService {
  return createArticleService(articleRepository, {
    pageSize: options.pageSize ?? 10,
    feedSize: options.feedSize ?? 20,
    ...(options.onChange ? { onChange: options.onChange } : {}),
  });
}

export function createArticlesFeature(deps: {
  config: AppConfig;
  logger: Logger;
  options?: ArticlesFeatureOptions;
}): ArticlesFeature {
  const { config, logger, options = {} } = deps;
  const log = logger.child({ component: 'articles' });
  const cache: PageCache = new PageCache({
    maxEntries: options.maxCachedPages ?? 2000,
    versionCheckIntervalMs: options.versionCheckIntervalMs ?? 3000,
    readVersion: () => service.contentVersion(),
    onVersionCheckFailed: (err) => log.warn({ err }, 'could not read the articles content version'),
  });
  const service = createDefaultArticleService({ ...options, onChange: () => cache.invalidate() });

  // Navigation is computed once per cache generation and shared by every page built in it.
  let nav: { generation: number; sections: Promise<NavSection[]> } | null = null;
  let lastNav: NavSection[] | null = null;
  function navSections(): Promise<NavSection[]> {
    if (!nav || nav.generation !== cache.currentGeneration) {
      const sections = service.sections().then((list) => list.map(({ slug, name }) => ({ slug, name })));
      nav = { generation: cache.currentGeneration, sections };
      sections.then(
        (list) => (lastNav = list),
        () => (nav = null),
      );
    }
    return nav.sections;
  }

  const router = createArticleRoutes({ config, service, cache, navSections });

  return {
    router,
    navigation(_req, res, next) {
      if (lastNav && res.locals.navSections === undefined) res.locals.navSections = lastNav;
      next();
    },
    async seedDemoContentIfEmpty() {
      let inserted = 0;
      if ((await service.countArticles()) === 0) {
        const inputs = demoArticles().map((a) => articleInputSchema.parse(a));
        ({ inserted } = (await service.saveArticles(inputs)).summary);
        log.info({ inserted }, 'seeded demo articles into an empty store');
      }
      // Warm the navigation so that even the first page served (a 404, say) shows the sections.
      await navSections().catch((err: unknown) => log.warn({ err }, 'could not list sections'));
      return inserted;
    },
  };
}
