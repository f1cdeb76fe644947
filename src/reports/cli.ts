/**
 * Operator tools for the reports:
 *   npm run reports -- rederive [--no-repair] [--json]
 * re-derives the rollups and article figures from the ledger now (what the nightly check does),
 * records the check in `rollupchecks`, repairs drift on closed days unless --no-repair, and exits
 * 0 when nothing is left drifted, 2 when something is. It opens only the store.
 */
// First: fills process.env from .env before the configuration is read.
import '../load-env.js';
import { parseArgs } from 'node:util';
import { ConfigError, getConfig } from '../config.js';
import { createLogger } from '../log.js';
import { openCore } from '../runtime.js';
import { createAuditLog } from '../staff/audit.js';
import { CliError, runCli } from '../webhooks/cli-support.js';
import { createReportsCore } from './index.js';
import type { RollupCheck } from './repository.js';

const usage = 'Usage:\n  npm run reports -- rederive [--no-repair] [--json]';

export function formatCheck(check: RollupCheck): string {
  const lines = [
    `Rollup check ${check.id}: ${check.status}`,
    `  ${check.entries} ledger entries and ${check.mrrMovements} MRR movements re-derived`,
    `  ${check.bucketsChecked} rollup buckets and ${check.articleBucketsChecked} article days compared on closed days ` +
      `(before ${Object.entries(check.closedBefore)
        .map(([zone, day]) => `${day} in ${zone}`)
        .join(', ')})`,
    `  ${check.inFlight} buckets left alone while an update was under way`,
    check.drifted === 0
      ? '  no drift: the rollups agree with the ledger'
      : `  ${check.drifted} drifted, ${check.repaired} repaired${check.repair ? '' : ' (repair was off)'}`,
  ];
  for (const d of check.drifts) {
    const where =
      d.kind === 'article' ? `article ${d.articleSlug ?? ''}` : `${d.provider ?? ''} ${d.planId ?? ''}`;
    const fields = d.fields.map((f) => `${f.field} ${f.rollup} → ${f.derived}`).join(', ');
    lines.push(`    ${d.zone} ${d.day} ${d.currency} ${where}: ${fields} [${d.outcome}]`);
  }
  if (check.drifted > check.drifts.length)
    lines.push(`    … and ${check.drifted - check.drifts.length} more`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      'no-repair': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (command !== 'rederive' || rest.length > 0) throw new CliError(usage);

  let config;
  try {
    config = getConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'readerfund-cli' });
  let core;
  try {
    core = await openCore(config, { logger, backgroundJobs: false, withPayments: false });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (/locked/i.test(text)) {
      throw new CliError(
        `${text}\n\nThe app is running on the embedded store, which one process at a time may open. ` +
          'Run the store on its own (`npm run db:embedded`) and start both the app and this command with ' +
          'MONGODB_URI set to the address it prints, or stop the app first.',
      );
    }
    throw err;
  }
  try {
    const reports = createReportsCore({
      config,
      logger,
      connection: core.store.connection,
      ledger: core.ledger.repository,
    });
    const check = await reports.rederive({ trigger: 'command', repair: !values['no-repair'] });
    if (check.repaired > 0) {
      await createAuditLog({ logger }).record({
        actor: { kind: 'cli' },
        action: 'reports.rollups_repaired',
        target: { type: 'rollupcheck', id: check.id },
        details: { drifted: check.drifted, repaired: check.repaired },
      });
    }
    console.log(values.json ? JSON.stringify(check, null, 2) : formatCheck(check));
    return check.drifted > check.repaired ? 2 : 0;
  } finally {
    await core.stop();
  }
}

runCli(main);
