import type { Express } from 'express';
import type { AppConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { connectStore, type Store } from './db/index.js';
import { createApp, viewsDir } from './app.js';
import { createArticlesFeature } from './articles/index.js';
import { setUpPayments, type PaymentSetup } from './payments/index.js';
import { createLedger, type Ledger } from './supporters/ledger.js';
import { createMailer, type Mailer } from './supporters/mailer.js';
import { createManageLinks, type ManageLinks } from './supporters/manage-links.js';
import { createReceiptSender, type ReceiptSender } from './supporters/receipts.js';
import { createSelfService } from './supporters/self-service.js';
import { createSupporterRoutes } from './supporters/routes.js';
import { createWebhooksFeature, type WebhooksFeature } from './webhooks/index.js';
import { createDonationService } from './donations/service.js';
import { createDonationRoutes } from './donations/routes.js';
import { StoredRateLimiter } from './http/rate-limit.js';
import { resolveDevSecrets } from './dev-secrets.js';
import { createStaffFeature, type StaffFeature } from './staff/index.js';
import { createConsentFeature, type ConsentFeature } from './consent/index.js';

export interface RuntimeOptions {
  /** Overrides config.db.embeddedPath; null keeps the embedded store in memory (tests). */
  embeddedPath?: string | null;
  logger?: Logger;
  /** Database name; tests use one per run so they never share data. */
  dbName?: string;
  /** Replaces the configured mailer (tests that make sending fail). */
  mailer?: Mailer;
  /** Payment providers built elsewhere (a benchmark pointing the adapters at a separate simulator). */
  payments?: PaymentSetup;
  /** Background jobs (receipt sending, webhook retries) run on timers unless switched off (tests drive them). */
  backgroundJobs?: boolean;
}

export interface Runtime {
  config: AppConfig;
  logger: Logger;
  store: Store;
  app: Express;
  payments: PaymentSetup;
  ledger: Ledger;
  receipts: ReceiptSender;
  manageLinks: ManageLinks;
  webhooks: WebhooksFeature;
  /** The staff area: other staff features mount their routers here (staff.mount). */
  staff: StaffFeature;
  consent: ConsentFeature;
  /** Stops background work and closes the store. The HTTP server is closed by its owner first. */
  stop(): Promise<void>;
}

/** The composition root: the one place where real dependencies are built and wired together. */
export async function startRuntime(config: AppConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger({ level: config.log.level, pretty: config.log.pretty });
  const embeddedPath = options.embeddedPath === undefined ? config.db.embeddedPath : options.embeddedPath;
  const secrets = await resolveDevSecrets(config, embeddedPath);
  const store = await connectStore({
    uri: config.db.uri,
    embeddedPath,
    logger,
    ...(options.dbName ? { dbName: options.dbName } : {}),
  });
  const cleanups: Array<() => Promise<void>> = [() => store.close()];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => logger.error({ err }, 'error during shutdown'));
    }
  };
  try {
    const payments = options.payments ?? (await setUpPayments(config, logger));
    cleanups.push(() => payments.stop());

    const mailer = options.mailer ?? createMailer(config.mail);
    const manageLinks = createManageLinks(secrets.links);
    const receipts = createReceiptSender({ config, logger, mailer, manageLinks });
    cleanups.push(() => receipts.stop());
    const ledger = createLedger({ logger, onDonationRecorded: () => receipts.kick() });
    const webhooks = createWebhooksFeature({ config, logger, providers: payments.providers, ledger });
    cleanups.push(() => webhooks.stopJobs());

    const articles = createArticlesFeature({ config, logger });
    await articles.seedDemoContentIfEmpty();

    const donations = createDonationService({ config, logger, providers: payments.providers, ledger });
    const limits = {
      perIp: new StoredRateLimiter(
        { name: 'donate_ip', ...config.donations.rateLimits.perIp },
        'Too many attempts from your connection.',
      ),
      perEmail: new StoredRateLimiter(
        { name: 'donate_email', ...config.donations.rateLimits.perEmail },
        'Too many attempts for this email address.',
      ),
    };
    const selfService = createSelfService({ config, ledger, providers: payments.providers });
    const staff = createStaffFeature({ config, logger, connection: store.connection, secrets, mailer });
    await staff.service.ready();

    const consent = createConsentFeature({
      config,
      logger,
      secret: secrets.session,
      viewsDir,
      limiter: new StoredRateLimiter(
        { name: 'consent_ip', ...config.consent.rateLimit },
        'Too many choices were sent from your connection. Please wait a few minutes and try again.',
      ),
    });
    cleanups.push(() => consent.stopJobs());

    const app = createApp({
      config,
      logger,
      store,
      formActionOrigins: payments.formActionOrigins,
      rawBodyRouters: [webhooks.router],
      requestState: [consent.middleware],
      routers: [
        articles.router,
        createDonationRoutes({ config, service: donations, limits }),
        createSupporterRoutes({ links: manageLinks, selfService }),
        consent.router,
        staff.router,
      ],
    });
    if (options.backgroundJobs !== false) receipts.start();
    if (options.backgroundJobs !== false) webhooks.startJobs();
    if (options.backgroundJobs !== false) consent.startJobs();
    return {
      config,
      logger,
      store,
      app,
      payments,
      ledger,
      receipts,
      manageLinks,
      webhooks,
      staff,
      consent,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
