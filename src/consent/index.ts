/**
 * Consent feature: the banner state of each request, POST /consent, /privacy, the GPC support
 * resource, the append-only consent log and its daily retention job. See README.md here.
 */
import type { RequestHandler, Router } from 'express';
import type { AppConfig } from '../config.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import type { Logger } from '../log.js';
import { subDays } from 'date-fns';
import { runDaily } from '../webhooks/daily-run.js';
import { createConsentAudit, type ConsentAudit } from './audit.js';
import { ConsentCookieCodec, deriveKey } from './cookie.js';
import { policyFromConfig, type ConsentPolicy } from './policy.js';
import { createConsentLinks, type ConsentLinks } from './links.js';
import { createConsentRepository } from './repository.js';
import { consentStateMiddleware, createConsentRoutes } from './routes.js';
import { createConsentService, type ConsentService } from './service.js';
import { ConsentStates } from './state.js';
import { createTextStore, renderTexts } from './texts.js';
import { repeatingJob } from '../jobs.js';

export type { ConsentRequestState, ConsentView } from './state.js';
export type { ConsentService } from './service.js';
export type { ConsentAudit, ConsentProof } from './audit.js';
export { consentCookieName, isConsentId } from './cookie.js';
export type { ConsentLink, ConsentLinks } from './links.js';

/** What one run of the daily retention job removed. */
export interface RetentionRun {
  consentRecords: number;
  webhookPayloads: number;
}

export interface ConsentFeature {
  /** Per-request consent state in res.locals; mount before the security headers (CSP reads it). */
  middleware: RequestHandler;
  router: Router;
  service: ConsentService;
  audit: ConsentAudit;
  policy: ConsentPolicy;
  /** Consent ids linked to supporters (for export, erasure and `proof <email>`). */
  links: ConsentLinks;
  /**
   * Runs the daily retention job (consent records, and raw webhook payloads when configured) if
   * this process claims today's run; null when another process has it or it is done for today.
   */
  runRetentionIfDue(now?: Date): Promise<RetentionRun | null>;
  /** The retention job, answering with the consent records it pruned (null: not this process's run). */
  pruneIfDue(now?: Date): Promise<number | null>;
  startJobs(options?: { checkEveryMs?: number }): void;
  stopJobs(): Promise<void>;
}

export const retentionJobName = 'consent-retention';

export function createConsentFeature(deps: {
  config: AppConfig;
  logger: Logger;
  /** The server secret the cookie-signing and IP-hashing keys are derived from. */
  secret: string;
  viewsDir: string;
  limiter?: StoredRateLimiter | null;
  /** Raw webhook payloads pruned by the same daily job, `webhookPayloadDays` after they arrived. */
  webhookPayloads?: { retentionDays: number; prune(before: Date): Promise<number> };
}): ConsentFeature {
  const { config } = deps;
  const logger = deps.logger.child({ component: 'consent' });
  const policy = policyFromConfig(config);
  const codec = new ConsentCookieCodec(deriveKey(deps.secret, 'consent-cookie'));
  const states = new ConsentStates(policy, codec);
  const texts = renderTexts({
    viewsDir: deps.viewsDir,
    site: config.site,
    policy,
    banner: (gpc) => states.banner(gpc),
  });
  states.setTextsHash(texts.hash);
  const repository = createConsentRepository();
  const textStore = createTextStore(repository, texts);
  const service = createConsentService({
    policy,
    texts,
    textStore,
    repository,
    ipKey: deriveKey(deps.secret, 'consent-ip'),
    logger,
  });
  const publicOrigin = new URL(config.site.publicUrl).origin;

  /**
   * Once a day across every process (runDaily: a run that fails is tried again later the same
   * day, one that finished is not repeated). Ledger entries are never pruned here.
   */
  async function runRetentionIfDue(now = new Date()): Promise<RetentionRun | null> {
    let outcome: RetentionRun | null = null;
    const ran = await runDaily(
      retentionJobName,
      async () => {
        const consentRecords = await service.pruneExpired(now);
        logger.info(
          { pruned: consentRecords, cutoff: service.retentionCutoff(now) },
          'consent records past retention pruned',
        );
        let webhookPayloads = 0;
        if (deps.webhookPayloads) {
          const before = subDays(now, deps.webhookPayloads.retentionDays);
          webhookPayloads = await deps.webhookPayloads.prune(before);
          logger.info({ pruned: webhookPayloads, before }, 'raw webhook payloads past retention emptied');
        }
        outcome = { consentRecords, webhookPayloads };
      },
      () => now,
    );
    return ran ? outcome : null;
  }

  async function pruneIfDue(now = new Date()): Promise<number | null> {
    return (await runRetentionIfDue(now))?.consentRecords ?? null;
  }

  // Checked hourly, run once a day by whichever process claims the day first.
  const retentionJob = repeatingJob('consent retention job', () => pruneIfDue(), logger, 'error');

  return {
    middleware: consentStateMiddleware({
      states,
      onFirstServed: () => {
        textStore
          .ensureStored()
          .catch((err: unknown) => logger.warn({ err }, 'could not store the consent texts'));
      },
    }),
    router: createConsentRoutes({
      policy,
      service,
      states,
      codec,
      limiter: deps.limiter ?? null,
      publicOrigin,
      https: publicOrigin.startsWith('https:'),
    }),
    service,
    audit: createConsentAudit({ policy, repository }),
    policy,
    links: createConsentLinks(),
    runRetentionIfDue,
    pruneIfDue,
    startJobs(options = {}) {
      retentionJob.start(options.checkEveryMs ?? 3_600_000);
    },
    async stopJobs() {
      await retentionJob.stop();
    },
  };
}
