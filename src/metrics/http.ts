import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from 'express';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';

/** Where the text of a scrape comes from: this process's metrics, or a cluster's totals. */
export interface MetricsSource {
  contentType: string;
  text(): Promise<string>;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares in constant time (digests of equal length, whatever was sent). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const sent = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(sent), digest(token)) && sent !== '';
}

/**
 * GET /metrics on the app's port, for the bearer token alone. Without a token configured there is
 * no such route (a 404 like any unknown path): the numbers say how much money moves and how often.
 */
export function createMetricsRoutes(options: { token: string; source: MetricsSource }): Router {
  const router = Router();
  if (options.token === '') return router;
  router.get('/metrics', async (req, res, next) => {
    if (!bearerMatches(req.headers.authorization, options.token)) {
      res.set('WWW-Authenticate', 'Bearer realm="metrics"');
      return next(new AppError('unauthorized', 'The metrics need the bearer token set in METRICS_TOKEN.'));
    }
    const text = await options.source.text();
    res.set({ 'Content-Type': options.source.contentType, 'Cache-Control': 'no-store' }).send(text);
  });
  return router;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * /metrics on a port of its own (METRICS_PORT), without a token: bind it where only the scraper
 * reaches it (127.0.0.1 by default). Anything else there is a 404.
 */
export function startMetricsServer(options: {
  port: number;
  host: string;
  source: MetricsSource;
  logger: Logger;
}): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found: try /metrics\n');
      return;
    }
    options.source.text().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': options.source.contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        options.logger.warn({ err }, 'metrics could not be collected');
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Metrics unavailable\n');
      },
    );
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`METRICS_PORT ${options.port} on ${options.host} is already in use; choose another.`, {
              cause: err,
            })
          : err,
      ),
    );
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
