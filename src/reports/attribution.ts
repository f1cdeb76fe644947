/**
 * Article attribution as it happens: when the ledger credits a payment to its supporter, the
 * payment's entry is claimed by its key (`articlemarks`, unique) and then added to its article's
 * month in each reporting zone, so a repeated notice or a second process adds nothing. The nightly check re-derives these from the ledger entries and repairs what a
 * crash, a payment without a payer (never credited) or a first payment that moved left behind.
 */
import type { Logger } from '../log.js';
import { dayIn } from '../supporters/ledger.js';
import type { LedgerEntryRecord, LedgerRepository } from '../supporters/repository.js';
import type { ReportsRepository } from './repository.js';

export interface ArticleAttributionTracker {
  /** The ledger's "payment credited" notice; never throws (failures are logged, the night repairs them). */
  paymentCredited(donationId: string): void;
  /** Adds one payment entry to its article (idempotent by the entry's key). */
  record(
    entry: Pick<
      LedgerEntryRecord,
      'key' | 'type' | 'articleSlug' | 'currency' | 'amountMinor' | 'occurredAt' | 'newSupporter'
    >,
  ): Promise<void>;
  /** Resolves when every notice received so far has been handled. */
  idle(): Promise<void>;
}

export function createArticleAttribution(deps: {
  zones: readonly string[];
  ledger: Pick<LedgerRepository, 'paymentEntryOf'>;
  repository: Pick<ReportsRepository, 'claimArticleMark' | 'incrementArticle'>;
  logger: Logger;
}): ArticleAttributionTracker {
  const logger = deps.logger.child({ component: 'article-attribution' });
  const pending = new Set<Promise<void>>();

  const record: ArticleAttributionTracker['record'] = async (entry) => {
    if (entry.type !== 'payment' || !entry.articleSlug) return;
    if (!(await deps.repository.claimArticleMark(entry.key))) return;
    // Claimed: this call and no other adds it (a crash before the increments is repaired nightly).
    await Promise.all(
      deps.zones.map((zone) => {
        const day = dayIn(zone, entry.occurredAt);
        return deps.repository.incrementArticle(
          { zone, month: day.slice(0, 7), currency: entry.currency, articleSlug: entry.articleSlug! },
          day.slice(8, 10),
          { payments: 1, grossMinor: entry.amountMinor, newSupporters: entry.newSupporter ? 1 : 0 },
        );
      }),
    );
  };

  return {
    record,
    paymentCredited(donationId) {
      const work = deps.ledger
        .paymentEntryOf(donationId)
        .then((entry) => (entry ? record(entry) : undefined))
        .catch((err: unknown) =>
          logger.warn({ err, donationId }, 'article attribution not recorded; the nightly check will add it'),
        )
        .finally(() => pending.delete(work));
      pending.add(work);
    },
    async idle() {
      while (pending.size) await Promise.all([...pending]);
    },
  };
}
