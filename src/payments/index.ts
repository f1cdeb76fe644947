/**
 * Builds the payment providers from configuration. In simulator mode the local simulator is started
 * and the same adapters are pointed at it; in live mode they talk to Stripe and PayPal.
 */
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { createPayPalAdapter } from './paypal/index.js';
import { createMongoPayPalPlanStore } from './paypal/plan-store.js';
import { createStripeAdapter } from './stripe/index.js';
import type { PaymentProvider, ProviderId } from './types.js';
import type { PaymentSimulator } from '../simulator/index.js';

export type { PaymentProvider, ProviderId } from './types.js';

export interface PaymentSetup {
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  /** Origins of the hosted payment pages the donation form redirects to (CSP form-action). */
  formActionOrigins: string[];
  simulator?: PaymentSimulator;
  stop(): Promise<void>;
}

/** Keys the simulator accepts; they mean nothing anywhere else. */
export const simulatorCredentials = {
  stripeSecretKey: 'sk_test_readerfund_simulator',
  stripeWebhookSecret: 'whsec_readerfund_simulator',
  paypalClientSecret: 'readerfund-simulator-secret',
  paypalWebhookId: 'WH-READERFUND-SIMULATOR',
};

export async function setUpPayments(config: AppConfig, logger: Logger): Promise<PaymentSetup> {
  const { stripe, paypal } = config.payments;
  const planStore = createMongoPayPalPlanStore();
  const log = logger.child({ component: 'payments' });

  if (config.payments.resolvedMode === 'simulator') {
    const { startPaymentSimulator } = await import('../simulator/index.js');
    const stripeWebhookSecret = stripe.webhookSecret || simulatorCredentials.stripeWebhookSecret;
    const paypalWebhookId = paypal.webhookId || simulatorCredentials.paypalWebhookId;
    const simulator = await startPaymentSimulator({
      stripePort: config.payments.simulator.stripePort,
      paypalPort: config.payments.simulator.paypalPort,
      stripeWebhookSecret,
      paypalWebhookId,
      stripeWebhookUrl: `${config.site.publicUrl}/webhooks/stripe`,
      paypalWebhookUrl: `${config.site.publicUrl}/webhooks/paypal`,
      logger: logger.child({ component: 'simulator' }),
    });
    return {
      ...paymentsForSimulator(config, logger, simulator, { stripeWebhookSecret, paypalWebhookId }),
      simulator,
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

/** Adapters pointed at a running simulator (this process's, or another's). */
export function paymentsForSimulator(
  config: AppConfig,
  logger: Logger,
  simulator: Pick<PaymentSimulator, 'stripe' | 'paypal'>,
  secrets: { stripeWebhookSecret: string; paypalWebhookId: string },
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
        secretKey: simulatorCredentials.stripeSecretKey,
        webhookSecret: secrets.stripeWebhookSecret,
        apiVersion: config.payments.stripe.apiVersion,
        api: { host: simulator.stripe.host, port: simulator.stripe.port, protocol: 'http' },
        logger: log,
      }),
      paypal: createPayPalAdapter({
        // The PayPal SDK caches tokens per client id; one id per simulator keeps them apart.
        clientId: `readerfund-simulator-${new URL(simulator.paypal.baseUrl).port}`,
        clientSecret: simulatorCredentials.paypalClientSecret,
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
