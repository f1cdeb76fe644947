import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/embedded-mongo/index.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { uniqueEmail } from './helpers.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

let store: EmbeddedMongo;
let runtime: Runtime;
let busy: net.Server;
let busyPort: number;
const dbName = `readerfund_staffcli_${Date.now().toString(36)}`;

before(async () => {
  // A store of its own, so the command can connect to it while this process reads what it wrote.
  store = await startEmbeddedMongo({ port: 0 });
  runtime = await startTestRuntime({ db: { uri: store.uri } }, { backgroundJobs: false, dbName });
  runtime.payments.simulator?.setWebhookTargets({ stripe: '', paypal: '' });
  // One port held busy and given to the command as the app's and the simulators' port: if it
  // started an HTTP server or the payment simulator, it would fail to listen.
  busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as net.AddressInfo).port;
});
after(async () => {
  busy.close();
  await runtime.stop();
  await store.stop();
});

const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  NODE_ENV: 'test',
  MONGODB_URI: `${store.uri}/${dbName}`,
  LOG_LEVEL: 'silent',
  PORT: String(busyPort),
  SIMULATOR_STRIPE_PORT: String(busyPort),
  SIMULATOR_PAYPAL_PORT: String(busyPort),
  ...extra,
});

async function staffCreate(args: string[], extra: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/staff/cli.ts', ...args], {
      cwd: root,
      env: env(extra),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run staff:create', () => {
  it('creates an admin account with an argon2id hash, without starting a server or the simulator', async () => {
    const email = uniqueEmail('first-admin');
    const result = await staffCreate([
      '--email',
      email,
      '--password',
      'a long and unusual passphrase',
      '--role',
      'admin',
      '--name',
      'First Admin',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`Created the admin account ${email}`));
    const doc = await mongoose.connection.collection('staffusers').findOne({ email });
    assert.equal(doc?.role, 'admin');
    assert.equal(doc?.status, 'active');
    assert.equal(doc?.name, 'First Admin');
    assert.match(String(doc?.passwordHash), /^\$argon2id\$/);
    const audit = await mongoose.connection
      .collection('auditlog')
      .findOne({ action: 'staff.account_created' });
    assert.equal(audit?.actor?.kind, 'cli');
    assert.equal(audit?.target?.label, email);

    const again = await staffCreate([
      '--email',
      email.toUpperCase(),
      '--password',
      'another long passphrase',
      '--role',
      'finance',
    ]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim(), `There is already a staff account for ${email}.`);
  });

  it('refuses bad input with one clear line and exit code 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['--email', 'x@staff.example', '--password', 'short', '--role', 'finance'],
        /^The password must be at least 12 characters long\.$/,
      ],
      [
        ['--email', 'x@staff.example', '--password', 'Password1234', '--role', 'finance'],
        /^That password is one of the most common ones/,
      ],
      [
        ['--email', 'not-an-email', '--password', 'a long and unusual passphrase', '--role', 'finance'],
        /^Please enter a valid email address\.$/,
      ],
      [
        ['--email', 'x@staff.example', '--password', 'a long and unusual passphrase', '--role', 'owner'],
        /^The role must be admin or finance\.$/,
      ],
      [['--email', 'x@staff.example', '--pasword', 'typo'], /Unknown option '--pasword'/],
    ];
    const results = await Promise.all(cases.map(([args]) => staffCreate(args)));
    results.forEach((result, i) => {
      assert.equal(result.code, 1, cases[i]![0].join(' '));
      assert.match(result.stderr.trim().split('\n')[0]!, cases[i]![1]);
    });
    assert.equal(
      await mongoose.connection.collection('staffusers').countDocuments({ email: 'x@staff.example' }),
      0,
    );
  });

  it('explains what to do when the app holds the embedded store', async () => {
    const locked = mkdtempSync(path.join(tmpdir(), 'readerfund-locked-'));
    const holder = await startEmbeddedMongo({ dbPath: locked, port: 0 });
    try {
      const result = await staffCreate(
        [
          '--email',
          uniqueEmail('locked'),
          '--password',
          'a long and unusual passphrase',
          '--role',
          'finance',
        ],
        { MONGODB_URI: '', EMBEDDED_MONGO_PATH: locked },
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /npm run db:embedded/);
      assert.match(result.stderr, /MONGODB_URI/);
    } finally {
      await holder.stop();
      rmSync(locked, { recursive: true, force: true });
    }
  });
});
