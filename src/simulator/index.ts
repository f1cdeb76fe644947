/**
 * Local simulator of the Stripe and PayPal APIs Readerfund uses, for development and tests. The official
 * SDKs are pointed at it; only base URLs and keys differ from production.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type Stripe from 'stripe';
import { dashboardRouter } from './dashboard.js';
import { paypalRouter } from './paypal/server.js';
import { PayPalState } from './paypal/state.js';
import { processSigningKey } from './signing.js';
import { stripeRouter } from './stripe/server.js';
import { StripeState } from './stripe/state.js';
import type { SimLogger } from './util.js';
import { SimClock, silentLogger } from './util.js';
import { COMPRESSED_SCHEDULES, WebhookDispatcher } from './webhooks.js';

/** The Stripe API version whose object shapes the simulator produces; pin the SDK to it. */
// Typed as the literal so it can be passed straight to `new Stripe(key, { apiVersion })`; `satisfies`
// fails the type check when an SDK upgrade pins another version.
export const STRIPE_API_VERSION = '2026-10-28.endive' satisfies Stripe.LatestApiVersion;

export interface SimulatorOptions {
  host?: string;
  stripePort?: number;
  paypalPort?: number;
  stripeWebhookUrl?: string;
  paypalWebhookUrl?: string;
  stripeWebhookSecret: string;
  paypalWebhookId: string;
  deliveryDelayMs?: number;
  retrySchedule?: 'compressed' | number[];
  chaos?: { duplicate?: boolean; reorder?: boolean };
  /** The publication named on the hosted payment pages. */
  siteName?: string;
  logger?: SimLogger;
}

export interface PaymentSimulator {
  stripe: { host: string; port: number; baseUrl: string };
  paypal: { baseUrl: string; certUrl: string };
  /** API calls the simulator has answered so far (hosted pages and the dashboard not counted): tests show what a path costs. */
  requestCount(): number;
  /** Makes every API answer this much slower (a provider having a bad day); 0 turns it off. */
  setLatency(ms: number): void;
  setWebhookTargets(targets: { stripe?: string; paypal?: string }): void;
  advanceDays(days: number, opts?: { failRenewals?: boolean }): Promise<void>;
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const CERT_PATH = '/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';

/** A simulator port is taken (by another copy of the app, usually); the caller names the setting. */
export class SimulatorPortInUseError extends Error {
  constructor(
    readonly provider: 'stripe' | 'paypal',
    readonly host: string,
    readonly port: number,
  ) {
    super(`The payment simulator's ${provider} API could not listen on ${host}:${port}: the port is in use`);
    this.name = 'SimulatorPortInUseError';
  }
}

function listen(
  app: express.Express,
  host: string,
  port: number,
  provider: 'stripe' | 'paypal',
): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new SimulatorPortInUseError(provider, host, port) : err);
    });
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

/** The simulator, like the embedded store, is for development and tests; unset NODE_ENV means development. */
function refuseOutsideDevelopment(): void {
  const env = process.env.NODE_ENV;
  if (env === undefined || env === '' || env === 'development' || env === 'test') return;
  throw new Error(
    `The payment simulator refuses to run with NODE_ENV=${env}: it runs only when NODE_ENV is development or test. Configure real provider keys.`,
  );
}

/** What `GET /_simulator/health` answers, so other processes (the operator CLIs) can find a running simulator. */
export interface SimulatorEndpoints {
  simulator: 'readerfund-payment-simulator';
  stripe: { host: string; port: number; baseUrl: string };
  paypal: { baseUrl: string; certUrl: string };
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startPaymentSimulator(options: SimulatorOptions): Promise<PaymentSimulator> {
  refuseOutsideDevelopment();
  if (!options.stripeWebhookSecret) throw new Error('stripeWebhookSecret is required');
  if (!options.paypalWebhookId) throw new Error('paypalWebhookId is required');
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger;
  const clock = new SimClock();
  const signingKey = await processSigningKey();
  let stripeBase = '';
  let paypalBase = '';
  const certUrl = () => `${paypalBase}${CERT_PATH}`;
  const schedule = Array.isArray(options.retrySchedule)
    ? { stripe: options.retrySchedule, paypal: options.retrySchedule }
    : COMPRESSED_SCHEDULES;

  const webhooks = new WebhookDispatcher({
    logger,
    delayMs: options.deliveryDelayMs ?? 50,
    schedule,
    chaos: options.chaos ?? {},
    stripeSecret: options.stripeWebhookSecret,
    paypal: { webhookId: options.paypalWebhookId, privateKeyPem: signingKey.privateKeyPem, certUrl },
    targets: { stripe: options.stripeWebhookUrl, paypal: options.paypalWebhookUrl },
  });

  const stripeState = new StripeState(
    clock,
    () => stripeBase,
    STRIPE_API_VERSION,
    (events) => webhooks.emit('stripe', events),
  );
  const paypalState = new PayPalState(
    clock,
    () => paypalBase,
    (events) => webhooks.emit('paypal', events),
  );

  const advance = async (days: number, failRenewals: boolean): Promise<void> => {
    if (!Number.isFinite(days) || days <= 0) throw new Error('days must be a positive number');
    clock.advance(days * 86_400_000);
    stripeState.renew(failRenewals);
    paypalState.renew(failRenewals);
    logger.info({ days, failRenewals, now: clock.iso() }, 'simulator clock advanced');
  };

  const stripeApp = express();
  stripeApp.disable('x-powered-by');
  stripeApp.set('etag', false);
  const merchantName = options.siteName ?? 'Readerfund';
  const endpoints = (): SimulatorEndpoints => ({
    simulator: 'readerfund-payment-simulator',
    stripe: { host, port: Number(new URL(stripeBase).port), baseUrl: stripeBase },
    paypal: { baseUrl: paypalBase, certUrl: certUrl() },
  });
  stripeApp.get('/_simulator/health', (_req, res) => {
    res.set('Cache-Control', 'no-store').json(endpoints());
  });
  let apiRequests = 0;
  let latencyMs = 0;
  const countApi: express.RequestHandler = (req, _res, next) => {
    if (!/^\/v\d\//.test(req.path)) return next();
    apiRequests += 1;
    if (latencyMs > 0) setTimeout(next, latencyMs);
    else next();
  };
  stripeApp.use(countApi);
  stripeApp.use(stripeRouter({ state: stripeState, apiVersion: STRIPE_API_VERSION, logger, merchantName }));
  stripeApp.use(
    dashboardRouter({
      stripe: stripeState,
      paypal: paypalState,
      clock,
      webhooks,
      advance,
      ownOrigins: () => [stripeBase, stripeBase.replace(/\/\/(127\.0\.0\.1|\[::1\])/, '//localhost')],
    }),
  );

  const paypalApp = express();
  paypalApp.disable('x-powered-by');
  paypalApp.set('etag', false);
  paypalApp.use(countApi);
  paypalApp.use(
    paypalRouter({
      state: paypalState,
      signingKey,
      certPath: CERT_PATH,
      webhookId: options.paypalWebhookId,
      certUrl,
      payloads: webhooks.paypalPayloads,
      merchantName,
    }),
  );

  const stripeServer = await listen(stripeApp, host, options.stripePort ?? 0, 'stripe');
  let paypalServer: http.Server;
  try {
    paypalServer = await listen(paypalApp, host, options.paypalPort ?? 0, 'paypal');
  } catch (err) {
    await close(stripeServer);
    throw err;
  }
  const stripePort = (stripeServer.address() as AddressInfo).port;
  const paypalPort = (paypalServer.address() as AddressInfo).port;
  stripeBase = `http://${urlHost(host)}:${stripePort}`;
  paypalBase = `http://${urlHost(host)}:${paypalPort}`;
  logger.info(
    { stripe: stripeBase, paypal: paypalBase, dashboard: `${stripeBase}/_simulator` },
    'payment simulator listening',
  );

  let stopped = false;
  return {
    stripe: { host, port: stripePort, baseUrl: stripeBase },
    paypal: { baseUrl: paypalBase, certUrl: certUrl() },
    requestCount: () => apiRequests,
    setLatency(ms) {
      latencyMs = Math.max(0, ms);
    },
    setWebhookTargets(targets) {
      webhooks.setTargets(targets);
    },
    advanceDays(days, opts) {
      return advance(days, opts?.failRenewals ?? false);
    },
    idle() {
      return webhooks.idle();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      webhooks.stop();
      await Promise.all([close(stripeServer), close(paypalServer)]);
    },
  };
}
