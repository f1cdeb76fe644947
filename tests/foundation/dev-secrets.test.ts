import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEV_SECRETS_FILE, resolveDevSecrets } from '../../src/dev-secrets.js';
import { testConfig } from '../helpers/runtime.js';

const config = testConfig({ secrets: { session: '', links: '' } });
let parent: string;

before(async () => {
  parent = await mkdtemp(path.join(os.tmpdir(), 'readerfund-secrets-'));
});
after(() => rm(parent, { recursive: true, force: true }));

describe('development secrets', () => {
  test('live inside the data folder, readable by the owner only, so folders in one parent never share them', async () => {
    const first = path.join(parent, 'shared-dir', 'db');
    const second = path.join(parent, 'shared-dir', 'db2');
    const a = await resolveDevSecrets(config, first);
    const b = await resolveDevSecrets(config, second);
    assert.notEqual(a.links, b.links);
    assert.notEqual(a.session, b.session);
    const file = path.join(first, DEV_SECRETS_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await assert.rejects(stat(path.join(parent, 'shared-dir', DEV_SECRETS_FILE)), { code: 'ENOENT' });
    assert.deepEqual(await resolveDevSecrets(config, first), a, 'the same secrets after a restart');
  });

  test('refuse a file that other users can read, and say how to fix it', async () => {
    const dir = path.join(parent, 'readable');
    await resolveDevSecrets(config, dir);
    const file = path.join(dir, DEV_SECRETS_FILE);
    await chmod(file, 0o644);
    await assert.rejects(
      resolveDevSecrets(config, dir),
      new RegExp(
        `can be read or changed by other users \\(mode 644\\).*chmod 600 ${file.replace(/[.\\/]/g, '\\$&')}`,
      ),
    );
  });

  test('refuse a file that belongs to another user', async () => {
    const dir = path.join(parent, 'foreign');
    await resolveDevSecrets(config, dir);
    const owner = (await stat(path.join(dir, DEV_SECRETS_FILE))).uid;
    await assert.rejects(
      resolveDevSecrets(config, dir, { uid: owner + 1 }),
      new RegExp(`belongs to another user \\(uid ${owner}, not ${owner + 1}\\).*SESSION_SECRET`),
    );
  });

  test('refuse a symbolic link planted where the file belongs', async () => {
    const dir = path.join(parent, 'linked');
    await resolveDevSecrets(config, path.join(parent, 'elsewhere'));
    await resolveDevSecrets(config, dir);
    await rm(path.join(dir, DEV_SECRETS_FILE));
    await symlink(path.join(parent, 'elsewhere', DEV_SECRETS_FILE), path.join(dir, DEV_SECRETS_FILE));
    await assert.rejects(resolveDevSecrets(config, dir), /is not a regular file/);
  });

  test('replace a file cut short by a crash', async () => {
    const dir = path.join(parent, 'cut-short');
    await resolveDevSecrets(config, dir);
    const file = path.join(dir, DEV_SECRETS_FILE);
    await writeFile(file, '{"session":"ab', { mode: 0o600 });
    const made = await resolveDevSecrets(config, dir);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), made);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  test('use configured secrets without touching the data folder', async () => {
    const configured = testConfig();
    const dir = path.join(parent, 'configured');
    assert.deepEqual(await resolveDevSecrets(configured, dir), configured.secrets);
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });
});
