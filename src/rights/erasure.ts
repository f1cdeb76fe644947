/**
 * Erasure (GDPR art. 17): the person is pseudonymised everywhere we hold them while the payment
 * records bookkeeping law requires stay, without their name or email. The erasure is marked first
 * (`erasures`), each step is idempotent and recorded when done, and the last step removes the
 * person's own values from the mark too; a crash, a provider that did not answer or a failed
 * email leaves a mark that the sweep (or the reader asking again) takes up where it stopped.
 *
 * Order: monthly support is cancelled at the provider first (nothing may be charged to a person
 * we can no longer name), then the supporter record goes (their links stop working at once), then
 * everything that still points to them: checkouts, consent links, raw webhook payloads, and the
 * outbox copies of mail to them — the confirmation included, which is why it is sent before.
 */
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import { AppError } from '../errors.js';
import type { ConsentLinks } from '../consent/index.js';
import type { CheckoutRepository } from '../donations/repository.js';
import { rateLimitKeyForEmail } from '../donations/plans.js';
import { descriptorOf } from '../payments/descriptors.js';
import { ProviderError, type PaymentProvider, type ProviderId } from '../payments/types.js';
import type { Ledger } from '../supporters/ledger.js';
import type { Mailer } from '../supporters/mailer.js';
import { rewriteMessage } from './eml.js';
import {
  ERASED,
  matcherFor,
  scrubPayload,
  scrubString,
  type PersonMatcher,
  type Pseudonyms,
} from './pseudonyms.js';
import {
  erasureSteps,
  type ErasureRecord,
  type ErasureStep,
  type RightsChannel,
  type RightsRepository,
} from './repository.js';

export type ErasureOutcome =
  { state: 'done'; erasure: ErasureRecord } | { state: 'in_progress'; erasure: ErasureRecord | null };

export interface ErasureDeps {
  config: AppConfig;
  logger: Logger;
  repository: RightsRepository;
  ledger: Ledger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  webhooks: {
    scrubRawBodies(
      terms: string[],
      rewrite: (rawBody: string) => string | null,
      options?: { since?: Date },
    ): Promise<number>;
  };
  mailer: Mailer;
  checkouts: CheckoutRepository;
  consentLinks: ConsentLinks;
  pseudonyms: Pseudonyms;
  /** Rate limiters keyed by an address (the donation form's, the manage link's): their counters go. */
  emailLimiters: Array<{ reset(key: string): Promise<void> }>;
  /** How long one process may work on an erasure before another may take it over. */
  leaseMs?: number;
  /** After a failed step, the next attempt waits this long. */
  retryMs?: number;
}

/** Provider deliveries are retried for at most 3 days; a day more covers a late one. */
const LATE_DELIVERY_WINDOW_MS = 4 * 86_400_000;

const messages = {
  providerDown: (label: string) =>
    `Your request is recorded, but ${label} did not confirm that your monthly support is stopped, so nothing has been erased yet. We will keep trying and email you when it is done.`,
  notFound: 'We hold no supporter record for this link.',
};

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const escapeHtml = (text: string) =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&#39;')
    .replace(/"/g, '&quot;');

export function createErasures(deps: ErasureDeps) {
  const { config, repository: repo, ledger, pseudonyms } = deps;
  const logger = deps.logger.child({ component: 'erasure' });
  const leaseMs = deps.leaseMs ?? 10 * 60_000;
  const retryMs = deps.retryMs ?? 5 * 60_000;

  const matcherOf = (erasure: ErasureRecord): PersonMatcher => ({
    emailHashes: new Set(erasure.hashes.emails),
    valueHashes: new Set(erasure.hashes.values),
    pseudonymEmail: erasure.pseudonymEmail,
  });

  /** Checkouts behind the supporter's payments and subscriptions (their ids survive pseudonymisation). */
  async function checkoutIdsOf(supporterId: string): Promise<string[]> {
    const data = await ledger.repository.personalDataOf(supporterId);
    if (!data) return [];
    const ids = [...data.donations.map((d) => d.checkoutId), ...data.subscriptions.map((s) => s.checkoutId)];
    return [...new Set(ids.filter((id): id is string => !!id))];
  }

  /** Mail text with the person's addresses and name taken out. */
  function mailEdit(erasure: ErasureRecord): (text: string) => string {
    const matcher = matcherOf(erasure);
    const name = erasure.subject?.name?.trim();
    const names =
      name && name.length >= 2
        ? new RegExp([...new Set([name, escapeHtml(name)])].map(escapeRegExp).join('|'), 'gi')
        : null;
    return (text) => {
      const scrubbed = text
        .split('\n')
        .map((line) => scrubString(pseudonyms, matcher, line))
        .join('\n');
      return names ? scrubbed.replace(names, ERASED) : scrubbed;
    };
  }

  function confirmationText(erasure: ErasureRecord): string {
    const kept = erasure.kept ?? { payments: 0, ledgerEntries: 0, subscriptions: 0 };
    const { bookkeepingYears, bookkeepingBasis } = config.retention;
    return [
      'Hello,',
      '',
      `As you asked, we have erased your personal data at ${config.site.name}.`,
      '',
      "Erased: your name and email address (replaced by a meaningless pseudonym), the payment providers' customer ids, the link between your cookie choices and you, your address and name in the copies we kept of the notifications the payment providers sent us, and our copies of the emails we sent you (this one included).",
      kept.subscriptions > 0
        ? 'Your monthly support was cancelled at the payment provider first: nothing more will be charged.'
        : '',
      '',
      `Kept: the records of your ${kept.payments} payment(s) and their ${kept.ledgerEntries} ledger entries — amounts, currencies, dates and the payment providers' references — without your name or email.`,
      `Why: ${bookkeepingBasis} We therefore keep these records for ${bookkeepingYears} years.`,
      '',
      'The payment providers keep their own records of your payments under their own obligations; you can ask them directly.',
      '',
      `— ${config.site.name}`,
      '',
    ]
      .filter((line, i, all) => !(line === '' && all[i - 1] === ''))
      .join('\n');
  }

  const steps: Record<ErasureStep, (erasure: ErasureRecord, now: Date) => Promise<Record<string, unknown>>> =
    {
      /** Stopped at the provider first, at once: after erasure nobody could be asked about a charge. */
      async subscriptions(erasure, now) {
        const subscriptions = await ledger.repository.subscriptionsOf(erasure.supporterId);
        let cancelled = 0;
        for (const s of subscriptions) {
          if (s.status === 'cancelled') continue;
          const provider = deps.providers[s.provider];
          if (!provider)
            throw new AppError('upstream', messages.providerDown(descriptorOf(s.provider).longLabel));
          try {
            await provider.cancelSubscription(s.providerSubscriptionId, {
              reason: 'The supporter asked for their personal data to be erased',
              atPeriodEnd: false,
            });
          } catch (err) {
            if (err instanceof ProviderError) {
              logger.warn(
                { err, subscriptionId: s.id },
                'the provider did not confirm a cancellation for an erasure',
              );
              throw new AppError(
                'upstream',
                messages.providerDown(provider.descriptor.longLabel),
                undefined,
                {
                  cause: err,
                },
              );
            }
            throw err;
          }
          await ledger.apply({
            type: 'subscription.moved',
            provider: s.provider,
            subscriptionId: s.providerSubscriptionId,
            status: 'cancelled',
            endsAt: now,
            occurredAt: now,
          });
          cancelled += 1;
        }
        if (cancelled)
          logger.info(
            { supporterId: erasure.supporterId, cancelled },
            'monthly support cancelled for an erasure',
          );
        return {};
      },

      async supporter(erasure, now) {
        await ledger.repository.pseudonymiseSupporter(erasure.supporterId, erasure.pseudonymEmail, now);
        await ledger.repository.forgetReceiptErrors(erasure.supporterId);
        // Rate-limit counters are keyed by the address (they expire, but need not wait for it).
        const emails = [erasure.subject?.email, ...(erasure.subject?.otherEmails ?? [])].filter(
          (e): e is string => !!e,
        );
        for (const email of emails) {
          for (const limiter of deps.emailLimiters) await limiter.reset(rateLimitKeyForEmail(email));
        }
        return {};
      },

      async checkouts(erasure) {
        const email = erasure.subject?.email ?? erasure.pseudonymEmail;
        const ids = await checkoutIdsOf(erasure.supporterId);
        for (const other of [email, ...(erasure.subject?.otherEmails ?? [])]) {
          await deps.checkouts.forgetPerson(other, ids, erasure.pseudonymEmail);
        }
        return {};
      },

      async consent(erasure) {
        await deps.consentLinks.forget(erasure.supporterId);
        return {};
      },

      async webhooks(erasure) {
        const subject = erasure.subject;
        const terms = [
          ...(subject ? [subject.email, ...(subject.otherEmails ?? []), ...(subject.customerIds ?? [])] : []),
          ...erasure.refs,
        ];
        const matcher = matcherOf(erasure);
        const scrubbed = await deps.webhooks.scrubRawBodies(terms, (raw) =>
          scrubPayload(pseudonyms, matcher, raw),
        );
        logger.info(
          { supporterId: erasure.supporterId, scrubbed },
          'webhook payloads scrubbed for an erasure',
        );
        return {};
      },

      async confirmation(erasure) {
        if (!erasure.subject?.email) return {};
        await deps.mailer.send({
          to: erasure.subject.email,
          subject: `Your personal data at ${config.site.name} has been erased`,
          text: confirmationText(erasure),
        });
        return {};
      },

      async outbox(erasure) {
        if (!deps.mailer.rewriteStored) return {};
        const edit = mailEdit(erasure);
        const rewritten = await deps.mailer.rewriteStored((message) => rewriteMessage(message, edit));
        logger.info({ supporterId: erasure.supporterId, rewritten }, 'stored mail copies pseudonymised');
        return {};
      },
    };

  /** Runs the steps not yet done, if this process can take the erasure; the record as it stands after. */
  async function run(supporterId: string, now = new Date()): Promise<ErasureOutcome> {
    const leased = await repo.leaseErasure(supporterId, now, leaseMs);
    if (!leased) {
      const current = await repo.findErasure(supporterId);
      return current?.status === 'done'
        ? { state: 'done', erasure: current }
        : { state: 'in_progress', erasure: current };
    }
    let erasure = leased;
    try {
      for (const step of erasureSteps) {
        if (erasure.done.includes(step)) continue;
        const extra = await steps[step](erasure, new Date());
        await repo.stepDone(supporterId, step, extra);
        erasure = (await repo.findErasure(supporterId)) ?? erasure;
      }
      // Logged before the record is closed: a crash in between logs it twice rather than never.
      await repo.log({
        at: new Date(),
        type: 'erasure_done',
        via: erasure.via,
        emailHash: erasure.emailHash,
        supporterId,
      });
      await repo.finishErasure(supporterId, new Date());
    } catch (err) {
      await repo.erasureFailed(
        supporterId,
        err instanceof Error ? err.message : String(err),
        new Date(Date.now() + retryMs),
      );
      throw err;
    }
    const finished = await repo.findErasure(supporterId);
    return { state: 'done', erasure: finished ?? erasure };
  }

  return {
    steps: erasureSteps,

    /**
     * Marks the erasure (the first request's values are the ones used) and runs it. A second
     * request while it runs, or after it finished, changes nothing.
     */
    async request(supporterId: string, via: RightsChannel): Promise<ErasureOutcome> {
      const existing = await repo.findErasure(supporterId);
      if (!existing) {
        const data = await ledger.repository.personalDataOf(supporterId);
        if (!data || data.supporter.erasedAt) throw new AppError('not_found', messages.notFound);
        const { supporter, donations, subscriptions, entries } = data;
        const checkoutIds = [
          ...donations.map((d) => d.checkoutId),
          ...subscriptions.map((s) => s.checkoutId),
        ];
        const checkouts = await deps.checkouts.ofPerson(
          supporter.email,
          checkoutIds.filter((id): id is string => !!id),
        );
        const otherEmails = [
          ...new Set(checkouts.map((c) => c.email).filter((e): e is string => !!e && e !== supporter.email)),
        ];
        const customerIds = Object.values(supporter.providerCustomerIds).filter((id): id is string => !!id);
        const pseudonymEmail = pseudonyms.emailFor(supporter.id);
        const matcher = matcherFor(pseudonyms, {
          emails: [supporter.email, ...otherEmails],
          ...(supporter.name ? { name: supporter.name } : {}),
          ids: customerIds,
          pseudonymEmail,
        });
        const emailHash = pseudonyms.emailHash(supporter.email);
        const { created } = await repo.markErasure({
          supporterId: supporter.id,
          via,
          requestedAt: new Date(),
          emailHash,
          pseudonymEmail,
          subject: {
            email: supporter.email,
            ...(supporter.name ? { name: supporter.name } : {}),
            ...(otherEmails.length ? { otherEmails } : {}),
            ...(customerIds.length ? { customerIds } : {}),
          },
          hashes: { emails: [...matcher.emailHashes], values: [...matcher.valueHashes] },
          refs: [
            ...new Set([
              ...subscriptions.map((s) => s.providerSubscriptionId),
              ...donations.map((d) => d.providerPaymentId),
            ]),
          ],
          kept: {
            payments: donations.length,
            ledgerEntries: entries.length,
            subscriptions: subscriptions.length,
          },
        });
        if (created) {
          await repo.log({
            at: new Date(),
            type: 'erasure_requested',
            via,
            emailHash,
            supporterId: supporter.id,
          });
        }
      }
      return run(supporterId);
    },

    /** Unfinished erasures nobody holds are taken up; late webhook deliveries about erased payments are scrubbed. */
    async sweep(now = new Date()): Promise<{ resumed: number; lateScrubbed: number }> {
      let resumed = 0;
      for (const id of await repo.erasuresToResume(now)) {
        try {
          if ((await run(id, now)).state === 'done') resumed += 1;
        } catch (err) {
          logger.warn({ err, supporterId: id }, 'an unfinished erasure failed again; it will be retried');
        }
      }
      let lateScrubbed = 0;
      for (const erasure of await repo.erasuresFinishedSince(
        new Date(now.getTime() - LATE_DELIVERY_WINDOW_MS),
      )) {
        if (erasure.refs.length === 0) continue;
        const matcher = matcherOf(erasure);
        lateScrubbed += await deps.webhooks.scrubRawBodies(
          erasure.refs,
          (raw) => scrubPayload(pseudonyms, matcher, raw),
          { since: erasure.requestedAt },
        );
      }
      await repo.forgetMatchers(new Date(now.getTime() - LATE_DELIVERY_WINDOW_MS));
      return { resumed, lateScrubbed };
    },
  };
}

export type Erasures = ReturnType<typeof createErasures>;
