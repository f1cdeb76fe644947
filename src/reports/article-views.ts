/**
 * Article page views, counted without identifying anyone: each process adds 1 to an in-memory
 * count per article and minute when an article page is answered, and about once a minute adds
 * those counts ($inc) to `articleviews` per reporting zone, month and day. No cookie is read or
 * set, nothing is stored on the reader's device, and neither the IP address, the user agent nor
 * any other request detail is kept — only "this article, this day, this many". That is why it needs
 * no consent (README.md, "Article views").
 *
 * The page's hot path only touches a Map: no await, no I/O.
 */
import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';
import { slugPattern } from '../articles/article.js';
import { dayInZone } from './periods.js';
import type { ReportsRepository, ViewCount } from './repository.js';

export interface ArticleViewCounter {
  /** Mount before the article routes: counts GET /articles/:slug answered 200 or 304. */
  middleware: RequestHandler;
  /** Writes what was counted so far; answers how many views it wrote. */
  flush(): Promise<number>;
  start(intervalMs?: number): void;
  /** Stops the timer and writes what is left. */
  stop(): Promise<void>;
}

const PREFIX = '/articles/';

export function createArticleViewCounter(deps: {
  zones: readonly string[];
  repository: Pick<ReportsRepository, 'addViews'>;
  logger: Logger;
  /** Distinct (article, minute) counts kept between flushes at most; beyond that views are dropped. */
  maxKeys?: number;
}): ArticleViewCounter {
  const logger = deps.logger.child({ component: 'article-views' });
  const maxKeys = deps.maxKeys ?? 20_000;
  let counts = new Map<string, number>();
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();

  const count = (slug: string) => {
    const key = `${Math.floor(Date.now() / 60_000)}\n${slug}`;
    const seen = counts.get(key);
    if (seen !== undefined) counts.set(key, seen + 1);
    else if (counts.size < maxKeys) counts.set(key, 1);
    else dropped += 1;
  };

  const middleware: RequestHandler = (req, res, next) => {
    if (req.method === 'GET' && req.path.startsWith(PREFIX)) {
      const slug = req.path.slice(PREFIX.length);
      // A browser's speculative prefetch is not someone reading the page.
      const prefetch = req.headers['sec-purpose'] ?? req.headers.purpose;
      if (slugPattern.test(slug) && slug.length <= 120 && !prefetch) {
        res.once('finish', () => {
          if (res.statusCode === 200 || res.statusCode === 304) count(slug);
        });
      }
    }
    next();
  };

  async function write(): Promise<number> {
    if (counts.size === 0) return 0;
    const taken = counts;
    counts = new Map();
    const days = new Map<number, string[]>();
    const rows: ViewCount[] = [];
    let views = 0;
    for (const [key, n] of taken) {
      const cut = key.indexOf('\n');
      const minute = Number(key.slice(0, cut));
      const slug = key.slice(cut + 1);
      let zoneDays = days.get(minute);
      if (!zoneDays) {
        const at = new Date(minute * 60_000);
        zoneDays = deps.zones.map((zone) => dayInZone(zone, at));
        days.set(minute, zoneDays);
      }
      deps.zones.forEach((zone, i) => {
        const day = zoneDays[i]!;
        rows.push({ zone, month: day.slice(0, 7), day: day.slice(8, 10), articleSlug: slug, views: n });
      });
      views += n;
    }
    try {
      await deps.repository.addViews(rows);
    } catch (err) {
      // Put the counts back for the next flush (still bounded by maxKeys).
      for (const [key, n] of taken) {
        const seen = counts.get(key);
        if (seen !== undefined) counts.set(key, seen + n);
        else if (counts.size < maxKeys) counts.set(key, n);
        else dropped += n;
      }
      throw err;
    }
    if (dropped > 0) {
      logger.warn({ dropped }, 'article views dropped: too many distinct articles between two flushes');
      dropped = 0;
    }
    return views;
  }

  /** One write at a time: a flush asked for meanwhile runs after the one under way. */
  const flush = (): Promise<number> => {
    const run = chain.then(write);
    chain = run.catch(() => undefined);
    return run;
  };

  return {
    middleware,
    flush,
    start(intervalMs = 60_000) {
      if (timer) return;
      timer = setInterval(() => {
        flush().catch((err: unknown) =>
          logger.warn({ err }, 'could not write article views; kept for later'),
        );
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush().catch((err: unknown) => logger.warn({ err }, 'could not write the last article views'));
    },
  };
}
