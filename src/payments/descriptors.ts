/**
 * What each provider offers, known from configuration alone (no SDK is loaded here): the panel,
 * the plans' validation and the pages read these instead of asking which provider is which.
 */
import type { AppConfig } from '../config.js';
import type { ProviderDescriptor, ProviderId } from './types.js';
import { paypalDescriptor } from './paypal/descriptor.js';
import { stripeDescriptor } from './stripe/descriptor.js';

export { paypalDescriptor, stripeDescriptor };

/** The providers this configuration can take payments with, as configured (Stripe subscriptions may be switched off). */
export function configuredProviders(config: AppConfig): Map<ProviderId, ProviderDescriptor> {
  const { stripe, paypal, resolvedMode } = config.payments;
  const simulator = resolvedMode === 'simulator';
  const out = new Map<ProviderId, ProviderDescriptor>();
  if (simulator || stripe.secretKey) {
    out.set('stripe', {
      ...stripeDescriptor,
      capabilities: { ...stripeDescriptor.capabilities, monthly: stripe.subscriptionsEnabled },
    });
  }
  if (simulator || paypal.clientId) out.set('paypal', paypalDescriptor);
  return out;
}

/** The providers a plan can be paid with, in the plan's order. */
export function providersForPlan(
  config: AppConfig,
  plan: { providers: readonly ProviderId[]; interval: 'once' | 'month' },
): ProviderDescriptor[] {
  const configured = configuredProviders(config);
  return plan.providers
    .map((id) => configured.get(id))
    .filter((d): d is ProviderDescriptor => !!d && (plan.interval !== 'month' || d.capabilities.monthly));
}

const known: Record<ProviderId, ProviderDescriptor> = { stripe: stripeDescriptor, paypal: paypalDescriptor };

/** A provider's descriptor by id, for pages that show recorded payments. */
export const descriptorOf = (id: ProviderId): ProviderDescriptor => known[id];
