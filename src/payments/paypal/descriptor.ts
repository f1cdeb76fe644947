/** What the product may know about PayPal without loading its SDK. */
import type { ProviderDescriptor } from '../types.js';

export const paypalDescriptor: ProviderDescriptor = {
  id: 'paypal',
  label: 'PayPal',
  longLabel: 'PayPal',
  returnPath: '/donate/return/paypal',
  capabilities: {
    monthly: true,
    // Subscriptions v1 `revise` moves a subscription to another plan from the next billing cycle.
    changeAmount: true,
    // PayPal cancels at once (billing stops); the paid period's end is kept by the ledger instead.
    cancelAtPeriodEnd: false,
  },
};
