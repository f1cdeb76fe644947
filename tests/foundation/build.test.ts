import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, freePort, root, startServerProcess } from './server-process.js';

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

describe('the production build', () => {
  before(() => {
    // What `npm run build` runs; the test then uses dist/ as production does, without tsx.
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 240_000,
    });
    assert.equal(build.status, 0, `${build.stdout}\n${build.stderr}`);
  });

  test('npm run build compiles src/ to dist/ (git-ignored) and start:prod runs it with node alone', () => {
    assert.equal(pkg.scripts.build, 'node scripts/build.mjs');
    assert.match(pkg.scripts['start:prod']!, /^NODE_ENV=production node (--\S+ )*dist\/server\.js$/);
    assert.ok(existsSync(path.join(root, 'dist', 'server.js')));
    assert.ok(existsSync(path.join(root, 'dist', 'staff', 'common-passwords.txt')), 'assets are copied');
    assert.ok(!existsSync(path.join(root, 'dist', 'tests')), 'only src/ is built');
    const ignored = spawnSync('git', ['check-ignore', 'dist/server.js'], { cwd: root, encoding: 'utf8' });
    assert.equal(ignored.status, 0, 'dist/ is git-ignored');
  });

  test(
    'start:prod with an empty environment names every missing setting in one line and exits 1',
    { timeout: 30_000 },
    () => {
      // Exactly what `npm run start:prod` runs, in an environment holding nothing but PATH.
      const args = pkg.scripts['start:prod']!.replace(/^NODE_ENV=production node /, '').split(' ');
      const result = spawnSync(process.execPath, args, {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(
        lines[0]!,
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
        assert.match(lines[0]!, new RegExp(`\\b${variable}\\b`), `${variable} is named`);
      }
    },
  );

  test(
    'the built server finds its views, static files, consent texts, demo articles and staff pages from dist/',
    { timeout: 90_000 },
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'readerfund-dist-'));
      const app = await startServerProcess({
        entry: 'dist/server.js',
        plainNode: true,
        cwd: dir,
        env: cleanEnv({
          NODE_ENV: 'development',
          LOG_LEVEL: 'info',
          EMBEDDED_MONGO_PATH: path.join(dir, 'db'),
          MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
          PORT: String(await freePort()),
          SIMULATOR_STRIPE_PORT: String(await freePort()),
          SIMULATOR_PAYPAL_PORT: String(await freePort()),
        }),
      });
      try {
        const base = `http://127.0.0.1:${app.port}`;
        const page = async (p: string, pattern: RegExp) => {
          const res = await fetch(`${base}${p}`);
          assert.equal(res.status, 200, p);
          assert.match(await res.text(), pattern, p);
        };
        await page('/', /coastal marsh returns/i);
        await page('/articles/coastal-marsh-returns-after-sea-wall-is-opened', /Saltmere/);
        await page('/static/site.css', /\{/);
        await page('/staff/static/staff.css', /\{/);
        await page('/privacy', /Strictly necessary/);
        await page('/staff/login', /<form/);
        const started = await fetch(`${base}/donate`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'plan=contributor&provider=paypal&amount=5&currency=USD',
        });
        assert.equal(started.status, 303, 'the payment simulator runs from dist/ in development');
      } finally {
        await app.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
