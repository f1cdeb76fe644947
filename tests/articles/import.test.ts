import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { startTestRuntime } from '../helpers/runtime.js';
import type { Runtime } from '../../src/runtime.js';
import { createDefaultArticleService, importArticles, parseImportText } from '../../src/articles/index.js';
import { prepareArticle } from '../../src/articles/service.js';
import { articleInputSchema } from '../../src/articles/article.js';

const run = promisify(execFile);

function row(slug: string, extra: Record<string, unknown> = {}) {
  return {
    slug,
    section: 'Harbour Life',
    title: `Story ${slug}`,
    dateline: 'Port Elwin',
    byline: 'Import Desk',
    summary: 'Imported for a test.',
    body: '<p>Imported body.</p>',
    publishedAt: '2021-05-01T12:00:00Z',
    ...extra,
  };
}

/** A JSON array written one row per line, as editors' exports usually are. */
function arrayFile(rows: string[]): string {
  return `[\n${rows.join(',\n')}\n]\n`;
}

describe('parsing an import file', () => {
  it('keeps good rows and reports each bad row by the line it starts on', () => {
    const text = arrayFile([
      JSON.stringify(row('first-good')),
      JSON.stringify(row('Bad Slug')),
      '{"slug": "broken-json", "title": }',
      JSON.stringify(row('no-date', { publishedAt: 'next tuesday' })),
      JSON.stringify(row('second-good')),
      JSON.stringify(row('extra-field', { colour: 'red' })),
    ]);
    const parsed = parseImportText(text);
    assert.deepEqual(
      parsed.rows.map((r) => [r.line, r.article.slug]),
      [
        [2, 'first-good'],
        [6, 'second-good'],
      ],
    );
    assert.deepEqual(
      parsed.errors.map((e) => e.line),
      [3, 4, 5, 7],
    );
    assert.match(parsed.errors[0]!.message, /^slug: /);
    assert.match(parsed.errors[1]!.message, /not valid JSON/);
    assert.match(parsed.errors[2]!.message, /^publishedAt: /);
    assert.match(parsed.errors[3]!.message, /colour/);
  });

  it('reports rows that span several lines by their first line', () => {
    const pretty = JSON.stringify([row('pretty-one'), row('pretty-two', { title: '' })], null, 2);
    const parsed = parseImportText(pretty);
    assert.equal(parsed.rows.length, 1);
    const secondStart = pretty.split('\n').findIndex((l, i) => i > 1 && l === '  {') + 1;
    assert.deepEqual(
      parsed.errors.map((e) => e.line),
      [secondStart],
    );
    assert.match(parsed.errors[0]!.message, /^title: /);
  });

  it('reads JSON Lines and refuses a slug repeated in the same file', () => {
    const text = [
      JSON.stringify(row('one')),
      '',
      JSON.stringify(row('two')),
      JSON.stringify(row('one')),
    ].join('\n');
    const parsed = parseImportText(text);
    assert.deepEqual(
      parsed.rows.map((r) => r.article.slug),
      ['one', 'two'],
    );
    assert.deepEqual(parsed.errors, [{ line: 4, message: 'slug "one" already appears on line 1' }]);
  });

  it('reports an array that is never closed', () => {
    const parsed = parseImportText(`[\n${JSON.stringify(row('lonely'))},\n`);
    assert.equal(parsed.rows.length, 1);
    assert.match(parsed.errors.at(-1)!.message, /ends before the closing/);
  });

  it('refuses titles and summaries that are not plain text, each with its line and reason', () => {
    const text = arrayFile([
      JSON.stringify(row('script-title', { title: 'x </title><script>alert(1)</script>' })),
      JSON.stringify(row('entity-title', { title: 'Tom &amp; Jerry' })),
      JSON.stringify(row('bell-summary', { summary: 'Ring \u0007 ring' })),
      JSON.stringify(row('two-line-title', { title: 'First\nSecond' })),
      JSON.stringify(row('plain-but-odd', { title: 'Why 2 < 3 & 4 > 1', summary: 'One line.\nAnother.' })),
    ]);
    const parsed = parseImportText(text);
    assert.deepEqual(
      parsed.rows.map((r) => r.article.slug),
      ['plain-but-odd'],
    );
    assert.deepEqual(
      parsed.errors.map((e) => e.line),
      [2, 3, 4, 5],
    );
    assert.match(
      parsed.errors[0]!.message,
      /^title: must be plain text, without HTML tags \(found "<\/title>"\)/,
    );
    assert.match(parsed.errors[1]!.message, /^title: .*HTML entity "&amp;"/);
    assert.match(
      parsed.errors[2]!.message,
      /^summary: must not contain control characters \(found U\+0007\)/,
    );
    assert.match(parsed.errors[3]!.message, /^title: must not contain control characters \(found U\+000A/);
  });

  it('stores bodies sanitised, whatever the file contained', () => {
    const stored = prepareArticle(
      articleInputSchema.parse(row('dirty', { body: '<p onclick="x()">Hi</p><script>x()</script>' })),
    );
    assert.equal(stored.body, '<p>Hi</p>');
    assert.equal(stored.sectionSlug, 'harbour-life');
  });
});

describe('importing articles into the store', () => {
  let runtime: Runtime;
  const service = createDefaultArticleService();

  before(async () => {
    runtime = await startTestRuntime();
  });
  after(async () => {
    await runtime.stop();
  });

  it('imports good rows, skips bad ones, and changes nothing on a second run', async () => {
    const text = arrayFile([
      JSON.stringify(row('harbour-one', { related: ['harbour-two'] })),
      JSON.stringify(row('harbour-bad', { byline: '' })),
      JSON.stringify(row('harbour-two', { publishedAt: '2021-05-02T12:00:00Z' })),
    ]);
    const first = await importArticles(service, parseImportText(text));
    assert.deepEqual(
      {
        inserted: first.inserted,
        updated: first.updated,
        unchanged: first.unchanged,
        rejected: first.rejected,
      },
      { inserted: 2, updated: 0, unchanged: 0, rejected: 1 },
    );
    assert.equal(first.errors[0]!.line, 3);

    const second = await importArticles(service, parseImportText(text));
    assert.deepEqual([second.inserted, second.updated, second.unchanged], [0, 0, 2]);

    const page = await request(runtime.app).get('/section/harbour-life').expect(200);
    assert.match(page.text, /Story harbour-two[\s\S]*Story harbour-one/);
    await request(runtime.app).get('/articles/harbour-bad').expect(404);
  });

  it('updates an article whose content changed, keeping its slug', async () => {
    await importArticles(service, parseImportText(JSON.stringify(row('harbour-edit'))));
    const report = await importArticles(
      service,
      parseImportText(JSON.stringify(row('harbour-edit', { title: 'Corrected headline' }))),
    );
    assert.deepEqual([report.inserted, report.updated], [0, 1]);
    const res = await request(runtime.app).get('/articles/harbour-edit').expect(200);
    assert.match(res.text, /Corrected headline/);
  });

  it('saves large files in batches and reports progress', async () => {
    const rows = Array.from({ length: 250 }, (_, i) => JSON.stringify(row(`bulk-${i}`)));
    const progress: number[] = [];
    const report = await importArticles(service, parseImportText(arrayFile(rows)), {
      batchSize: 100,
      onProgress: (done) => progress.push(done),
    });
    assert.equal(report.inserted, 250);
    assert.deepEqual(progress, [100, 200, 250]);
  });
});

describe('the import command', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'readerfund-import-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints each bad row as file:line, imports the rest and exits with 1', async () => {
    const file = path.join(dir, 'articles.json');
    await writeFile(
      file,
      arrayFile([JSON.stringify(row('cli-good')), JSON.stringify(row('cli-bad', { slug: 'NO' }))]),
    );
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      MONGODB_URI: process.env.MONGODB_URI ?? '',
      NODE_CONFIG: JSON.stringify({ db: { embeddedPath: path.join(dir, 'db') } }),
    };
    const cli = path.resolve(import.meta.dirname, '../../src/articles/import-cli.ts');
    const result = await run(process.execPath, ['--import', 'tsx', cli, file], { env }).then(
      (r) => ({ code: 0, ...r }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}:3: slug: `));
    assert.match(result.stdout, /1 inserted, 0 updated, 0 unchanged, 1 rejected/);
  });
});
