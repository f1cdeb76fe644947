/**
 * The readers' rights use cases: ask for a link by email (the answer never says whether the
 * address is known), open the rights page from that link or from the manage page, download the
 * export, erase, and the log of every request. Also links a consent id to the supporter a payment
 * reached, which is how the export and erasure find a reader's cookie choices.
 */
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { AppError } from '../errors.js';
import type { ConsentAudit, ConsentLinks } from '../consent/index.js';
import { isConsentId } from '../consent/index.js';
import type { CheckoutRepository } from '../donations/repository.js';
import { rateLimitKeyForEmail } from '../donations/plans.js';
import type { Ledger } from '../supporters/ledger.js';
import { validEmail } from '../supporters/ledger-rules.js';
import type { Mailer } from '../supporters/mailer.js';
import type { ManageLinks } from '../supporters/manage-links.js';
import type { Erasures, ErasureOutcome } from './erasure.js';
import { buildExport, type PersonalDataExport } from './export.js';
import type { Pseudonyms } from './pseudonyms.js';
import type { RightsChannel, RightsRepository, RightsRequest, RightsRequestType } from './repository.js';

/** The purpose the rights links are signed for (a manage link never opens them, nor the reverse). */
export const rightsPurpose = 'rights';

const messages = {
  email: 'Please enter the email address you gave with.',
};

export type RightsLink =
  { state: 'open'; supporterId: string; via: RightsChannel } | { state: 'expired' } | { state: 'invalid' };

/** What the rights page shows. */
export type RightsPage =
  | {
      state: 'open';
      email: string;
      payments: number;
      subscriptions: number;
      openSubscriptions: number;
      consentIds: number;
    }
  | { state: 'erased'; kept: { payments: number; ledgerEntries: number; subscriptions: number } }
  | { state: 'in_progress'; lastError?: string };

export function createRightsService(deps: {
  config: AppConfig;
  logger: Logger;
  repository: RightsRepository;
  ledger: Ledger;
  links: ManageLinks;
  mailer: Mailer;
  pseudonyms: Pseudonyms;
  consentLinks: ConsentLinks;
  consentAudit: ConsentAudit;
  checkouts: CheckoutRepository;
  erasures: Erasures;
  /** The manage page's own rule for a current link (a newer one mailed retires older ones). */
  manageLinkIsCurrent(supporterId: string, issuedAt: Date): Promise<boolean>;
}) {
  const { config, repository: repo, ledger, links, pseudonyms } = deps;
  const logger = deps.logger.child({ component: 'rights' });
  const lifetime = config.rights.linkLifetimeMinutes;
  const pending = new Set<Promise<unknown>>();

  /** Work that must not make the answer slower for a known address than for an unknown one. */
  function behind(work: () => Promise<unknown>): void {
    const running = work()
      .catch((err: unknown) => logger.error({ err }, 'a rights request could not be completed'))
      .finally(() => pending.delete(running));
    pending.add(running);
  }

  const tokenFor = (supporterId: string, via: RightsChannel) =>
    links.purposeToken(rightsPurpose, `${supporterId}:${via}`, lifetime);

  async function sendLink(supporterId: string, email: string): Promise<void> {
    const url = `${config.site.publicUrl}/rights/${tokenFor(supporterId, 'email_link')}`;
    const hours = Math.round(lifetime / 60);
    await deps.mailer.send({
      to: email,
      subject: `Your link to see or erase your data at ${config.site.name}`,
      text: [
        'Hello,',
        '',
        'You asked to see the personal data we hold about you, or to have it erased. This link opens a page where you can download all of it as a file, or erase it:',
        url,
        '',
        `It works for ${hours >= 1 ? `${hours} hour${hours === 1 ? '' : 's'}` : `${lifetime} minutes`}. If you did not ask for it, you can ignore this email: nothing happens unless the link is used.`,
        '',
        `— ${config.site.name}`,
        '',
      ].join('\n'),
    });
    await repo.log({
      at: new Date(),
      type: 'link_sent',
      via: 'request_form',
      emailHash: pseudonyms.emailHash(email),
      supporterId,
    });
  }

  return {
    /** The key the per-address rate limit counts under: a keyed hash, so no address is stored. */
    rateLimitKey: (emailInput: string) => pseudonyms.emailHash(rateLimitKeyForEmail(emailInput)),

    /**
     * Mails a rights link to a supporter who asks; for an unknown or erased address nothing is
     * sent. The caller shows the same page either way, and the lookup and sending happen after
     * the answer, so neither its content nor its timing tells an address apart.
     */
    async requestLink(emailInput: string): Promise<void> {
      const email = validEmail(emailInput);
      if (!email) throw new AppError('validation', messages.email);
      behind(async () => {
        const supporter = await ledger.repository.findSupporterByEmail(email);
        const known = !!supporter && !supporter.erasedAt;
        await repo.log({
          at: new Date(),
          type: 'link_requested',
          via: 'request_form',
          emailHash: pseudonyms.emailHash(email),
          known,
        });
        if (known) await sendLink(supporter.id, supporter.email);
      });
    },

    /** What a rights link says: whose it is, or that it expired or was never ours. */
    verifyLink(token: string): RightsLink {
      const verified = links.verifyPurpose(rightsPurpose, token);
      if (verified === 'expired') return { state: 'expired' };
      const match = verified ? /^([a-f0-9]{24}):(email_link|manage_link)$/.exec(verified.subject) : null;
      if (!match) return { state: 'invalid' };
      return { state: 'open', supporterId: match[1]!, via: match[2] as RightsChannel };
    },

    /** From the manage page (its link is the credential): a rights link of its own, or why not. */
    async linkFromManage(manageToken: string): Promise<string | 'expired' | 'invalid'> {
      const verified = links.verify(manageToken);
      if (verified === null) return 'invalid';
      if (
        verified === 'expired' ||
        !(await deps.manageLinkIsCurrent(verified.supporterId, verified.issuedAt))
      ) {
        return 'expired';
      }
      return tokenFor(verified.supporterId, 'manage_link');
    },

    async page(supporterId: string): Promise<RightsPage> {
      const erasure = await repo.findErasure(supporterId);
      if (erasure?.status === 'done') {
        return { state: 'erased', kept: erasure.kept ?? { payments: 0, ledgerEntries: 0, subscriptions: 0 } };
      }
      if (erasure)
        return { state: 'in_progress', ...(erasure.lastError ? { lastError: erasure.lastError } : {}) };
      const data = await ledger.repository.personalDataOf(supporterId);
      if (!data || data.supporter.erasedAt)
        throw new AppError('not_found', 'We hold no supporter record for this link.');
      const consentIds = await deps.consentLinks.of(supporterId);
      return {
        state: 'open',
        email: data.supporter.email,
        payments: data.donations.length,
        subscriptions: data.subscriptions.length,
        openSubscriptions: data.subscriptions.filter((s) => s.status !== 'cancelled').length,
        consentIds: consentIds.length,
      };
    },

    /** The export document (art. 15 and 20); the download is logged. */
    async exportFor(supporterId: string, via: RightsChannel): Promise<PersonalDataExport> {
      const data = await ledger.repository.personalDataOf(supporterId);
      if (!data || data.supporter.erasedAt)
        throw new AppError('not_found', 'We hold no supporter record for this link.');
      const { supporter } = data;
      const checkoutIds = [
        ...data.donations.map((d) => d.checkoutId),
        ...data.subscriptions.map((s) => s.checkoutId),
      ];
      const emailHash = pseudonyms.emailHash(supporter.email);
      await repo.log({ at: new Date(), type: 'export_downloaded', via, emailHash, supporterId });
      const [checkouts, consentLinks, requests] = await Promise.all([
        deps.checkouts.ofPerson(
          supporter.email,
          checkoutIds.filter((id): id is string => !!id),
        ),
        deps.consentLinks.of(supporterId),
        repo.requests({ emailHash }),
      ]);
      const consent = [];
      for (const link of consentLinks)
        consent.push({ link, proof: await deps.consentAudit.proof(link.consentId) });
      return buildExport(config, { ...data, checkouts, consent, requests }, new Date());
    },

    /**
     * Erases (see erasure.ts). A failure after the erasure was marked is not the reader's to retry:
     * it is logged, the sweep finishes it, and the reader sees it under way. A provider that did
     * not confirm a cancellation is said as such (nothing was erased yet).
     */
    async erase(supporterId: string, via: RightsChannel): Promise<ErasureOutcome> {
      try {
        return await deps.erasures.request(supporterId, via);
      } catch (err) {
        if (err instanceof AppError) throw err;
        logger.error({ err, supporterId }, 'an erasure stopped midway; the sweep will finish it');
        return { state: 'in_progress', erasure: await repo.findErasure(supporterId) };
      }
    },

    /**
     * When a payment reaches its supporter: if it was started with a consent cookie, the consent
     * id is linked to the supporter (once). An erased supporter is never linked again.
     */
    async linkConsentOfPayment(donationId: string): Promise<boolean> {
      const donation = await ledger.repository.findDonationById(donationId);
      if (!donation?.supporterId || !donation.checkoutId) return false;
      const checkout = await deps.checkouts.findById(donation.checkoutId);
      if (!checkout?.consentId || !isConsentId(checkout.consentId)) return false;
      const supporter = await ledger.repository.findSupporter(donation.supporterId);
      if (!supporter || supporter.erasedAt) return false;
      await deps.consentLinks.link({
        consentId: checkout.consentId,
        supporterId: supporter.id,
        linkedAt: new Date(),
        how: 'checkout',
        checkoutId: checkout.id,
      });
      return true;
    },

    /** The same, started beside the payment path (a failure is logged; the payment is never touched). */
    onPaymentCredited(donationId: string): void {
      behind(() => this.linkConsentOfPayment(donationId));
    },

    /** For staff: the log of rights requests, newest first, optionally for one address (hashed here). */
    listRequests(
      filter: {
        from?: Date;
        to?: Date;
        email?: string;
        supporterId?: string;
        type?: RightsRequestType;
        limit?: number;
      } = {},
    ): Promise<RightsRequest[]> {
      const { email, ...rest } = filter;
      return repo.requests({ ...rest, ...(email ? { emailHash: pseudonyms.emailHash(email) } : {}) });
    },

    /** Resolves once the work started behind answers has finished (tests, shutdown). */
    async idle(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}

export type RightsService = ReturnType<typeof createRightsService>;
