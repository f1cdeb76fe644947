/**
 * The donation use cases: start a checkout at the reader's chosen provider, and make sense of the
 * reader's return. What the money means is the ledger's business; this only starts and links.
 */
import mongoose from 'mongoose';
import type { AppConfig, Plan } from '../config.js';
import type { Logger } from '../log.js';
import { AppError } from '../errors.js';
import { ProviderError, type Money, type PaymentProvider, type ProviderId } from '../payments/types.js';
import type { Ledger } from '../supporters/ledger.js';
import { Checkout } from './checkout-model.js';
import type { DonationChoice } from './plans.js';

export interface ThankYou {
  status: 'paid' | 'pending' | 'failed' | 'cancelled';
  plan?: Plan;
  amount?: Money;
  provider: ProviderId;
}

export interface DonationService {
  start(choice: DonationChoice): Promise<{ redirectUrl: string; checkoutId: string }>;
  completeReturn(provider: ProviderId, query: Record<string, string>): Promise<ThankYou>;
  markCancelled(checkoutId: string | undefined): Promise<void>;
}

export function createDonationService(deps: {
  config: AppConfig;
  logger: Logger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  ledger: Ledger;
}): DonationService {
  const { config, logger, providers, ledger } = deps;
  const base = config.site.publicUrl;

  const providerFor = (id: ProviderId): PaymentProvider => {
    const provider = providers[id];
    if (!provider) throw new AppError('validation', 'That way of paying is not available right now.');
    return provider;
  };

  return {
    async start(choice) {
      const provider = providerFor(choice.provider);
      // The id travels to the provider first; the row is written once, with the provider's answer.
      // A checkout the provider refused leaves no row, and a row missing after a crash costs
      // nothing: payments find their plan through the provider's metadata as well.
      const id = new mongoose.Types.ObjectId();
      const checkoutId = String(id);
      const returnUrl =
        choice.provider === 'stripe' ? `${base}/donate/thanks` : `${base}/donate/paypal/return`;
      let started;
      try {
        started = await provider.startCheckout({
          checkoutId,
          plan: { id: choice.plan.id, name: choice.plan.name, interval: choice.plan.interval },
          amount: choice.amount,
          ...(choice.email ? { email: choice.email } : {}),
          returnUrl,
          cancelUrl: `${base}/donate/cancelled?checkout=${checkoutId}`,
        });
      } catch (err) {
        if (err instanceof ProviderError) {
          logger.warn({ err, checkoutId, provider: choice.provider }, 'could not start checkout');
          throw new AppError(
            'upstream',
            `${choice.provider === 'stripe' ? 'Our card processor' : 'PayPal'} did not answer in time. Nothing was charged; please try again in a moment.`,
          );
        }
        throw err;
      }
      await Checkout.create({
        _id: id,
        planId: choice.plan.id,
        interval: choice.plan.interval,
        provider: choice.provider,
        amountMinor: choice.amount.amountMinor,
        currency: choice.amount.currency,
        providerRef: started.providerRef,
        state: 'redirected',
      });
      return { redirectUrl: started.redirectUrl, checkoutId };
    },

    async completeReturn(providerId, query) {
      const provider = providerFor(providerId);
      const outcome = await provider.completeReturn(query).catch((err: unknown) => {
        if (err instanceof ProviderError) {
          throw new AppError(
            'upstream',
            'We could not confirm your payment with the provider just now. If you were charged, it will be recorded; please reload this page in a moment.',
          );
        }
        throw err;
      });
      // The return visit records the payment if its webhook has not already done so.
      for (const fact of outcome.facts) await ledger.apply(fact);
      const checkout =
        outcome.checkoutId && mongoose.isValidObjectId(outcome.checkoutId)
          ? await Checkout.findById(outcome.checkoutId).lean()
          : null;
      if (outcome.status === 'failed' && checkout && checkout.state !== 'completed') {
        await Checkout.updateOne(
          { _id: checkout._id, state: { $ne: 'completed' } },
          { $set: { state: 'failed' } },
        );
      }
      const succeeded = outcome.facts.find(
        (f) => f.type === 'payment.succeeded' || f.type === 'subscription.activated',
      );
      const amount =
        succeeded && 'amount' in succeeded && succeeded.amount
          ? succeeded.amount
          : checkout
            ? { amountMinor: checkout.amountMinor, currency: checkout.currency }
            : undefined;
      const plan = config.donations.plans.find((p) => p.id === checkout?.planId);
      return {
        status: outcome.status,
        provider: providerId,
        ...(plan ? { plan } : {}),
        ...(amount ? { amount } : {}),
      };
    },

    async markCancelled(checkoutId) {
      if (!checkoutId || !mongoose.isValidObjectId(checkoutId)) return;
      await Checkout.updateOne(
        { _id: checkoutId, state: { $in: ['started', 'redirected'] } },
        { $set: { state: 'cancelled' } },
      );
    },
  };
}
