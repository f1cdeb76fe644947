import mongoose from 'mongoose';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import { ProviderError, type PaymentProvider, type ProviderId } from '../payments/types.js';
import { formatMoney } from '../payments/money.js';
import type { Ledger } from './ledger.js';
import { Donation, Subscription, Supporter } from './models.js';
import { receiptText, receiptView } from './receipts.js';

/** What a supporter can see and do from the link in their receipt. */
export function createSelfService(deps: {
  config: AppConfig;
  ledger: Ledger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
}) {
  const { config, ledger, providers } = deps;

  async function supporterOrFail(supporterId: string) {
    const supporter = await Supporter.findById(supporterId).lean();
    if (!supporter || supporter.erasedAt)
      throw new AppError('not_found', 'We have no contributions for this link.');
    return supporter;
  }

  return {
    async overview(supporterId: string) {
      const supporter = await supporterOrFail(supporterId);
      const donations = await Donation.find({ supporterId: supporter._id })
        .sort({ occurredAt: -1 })
        .limit(500)
        .lean();
      const subscriptions = await Subscription.find({ supporterId: supporter._id })
        .sort({ createdAt: -1 })
        .lean();
      return {
        email: supporter.email,
        name: supporter.name,
        donations: donations.map((d) => ({ id: String(d._id), ...receiptView(config, d) })),
        subscriptions: subscriptions.map((s) => ({
          id: String(s._id),
          plan: config.donations.plans.find((p) => p.id === s.planId)?.name ?? 'Monthly support',
          amount:
            s.amountMinor && s.currency ? formatMoney(s.amountMinor, s.currency, config.site.locale) : '',
          provider: s.provider === 'stripe' ? 'Card' : 'PayPal',
          status: s.status.replace('_', ' '),
          cancellable: s.status !== 'cancelled',
        })),
      };
    },

    async receipt(supporterId: string, donationId: string) {
      if (!mongoose.isValidObjectId(donationId)) throw new AppError('not_found', 'No such receipt.');
      const donation = await Donation.findOne({ _id: donationId, supporterId }).lean();
      if (!donation) throw new AppError('not_found', 'No such receipt.');
      const view = receiptView(config, donation);
      return { filename: `receipt-${view.number}.txt`, text: receiptText(config, view) };
    },

    /** Cancels at the provider first, then records it: the ledger never claims a cancel that did not happen. */
    async cancelSubscription(supporterId: string, subscriptionId: string) {
      if (!mongoose.isValidObjectId(subscriptionId))
        throw new AppError('not_found', 'No such monthly support.');
      const subscription = await Subscription.findOne({ _id: subscriptionId, supporterId }).lean();
      if (!subscription) throw new AppError('not_found', 'No such monthly support.');
      if (subscription.status === 'cancelled') return;
      const provider = providers[subscription.provider];
      if (!provider) throw new AppError('upstream', 'That payment provider is not available right now.');
      try {
        await provider.cancelSubscription(subscription.providerSubscriptionId, 'Cancelled by the supporter');
      } catch (err) {
        if (err instanceof ProviderError) {
          throw new AppError(
            'upstream',
            'The payment provider did not confirm the cancellation. Please try again in a moment.',
          );
        }
        throw err;
      }
      await ledger.apply({
        type: 'subscription.status_changed',
        provider: subscription.provider,
        subscriptionId: subscription.providerSubscriptionId,
        status: 'cancelled',
        occurredAt: new Date(),
      });
    },
  };
}
export type SelfService = ReturnType<typeof createSelfService>;
