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
      testConfig({
        env: 'production',
        db: { uri: 'mongodb://db.internal:27017/readerfund' },
        payments: { mode: 'live', stripe: { secretKey: 'sk_live_x', webhookSecret: 'whsec_x' } },
        secrets: { session: '', links: 'too-short' },
      }),
    );
    assert.equal(err.key, 'secrets.session');
    assert.deepEqual(err.missing, ['SESSION_SECRET', 'LINK_SIGNING_SECRET']);
    assert.match(err.message, /LINK_SIGNING_SECRET \(too short/);
  });

  test('names every missing production setting at once, in one line', () => {
    const err = configErrorOf(() =>
      testConfig({
        env: 'production',
        site: { publicUrl: '' },
        db: { uri: '' },
        payments: { mode: 'live' },
        secrets: { session: '', links: '' },
      }),
    );
    assert.equal(err.message.split('\n').length, 1);
    assert.match(
      err.message,
      /^Invalid configuration: NODE_ENV=production needs settings that are not set: /,
    );
    for (const variable of [
      'MONGODB_URI',
      'STRIPE_SECRET_KEY',
      'STRIPE_WEBHOOK_SECRET',
      'PAYPAL_CLIENT_ID',
      'PAYPAL_CLIENT_SECRET',
      'PAYPAL_WEBHOOK_ID',
      'SESSION_SECRET',
      'LINK_SIGNING_SECRET',
      'PUBLIC_URL',
    ]) {
      assert.match(err.message, new RegExp(`\\b${variable}\\b`), variable);
    }
  });

  test("asks for the rest of a provider's keys once one is set, in development too", () => {
    const err = configErrorOf(() => testConfig({ payments: { paypal: { clientId: 'client-id' } } }));
    assert.deepEqual(err.missing, ['PAYPAL_CLIENT_SECRET', 'PAYPAL_WEBHOOK_ID']);
    const stripe = configErrorOf(() => testConfig({ payments: { stripe: { secretKey: 'sk_test_x' } } }));
    assert.deepEqual(stripe.missing, ['STRIPE_WEBHOOK_SECRET']);
  });

  test('accepts a production configuration with one provider, a MongoDB, secrets and a public address', () => {
    const config = testConfig({
      env: 'production',
      site: { publicUrl: 'https://news.example' },
      db: { uri: 'mongodb://db.internal:27017/readerfund' },
      payments: { mode: 'live', paypal: { clientId: 'id', clientSecret: 'secret', webhookId: 'WH-1' } },
      secrets: { session: 'x'.repeat(40), links: 'y'.repeat(40) },
    });
    assert.equal(config.payments.resolvedMode, 'live');
  });

  test('switches to live payments when provider keys are set', () => {
    const config = testConfig({
      payments: { stripe: { secretKey: 'sk_test_123', webhookSecret: 'whsec_123' } },
    });
    assert.equal(config.payments.resolvedMode, 'live');
  });

  for (const env of ['staging', 'prod']) {
    test(`refuses the payment simulator and the embedded store with NODE_ENV=${env}, as in production`, () => {
      const secrets = { session: 'x'.repeat(40), links: 'y'.repeat(40) };
      const simulator = configErrorOf(() => testConfig({ env, secrets }));
      assert.ok(
        simulator.missing.some((m) => m.startsWith('STRIPE_SECRET_KEY')),
        simulator.message,
      );
      assert.match(simulator.message, new RegExp(`NODE_ENV=${env}`));
      assert.match(simulator.message, /payment simulator is for development and tests/);
      const embedded = configErrorOf(() =>
        testConfig({
          env,
          secrets,
          db: { uri: '' },
          payments: { stripe: { secretKey: 'sk_live_x', webhookSecret: 'whsec_x' } },
        }),
      );
      assert.equal(embedded.key, 'db.uri');
      assert.deepEqual(embedded.missing, ['MONGODB_URI']);
      const unsetSecrets = configErrorOf(() =>
        testConfig({
          env,
          db: { uri: 'mongodb://db.internal:27017/readerfund' },
          payments: { stripe: { secretKey: 'sk_live_x', webhookSecret: 'whsec_x' } },
          secrets: { session: '', links: '' },
        }),
      );
      assert.equal(unsetSecrets.key, 'secrets.session');
    });
  }

  test('allows the simulator and embedded store in development, test, or with NODE_ENV unset', () => {
    for (const env of ['development', 'test', '']) {
      assert.equal(testConfig({ env, db: { uri: '' } }).payments.resolvedMode, 'simulator');
    }
  });

  test('listens on 127.0.0.1 unless HOST says otherwise while the simulator or embedded store runs', () => {
    const local = testConfig({ server: { host: '' } });
    assert.equal(local.server.host, '127.0.0.1');
    assert.equal(local.server.hostFrom, 'local-default');
    const explicit = testConfig({ server: { host: '0.0.0.0' } });
    assert.equal(explicit.server.host, '0.0.0.0');
    assert.equal(explicit.server.hostFrom, 'config');
    const production = testConfig({
      server: { host: '' },
      db: { uri: 'mongodb://db.internal:27017/readerfund' },
      payments: { stripe: { secretKey: 'sk_live_x', webhookSecret: 'whsec_x' } },
    });
    assert.equal(production.server.host, '0.0.0.0');
  });

  test('derives PUBLIC_URL from the port when it is not set, and keeps it when it is', () => {
    const derived = testConfig({ site: { publicUrl: '' }, server: { port: 8080, host: '' } });
    assert.equal(derived.site.publicUrl, 'http://localhost:8080');
    assert.equal(derived.site.publicUrlFrom, 'listen-address');
    const onAddress = testConfig({ site: { publicUrl: '' }, server: { port: 8080, host: '192.168.1.20' } });
    assert.equal(onAddress.site.publicUrl, 'http://192.168.1.20:8080');
    const configured = testConfig({ site: { publicUrl: 'https://news.example/' } });
    assert.equal(configured.site.publicUrl, 'https://news.example');
    assert.equal(configured.site.publicUrlFrom, 'config');
  });

  test('refuses a headers timeout longer than the request timeout', () => {
    const err = configErrorOf(() =>
      testConfig({ server: { requestTimeoutMs: 5000, headersTimeoutMs: 10_000 } }),
    );
    assert.equal(err.key, 'server.headersTimeoutMs');
  });

  test('stops start-up with one line naming NODE_ENV when the simulator would run in staging', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: {
        ...process.env,
        NODE_ENV: 'staging',
        SESSION_SECRET: 'x'.repeat(40),
        LINK_SIGNING_SECRET: 'y'.repeat(40),
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    const ours = result.stderr
      .trim()
      .split('\n')
      .filter((line) => !line.startsWith('WARNING:'));
    assert.equal(ours.length, 1, result.stderr);
    assert.match(ours[0]!, /^Invalid configuration: NODE_ENV=staging needs settings .*STRIPE_SECRET_KEY/);
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
