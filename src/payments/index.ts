/**
 * Builds the payment providers from configuration. In simulator mode the local simulator is started
 * and the same adapters are pointed at it; in live mode they talk to Stripe and PayPal.
 */
import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { createPayPalAdapter } from './paypal/index.js';
import { createMongoPayPalPlanStore } from './paypal/plan-store.js';
import { createStripeAdapter } from './stripe/index.js';
import type { PaymentProvider, ProviderId } from './types.js';
import type { PaymentSimulator } from '../simulator/index.js';

export type { PaymentProvider, ProviderId } from './types.js';

/**
 * What our adapters and our own simulator share, made afresh by every process that starts a
 * simulator: nobody else can sign a webhook the app accepts, whoever can reach it.
 */
export interface SimulatorSecrets {
  stripeSecretKey: string;
  stripeWebhookSecret: string;
  paypalClientSecret: string;
  paypalWebhookId: string;
}

export function newSimulatorSecrets(): SimulatorSecrets {
  const random = () => randomBytes(24).toString('hex');
  return {
    stripeSecretKey: `sk_test_sim_${random()}`,
    stripeWebhookSecret: `whsec_${random()}`,
    paypalClientSecret: random(),
    paypalWebhookId: `WH-SIM-${random().slice(0, 24).toUpperCase()}`,
  };
}

export interface PaymentSetup {
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  /** Origins of the hosted payment pages the donation form redirects to (CSP form-action). */
  formActionOrigins: string[];
  /** The simulator this process started, with the secrets it shares with the adapters. */
  simulator?: PaymentSimulator & { secrets: SimulatorSecrets };
  stop(): Promise<void>;
}

/** Where the simulator's settings come from, for messages that say which one to change. */
const SIMULATOR_PORT_SETTING = { stripe: 'SIMULATOR_STRIPE_PORT', paypal: 'SIMULATOR_PAYPAL_PORT' } as const;

export async function setUpPayments(config: AppConfig, logger: Logger): Promise<PaymentSetup> {
  const { stripe, paypal } = config.payments;
  const planStore = createMongoPayPalPlanStore();
  const log = logger.child({ component: 'payments' });

  if (config.payments.resolvedMode === 'simulator') {
    const { startPaymentSimulator, SimulatorPortInUseError } = await import('../simulator/index.js');
    const fresh = newSimulatorSecrets();
    const secrets: SimulatorSecrets = {
      ...fresh,
      stripeWebhookSecret: stripe.webhookSecret || fresh.stripeWebhookSecret,
      paypalWebhookId: paypal.webhookId || fresh.paypalWebhookId,
    };
    let simulator: PaymentSimulator;
    try {
      simulator = await startPaymentSimulator({
        stripePort: config.payments.simulator.stripePort,
        paypalPort: config.payments.simulator.paypalPort,
        stripeWebhookSecret: secrets.stripeWebhookSecret,
        paypalWebhookId: secrets.paypalWebhookId,
        stripeWebhookUrl: `${config.site.publicUrl}/webhooks/stripe`,
        paypalWebhookUrl: `${config.site.publicUrl}/webhooks/paypal`,
        siteName: config.site.name,
        logger: logger.child({ component: 'simulator' }),
      });
    } catch (err) {
      if (err instanceof SimulatorPortInUseError) {
        throw new Error(
          `Port ${err.port} for the payment simulator's ${err.provider === 'stripe' ? 'Stripe' : 'PayPal'} API is already in use, ` +
            'probably by another copy of Readerfund. To run a second copy, give it other ports: ' +
            `${SIMULATOR_PORT_SETTING.stripe}, ${SIMULATOR_PORT_SETTING.paypal} and PORT ` +
            '(e.g. SIMULATOR_STRIPE_PORT=12121 SIMULATOR_PAYPAL_PORT=12122 PORT=3001 npm start).',
          { cause: err },
        );
      }
      throw err;
    }
    return {
      ...paymentsForSimulator(config, logger, simulator, secrets),
      simulator: Object.assign(simulator, { secrets }),
      stop: () => simulator.stop(),
    };
  }

  const providers: Partial<Record<ProviderId, PaymentProvider>> = {};
  const formActionOrigins: string[] = [];
  if (stripe.secretKey) {
    providers.stripe = createStripeAdapter({
      secretKey: stripe.secretKey,
      webhookSecret: stripe.webhookSecret,
      apiVersion: stripe.apiVersion,
      logger: log,
    });
    formActionOrigins.push('https://checkout.stripe.com');
  }
  if (paypal.clientId) {
    providers.paypal = createPayPalAdapter({
      clientId: paypal.clientId,
      clientSecret: paypal.clientSecret,
      webhookId: paypal.webhookId,
      environment: paypal.environment,
      planStore,
      brandName: config.site.name,
      logger: log,
    });
    formActionOrigins.push(
      paypal.environment === 'live' ? 'https://www.paypal.com' : 'https://www.sandbox.paypal.com',
    );
  }
  return { providers, formActionOrigins, stop: async () => undefined };
}

/** No simulator of ours answers where the configuration says the app's runs. */
export class SimulatorUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorUnavailableError';
  }
}

/**
 * Providers for a process that must not start a simulator of its own (the operator CLIs): the
 * simulator's payments live in the running app's memory, so these adapters talk to that one, found
 * at SIMULATOR_STRIPE_PORT. In live mode they are the usual adapters.
 */
export async function paymentsOfRunningApp(config: AppConfig, logger: Logger): Promise<PaymentSetup> {
  if (config.payments.resolvedMode !== 'simulator') return setUpPayments(config, logger);
  const { stripePort } = config.payments.simulator;
  const why =
    'Payments run on the payment simulator (no STRIPE_SECRET_KEY or PAYPAL_CLIENT_ID are set), whose ' +
    'payments live in the memory of the running app.';
  if (stripePort === 0) {
    throw new SimulatorUnavailableError(
      `${why} ${SIMULATOR_PORT_SETTING.stripe} is 0 (any free port), so this command cannot find it: ` +
        `start the app and this command with the same fixed ${SIMULATOR_PORT_SETTING.stripe}.`,
    );
  }
  const url = `http://127.0.0.1:${stripePort}/_simulator/health`;
  let endpoints: Pick<PaymentSimulator, 'stripe' | 'paypal'> & { simulator?: string };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    endpoints = (await res.json()) as typeof endpoints;
    if (endpoints.simulator !== 'readerfund-payment-simulator') throw new Error('not our simulator');
  } catch {
    throw new SimulatorUnavailableError(
      `${why} No simulator answers at http://127.0.0.1:${stripePort} (${SIMULATOR_PORT_SETTING.stripe}): ` +
        'start the app first (npm start) with the same settings, then run this command again.',
    );
  }
  return {
    ...paymentsForSimulator(config, logger, endpoints, newSimulatorSecrets()),
    stop: async () => undefined,
  };
}

/** Adapters pointed at a running simulator (this process's, or another's). */
export function paymentsForSimulator(
  config: AppConfig,
  logger: Logger,
  simulator: Pick<PaymentSimulator, 'stripe' | 'paypal'>,
  secrets: SimulatorSecrets,
): Omit<PaymentSetup, 'stop' | 'simulator'> {
  const log = logger.child({ component: 'payments' });
  const paypalOrigin = new URL(simulator.paypal.baseUrl).origin;
  log.info(
    {
      stripe: simulator.stripe.baseUrl,
      paypal: simulator.paypal.baseUrl,
      dashboard: `${simulator.stripe.baseUrl}/_simulator`,
    },
    'using the payment simulator',
  );
  return {
    formActionOrigins: [new URL(simulator.stripe.baseUrl).origin, paypalOrigin],
    providers: {
      stripe: createStripeAdapter({
        secretKey: secrets.stripeSecretKey,
        webhookSecret: secrets.stripeWebhookSecret,
        apiVersion: config.payments.stripe.apiVersion,
        api: { host: simulator.stripe.host, port: simulator.stripe.port, protocol: 'http' },
        logger: log,
      }),
      paypal: createPayPalAdapter({
        // The PayPal SDK caches tokens per client id; one id per simulator keeps them apart.
        clientId: `readerfund-simulator-${new URL(simulator.paypal.baseUrl).port}`,
        clientSecret: secrets.paypalClientSecret,
        webhookId: secrets.paypalWebhookId,
        environment: { baseUrl: simulator.paypal.baseUrl },
        extraCertOrigins: [paypalOrigin],
        planStore: createMongoPayPalPlanStore(),
        brandName: config.site.name,
        logger: log,
      }),
    },
  };
}
