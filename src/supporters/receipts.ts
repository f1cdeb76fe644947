import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { formatMoney } from '../payments/money.js';
import type { Mailer } from './mailer.js';
import type { ManageLinks } from './manage-links.js';
import { Donation, Supporter, type DonationDoc } from './models.js';

export interface ReceiptView {
  number: string;
  amount: string;
  date: string;
  plan: string;
  provider: string;
  reference: string;
  kind: string;
  status: string;
}

const providerNames = { stripe: 'Card (Stripe)', paypal: 'PayPal' } as const;

export function receiptView(
  config: AppConfig,
  donation: Pick<
    DonationDoc,
    | '_id'
    | 'amountMinor'
    | 'currency'
    | 'occurredAt'
    | 'planId'
    | 'provider'
    | 'providerPaymentId'
    | 'kind'
    | 'status'
  >,
): ReceiptView {
  const plan = config.donations.plans.find((p) => p.id === donation.planId);
  return {
    number: String(donation._id).toUpperCase(),
    amount: formatMoney(donation.amountMinor, donation.currency, config.site.locale),
    date: new Intl.DateTimeFormat(config.site.locale, { dateStyle: 'long', timeZone: 'UTC' }).format(
      donation.occurredAt,
    ),
    plan: plan?.name ?? 'Contribution',
    provider: providerNames[donation.provider],
    reference: donation.providerPaymentId,
    kind: donation.kind === 'recurring' ? 'Monthly support' : 'One-off contribution',
    status: donation.status.replace('_', ' '),
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

/**
 * Thank-you emails with the receipt and a manage link. Sending runs beside the payment path, from
 * the ledger's `receipt` field: a failure is retried with backoff and never touches the payment.
 */
export function createReceiptSender(deps: {
  config: AppConfig;
  logger: Logger;
  mailer: Mailer;
  manageLinks: ManageLinks;
}): ReceiptSender {
  const { config, logger, mailer, manageLinks } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function sendOne(donationId: unknown): Promise<boolean> {
    const now = new Date();
    // Lease the receipt so two processes never send it twice at once.
    const donation = await Donation.findOneAndUpdate(
      { _id: donationId, 'receipt.status': 'pending', 'receipt.nextAttemptAt': { $lte: now } },
      {
        $set: { 'receipt.nextAttemptAt': new Date(now.getTime() + 5 * 60_000) },
        $inc: { 'receipt.attempts': 1 },
      },
      { returnDocument: 'after' },
    ).lean();
    if (!donation) return false;
    const supporter = donation.supporterId ? await Supporter.findById(donation.supporterId).lean() : null;
    if (!supporter && (donation.receipt?.attempts ?? 0) < 5) {
      // A renewal can land before its subscription's supporter is known; look again shortly.
      await Donation.updateOne(
        { _id: donation._id },
        { $set: { 'receipt.nextAttemptAt': new Date(Date.now() + 60_000) } },
      );
      return false;
    }
    if (!supporter || supporter.erasedAt) {
      await Donation.updateOne({ _id: donation._id }, { $set: { 'receipt.status': 'skipped' } });
      return false;
    }
    const receipt = receiptView(config, donation);
    const manageUrl = `${config.site.publicUrl}/manage/${manageLinks.tokenFor(String(supporter._id))}`;
    try {
      await mailer.send({
        to: supporter.email,
        subject: `Thank you for supporting ${config.site.name} — receipt ${receipt.number}`,
        text: [
          `Thank you${supporter.name ? `, ${supporter.name}` : ''}.`,
          '',
          receiptText(config, receipt),
          `See your contributions, download receipts or cancel monthly support here (the link works for 30 days):`,
          manageUrl,
          '',
        ].join('\n'),
        attachments: [
          {
            filename: `receipt-${receipt.number}.txt`,
            content: receiptText(config, receipt),
            contentType: 'text/plain',
          },
        ],
      });
      await Donation.updateOne(
        { _id: donation._id },
        {
          $set: { 'receipt.status': 'sent', 'receipt.sentAt': new Date() },
          $unset: { 'receipt.lastError': '' },
        },
      );
      return true;
    } catch (err) {
      const attempts = donation.receipt?.attempts ?? 1;
      const backoff = Math.min(MAX_BACKOFF_MS, 30_000 * 2 ** (attempts - 1));
      logger.warn({ err, donationId: String(donation._id), attempts }, 'receipt email failed; will retry');
      await Donation.updateOne(
        { _id: donation._id },
        {
          $set: {
            'receipt.nextAttemptAt': new Date(Date.now() + backoff),
            'receipt.lastError': err instanceof Error ? err.message.slice(0, 200) : 'send failed',
          },
        },
      );
      return false;
    }
  }

  async function sweepOnce(): Promise<number> {
    const due = await Donation.find({
      'receipt.status': 'pending',
      'receipt.nextAttemptAt': { $lte: new Date() },
    })
      .select('_id')
      .limit(50)
      .lean();
    let sent = 0;
    for (const { _id } of due) if (await sendOne(_id)) sent += 1;
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
