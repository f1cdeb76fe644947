/**
 * Consent feature: the banner state of each request, POST /consent, /privacy, the GPC support
 * resource, the append-only consent log and its daily retention job. See README.md here.
 */
import type { RequestHandler, Router } from 'express';
import type { AppConfig } from '../config.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import type { Logger } from '../log.js';
import { claimDailyRun } from '../webhooks/daily-run.js';
import { createConsentAudit, type ConsentAudit } from './audit.js';
import { ConsentCookieCodec, deriveKey } from './cookie.js';
import { policyFromConfig, type ConsentPolicy } from './policy.js';
import { createConsentRepository } from './repository.js';
import { consentStateMiddleware, createConsentRoutes } from './routes.js';
import { createConsentService, type ConsentService } from './service.js';
import { ConsentStates } from './state.js';
import { createTextStore, renderTexts } from './texts.js';

export type { ConsentRequestState, ConsentView } from './state.js';
export type { ConsentService } from './service.js';
export type { ConsentAudit, ConsentProof } from './audit.js';
export { consentCookieName } from './cookie.js';

export interface ConsentFeature {
  /** Per-request consent state in res.locals; mount before the security headers (CSP reads it). */
  middleware: RequestHandler;
  router: Router;
  service: ConsentService;
  audit: ConsentAudit;
  policy: ConsentPolicy;
  /** Runs the retention job if this process claims today's run; null when another process has it. */
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

  async function pruneIfDue(now = new Date()): Promise<number | null> {
    if (!(await claimDailyRun(retentionJobName, now))) return null;
    const pruned = await service.pruneExpired(now);
    logger.info({ pruned, cutoff: service.retentionCutoff(now) }, 'consent records past retention pruned');
    return pruned;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

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
    pruneIfDue,
    startJobs(options = {}) {
      if (timer) return;
      // Checked hourly, run once a day by whichever process claims the day first.
      timer = setInterval(() => {
        if (running) return;
        running = pruneIfDue()
          .catch((err: unknown) => logger.error({ err }, 'consent retention job failed'))
          .finally(() => (running = undefined));
      }, options.checkEveryMs ?? 3_600_000);
      timer.unref();
    },
    async stopJobs() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
