/**
 * Thank-you emails with the receipt and a manage link. Sending runs beside the payment path, from
 * the donation's `receipt` field: a failure is retried with backoff and never touches the payment.
 */
import type nunjucks from 'nunjucks';
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { formatMoney } from '../payments/money.js';
import { descriptorOf } from '../payments/descriptors.js';
import { nameIsSafeForMessages } from './ledger-rules.js';
import type { Mailer } from './mailer.js';
import { replacingIssueTime, type ManageLinks } from './manage-links.js';
import type { DonationRecord, LedgerRepository } from './repository.js';

export interface ReceiptView {
  number: string;
  amount: string;
  date: string;
  plan: string;
  provider: string;
  reference: string;
  kind: string;
  status: string;
  /** Monthly support: the date of the next payment, when known. */
  nextCharge?: string;
}

const statusWords: Record<DonationRecord['status'], string> = {
  succeeded: 'paid',
  partially_refunded: 'partly refunded',
  refunded: 'refunded',
  disputed: 'disputed',
  dispute_lost: 'reversed by your bank',
};

export function formatDate(config: AppConfig, at: Date): string {
  return new Intl.DateTimeFormat(config.site.locale, { dateStyle: 'long', timeZone: 'UTC' }).format(at);
}

export function receiptView(
  config: AppConfig,
  donation: Pick<
    DonationRecord,
    | 'id'
    | 'amountMinor'
    | 'currency'
    | 'occurredAt'
    | 'planId'
    | 'provider'
    | 'providerPaymentId'
    | 'kind'
    | 'status'
  >,
  nextChargeAt?: Date,
): ReceiptView {
  const plan = config.donations.plans.find((p) => p.id === donation.planId);
  return {
    number: donation.id.toUpperCase(),
    amount: formatMoney(donation.amountMinor, donation.currency, config.site.locale),
    date: formatDate(config, donation.occurredAt),
    plan: plan?.name ?? 'Contribution',
    provider: descriptorOf(donation.provider).longLabel,
    reference: donation.providerPaymentId,
    kind: donation.kind === 'recurring' ? 'Monthly support' : 'One-off contribution',
    status: statusWords[donation.status],
    ...(nextChargeAt ? { nextCharge: formatDate(config, nextChargeAt) } : {}),
  };
}

export function receiptText(config: AppConfig, receipt: ReceiptView): string {
  return [
    `${config.site.name} — receipt ${receipt.number}`,
    '',
    `Amount:     ${receipt.amount}`,
    `Date:       ${receipt.date}`,
    `Plan:       ${receipt.plan} (${receipt.kind})`,
    `Paid with:  ${receipt.provider}`,
    `Reference:  ${receipt.reference}`,
    ...(receipt.nextCharge ? [`Next payment: ${receipt.nextCharge}`] : []),
    '',
    `${config.site.name} is free to read. Thank you for helping to keep it that way.`,
    '',
  ].join('\n');
}

export interface ReceiptSender {
  /** Try to send soon; returns at once. */
  kick(): void;
  /** Sends what is due; returns how many went out. */
  sweep(): Promise<number>;
  start(intervalMs?: number): void;
  stop(): Promise<void>;
}

const MAX_BACKOFF_MS = 6 * 60 * 60 * 1000;
const LEASE_MS = 5 * 60_000;

export function createReceiptSender(deps: {
  config: AppConfig;
  logger: Logger;
  mailer: Mailer;
  manageLinks: ManageLinks;
  repository: LedgerRepository;
  views: nunjucks.Environment;
}): ReceiptSender {
  const { config, logger, mailer, manageLinks, repository: repo, views } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function sendOne(donationId: string): Promise<boolean> {
    const now = new Date();
    const donation = await repo.leaseReceipt(donationId, now, LEASE_MS);
    if (!donation) return false;
    const supporter = donation.supporterId ? await repo.findSupporter(donation.supporterId) : null;
    if (!supporter && donation.receipt.attempts < 5) {
      // A renewal can land before its subscription's supporter is known; look again shortly.
      await repo.receiptLater(donation.id, new Date(Date.now() + 60_000));
      return false;
    }
    if (!supporter || supporter.erasedAt) {
      await repo.receiptDone(donation.id, 'skipped');
      return false;
    }
    const subscription =
      donation.kind === 'recurring' && donation.subscriptionId
        ? await repo.findSubscription(donation.provider, donation.subscriptionId)
        : null;
    const next =
      subscription && subscription.status !== 'cancelled' && !subscription.endsAt
        ? subscription.currentPeriodEnd
        : undefined;
    const receipt = receiptView(config, donation, next);
    // The newest link is the one that works: issuing it revokes the older ones.
    const issuedAt = await repo.issueReplacingLink(supporter.id, replacingIssueTime(), supporter);
    const manageUrl = `${config.site.publicUrl}/manage/${manageLinks.tokenFor(supporter.id, issuedAt)}`;
    // Payer-supplied names go into mail to addresses nobody verified: only plain ones are used.
    const name = nameIsSafeForMessages(supporter.name) ? supporter.name : undefined;
    const context = { site: config.site, receipt, manageUrl, name, lifetimeDays: manageLinks.lifetimeDays };
    try {
      await mailer.send({
        to: supporter.email,
        subject: `Thank you for supporting ${config.site.name} — receipt ${receipt.number}`,
        text: [
          `Thank you${name ? `, ${name}` : ''}.`,
          '',
          receiptText(config, receipt),
          `See your contributions, download receipts${receipt.kind === 'Monthly support' ? ', or change or cancel your monthly support' : ''} here (the link works for ${manageLinks.lifetimeDays} days; a newer email's link replaces it):`,
          manageUrl,
          '',
        ].join('\n'),
        html: views.render('emails/receipt.html.njk', context),
        attachments: [
          {
            filename: `receipt-${receipt.number}.txt`,
            content: receiptText(config, receipt),
            contentType: 'text/plain',
          },
        ],
      });
      await repo.receiptDone(donation.id, 'sent');
      return true;
    } catch (err) {
      const backoff = Math.min(MAX_BACKOFF_MS, 30_000 * 2 ** (donation.receipt.attempts - 1));
      logger.warn(
        { err, donationId: donation.id, attempts: donation.receipt.attempts },
        'receipt email failed; will retry',
      );
      await repo.receiptLater(
        donation.id,
        new Date(Date.now() + backoff),
        err instanceof Error ? err.message : 'send failed',
      );
      return false;
    }
  }

  async function sweepOnce(): Promise<number> {
    let sent = 0;
    for (const id of await repo.dueReceipts(new Date(), 50)) if (await sendOne(id)) sent += 1;
    return sent;
  }

  const sweep = () => {
    running ??= sweepOnce().finally(() => (running = undefined));
    return running;
  };

  return {
    kick() {
      setImmediate(() => {
        sweep().catch((err: unknown) => logger.warn({ err }, 'receipt sweep failed'));
      });
    },
    sweep,
    start(intervalMs = 15_000) {
      timer = setInterval(() => this.kick(), intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
