/**
 * Compares provider payments with the ledger and records the findings in `reconciliations`:
 *   npm run reconcile -- --days 7 [--json]
 * Exits 0 when the ledger is complete, 2 when something is missing or differs.
 */
// First: fills process.env from .env before the configuration is read.
import '../load-env.js';
import { parseArgs } from 'node:util';
import { CliError, openCliContext, runCli } from './cli-support.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { days: { type: 'string', default: '7' }, json: { type: 'boolean', default: false } },
  });
  const days = Number(values.days);
  if (!Number.isFinite(days) || days <= 0 || days > 366)
    throw new CliError('--days must be a number from 1 to 366');
  const ctx = await openCliContext({ providers: true });
  try {
    const report = await ctx.webhooks.reconcile({ days });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      console.log(
        `Reconciliation ${report.id}: ${report.since.toISOString()} – ${report.until.toISOString()}`,
      );
      for (const p of report.providers) {
        console.log(
          `  ${p.provider}: ${p.checked} payments checked${p.error ? ` — could not finish: ${p.error}` : ''}`,
        );
      }
      for (const m of report.missing) {
        console.log(
          `  MISSING   ${m.provider} ${m.paymentId} ${m.amountMinor} ${m.currency} at ${m.occurredAt.toISOString()}`,
        );
      }
      for (const m of report.mismatched) {
        console.log(
          `  DIFFERS   ${m.provider} ${m.paymentId} ${m.field}: provider ${m.providerValue}, ledger ${m.ledgerValue}`,
        );
      }
      console.log(report.clean ? 'The ledger matches the providers.' : 'Differences found.');
    }
    return report.clean ? 0 : 2;
  } finally {
    await ctx.close();
  }
}

runCli(main);
