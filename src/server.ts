import type { AddressInfo } from 'node:net';
import { ConfigError, getConfig, type AppConfig } from './config.js';
import { startRuntime } from './runtime.js';

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

  const runtime = await startRuntime(config);
  const { logger } = runtime;
  const server = runtime.app.listen(config.server.port, config.server.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, url: config.site.publicUrl }, `Readerfund is serving on port ${port}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    // Connections still busy just before the deadline are cut so the process always exits in time.
    const force = setTimeout(() => server.closeAllConnections(), config.server.shutdownTimeoutMs - 1000);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      runtime
        .stop()
        .then(() => {
          logger.info('stopped');
          process.exit(0);
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        });
    });
    // Keep-alive sockets become idle once their last response is sent; close them as they do.
    server.closeIdleConnections();
    setInterval(() => server.closeIdleConnections(), 200).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`Readerfund could not start: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof Error && err.cause)
    console.error(`  cause: ${String((err.cause as Error).message ?? err.cause)}`);
  process.exit(1);
});
