/**
 * The reports feature: finance reports and the ledger export under /staff/reports, the operations
 * pages for admins under /staff/operations, article attribution and the cookie-less article view
 * counter, and the nightly re-derivation of the rollups. See README.md beside this file.
 */
import { createHmac } from 'node:crypto';
import { Router } from 'express';
import type mongoose from 'mongoose';
import type { AppConfig } from '../config.js';
import type { ConsentAudit } from '../consent/index.js';
import type { Logger } from '../log.js';
import type { StaffFeature } from '../staff/index.js';
import type { LedgerRepository } from '../supporters/repository.js';
import { runDaily } from '../webhooks/daily-run.js';
import { createArticleViewCounter, type ArticleViewCounter } from './article-views.js';
import { createArticleAttribution, type ArticleAttributionTracker } from './attribution.js';
import { createOperationsRoutes, type OperationsRoutesDeps } from './operations.js';
import { rederive, type RederiveOptions } from './rederive.js';
import { createReportsRepository, type ReportsRepository, type RollupCheck } from './repository.js';
import { createReportRoutes } from './routes.js';
import { createReportsService, type ReportsService } from './service.js';

export type { Report } from './service.js';
export type { RollupCheck } from './repository.js';

export const rederiveJobName = 'reports-rederive';

export interface ReportsFeature {
  service: ReportsService;
  repository: ReportsRepository;
  viewCounter: ArticleViewCounter;
  /** Counts article page views: mount before the article routes (empty when switched off). */
  articleViews: Router;
  attribution: ArticleAttributionTracker;
  /** Re-derives the rollups now (the command and tests). */
  rederive(options?: RederiveOptions): Promise<RollupCheck>;
  /** Tonight's re-derivation, if this process claims the day; null when another process has it. */
  rederiveIfDue(now?: Date): Promise<RollupCheck | null>;
  startJobs(options?: { checkEveryMs?: number; flushViewsEveryMs?: number }): void;
  stopJobs(): Promise<void>;
}

/** The parts that need no HTTP: the command line builds only these. */
export function createReportsCore(deps: {
  config: AppConfig;
  logger: Logger;
  connection: mongoose.Connection;
  ledger: LedgerRepository;
  now?: () => Date;
}) {
  const repository = createReportsRepository(deps.connection);
  const zones = deps.config.reports.timeZones;
  return {
    repository,
    rederive: (options: RederiveOptions = {}) =>
      rederive(
        {
          ledger: deps.ledger,
          reports: repository,
          zones,
          logger: deps.logger,
          ...(deps.now ? { now: deps.now } : {}),
        },
        options,
      ),
  };
}

export function createReportsFeature(deps: {
  config: AppConfig;
  logger: Logger;
  connection: mongoose.Connection;
  ledger: LedgerRepository;
  staff: StaffFeature;
  webhooks: OperationsRoutesDeps['webhooks'];
  consent: Pick<ConsentAudit, 'proof'>;
  /** Keys the pseudonyms of erased supporters in exports. */
  secret: string;
  now?: () => Date;
}): ReportsFeature {
  const { config, logger, staff } = deps;
  const zones = config.reports.timeZones;
  const core = createReportsCore(deps);
  const { repository } = core;
  const service = createReportsService({
    config,
    ledger: deps.ledger,
    reports: repository,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const viewCounter = createArticleViewCounter({ zones, repository, logger });
  const attribution = createArticleAttribution({ zones, ledger: deps.ledger, repository, logger });

  staff.mount(
    createReportRoutes({
      config,
      service,
      staff,
      ledger: deps.ledger,
      pseudonymKey: createHmac('sha256', deps.secret).update('readerfund report pseudonyms').digest('hex'),
      ...(deps.now ? { now: deps.now } : {}),
    }),
    { nav: { label: 'Reports', href: '/staff/reports', role: 'finance' } },
  );
  staff.mount(
    createOperationsRoutes({ staff, webhooks: deps.webhooks, consent: deps.consent, reports: repository }),
    { nav: { label: 'Operations', href: '/staff/operations', role: 'admin' } },
  );

  const articleViews = Router();
  if (config.reports.articleViews) articleViews.use(viewCounter.middleware);

  const rederiveIfDue = async (now = new Date()) => {
    let check: RollupCheck | null = null;
    await runDaily(
      rederiveJobName,
      async () => {
        check = await core.rederive({ trigger: 'nightly' });
      },
      () => now,
    );
    return check;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  return {
    service,
    repository,
    viewCounter,
    articleViews,
    attribution,
    rederive: core.rederive,
    rederiveIfDue,
    startJobs(options = {}) {
      viewCounter.start(options.flushViewsEveryMs);
      if (timer) return;
      // Checked hourly, run once a day by whichever process claims the day first.
      timer = setInterval(() => {
        if (running) return;
        running = rederiveIfDue()
          .catch((err: unknown) => logger.error({ err }, 'nightly rollup check failed'))
          .finally(() => (running = undefined));
      }, options.checkEveryMs ?? 3_600_000);
      timer.unref();
    },
    async stopJobs() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await Promise.all([running, viewCounter.stop(), attribution.idle()]);
    },
  };
}
