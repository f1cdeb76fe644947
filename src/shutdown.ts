import type http from 'node:http';
import type { Logger } from './log.js';

/**
 * On SIGTERM or SIGINT: stop accepting connections, let the requests in flight finish, then stop
 * the runtime and exit 0 (1 if stopping failed). Connections still busy just before the deadline
 * are cut, so the process always exits in time.
 */
export function stopOnSignals(options: {
  server: http.Server;
  logger: Logger;
  timeoutMs: number;
  stop(): Promise<void>;
}): void {
  const { server, logger } = options;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    const force = setTimeout(() => server.closeAllConnections(), options.timeoutMs - 1000);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      options
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
