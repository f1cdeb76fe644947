/**
 * Runs every benchmark in bench/*.bench.ts, one after another in its own process so they do not
 * disturb each other, and ends with one table of every figure: target, pass/fail and the ratio to
 * a bare Express hello measured in the same run (before the first benchmark and after the last;
 * the table uses their mean). `npm run bench -- articles` runs only those whose name contains
 * "articles", with the same hello and table.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatTable, type Baseline, type PublishedFigures, type Row } from './figures.js';
import { measureHello } from './hello.js';

const dir = import.meta.dirname;
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();
if (files.length === 0) {
  console.log('no benchmark matched', filters.join(' '));
  process.exit(1);
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'readerfund-bench-figures-'));
const rows: Row[] = [];
let failed = 0;
try {
  const before = await measureHello();
  console.log(
    `express hello before: ${before.helloRate.toFixed(0)} req/s, round trip ${before.helloRoundTripMs.toFixed(3)} ms`,
  );
  for (const file of files) {
    const bench = file.replace(/\.bench\.ts$/, '');
    const figuresFile = path.join(scratch, `${bench}.json`);
    console.log(`\n=== ${file} ===`);
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, file)], {
      stdio: 'inherit',
      env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', BENCH_FIGURES_FILE: figuresFile },
    });
    let published: PublishedFigures | undefined;
    try {
      published = JSON.parse(readFileSync(figuresFile, 'utf8')) as PublishedFigures;
    } catch {
      published = undefined;
    }
    if (result.status !== 0 || !published) failed += 1;
    if (!published) {
      rows.push({
        bench,
        name: `did not finish (exit ${result.status ?? result.signal})`,
        value: 0,
        unit: '',
        target: 'figures published',
        pass: false,
      });
      continue;
    }
    for (const figure of published.figures) {
      rows.push({ bench, ...figure });
      if (figure.pass === false) failed += 1;
    }
  }
  const after = await measureHello();
  console.log(
    `\nexpress hello after: ${after.helloRate.toFixed(0)} req/s, round trip ${after.helloRoundTripMs.toFixed(3)} ms`,
  );
  const baseline: Baseline = {
    helloRate: (before.helloRate + after.helloRate) / 2,
    helloRoundTripMs: (before.helloRoundTripMs + after.helloRoundTripMs) / 2,
  };
  rows.unshift(
    {
      bench: 'hello',
      name: 'bare Express hello, 50 connections (mean of before and after)',
      value: baseline.helloRate,
      unit: 'req/s',
    },
    {
      bench: 'hello',
      name: 'bare Express hello, one request at a time: round trip',
      value: baseline.helloRoundTripMs,
      unit: 'ms',
    },
  );
  console.log(
    `\n${os.availableParallelism()} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; × hello: a rate over hello's rate, a time over hello's round trip ` +
      '(articles: over the hello it measures in turns with the pages)\n',
  );
  console.log(formatTable(rows, baseline));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(failed === 0 ? 0 : 1);
