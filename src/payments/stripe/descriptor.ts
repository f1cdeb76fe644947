/** What the product may know about card payments through Stripe without loading the SDK. */
import type { ProviderDescriptor } from '../types.js';

export const stripeDescriptor: ProviderDescriptor = {
  id: 'stripe',
  label: 'Card',
  longLabel: 'Card (Stripe)',
  returnPath: '/donate/return/stripe',
  capabilities: {
    monthly: true,
    // A subscription item's price can change from the next period without proration.
    changeAmount: true,
    // `cancel_at_period_end` lets Stripe itself end the subscription when the paid period is over.
    cancelAtPeriodEnd: true,
  },
};
