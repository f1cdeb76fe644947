import path from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import nunjucks from 'nunjucks';
import type { AppConfig } from './config.js';
import type { Logger } from './log.js';
import type { Store } from './db/index.js';
import { securityHeaders } from './http/security.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { rejectCrossSiteWrites } from './http/cross-site.js';
import { requestLogging } from './http/request-log.js';
import type { Metrics } from './metrics/index.js';

export const viewsDir = path.resolve(import.meta.dirname, '..', 'views');

export interface AppDeps {
  config: AppConfig;
  logger: Logger;
  store: Store;
  /** Origins of the payment providers' hosted pages that /donate redirects to. */
  formActionOrigins: string[];
  /** Routers that need the raw request body (webhooks); mounted before any body parser. */
  rawBodyRouters?: Router[];
  /** Middleware deciding per-request state that headers depend on (consent); runs before the security headers. */
  requestState?: RequestHandler[];
  /** Feature routers, mounted in order after the body parsers. */
  routers?: Router[];
  /** Request metrics: told of every finished request; `router` serves /metrics. */
  metrics?: { observeRequest: Metrics['observeRequest']; router: Router };
}

export function createViewEnvironment(app?: express.Express): nunjucks.Environment {
  const env = nunjucks.configure(viewsDir, { autoescape: true, throwOnUndefined: false, noCache: false });
  if (app) env.express(app);
  return env;
}

/** Builds the Express app from its parts. No listen: the server and the tests do that. */
export function createApp(deps: AppDeps): express.Express {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.server.trustProxy);
  app.set('etag', 'strong');
  app.set('view engine', 'njk');
  const views = createViewEnvironment(app);
  views.addGlobal('site', config.site);

  app.use(requestLogging(deps.logger, deps.metrics ? { observe: deps.metrics.observeRequest } : {}));
  for (const middleware of deps.requestState ?? []) app.use(middleware);
  app.use(
    securityHeaders({
      formActionOrigins: deps.formActionOrigins,
      https: config.site.publicUrl.startsWith('https:'),
    }),
  );

  app.get('/healthz', (_req, res) => {
    res
      .set('Cache-Control', 'no-store')
      // The pid tells which worker answered when several share the port (WEB_CONCURRENCY).
      .json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()), pid: process.pid });
  });
  if (deps.metrics) app.use(deps.metrics.router);
  app.get('/readyz', async (_req, res) => {
    const reachable = await deps.store.ping();
    res
      .status(reachable ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: reachable ? 'ready' : 'unavailable', store: reachable ? 'reachable' : 'unreachable' });
  });
  app.use(
    '/static',
    express.static(path.join(viewsDir, 'static'), { maxAge: '1d', index: false, fallthrough: true }),
  );

  for (const router of deps.rawBodyRouters ?? []) app.use(router);

  app.use(rejectCrossSiteWrites(new URL(config.site.publicUrl).origin));
  app.use(express.urlencoded({ extended: false, limit: config.server.bodyLimit, parameterLimit: 100 }));
  app.use('/api', express.json({ limit: config.server.bodyLimit }));

  for (const router of deps.routers ?? []) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
