/**
 * The donation use cases: start a checkout at the reader's chosen provider, make sense of the
 * reader's return, and — for readers who never come back — ask the provider later. What the money
 * means is the ledger's business; this starts checkouts and links them to what follows.
 */
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import type { AppConfig, Plan } from '../config.js';
import type { Logger } from '../log.js';
import { AppError } from '../errors.js';
import { formatMoney } from '../payments/money.js';
import {
  ProviderError,
  type CheckoutOutcome,
  type Money,
  type PaymentProvider,
  type ProviderDescriptor,
  type ProviderId,
} from '../payments/types.js';
import type { CheckoutLinks, Ledger } from '../supporters/ledger.js';
import type { CheckoutState } from './checkout-states.js';
import type { DonationChoice } from './plans.js';
import type { CheckoutRecord, CheckoutRepository } from './repository.js';

export interface ThankYou {
  /** unknown: the link does not belong to a checkout we started (nothing was asked of the provider). */
  status: CheckoutOutcome['status'] | 'unknown';
  provider?: ProviderDescriptor;
  plan?: Plan;
  amount?: Money;
  /** Monthly support: when the next payment is taken. */
  nextChargeAt?: Date;
}

export interface DonationService {
  /** `consentId`: the reader's consent id, kept on the checkout so the supporter can be linked to it. */
  start(
    choice: DonationChoice,
    context?: { consentId?: string },
  ): Promise<{ redirectUrl: string; checkoutId: string; ref: string }>;
  completeReturn(provider: string, query: Record<string, string>): Promise<ThankYou>;
  /** Asks the providers about checkouts whose readers never came back; returns how many were checked. */
  sweepOnce(now?: Date): Promise<number>;
}

/** Checkout references are 22 url-safe characters (128 random bits). */
const REF = /^[A-Za-z0-9_-]{22}$/;
/** First look at an unfinished checkout after this long, then back off. */
const FIRST_CHECK_MS = 5 * 60_000;
const MAX_CHECK_INTERVAL_MS = 6 * 3_600_000;
/** Providers let a checkout be finished for at most a few days; after that nothing can arrive. */
const GIVE_UP_AFTER_MS = 4 * 86_400_000;

const messages = {
  unavailable: 'That way of paying is not available right now.',
  startFailed: (label: string) =>
    `${label} did not answer in time. Nothing was charged; please try again in a moment.`,
  confirmFailed:
    'We could not confirm your payment with the provider just now. If you were charged, it will be recorded; please reload this page in a moment.',
};

const stateFor: Partial<Record<CheckoutOutcome['status'], CheckoutState>> = {
  paid: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
  expired: 'expired',
};

export function createDonationService(deps: {
  config: AppConfig;
  logger: Logger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  ledger: Ledger;
  checkouts: CheckoutRepository;
  /** Counts each checkout started (the metrics). */
  metrics?: { donationStarted(provider: string, interval: string): void };
}): DonationService {
  const { config, providers, ledger, checkouts } = deps;
  const logger = deps.logger.child({ component: 'donations' });
  const base = config.site.publicUrl;
  const locale = config.site.locale;

  const providerFor = (id: string): PaymentProvider | undefined =>
    Object.hasOwn(providers, id) ? providers[id as ProviderId] : undefined;

  function describe(choice: DonationChoice): string {
    const amount = formatMoney(choice.amount.amountMinor, choice.amount.currency, locale);
    return choice.plan.interval === 'month'
      ? `Monthly support of ${amount} for ${config.site.name}`
      : `A contribution of ${amount} to ${config.site.name}`;
  }

  /** Applies what the provider said and moves the checkout along; facts go to the ledger first. */
  async function settle(checkout: CheckoutRecord, outcome: CheckoutOutcome): Promise<void> {
    for (const fact of outcome.facts) await ledger.apply(fact);
    const to = stateFor[outcome.status];
    if (to && to !== checkout.state) await checkouts.moveTo(checkout.id, to);
  }

  async function nextChargeAt(checkout: CheckoutRecord, outcome: CheckoutOutcome): Promise<Date | undefined> {
    if (checkout.interval !== 'month') return undefined;
    const moved = outcome.facts.find((f) => f.type === 'subscription.moved');
    if (moved?.type === 'subscription.moved' && moved.currentPeriodEnd) return moved.currentPeriodEnd;
    const subscription =
      moved?.type === 'subscription.moved'
        ? await ledger.repository.findSubscription(checkout.provider, moved.subscriptionId)
        : null;
    if (subscription?.currentPeriodEnd) return subscription.currentPeriodEnd;
    // Charged today and on the same day each month.
    const next = new Date(checkout.createdAt);
    next.setUTCMonth(next.getUTCMonth() + 1);
    return next;
  }

  return {
    async start(choice, context = {}) {
      const provider = providerFor(choice.provider);
      if (!provider) throw new AppError('validation', messages.unavailable);
      const { descriptor } = provider;
      // The id travels to the provider first; the row is written once, with the provider's answer.
      // A checkout the provider refused leaves no row, and a row missing after a crash costs
      // nothing: payments find their plan through the provider's metadata as well.
      const checkoutId = String(new mongoose.Types.ObjectId());
      const ref = randomBytes(16).toString('base64url');
      let started;
      try {
        started = await provider.startCheckout({
          checkoutId,
          plan: { id: choice.plan.id, name: choice.plan.name, interval: choice.plan.interval },
          amount: choice.amount,
          description: describe(choice),
          ...(choice.email ? { email: choice.email } : {}),
          returnUrl: `${base}${descriptor.returnPath}?ref=${ref}`,
          cancelUrl: `${base}/donate/cancelled?ref=${ref}`,
        });
      } catch (err) {
        if (err instanceof ProviderError) {
          logger.warn({ err, checkoutId, provider: descriptor.id }, 'could not start checkout');
          throw new AppError('upstream', messages.startFailed(descriptor.longLabel));
        }
        throw err;
      }
      await checkouts.create({
        id: checkoutId,
        ref,
        planId: choice.plan.id,
        interval: choice.plan.interval,
        provider: descriptor.id,
        amount: choice.amount,
        providerRef: started.providerRef,
        ...(choice.articleSlug ? { articleSlug: choice.articleSlug } : {}),
        ...(choice.email ? { email: choice.email } : {}),
        ...(context.consentId ? { consentId: context.consentId } : {}),
        nextCheckAt: new Date(Date.now() + FIRST_CHECK_MS),
      });
      deps.metrics?.donationStarted(descriptor.id, choice.plan.interval);
      return { redirectUrl: started.redirectUrl, checkoutId, ref };
    },

    async completeReturn(providerId, query) {
      const provider = providerFor(providerId);
      if (!provider) return { status: 'unknown' };
      const ref = query.ref;
      const checkout = ref && REF.test(ref) ? await checkouts.findByRef(ref) : null;
      // Only a return that names a checkout we started, at this provider, with the provider's own
      // reference for it, costs a provider call; anything else is answered from here.
      const providerRef = provider.returnRef(query);
      if (!checkout || checkout.provider !== provider.descriptor.id || providerRef !== checkout.providerRef) {
        return { status: 'unknown', provider: provider.descriptor };
      }
      const plan = config.donations.plans.find((p) => p.id === checkout.planId);
      const known = { provider: provider.descriptor, amount: checkout.amount, ...(plan ? { plan } : {}) };
      let outcome: CheckoutOutcome;
      try {
        outcome = await provider.resolveCheckout(checkout.providerRef, checkout.interval);
      } catch (err) {
        if (err instanceof ProviderError && !err.retryable) {
          logger.info({ err, checkoutId: checkout.id }, 'the provider refused to confirm a return');
          return { status: 'failed', ...known };
        }
        if (err instanceof ProviderError) throw new AppError('upstream', messages.confirmFailed);
        throw err;
      }
      await settle(checkout, outcome);
      const paid = outcome.facts.find((f) => f.type === 'payment.succeeded');
      const next = outcome.status === 'paid' ? await nextChargeAt(checkout, outcome) : undefined;
      return {
        status: outcome.status,
        ...known,
        ...(paid?.type === 'payment.succeeded' ? { amount: paid.amount } : {}),
        ...(next ? { nextChargeAt: next } : {}),
      };
    },

    async sweepOnce(now = new Date()) {
      let checked = 0;
      for (const checkout of await checkouts.dueForCheck(now, 50)) {
        const age = now.getTime() - checkout.createdAt.getTime();
        const wait = Math.min(FIRST_CHECK_MS * 2 ** (checkout.checks + 1), MAX_CHECK_INTERVAL_MS);
        // Claim this check (two sweeps in two processes ask the provider once).
        if (!(await checkouts.scheduleCheck(checkout.id, checkout.checks, new Date(now.getTime() + wait))))
          continue;
        const provider = providers[checkout.provider];
        if (!provider) continue;
        checked += 1;
        try {
          const outcome = await provider.resolveCheckout(checkout.providerRef, checkout.interval);
          await settle(checkout, outcome);
          if (outcome.status === 'pending' && age > GIVE_UP_AFTER_MS)
            await checkouts.moveTo(checkout.id, 'expired');
        } catch (err) {
          logger.warn(
            { err, checkoutId: checkout.id },
            'could not ask the provider about an unfinished checkout',
          );
          if (err instanceof ProviderError && !err.retryable && age > GIVE_UP_AFTER_MS) {
            await checkouts.moveTo(checkout.id, 'expired');
          }
        }
      }
      if (checked > 0) logger.info({ checked }, 'asked the providers about unfinished checkouts');
      return checked;
    },
  };
}

/** What the ledger needs to know about our checkouts, straight from their repository. */
export function checkoutLinks(checkouts: CheckoutRepository): CheckoutLinks {
  return {
    async find(checkoutId) {
      const checkout = await checkouts.findById(checkoutId);
      if (!checkout) return null;
      return {
        id: checkout.id,
        planId: checkout.planId,
        interval: checkout.interval,
        amount: checkout.amount,
        ...(checkout.articleSlug ? { articleSlug: checkout.articleSlug } : {}),
        ...(checkout.email ? { email: checkout.email } : {}),
      };
    },
    async markCompleted(checkoutId) {
      await checkouts.moveTo(checkoutId, 'completed');
    },
    async markFailed(checkoutId, reason) {
      await checkouts.moveTo(checkoutId, 'failed', { failureReason: reason.slice(0, 200) });
    },
  };
}
