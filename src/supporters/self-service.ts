/**
 * What a supporter can see and do from the link in their receipt: their contributions and
 * receipts, changing the amount of monthly support, and stopping it — which always works and
 * keeps what was paid for: support ends at the end of the paid period.
 */
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { AppError } from '../errors.js';
import { formatMoney } from '../payments/money.js';
import { descriptorOf } from '../payments/descriptors.js';
import { ProviderError, type PaymentProvider, type ProviderId } from '../payments/types.js';
import { amountForPlan } from '../donations/plans.js';
import type { Ledger } from './ledger.js';
import { nameIsSafeForMessages, validEmail } from './ledger-rules.js';
import type { Mailer } from './mailer.js';
import { replacingIssueTime, type ManageLinks } from './manage-links.js';
import { formatDate, receiptText, receiptView } from './receipts.js';
import type { SubscriptionRecord } from './repository.js';

const messages = {
  noSupport: 'We have no contributions for this link.',
  noSubscription: 'No such monthly support.',
  providerDown: 'The payment provider did not confirm the change. Please try again in a moment.',
  providerMissing: 'That payment provider is not available right now.',
  notChangeable: 'This monthly support can no longer be changed.',
};

export interface SubscriptionView {
  id: string;
  plan: string;
  amount: string;
  amountInput: string;
  provider: string;
  status: string;
  /** "Ends on 1 January 2027" once a cancellation is scheduled or done. */
  endsOn?: string;
  nextCharge?: string;
  cancellable: boolean;
  changeable: boolean;
  min: string;
  max: string;
}

function statusWords(s: SubscriptionRecord, now: Date): string {
  if (s.endsAt && s.endsAt > now) return 'ending';
  if (s.status === 'cancelled') return 'ended';
  return { pending: 'starting', active: 'active', past_due: 'payment overdue', suspended: 'paused' }[
    s.status
  ];
}

export function createSelfService(deps: {
  config: AppConfig;
  logger: Logger;
  ledger: Ledger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  mailer: Mailer;
  links: ManageLinks;
}) {
  const { config, ledger, providers, mailer, links } = deps;
  const repo = ledger.repository;
  const locale = config.site.locale;
  const logger = deps.logger.child({ component: 'self-service' });

  async function supporterOrFail(supporterId: string) {
    const supporter = await repo.findSupporter(supporterId);
    if (!supporter || supporter.erasedAt) throw new AppError('not_found', messages.noSupport);
    return supporter;
  }

  async function ownSubscription(supporterId: string, subscriptionId: string) {
    const subscription = await repo.findSubscriptionById(subscriptionId);
    if (!subscription || subscription.supporterId !== supporterId) {
      throw new AppError('not_found', messages.noSubscription);
    }
    return subscription;
  }

  const providerOf = (s: SubscriptionRecord): PaymentProvider => {
    const provider = providers[s.provider];
    if (!provider) throw new AppError('upstream', messages.providerMissing);
    return provider;
  };

  async function atProvider(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      if (err instanceof ProviderError) {
        logger.warn({ err }, 'the provider refused a supporter change');
        throw new AppError('upstream', messages.providerDown);
      }
      throw err;
    }
  }

  async function confirm(to: string, subject: string, lines: string[]): Promise<void> {
    // The change is recorded; a confirmation that fails to send is logged, not fatal.
    await mailer
      .send({ to, subject, text: [...lines, '', `— ${config.site.name}`, ''].join('\n') })
      .catch((err: unknown) => logger.warn({ err }, 'confirmation email failed'));
  }

  return {
    /** Is this link still the one that works (not replaced by a newer one, not rotated)? */
    async linkIsCurrent(supporterId: string, issuedAt: Date): Promise<boolean> {
      const supporter = await repo.findSupporter(supporterId);
      if (!supporter || supporter.erasedAt) return false;
      return !supporter.linksValidFrom || issuedAt.getTime() >= supporter.linksValidFrom.getTime();
    },

    /** After a destructive action the link in use is replaced: older copies (mail, history) stop working. */
    async rotateLink(supporterId: string): Promise<string> {
      const issuedAt = await repo.issueReplacingLink(supporterId, replacingIssueTime());
      return links.tokenFor(supporterId, issuedAt);
    },

    async overview(supporterId: string) {
      const supporter = await supporterOrFail(supporterId);
      const [donations, subscriptions] = await Promise.all([
        repo.donationsOf(supporter.id),
        repo.subscriptionsOf(supporter.id),
      ]);
      const now = new Date();
      return {
        email: supporter.email,
        name: supporter.name,
        donations: donations.map((d) => ({ id: d.id, ...receiptView(config, d) })),
        subscriptions: subscriptions.map((s): SubscriptionView => {
          const plan = config.donations.plans.find((p) => p.id === s.planId);
          const currency = s.currency ?? plan?.currencies[0] ?? 'USD';
          const open = s.status !== 'cancelled' && !s.endsAt;
          return {
            id: s.id,
            plan: plan?.name ?? 'Monthly support',
            amount: s.amountMinor ? formatMoney(s.amountMinor, currency, locale) : '',
            amountInput: s.amountMinor
              ? formatMoney(s.amountMinor, currency, locale).replace(/[^\d.,]/g, '')
              : '',
            provider: descriptorOf(s.provider).longLabel,
            status: statusWords(s, now),
            ...(s.endsAt ? { endsOn: formatDate(config, s.endsAt) } : {}),
            ...(open && s.currentPeriodEnd ? { nextCharge: formatDate(config, s.currentPeriodEnd) } : {}),
            cancellable: open && s.status !== 'pending',
            changeable:
              open && s.status === 'active' && descriptorOf(s.provider).capabilities.changeAmount && !!plan,
            min: plan
              ? formatMoney(
                  Math.max(plan.minAmountMinor, config.donations.minimumAmountMinor),
                  currency,
                  locale,
                )
              : '',
            max: plan ? formatMoney(plan.maxAmountMinor, currency, locale) : '',
          };
        }),
      };
    },

    async receipt(supporterId: string, donationId: string) {
      const donation = await repo.findDonationById(donationId);
      if (!donation || donation.supporterId !== supporterId)
        throw new AppError('not_found', 'No such receipt.');
      const view = receiptView(config, donation);
      return { filename: `receipt-${view.number}.txt`, text: receiptText(config, view) };
    },

    /**
     * Ends monthly support at the end of the paid period: at the provider first (the ledger never
     * claims a cancellation that did not happen), then in the ledger, with the date it ends.
     */
    async cancelSubscription(supporterId: string, subscriptionId: string): Promise<Date> {
      const supporter = await supporterOrFail(supporterId);
      const subscription = await ownSubscription(supporterId, subscriptionId);
      const now = new Date();
      if (subscription.endsAt) return subscription.endsAt;
      if (subscription.status === 'cancelled') return subscription.cancelledAt ?? now;
      const provider = providerOf(subscription);
      await atProvider(() =>
        provider.cancelSubscription(subscription.providerSubscriptionId, {
          reason: 'Cancelled by the supporter',
          atPeriodEnd: true,
        }),
      );
      const endsAt =
        subscription.currentPeriodEnd && subscription.currentPeriodEnd > now
          ? subscription.currentPeriodEnd
          : now;
      await ledger.apply({
        type: 'subscription.moved',
        provider: subscription.provider,
        subscriptionId: subscription.providerSubscriptionId,
        // Where the provider waits for the period end itself the subscription stays active until then.
        status: provider.descriptor.capabilities.cancelAtPeriodEnd ? subscription.status : 'cancelled',
        endsAt,
        occurredAt: now,
      });
      const name = nameIsSafeForMessages(supporter.name) ? `, ${supporter.name}` : '';
      await confirm(
        supporter.email,
        `Your monthly support of ${config.site.name} ends on ${formatDate(config, endsAt)}`,
        [
          `Hello${name},`,
          '',
          `Your monthly support has been cancelled. No further payments will be taken; what you have paid for runs until ${formatDate(config, endsAt)}.`,
          'Thank you for supporting independent journalism. You are welcome back at any time.',
        ],
      );
      return endsAt;
    },

    /** A new monthly amount from the next billing period on (no proration), within the plan's bounds. */
    async changeAmount(supporterId: string, subscriptionId: string, input: string) {
      const supporter = await supporterOrFail(supporterId);
      const subscription = await ownSubscription(supporterId, subscriptionId);
      const plan = config.donations.plans.find((p) => p.id === subscription.planId);
      const provider = providerOf(subscription);
      if (
        !plan ||
        subscription.status !== 'active' ||
        subscription.endsAt ||
        !provider.descriptor.capabilities.changeAmount
      ) {
        throw new AppError('conflict', messages.notChangeable);
      }
      const currency = subscription.currency ?? plan.currencies[0]!;
      let amountMinor: number;
      try {
        amountMinor = amountForPlan(config, plan, input, currency);
      } catch (err) {
        throw new AppError('validation', err instanceof Error ? err.message : 'Please check the amount.');
      }
      if (amountMinor === subscription.amountMinor) return { amountMinor, currency, changed: false };
      const amount = { amountMinor, currency };
      await atProvider(() =>
        provider.changeSubscriptionAmount(subscription.providerSubscriptionId, amount, {
          planName: plan.name,
          requestKey: `amount-${subscription.id}-${subscription.version}-${amountMinor}`,
        }),
      );
      await ledger.apply({
        type: 'subscription.moved',
        provider: subscription.provider,
        subscriptionId: subscription.providerSubscriptionId,
        status: subscription.status,
        amount,
        occurredAt: new Date(),
      });
      const formatted = formatMoney(amountMinor, currency, locale);
      const from = subscription.currentPeriodEnd
        ? ` from ${formatDate(config, subscription.currentPeriodEnd)}`
        : ' from your next payment';
      await confirm(supporter.email, `Your monthly support of ${config.site.name} is now ${formatted}`, [
        'Hello,',
        '',
        `Your monthly support is now ${formatted}${from}. Nothing changes for the period you have already paid for.`,
        'Thank you for supporting independent journalism.',
      ]);
      return { amountMinor, currency, changed: true };
    },

    /**
     * Mails a fresh manage link to a supporter who asks; older links stop working. Says nothing
     * about whether the address is known: the caller shows the same page either way.
     */
    async requestLink(emailInput: string): Promise<void> {
      const email = validEmail(emailInput);
      if (!email) throw new AppError('validation', 'Please enter the email address you gave with.');
      const supporter = await repo.findSupporterByEmail(email);
      if (!supporter || supporter.erasedAt) {
        logger.info('a manage link was asked for an address without contributions');
        return;
      }
      // Issued (and the older links revoked) before sending: a lost email only costs a new request.
      const issuedAt = await repo.issueReplacingLink(supporter.id, replacingIssueTime());
      const url = `${config.site.publicUrl}/manage/${links.tokenFor(supporter.id, issuedAt)}`;
      await mailer.send({
        to: supporter.email,
        subject: `Your link to manage your support of ${config.site.name}`,
        text: [
          'Hello,',
          '',
          'Here is a fresh link to see your contributions, download receipts, and change or cancel monthly support.',
          `It works for ${links.lifetimeDays} days and replaces any earlier link:`,
          url,
          '',
          'If you did not ask for it, you can ignore this email.',
          '',
          `— ${config.site.name}`,
          '',
        ].join('\n'),
      });
    },
  };
}
export type SelfService = ReturnType<typeof createSelfService>;
