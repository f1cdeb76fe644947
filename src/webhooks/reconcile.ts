/**
 * Reconciliation: what the providers say happened to each payment, against what the ledger
 * recorded — presence, amount and currency, the refunded amount, and the state of its disputes.
 * Webhooks can be lost for good (an endpoint down longer than the provider retries), so this is
 * the backstop that tells finance about a gap instead of letting a figure be quietly wrong.
 */
import type { Logger } from '../log.js';
import type { PaymentProvider, ProviderId, ProviderPayment } from '../payments/types.js';
import type { LedgerRepository } from '../supporters/repository.js';
import type { ReconciliationRecord, WebhookRepository } from './repository.js';

export interface ReconciliationReport extends ReconciliationRecord {
  id: string;
}

const BATCH = 200;

/** A dispute's state as the ledger can compare it: open, or decided with money out (lost) or not. */
const decided = (status: string) => (status === 'lost' ? 'lost' : status === 'open' ? 'open' : 'not lost');

export function createReconciler(deps: {
  logger: Logger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  repository: WebhookRepository;
  ledger: Pick<LedgerRepository, 'paymentsForReconciliation'>;
}) {
  const logger = deps.logger.child({ component: 'reconcile' });

  async function compare(provider: ProviderId, payments: ProviderPayment[], record: ReconciliationRecord) {
    const ledger = await deps.ledger.paymentsForReconciliation(
      provider,
      payments.map((p) => p.paymentId),
    );
    const differs = (
      paymentId: string,
      field: 'amount' | 'refunded' | 'dispute',
      providerValue: string,
      ledgerValue: string,
    ) => record.mismatched.push({ provider, paymentId, field, providerValue, ledgerValue });
    for (const p of payments) {
      const entry = ledger.get(p.paymentId);
      if (!entry) {
        record.missing.push({ provider, paymentId: p.paymentId, ...p.amount, occurredAt: p.occurredAt });
        continue;
      }
      if (entry.amountMinor !== p.amount.amountMinor || entry.currency !== p.amount.currency) {
        differs(
          p.paymentId,
          'amount',
          `${p.amount.amountMinor} ${p.amount.currency}`,
          `${entry.amountMinor} ${entry.currency}`,
        );
      }
      if (p.refundedMinor !== undefined && p.refundedMinor !== entry.refundedMinor) {
        differs(p.paymentId, 'refunded', String(p.refundedMinor), String(entry.refundedMinor));
      }
      for (const dispute of p.disputes ?? []) {
        const ours = entry.disputes.find((d) => d.id === dispute.id);
        if (!ours || decided(ours.status) !== decided(dispute.status)) {
          differs(
            p.paymentId,
            'dispute',
            `${dispute.id} ${dispute.status}`,
            ours ? `${ours.id} ${ours.status}` : 'not recorded',
          );
        }
      }
    }
  }

  return async function reconcile(options: { days: number; until?: Date }): Promise<ReconciliationReport> {
    if (!Number.isFinite(options.days) || options.days <= 0)
      throw new Error('days must be a positive number');
    const startedAt = new Date();
    const until = options.until ?? startedAt;
    const since = new Date(until.getTime() - options.days * 86_400_000);
    const record: ReconciliationRecord = {
      startedAt,
      finishedAt: startedAt,
      since,
      until,
      providers: [],
      missing: [],
      mismatched: [],
      clean: true,
    };
    for (const [id, provider] of Object.entries(deps.providers) as Array<[ProviderId, PaymentProvider]>) {
      let checked = 0;
      try {
        let batch: ProviderPayment[] = [];
        for await (const payment of provider.listPayments(since, until)) {
          // Only money that arrived belongs in the ledger; pending or failed attempts do not.
          if (payment.status === 'other') continue;
          batch.push(payment);
          checked += 1;
          if (batch.length >= BATCH) {
            await compare(id, batch, record);
            batch = [];
          }
        }
        if (batch.length) await compare(id, batch, record);
        record.providers.push({ provider: id, checked });
      } catch (err) {
        logger.error({ err, provider: id }, 'reconciliation could not list payments');
        record.providers.push({
          provider: id,
          checked,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    record.finishedAt = new Date();
    record.clean =
      record.missing.length === 0 && record.mismatched.length === 0 && !record.providers.some((p) => p.error);
    const reportId = await deps.repository.saveReconciliation(record);
    const summary = { reportId, missing: record.missing.length, mismatched: record.mismatched.length };
    if (record.clean) logger.info(summary, 'reconciliation found the ledger complete');
    else logger.warn(summary, 'reconciliation found differences');
    return { ...record, id: reportId };
  };
}
