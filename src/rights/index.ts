/**
 * Readers' rights (GDPR art. 15, 17, 20): export and erasure behind a signed, expiring link, the
 * log of every request, and the link between consent ids and supporters. See README.md here.
 */
import type { Router } from 'express';
import type { Connection } from 'mongoose';
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import type { ConsentFeature } from '../consent/index.js';
import type { CheckoutRepository } from '../donations/repository.js';
import type { PaymentProvider, ProviderId } from '../payments/types.js';
import type { Ledger } from '../supporters/ledger.js';
import type { Mailer } from '../supporters/mailer.js';
import type { ManageLinks } from '../supporters/manage-links.js';
import type { WebhooksFeature } from '../webhooks/index.js';
import { createErasures, type ErasureDeps } from './erasure.js';
import { createPseudonyms } from './pseudonyms.js';
import { createRightsRepository } from './repository.js';
import { createRightsRoutes } from './routes.js';
import { createRightsService, type RightsService } from './service.js';
import { repeatingJob } from '../jobs.js';

export type { RightsRequest, RightsRequestType } from './repository.js';
export type { PersonalDataExport } from './export.js';

export interface RightsFeature {
  router: Router;
  service: RightsService;
  /** For staff: the log of rights requests (see RightsService.listRequests). */
  listRequests: RightsService['listRequests'];
  /** Resumes unfinished erasures and scrubs late webhook deliveries about erased payments. */
  sweep(now?: Date): Promise<{ resumed: number; lateScrubbed: number }>;
  startJobs(options?: { everyMs?: number }): void;
  stopJobs(): Promise<void>;
}

export function createRightsFeature(deps: {
  config: AppConfig;
  logger: Logger;
  connection: Connection;
  /** The secret the pseudonym key is derived from (the links secret). */
  secret: string;
  ledger: Ledger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  webhooks: Pick<WebhooksFeature, 'scrubRawBodies'>;
  mailer: Mailer;
  links: ManageLinks;
  consent: Pick<ConsentFeature, 'links' | 'audit'>;
  checkouts: CheckoutRepository;
  emailLimiters: ErasureDeps['emailLimiters'];
  limits: { perIp: StoredRateLimiter; perEmail: StoredRateLimiter };
  manageLinkIsCurrent(supporterId: string, issuedAt: Date): Promise<boolean>;
  erasure?: Pick<ErasureDeps, 'leaseMs' | 'retryMs'>;
}): RightsFeature {
  const logger = deps.logger.child({ component: 'rights' });
  const repository = createRightsRepository(deps.connection);
  const pseudonyms = createPseudonyms(deps.secret);
  const erasures = createErasures({
    config: deps.config,
    logger,
    repository,
    ledger: deps.ledger,
    providers: deps.providers,
    webhooks: deps.webhooks,
    mailer: deps.mailer,
    checkouts: deps.checkouts,
    consentLinks: deps.consent.links,
    pseudonyms,
    emailLimiters: deps.emailLimiters,
    ...deps.erasure,
  });
  const service = createRightsService({
    config: deps.config,
    logger,
    repository,
    ledger: deps.ledger,
    links: deps.links,
    mailer: deps.mailer,
    pseudonyms,
    consentLinks: deps.consent.links,
    consentAudit: deps.consent.audit,
    checkouts: deps.checkouts,
    erasures,
    manageLinkIsCurrent: deps.manageLinkIsCurrent,
  });

  const erasureSweep = repeatingJob('rights sweep', () => erasures.sweep(), logger);
  return {
    router: createRightsRoutes({ config: deps.config, service, links: deps.links, limits: deps.limits }),
    service,
    listRequests: service.listRequests,
    sweep: (now) => erasures.sweep(now),
    startJobs(options = {}) {
      erasureSweep.start(options.everyMs ?? 5 * 60_000);
    },
    async stopJobs() {
      await erasureSweep.stop();
      await service.idle();
    },
  };
}
