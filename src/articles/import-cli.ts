/**
 * npm run articles:import -- articles.json
 *
 * Imports articles from a JSON array or JSON Lines file (format: docs/articles-import.md). Bad
 * rows are reported with their line and skipped; good rows are saved by slug, so running the same
 * file twice changes nothing. Exit code: 0 all rows imported, 1 some rows rejected, 2 unusable.
 */
import '../load-env.js';
import { readFile } from 'node:fs/promises';
import { SingleBar, Presets } from 'cli-progress';
import { getConfig } from '../config.js';
import { connectStore, lockedStoreAdvice } from '../db/index.js';
import { createLogger } from '../log.js';
import { createDefaultArticleService, importArticles, parseImportText } from './index.js';

const PROGRESS_THRESHOLD = 500;

async function main(): Promise<number> {
  const file = process.argv.slice(2).find((arg) => arg !== '--');
  if (!file) {
    console.error('Usage: npm run articles:import -- <file.json | file.jsonl>');
    return 2;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    console.error(`Cannot read ${file}: ${(err as Error).message}`);
    return 2;
  }
  const parsed = parseImportText(text);
  for (const error of parsed.errors) console.error(`${file}:${error.line}: ${error.message}`);

  const config = getConfig();
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', pretty: config.log.pretty });
  let store;
  try {
    store = await connectStore({ uri: config.db.uri, embeddedPath: config.db.embeddedPath, logger });
  } catch (err) {
    const advice = lockedStoreAdvice(err);
    if (!advice) throw err;
    console.error(advice);
    return 1;
  }
  try {
    const showProgress = parsed.rows.length >= PROGRESS_THRESHOLD && process.stderr.isTTY;
    const bar = new SingleBar(
      { format: 'Importing [{bar}] {value}/{total} articles', stream: process.stderr },
      Presets.shades_classic,
    );
    if (showProgress) bar.start(parsed.rows.length, 0);
    const report = await importArticles(createDefaultArticleService(), parsed, {
      onProgress: (done) => showProgress && bar.update(done),
    });
    if (showProgress) bar.stop();
    console.log(
      `${report.inserted} inserted, ${report.updated} updated, ${report.unchanged} unchanged, ${report.rejected} rejected`,
    );
    return report.rejected > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
