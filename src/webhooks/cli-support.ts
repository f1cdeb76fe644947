/**
 * What the operator CLIs share: configuration, the store connection (with a clear word when the
 * embedded store is already held by a running app), providers and the ledger. Each command opens
 * only what it needs: reading the inbox needs the store alone; replaying and reconciling need the
 * providers, which in simulator mode are the running app's simulator, never one of their own.
 */
import { ConfigError, getConfig, type AppConfig } from '../config.js';
import { lockedStoreAdvice } from '../db/index.js';
import { createLogger, type Logger } from '../log.js';
import { paymentsOfRunningApp, SimulatorUnavailableError, type PaymentSetup } from '../payments/index.js';
import { openCore, type Core } from '../runtime.js';
import type { WebhooksFeature } from './index.js';

export interface CliContext {
  config: AppConfig;
  logger: Logger;
  webhooks: WebhooksFeature;
  close(): Promise<void>;
}

export class CliError extends Error {}

export async function openCliContext(needs: { providers: boolean }): Promise<CliContext> {
  let config: AppConfig;
  try {
    config = getConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'readerfund-cli' });
  let payments: PaymentSetup = { providers: {}, formActionOrigins: [], stop: async () => undefined };
  try {
    if (needs.providers) payments = await paymentsOfRunningApp(config, logger);
  } catch (err) {
    if (err instanceof SimulatorUnavailableError) throw new CliError(err.message);
    throw err;
  }
  let core: Core;
  try {
    core = await openCore(config, { logger, backgroundJobs: false, payments });
  } catch (err) {
    await payments.stop();
    const advice = lockedStoreAdvice(err);
    if (advice) throw new CliError(advice);
    throw err;
  }
  return { config, logger, webhooks: core.webhooks, close: () => core.stop() };
}

/** Runs a CLI's main and turns expected failures into a message and exit code 1. */
export function runCli(main: () => Promise<number>): void {
  main()
    .then((code) => process.exit(code))
    .catch((err: unknown) => {
      console.error(
        err instanceof CliError ? err.message : err instanceof Error ? (err.stack ?? err.message) : err,
      );
      process.exit(1);
    });
}
