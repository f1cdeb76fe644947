import nodeConfig from 'config';
import { randomUUID } from 'node:crypto';
import { parseConfig, type AppConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** The test configuration (config/test.json) with per-test changes, validated like the real one. */
export function testConfig(overrides: DeepPartial<AppConfig> | Record<string, unknown> = {}): AppConfig {
  const raw = merge({ env: 'test', ...nodeConfig.util.toObject() }, overrides);
  // Tests either use a real MongoDB (MONGODB_URI, one database per run) or the in-memory embedded store.
  return parseConfig(raw);
}

/** A runtime on the in-memory embedded store, or on MONGODB_URI with a database of its own. */
export async function startTestRuntime(
  overrides: DeepPartial<AppConfig> | Record<string, unknown> = {},
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const config = testConfig(overrides);
  return startRuntime(config, {
    embeddedPath: null,
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    dbName: `readerfund_test_${randomUUID().slice(0, 8)}`,
    ...options,
  });
}

/** A runtime without payment providers (and without the simulator): for tests that apply facts to the ledger directly. */
export function startLedgerRuntime(
  overrides: DeepPartial<AppConfig> | Record<string, unknown> = {},
): Promise<Runtime> {
  return startTestRuntime(overrides, {
    backgroundJobs: false,
    payments: { providers: {}, formActionOrigins: [], stop: async () => undefined },
  });
}
