/**
 * Reconciliation: what the providers say was paid, against what the ledger recorded. Webhooks can
 * be lost for good (an endpoint down longer than the provider retries), so this is the backstop
 * that tells finance about a gap instead of letting a figure be quietly wrong.
 */
import type { Logger } from '../log.js';
import type { PaymentProvider, ProviderId, ProviderPayment } from '../payments/types.js';
import type { ReconciliationRecord, WebhookRepository } from './repository.js';

export interface ReconciliationReport extends ReconciliationRecord {
  id: string;
}

const BATCH = 200;

export function createReconciler(deps: {
  logger: Logger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  repository: WebhookRepository;
}) {
  const logger = deps.logger.child({ component: 'reconcile' });

  async function compare(provider: ProviderId, payments: ProviderPayment[], record: ReconciliationRecord) {
    const ledger = await deps.repository.ledgerAmounts(
      provider,
      payments.map((p) => p.paymentId),
    );
    for (const p of payments) {
      const entry = ledger.get(p.paymentId);
      if (!entry) {
        record.missing.push({ provider, paymentId: p.paymentId, ...p.amount, occurredAt: p.occurredAt });
      } else if (entry.amountMinor !== p.amount.amountMinor || entry.currency !== p.amount.currency) {
        record.mismatched.push({
          provider,
          paymentId: p.paymentId,
          providerAmountMinor: p.amount.amountMinor,
          providerCurrency: p.amount.currency,
          ledgerAmountMinor: entry.amountMinor,
          ledgerCurrency: entry.currency,
        });
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
