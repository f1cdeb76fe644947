/**
 * Webhooks feature: raw-body routes, the `webhookevents` inbox, the retry sweep, replay and
 * reconciliation. See docs/webhooks.md.
 */
import type { Router } from 'express';
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { PaymentProvider, ProviderId } from '../payments/types.js';
import type { Ledger } from '../supporters/ledger.js';
import { createReconciler, type ReconciliationReport } from './reconcile.js';
import { runDaily } from './daily-run.js';
import {
  createWebhookRepository,
  type InboxEvent,
  type InboxFilter,
  type ListFilter,
  type StoredEvent,
} from './repository.js';
import { createWebhookRoutes } from './routes.js';
import { createWebhookService, type ProcessResult, type RetryPolicy } from './service.js';

export type { ReconciliationReport } from './reconcile.js';
export type { InboxEvent, InboxFilter, ListFilter, StoredEvent } from './repository.js';
export type { ProcessResult } from './service.js';
export { webhookStatuses } from './models.js';

export interface WebhooksFeatureDeps {
  config: AppConfig;
  logger: Logger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  ledger: Ledger;
  /** Counts each delivery by provider and outcome. */
  metrics?: { webhookDelivery(provider: string, outcome: string): void };
  /** Tests shorten these. */
  leaseMs?: number;
  retry?: Partial<RetryPolicy>;
  receivedGraceMs?: number;
}

export interface Sweeper {
  start(intervalMs?: number): void;
  stop(): Promise<void>;
  sweepOnce(): Promise<number>;
}

export interface WebhooksFeature {
  router: Router;
  sweeper: Sweeper;
  replay(id: string): Promise<ProcessResult | null>;
  list(filter: ListFilter): Promise<StoredEvent[]>;
  show(id: string): Promise<StoredEvent | null>;
  reconcile(options: { days: number; until?: Date }): Promise<ReconciliationReport>;
  /** Operations pages: the inbox without raw payloads, its counts by status, and stored reconciliations. */
  inbox(filter: InboxFilter): Promise<InboxEvent[]>;
  statusCounts(): ReturnType<ReturnType<typeof createWebhookRepository>['statusCounts']>;
  latestReconciliations(limit?: number): Promise<ReconciliationReport[]>;
  reconciliation(id: string): Promise<ReconciliationReport | null>;
  /** For the metrics: events still to apply, and dead letters (retries used up). */
  inboxCounts(): Promise<{ backlog: number; deadLetters: number }>;
  /** Retention: drops raw payloads of finished events received before `before`. */
  pruneRawBodies(before: Date): Promise<number>;
  /**
   * Erasure: rewrites the raw payloads that mention any of `terms` with `rewrite` (null leaves a
   * payload as it is); each write is guarded on the payload read and retried once. Returns how
   * many payloads changed. Signatures no longer match a rewritten payload, which replay never
   * checks again: it was verified when it arrived.
   */
  scrubRawBodies(
    terms: string[],
    rewrite: (rawBody: string) => string | null,
    options?: { since?: Date },
  ): Promise<number>;
  /**
   * The sweep and a daily reconciliation (over two days, so consecutive runs overlap), once per day
   * across processes; a run that fails is tried again later the same day.
   */
  startJobs(options?: { sweepIntervalMs?: number; reconcileEveryMs?: number }): void;
  stopJobs(): Promise<void>;
}

export function createWebhooksFeature(deps: WebhooksFeatureDeps): WebhooksFeature {
  const repository = createWebhookRepository();
  const service = createWebhookService({
    logger: deps.logger,
    providers: deps.providers,
    ledger: deps.ledger,
    repository,
    ...(deps.leaseMs !== undefined ? { leaseMs: deps.leaseMs } : {}),
    ...(deps.retry ? { retry: deps.retry } : {}),
    ...(deps.receivedGraceMs !== undefined ? { receivedGraceMs: deps.receivedGraceMs } : {}),
  });
  const reconcile = createReconciler({
    logger: deps.logger,
    providers: deps.providers,
    repository,
    ledger: deps.ledger.repository,
  });

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const sweeper: Sweeper = {
    sweepOnce: () => service.sweepOnce(),
    start(intervalMs = 15_000) {
      if (timer) return;
      timer = setInterval(() => {
        // One pass at a time: a tick that finds the previous pass still going is skipped.
        if (running) return;
        running = service
          .sweepOnce()
          .catch((err: unknown) => deps.logger.warn({ err }, 'webhook sweep failed'))
          .finally(() => (running = undefined));
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };

  let daily: NodeJS.Timeout | undefined;
  let reconciling: Promise<unknown> | undefined;

  return {
    router: createWebhookRoutes(service, deps.metrics?.webhookDelivery.bind(deps.metrics)),
    inboxCounts: () => repository.inboxCounts(),
    startJobs(options = {}) {
      sweeper.start(options.sweepIntervalMs);
      if (daily) return;
      // Checked hourly, run once a day by whichever process claims the day first.
      daily = setInterval(() => {
        if (reconciling) return;
        reconciling = runDaily('reconcile', () => reconcile({ days: 2 }))
          .catch((err: unknown) => deps.logger.error({ err }, 'daily reconciliation failed'))
          .finally(() => (reconciling = undefined));
      }, options.reconcileEveryMs ?? 3_600_000);
      daily.unref();
    },
    async stopJobs() {
      if (daily) clearInterval(daily);
      daily = undefined;
      await Promise.all([sweeper.stop(), reconciling]);
    },
    sweeper,
    replay: service.replay,
    list: service.list,
    show: service.show,
    reconcile,
    pruneRawBodies: (before) => repository.pruneRawBodies(before),
    inbox: (filter) => repository.inbox(filter),
    statusCounts: () => repository.statusCounts(),
    latestReconciliations: (limit) => repository.latestReconciliations(limit),
    reconciliation: (id) => repository.findReconciliation(id),
    async scrubRawBodies(terms, rewrite, options = {}) {
      let changed = 0;
      for (const event of await repository.mentioning(terms, options)) {
        let current: { rawBody: string } | null = event;
        for (let attempt = 0; current && attempt < 3; attempt += 1) {
          const next = rewrite(current.rawBody);
          if (next === null || next === current.rawBody) break;
          if (await repository.replaceRawBody(event.id, current.rawBody, next)) {
            changed += 1;
            break;
          }
          const fresh = await repository.find(event.id);
          current = fresh && fresh.rawBody !== '' ? { rawBody: fresh.rawBody } : null;
        }
      }
      return changed;
    },
  };
}
