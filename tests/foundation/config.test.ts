import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ConfigError } from '../../src/config.js';
import { testConfig } from '../helpers/runtime.js';

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the configuration to be refused');
}

describe('configuration', () => {
  test('accepts the shipped configuration and freezes it', () => {
    const config = testConfig();
    assert.equal(config.payments.resolvedMode, 'simulator');
    assert.ok(Object.isFrozen(config.donations.plans[0]));
    assert.throws(() => {
      (config.server as { port: number }).port = 1;
    });
  });

  test('names the key of an invalid value', () => {
    const err = configErrorOf(() => testConfig({ server: { port: 'abc' as unknown as number } }));
    assert.equal(err.key, 'server.port');
    assert.match(err.message, /^Invalid configuration: server\.port /);
  });

  test('refuses a plan whose default amount lies outside its range', () => {
    const plans = testConfig().donations.plans.map((p) => ({ ...p }));
    plans[0] = { ...plans[0]!, defaultAmountMinor: 1_000_000 };
    const err = configErrorOf(() => testConfig({ donations: { plans } }));
    assert.equal(err.key, 'donations.plans.0.defaultAmountMinor');
  });

  test('refuses the payment simulator in production', () => {
    const err = configErrorOf(() =>
      testConfig({
        env: 'production',
        payments: { mode: 'simulator' },
        secrets: { session: 'x'.repeat(40), links: 'y'.repeat(40) },
      }),
    );
    assert.equal(err.key, 'payments.mode');
  });

  test('requires real secrets in production', () => {
    const err = configErrorOf(() =>
      testConfig({ env: 'production', payments: { mode: 'live' }, secrets: { session: '', links: '' } }),
    );
    assert.equal(err.key, 'secrets.session');
  });

  test('switches to live payments when provider keys are set', () => {
    const config = testConfig({
      payments: { stripe: { secretKey: 'sk_test_123', webhookSecret: 'whsec_123' } },
    });
    assert.equal(config.payments.resolvedMode, 'live');
  });

  test('stops start-up with one line naming the key when the environment is invalid', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, NODE_ENV: 'test', PORT: 'not-a-port' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^Invalid configuration: server\.port /);
  });
});
