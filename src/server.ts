// First: fills process.env from .env before the configuration is read.
import './load-env.js';
import type http from 'node:http';
import {
  ConfigError,
  getConfig,
  isDevelopmentEnv,
  listenUrl,
  withListenPort,
  type AppConfig,
} from './config.js';
import { createHttpServer, listen } from './http/listen.js';
import type { Logger } from './log.js';
import { startRuntime } from './runtime.js';
import { isClusterWorker, runPrimary, runWorker } from './cluster.js';
import { startMetricsServer, type MetricsServer } from './metrics/http.js';
import { stopOnSignals } from './shutdown.js';

/** Until the app is built, the port is held (so a taken port is reported first) and answers "starting". */
const starting: http.RequestListener = (_req, res) => {
  res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1' });
  res.end('Readerfund is starting. Try again in a moment.\n');
};

const loopbackNames = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a browser sent to `publicUrl` reaches the app at `listening` (loopback names are one). */
function reaches(publicUrl: string, listening: string): boolean {
  const a = new URL(publicUrl);
  const b = new URL(listening);
  const sameHost =
    a.hostname === b.hostname || (loopbackNames.has(a.hostname) && loopbackNames.has(b.hostname));
  return a.protocol === b.protocol && a.port === b.port && sameHost;
}

function reportAddress(config: AppConfig, logger: Logger, port: number): void {
  const local = listenUrl(config.server.host, port);
  const { publicUrl, publicUrlFrom } = config.site;
  if (config.server.hostFrom === 'local-default') {
    logger.info(
      `Listening on ${config.server.host} only, because the payment simulator or the embedded store is in use: ` +
        'only this machine can reach it. Set HOST=0.0.0.0 to accept other machines (in a container, also to ' +
        'reach it through a published port); the simulator’s payment pages stay on 127.0.0.1.',
    );
  }
  if (publicUrlFrom === 'listen-address' && ['0.0.0.0', '::'].includes(config.server.host)) {
    logger.info(
      `Links, return pages and webhooks use ${publicUrl}; set PUBLIC_URL to the address other machines use to reach this one.`,
    );
  }
  if (publicUrlFrom === 'config' && isDevelopmentEnv(config.env) && !reaches(publicUrl, local)) {
    logger.warn(
      { publicUrl, listening: local },
      `PUBLIC_URL is ${publicUrl}, but the app listens at ${local}. Payment providers send readers and ` +
        'webhooks to PUBLIC_URL, so unless a proxy or tunnel forwards it here, donations will not be recorded. ' +
        'Unset PUBLIC_URL to use the listening address.',
    );
  }
  // Last, so it is the line a newcomer sees: where to go.
  logger.info(
    { port, host: config.server.host, url: local, publicUrl },
    `Readerfund is serving on port ${port}: open ${publicUrlFrom === 'config' ? publicUrl : local}`,
  );
}

/** One process serves alone (WEB_CONCURRENCY=1): it listens first, so a taken port is reported before anything starts. */
async function serveAlone(initial: AppConfig): Promise<void> {
  let config = initial;
  const server = createHttpServer(config.server, starting);
  const port = await listen(server, config.server.port, config.server.host);
  config = withListenPort(config, port);
  const runtime = await startRuntime(config).catch((err: unknown) => {
    server.close();
    throw err;
  });
  const { logger } = runtime;
  let metricsServer: MetricsServer | undefined;
  if (config.metrics.port !== null) {
    metricsServer = await startMetricsServer({
      port: config.metrics.port,
      host: config.metrics.host,
      source: runtime.metrics,
      logger,
    }).catch(async (err: unknown) => {
      server.close();
      await runtime.stop();
      throw err;
    });
  }
  server.off('request', starting);
  server.on('request', runtime.app);
  reportAddress(config, logger, port);
  if (metricsServer) {
    logger.info(
      { metrics: `${listenUrl(config.metrics.host, metricsServer.port)}/metrics` },
      'metrics served on METRICS_PORT',
    );
  }
  stopOnSignals({
    server,
    logger,
    timeoutMs: config.server.shutdownTimeoutMs,
    stop: async () => {
      await metricsServer?.close();
      await runtime.stop();
    },
  });
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = getConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  if (isClusterWorker()) await runWorker(config);
  else if (config.server.webConcurrency > 1) await runPrimary(config, reportAddress);
  else await serveAlone(config);
}

main().catch((err: unknown) => {
  console.error(`Readerfund could not start: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof Error && err.cause && err.name !== 'ListenError')
    console.error(`  cause: ${String((err.cause as Error).message ?? err.cause)}`);
  process.exit(1);
});
