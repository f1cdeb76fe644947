import type { Express } from 'express';
import type { AppConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { connectStore, type Store } from './db/index.js';
import { createApp, createViewEnvironment, viewsDir } from './app.js';
import { createArticlesFeature } from './articles/index.js';
import { setUpPayments, type PaymentSetup } from './payments/index.js';
import { createLedger, type Ledger } from './supporters/ledger.js';
import { createLedgerRepository } from './supporters/repository.js';
import { createMailer, type Mailer } from './supporters/mailer.js';
import { createManageLinks, type ManageLinks } from './supporters/manage-links.js';
import { createReceiptSender, type ReceiptSender } from './supporters/receipts.js';
import { createSelfService } from './supporters/self-service.js';
import { createSupporterRoutes } from './supporters/routes.js';
import { createWebhooksFeature, type WebhooksFeature } from './webhooks/index.js';
import { checkoutLinks, createDonationService, type DonationService } from './donations/service.js';
import { createCheckoutRepository } from './donations/repository.js';
import { createDonationRoutes } from './donations/routes.js';
import { StoredRateLimiter } from './http/rate-limit.js';
import { resolveDevSecrets, type Secrets } from './dev-secrets.js';
import { createStaffFeature, type StaffFeature } from './staff/index.js';
import { createConsentFeature, type ConsentFeature } from './consent/index.js';
import { createReportsFeature, type ReportsFeature } from './reports/index.js';
import { createRightsFeature, type RightsFeature } from './rights/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import { createMetricsRoutes, type MetricsSource } from './metrics/http.js';

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
  /** Background jobs (receipts, webhook retries, unfinished checkouts) run on timers unless switched off (tests drive them). */
  backgroundJobs?: boolean;
  /** What /metrics shows instead of this process's own metrics (a cluster worker: the cluster's totals). */
  metricsSource?: MetricsSource;
}

/** The money core without HTTP or timers: what operator commands and the app share. */
export interface Core {
  config: AppConfig;
  logger: Logger;
  store: Store;
  secrets: Secrets;
  payments: PaymentSetup;
  ledger: Ledger;
  donations: DonationService;
  webhooks: WebhooksFeature;
  mailer: Mailer;
  manageLinks: ManageLinks;
  /** This process's Prometheus metrics (src/metrics). */
  metrics: Metrics;
  /** Subscribes to payments reaching their supporter (the app sends receipts then). */
  whenPaymentCredited(listener: (donationId: string) => void): void;
  /** Stops background work and closes the store. */
  stop(): Promise<void>;
}

export interface Runtime extends Core {
  app: Express;
  receipts: ReceiptSender;
  /** The staff area: other staff features mount their routers here (staff.mount). */
  staff: StaffFeature;
  consent: ConsentFeature;
  /** Finance reports, exports, operations pages, article attribution and views, the nightly rollup check. */
  reports: ReportsFeature;
  /** Readers' rights: export, erasure, the request log (rights.listRequests for staff). */
  rights: RightsFeature;
  /** One pass of every background job (tests call this instead of waiting for timers). */
  runJobsOnce(): Promise<void>;
}

type Cleanup = () => Promise<void>;

function stopper(logger: Logger, cleanups: Cleanup[]): () => Promise<void> {
  return async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err: unknown) => logger.error({ err }, 'error during shutdown'));
    }
  };
}

/**
 * Builds the money core: store, providers, ledger, checkouts and the webhook inbox. `payments`
 * decides which providers: the configured ones (starting the simulator in simulator mode), ones
 * built elsewhere, or none at all for commands that only read the store.
 */
export async function openCore(
  config: AppConfig,
  options: RuntimeOptions & { withPayments?: boolean } = {},
): Promise<Core> {
  const logger = options.logger ?? createLogger({ level: config.log.level, pretty: config.log.pretty });
  const embeddedPath = options.embeddedPath === undefined ? config.db.embeddedPath : options.embeddedPath;
  const secrets = await resolveDevSecrets(config, embeddedPath);
  const store = await connectStore({
    uri: config.db.uri,
    embeddedPath,
    logger,
    ...(options.dbName ? { dbName: options.dbName } : {}),
  });
  const cleanups: Cleanup[] = [() => store.close()];
  const stop = stopper(logger, cleanups);
  try {
    const payments: PaymentSetup =
      options.payments ??
      (options.withPayments === false
        ? { providers: {}, formActionOrigins: [], stop: async () => undefined }
        : await setUpPayments(config, logger));
    cleanups.push(() => payments.stop());

    const metrics = createMetrics();
    const mailer = options.mailer ?? createMailer(config.mail);
    const manageLinks = createManageLinks(secrets.links);
    const checkouts = createCheckoutRepository(store.connection);
    const creditListeners: Array<(donationId: string) => void> = [];
    const ledger = createLedger({
      logger,
      repository: createLedgerRepository(store.connection),
      checkouts: checkoutLinks(checkouts),
      plans: config.donations.plans,
      reporting: config.reports,
      onPaymentCredited: (id) => {
        metrics.donationCompleted();
        creditListeners.forEach((listener) => listener(id));
      },
    });
    const donations = createDonationService({
      config,
      logger,
      providers: payments.providers,
      ledger,
      checkouts,
      metrics,
    });
    const webhooks = createWebhooksFeature({
      config,
      logger,
      providers: payments.providers,
      ledger,
      metrics,
    });
    cleanups.push(() => webhooks.stopJobs());
    return {
      config,
      logger,
      store,
      secrets,
      payments,
      ledger,
      donations,
      webhooks,
      mailer,
      manageLinks,
      metrics,
      whenPaymentCredited: (listener) => void creditListeners.push(listener),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The composition root: the one place where real dependencies are built and wired together. */
export async function startRuntime(config: AppConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const core = await openCore(config, options);
  const { logger, store, payments, ledger, donations, webhooks, mailer, manageLinks } = core;
  const cleanups: Cleanup[] = [() => core.stop()];
  const stop = stopper(logger, cleanups);
  try {
    const emailViews = createViewEnvironment();
    const receipts = createReceiptSender({
      config,
      logger,
      mailer,
      manageLinks,
      repository: ledger.repository,
      views: emailViews,
    });
    cleanups.push(() => receipts.stop());
    core.whenPaymentCredited(() => receipts.kick());

    const articles = createArticlesFeature({ config, logger });
    await articles.seedDemoContentIfEmpty();

    const limiter = (name: string, rule: { points: number; durationSeconds: number }, message: string) =>
      new StoredRateLimiter({ name, ...rule }, message);
    const { perIp, perEmail } = config.donations.rateLimits;
    const donateLimits = {
      perIp: limiter('donate_ip', perIp, 'Too many attempts from your connection.'),
      perEmail: limiter('donate_email', perEmail, 'Too many attempts for this email address.'),
    };
    const linkLimits = {
      perIp: limiter(
        'manage_link_ip',
        perIp,
        'Too many requests from your connection. Please wait a few minutes.',
      ),
      perEmail: limiter(
        'manage_link_email',
        perEmail,
        'Too many requests for this address. Please wait a while.',
      ),
    };
    const selfService = createSelfService({
      config,
      logger,
      ledger,
      providers: payments.providers,
      mailer,
      links: manageLinks,
    });
    const staff = createStaffFeature({
      config,
      logger,
      connection: store.connection,
      secrets: core.secrets,
      mailer,
    });
    await staff.service.ready();

    const consent = createConsentFeature({
      config,
      logger,
      secret: core.secrets.session,
      viewsDir,
      limiter: new StoredRateLimiter(
        { name: 'consent_ip', ...config.consent.rateLimit },
        'Too many choices were sent from your connection. Please wait a few minutes and try again.',
      ),
      webhookPayloads: {
        retentionDays: config.retention.webhookPayloadDays,
        prune: (before) => webhooks.pruneRawBodies(before),
      },
    });
    cleanups.push(() => consent.stopJobs());

    const reports = createReportsFeature({
      config,
      logger,
      connection: store.connection,
      ledger: ledger.repository,
      staff,
      webhooks,
      consent: consent.audit,
      secret: core.secrets.session,
    });
    core.whenPaymentCredited((donationId) => reports.attribution.paymentCredited(donationId));
    cleanups.push(() => reports.stopJobs());

    const rights = createRightsFeature({
      config,
      logger,
      connection: store.connection,
      secret: core.secrets.links,
      ledger,
      providers: payments.providers,
      webhooks,
      mailer,
      links: manageLinks,
      consent,
      checkouts: createCheckoutRepository(store.connection),
      emailLimiters: [donateLimits.perEmail, linkLimits.perEmail],
      limits: {
        perIp: limiter(
          'rights_link_ip',
          config.rights.rateLimits.perIp,
          'Too many requests from your connection. Please wait a few minutes.',
        ),
        perEmail: limiter(
          'rights_link_email',
          config.rights.rateLimits.perEmail,
          'Too many requests for this address. Please wait a while.',
        ),
      },
      manageLinkIsCurrent: (supporterId, issuedAt) => selfService.linkIsCurrent(supporterId, issuedAt),
    });
    cleanups.push(() => rights.stopJobs());
    // A payment started with a consent cookie links that consent id to its supporter.
    core.whenPaymentCredited((donationId) => rights.service.onPaymentCredited(donationId));

    const { metrics } = core;
    metrics.readFrom({
      inbox: () => webhooks.inboxCounts(),
      receiptsPending: () => ledger.repository.countPendingReceipts(),
      async ping() {
        const sent = performance.now();
        return (await store.ping()) ? (performance.now() - sent) / 1000 : null;
      },
    });
    const app = createApp({
      config,
      logger,
      store,
      metrics: {
        observeRequest: (req, res, ms) => metrics.observeRequest(req, res, ms),
        router: createMetricsRoutes({
          token: config.metrics.token,
          source: options.metricsSource ?? metrics,
        }),
      },
      formActionOrigins: payments.formActionOrigins,
      rawBodyRouters: [webhooks.router],
      requestState: [consent.middleware, articles.navigation],
      routers: [
        reports.articleViews,
        articles.router,
        createDonationRoutes({ config, service: donations, limits: donateLimits }),
        createSupporterRoutes({ links: manageLinks, selfService, limits: linkLimits }),
        consent.router,
        rights.router,
        staff.router,
      ],
    });

    const runJobsOnce = async () => {
      await donations.sweepOnce();
      await ledger.settlePending();
      await receipts.sweep();
      await reports.attribution.idle();
      await reports.viewCounter.flush();
      await rights.sweep();
      await rights.service.idle();
    };
    if (options.backgroundJobs !== false) {
      receipts.start();
      webhooks.startJobs();
      consent.startJobs();
      reports.startJobs();
      rights.startJobs();
      let running: Promise<unknown> | undefined;
      const timer = setInterval(() => {
        // Unfinished checkouts (readers who never came back) and anything a crash left unsettled.
        running ??= Promise.all([donations.sweepOnce(), ledger.settlePending()])
          .catch((err: unknown) => logger.warn({ err }, 'background sweep failed'))
          .finally(() => (running = undefined));
      }, 30_000);
      timer.unref();
      cleanups.push(async () => {
        clearInterval(timer);
        await running;
      });
    }
    return { ...core, app, receipts, staff, consent, reports, rights, runJobsOnce, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
