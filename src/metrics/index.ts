/**
 * Prometheus metrics (prom-client): what a request, a webhook delivery and a donation cost and how
 * they ended, counted where they happen; the inbox, the receipts and the store, read when scraped.
 * Each runtime has a registry of its own (tests start many in one process); the process metrics
 * (CPU, memory, event loop, GC) are collected once per process and shown beside it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
} from 'prom-client';
import type { MetricValue } from 'prom-client';
import { routeLabel } from './route-label.js';

export { routeLabel } from './route-label.js';

/** What the gauges read at scrape time; each is one cheap count or a ping. */
export interface ScrapeSources {
  /** Webhook events still to be applied (received, being processed, failed and due again) and dead letters. */
  inbox(): Promise<{ backlog: number; deadLetters: number }>;
  /** Receipts not yet sent (waiting, or retrying after a mail failure). */
  receiptsPending(): Promise<number>;
  /** The store's round trip in seconds, or null when it does not answer. */
  ping(): Promise<number | null>;
}

export interface Metrics {
  readonly contentType: string;
  /** Called once per finished request (src/http/request-log.ts); must stay cheap. */
  observeRequest(req: IncomingMessage, res: ServerResponse, ms: number): void;
  webhookDelivery(provider: string, outcome: string): void;
  donationStarted(provider: string, interval: string): void;
  /** A payment reached its supporter's ledger (one-off, first monthly payment or a renewal). */
  donationCompleted(): void;
  /** Where the scrape-time gauges come from, once the features exist. */
  readFrom(sources: ScrapeSources): void;
  /** This process's metrics, as text. */
  text(): Promise<string>;
  /** This process's metrics as JSON, for a cluster primary to add up (prom-client's aggregation). */
  json(): Promise<MetricObjectWithValues<MetricValue<string>>[]>;
}

/** Counts read at scrape time are kept this long, so a busy scraper does not become load. */
const COUNTS_CACHE_MS = 5000;
const QUERY_TIMEOUT_MS = 1500;

let processRegistry: Registry | undefined;

/** The process metrics, once per process (each collector installs observers that are never removed). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) =>
      setTimeout(() => reject(new Error('timed out')), QUERY_TIMEOUT_MS).unref(),
    ),
  ]);
}

export function createMetrics(options: { countsCacheMs?: number } = {}): Metrics {
  const cacheMs = options.countsCacheMs ?? COUNTS_CACHE_MS;
  const registry = new Registry();
  const registers = [registry];

  const requests = new Histogram({
    name: 'readerfund_http_request_duration_seconds',
    help: 'Time to answer a request, by method, route pattern (never the path: paths carry tokens) and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const webhooks = new Counter({
    name: 'readerfund_webhook_deliveries_total',
    help: 'Webhook deliveries received, by provider and outcome (processed, duplicate, in_progress, ignored, rejected, failed, unknown_provider).',
    labelNames: ['provider', 'outcome'] as const,
    registers,
  });
  const started = new Counter({
    name: 'readerfund_donations_started_total',
    help: 'Checkouts started with a provider (the reader was sent to the payment page), by provider and interval.',
    labelNames: ['provider', 'interval'] as const,
    registers,
  });
  const completed = new Counter({
    name: 'readerfund_donations_completed_total',
    help: "Payments credited to a supporter's ledger (one-off gifts, first monthly payments and renewals).",
    registers,
  });

  let sources: ScrapeSources | undefined;
  let counts: Promise<{ backlog: number; deadLetters: number; receipts: number } | null> | undefined;
  let countsAt = 0;
  const readCounts = () => {
    if (!sources) return Promise.resolve(null);
    if (!counts || Date.now() - countsAt > cacheMs) {
      countsAt = Date.now();
      const from = sources;
      counts = Promise.all([withTimeout(from.inbox()), withTimeout(from.receiptsPending())])
        .then(([inbox, receipts]) => ({ ...inbox, receipts }))
        // Unreadable (the store is down): the gauges keep their last values; store_up says why.
        .catch(() => ((countsAt = 0), null));
    }
    return counts;
  };
  // Every process of a cluster reads the same database: its totals are shown once (max), not summed.
  new Gauge({
    name: 'readerfund_webhook_inbox_backlog',
    help: 'Webhook events stored but not yet applied: received, being processed, or failed and due for a retry.',
    aggregator: 'max',
    registers,
    async collect() {
      const c = await readCounts();
      if (c) this.set(c.backlog);
    },
  });
  new Gauge({
    name: 'readerfund_webhook_dead_letters',
    help: 'Webhook events whose retries are used up; they wait for an operator (npm run webhooks -- replay).',
    aggregator: 'max',
    registers,
    async collect() {
      const c = await readCounts();
      if (c) this.set(c.deadLetters);
    },
  });
  new Gauge({
    name: 'readerfund_receipts_pending',
    help: 'Receipts not yet sent: waiting for the sender, or retrying after a mail failure.',
    aggregator: 'max',
    registers,
    async collect() {
      const c = await readCounts();
      if (c) this.set(c.receipts);
    },
  });
  // One ping per scrape serves both store gauges.
  let ping: Promise<number | null> | undefined;
  let pingAt = 0;
  const pingOnce = () => {
    if (!ping || Date.now() - pingAt > 500) {
      pingAt = Date.now();
      ping = sources ? sources.ping().catch(() => null) : Promise.resolve(null);
    }
    return ping;
  };
  new Gauge({
    name: 'readerfund_store_up',
    help: '1 when the store answered a ping during this scrape, else 0 (in a cluster: the lowest of the workers).',
    aggregator: 'min',
    registers,
    async collect() {
      this.set((await pingOnce()) === null ? 0 : 1);
    },
  });
  new Gauge({
    name: 'readerfund_store_round_trip_seconds',
    help: 'Round trip of a ping to the store, measured when scraped (in a cluster: the slowest worker).',
    aggregator: 'max',
    registers,
    async collect() {
      const seconds = await pingOnce();
      if (seconds !== null) this.set(seconds);
    },
  });

  return {
    contentType: registry.contentType,
    observeRequest(req, res, ms) {
      requests.observe(
        { method: req.method ?? 'GET', route: routeLabel(req), status: res.statusCode },
        ms / 1000,
      );
    },
    webhookDelivery(provider, outcome) {
      webhooks.inc({ provider, outcome });
    },
    donationStarted(provider, interval) {
      started.inc({ provider, interval });
    },
    donationCompleted() {
      completed.inc();
    },
    readFrom(next) {
      sources = next;
      counts = undefined;
    },
    async text() {
      const [own, proc] = await Promise.all([registry.metrics(), processMetrics().metrics()]);
      return `${own}\n${proc}`;
    },
    async json() {
      const [own, proc] = await Promise.all([
        registry.getMetricsAsJSON(),
        processMetrics().getMetricsAsJSON(),
      ]);
      return [...own, ...proc];
    },
  };
}
