/**
 * WEB_CONCURRENCY=N: N worker processes (node:cluster) share one port; the primary only supervises.
 *
 * Workers are the usual stateless app processes: each builds its own runtime, connects to the
 * store, and runs the background jobs (receipts, the webhook sweep, unfinished checkouts, the daily
 * runs), which are claimed through the store (leases, unique indexes, one claim per day), so they
 * are safe in every worker and keep running whichever worker dies. In development the primary also
 * hosts what a single process would keep to itself: the embedded store and the payment simulator,
 * which the workers reach over the wire; their address and the simulator's secrets travel in the
 * workers' environment, never in a log.
 *
 * The primary restarts a worker that dies (waiting longer after each quick death), answers
 * /metrics on METRICS_PORT with the workers' totals, and on SIGTERM stops the workers (each
 * finishes its requests in flight), then the simulator and the store.
 */
import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import { z } from 'zod';
import { listenUrl, withListenPort, type AppConfig } from './config.js';
import { startEmbeddedStore } from './db/index.js';
import { resolveDevSecrets } from './dev-secrets.js';
import { createHttpServer, listen } from './http/listen.js';
import { createLogger, type Logger } from './log.js';
import { createClusterAggregator, answerPrimary, clusterTotalsSource } from './metrics/cluster.js';
import { startMetricsServer, type MetricsServer } from './metrics/http.js';
import { paymentsForSimulator, setUpPayments, type PaymentSetup } from './payments/index.js';
import { startRuntime } from './runtime.js';
import { stopOnSignals } from './shutdown.js';

/** The simulator the primary runs, for its workers: where it answers and the secrets it signs with. */
const SHARED_SIMULATOR = 'READERFUND_SHARED_SIMULATOR';
const READY = 'readerfund:worker-ready';

const sharedSimulator = z.object({
  stripe: z.object({ host: z.string(), port: z.number().int(), baseUrl: z.string() }),
  paypal: z.object({ baseUrl: z.string(), certUrl: z.string() }),
  secrets: z.object({
    stripeSecretKey: z.string(),
    stripeWebhookSecret: z.string(),
    paypalClientSecret: z.string(),
    paypalWebhookId: z.string(),
  }),
});

/** A worker that lived at least this long before dying counts as a fresh failure, not a crash loop. */
const HEALTHY_AFTER_MS = 30_000;
const MAX_RESTART_DELAY_MS = 30_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** In a worker: the runtime, then the port (so no reader is answered by a worker still starting). */
export async function runWorker(config: AppConfig): Promise<void> {
  const shared = process.env[SHARED_SIMULATOR];
  // The secrets are not needed in this process's environment once read (child processes of its own).
  delete process.env[SHARED_SIMULATOR];
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty });
  let payments: PaymentSetup | undefined;
  if (shared) {
    const simulator = sharedSimulator.parse(JSON.parse(shared));
    payments = {
      ...paymentsForSimulator(config, logger, simulator, simulator.secrets),
      stop: async () => undefined,
    };
  }
  const runtime = await startRuntime(config, {
    logger,
    ...(payments ? { payments } : {}),
    metricsSource: clusterTotalsSource(),
  });
  answerPrimary(runtime.metrics);
  const server = createHttpServer(config.server, runtime.app);
  const port = await listen(server, config.server.port, config.server.host).catch(async (err: unknown) => {
    await runtime.stop();
    throw err;
  });
  stopOnSignals({ server, logger, timeoutMs: config.server.shutdownTimeoutMs, stop: () => runtime.stop() });
  logger.info({ port, worker: cluster.worker?.id }, 'worker ready');
  process.send?.({ type: READY });
}

/** A taken port is reported once by the primary, not by every worker; port 0 becomes a fixed one. */
async function reservePort(config: AppConfig): Promise<number> {
  const probe = http.createServer();
  const port = await listen(probe, config.server.port, config.server.host);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

type Cleanup = () => Promise<void>;

/**
 * The primary: hosts the development store and simulator when they are in use, forks the workers,
 * keeps them running and stops everything in order. `onServing` reports the address once every
 * worker listens.
 */
export async function runPrimary(
  initial: AppConfig,
  onServing: (config: AppConfig, logger: Logger, port: number) => void,
): Promise<void> {
  const base = createLogger({ level: initial.log.level, pretty: initial.log.pretty });
  const logger = base.child({ component: 'cluster' });
  const count = initial.server.webConcurrency;
  const port = await reservePort(initial);
  const config = withListenPort(initial, port);
  const cleanups: Cleanup[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err: unknown) => logger.error({ err }, 'error during shutdown'));
    }
  };

  const env: Record<string, string> = { PORT: String(port), HOST: config.server.host };
  if (config.site.publicUrlFrom === 'config') env.PUBLIC_URL = config.site.publicUrl;
  try {
    if (config.db.uri === '') {
      const store = await startEmbeddedStore({ embeddedPath: config.db.embeddedPath, logger: base });
      cleanups.push(() => store.stop());
      env.MONGODB_URI = `${store.uri}/readerfund`;
      // The same secrets in every worker, kept with the embedded store's data as a single process would.
      const secrets = await resolveDevSecrets(config, config.db.embeddedPath);
      env.SESSION_SECRET = secrets.session;
      env.LINK_SIGNING_SECRET = secrets.links;
    }
    if (config.payments.resolvedMode === 'simulator') {
      const payments = await setUpPayments(config, base);
      cleanups.push(() => payments.stop());
      const simulator = payments.simulator!;
      env[SHARED_SIMULATOR] = JSON.stringify({
        stripe: simulator.stripe,
        paypal: simulator.paypal,
        secrets: simulator.secrets,
      });
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const ready = new Set<Worker>();
  const aggregator = createClusterAggregator(() => [...ready].filter((w) => w.isConnected()));
  cleanups.push(async () => aggregator.stop());
  let metricsServer: MetricsServer | undefined;
  if (config.metrics.port !== null) {
    metricsServer = await startMetricsServer({
      port: config.metrics.port,
      host: config.metrics.host,
      source: aggregator,
      logger,
    }).catch(async (err: unknown) => {
      await stopAll();
      throw err;
    });
    const server = metricsServer;
    cleanups.push(() => server.close());
  }

  let stopping = false;
  let serving = false;
  let quickDeaths = 0;
  const startedAt = new Map<Worker, number>();
  const fork = () => {
    const worker = cluster.fork(env);
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if ((message as { type?: unknown })?.type !== READY) return;
      ready.add(worker);
      if (!serving && ready.size === count) {
        serving = true;
        onServing(config, base, port);
        logger.info({ workers: [...ready].map((w) => w.process.pid) }, `${count} workers share port ${port}`);
        if (metricsServer) {
          logger.info(
            { metrics: `${listenUrl(config.metrics.host, metricsServer.port)}/metrics` },
            'metrics of all workers served on METRICS_PORT',
          );
        }
      }
    });
  };

  let failStart: (err: Error) => void = () => undefined;
  const started = new Promise<void>((_resolve, reject) => (failStart = reject));
  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker);
    const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
    startedAt.delete(worker);
    if (stopping) return;
    if (!serving) {
      // A worker that cannot start (bad settings, a store that does not answer) would fail again.
      failStart(new Error(`a worker stopped while starting (exit code ${code ?? signal})`));
      return;
    }
    quickDeaths = lived >= HEALTHY_AFTER_MS ? 0 : quickDeaths + 1;
    const delay = quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** (quickDeaths - 1));
    logger.error(
      { pid: worker.process.pid, code, signal, restartInMs: delay },
      'a worker died; starting another',
    );
    setTimeout(() => !stopping && fork(), delay).unref();
  });

  const stopWorkers = async (): Promise<boolean> => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = workers.map(
      (worker) =>
        new Promise<boolean>((resolve) => {
          if (worker.isDead()) return resolve(true);
          worker.once('exit', (code) => resolve(code === 0));
        }),
    );
    // Each worker finishes its requests in flight (its own SIGTERM handler), within its deadline.
    for (const worker of workers) worker.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
    }, config.server.shutdownTimeoutMs + 2000);
    const clean = (await Promise.all(exits)).every(Boolean);
    clearTimeout(deadline);
    return clean;
  };

  const shutdown = (signal: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: stopping the workers, then the shared services');
    stopWorkers()
      .then(async (clean) => {
        await stopAll();
        logger.info('stopped');
        process.exit(clean ? exitCode : 1);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM', 0));
  process.once('SIGINT', () => shutdown('SIGINT', 0));

  for (let i = 0; i < count; i++) fork();
  started.catch((err: Error) => {
    logger.error({ err: err.message }, 'could not start the workers');
    shutdown('start failed', 1);
  });
}
