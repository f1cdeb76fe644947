import type { z } from 'zod';
import { articleInputSchema, type ValidArticleInput } from './article.js';
import type { ArticleService, SaveSummary } from './service.js';

export interface ImportRowError {
  /** 1-based line of the file where the row starts. */
  line: number;
  message: string;
}

export interface ParsedImport {
  rows: Array<{ line: number; article: ValidArticleInput }>;
  errors: ImportRowError[];
}

export interface ImportReport extends SaveSummary {
  rejected: number;
  errors: ImportRowError[];
}

interface RawRow {
  line: number;
  text: string;
}

/**
 * Splits a JSON array into the source text of its elements, remembering the line each starts on,
 * so one malformed row is reported by its line while the rows around it are still imported.
 */
function splitJsonArray(text: string): { rows: RawRow[]; errors: ImportRowError[] } {
  const rows: RawRow[] = [];
  const errors: ImportRowError[] = [];
  let line = 1;
  let i = text.indexOf('[') + 1;
  for (let k = 0; k < i; k++) if (text[k] === '\n') line++;
  let depth = 0;
  let inString = false;
  let start = -1;
  let startLine = line;
  const flush = (end: number) => {
    const slice = text.slice(start, end).trim();
    if (slice) rows.push({ line: startLine, text: slice });
    else errors.push({ line: startLine, message: 'empty row (two commas in a row?)' });
    start = -1;
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\n') line++;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (start === -1 && !/\s/.test(ch)) {
      if (ch === ']' && depth === 0) return { rows, errors };
      start = i;
      startLine = line;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if ((ch === '}' || ch === ']') && depth > 0) depth--;
    else if (depth === 0 && ch === ',') flush(i);
    else if (depth === 0 && ch === ']') {
      flush(i);
      return { rows, errors };
    }
  }
  if (start !== -1) flush(text.length);
  errors.push({ line, message: 'the file ends before the closing "]" of the array' });
  return { rows, errors };
}

/** One object per line (JSON Lines); blank lines are allowed. */
function splitJsonLines(text: string): RawRow[] {
  return text
    .split('\n')
    .map((t, index) => ({ line: index + 1, text: t.trim() }))
    .filter((r) => r.text !== '');
}

function describe(error: z.ZodError): string {
  return error.issues
    .map(
      (issue) =>
        `${issue.path.length ? issue.path.join('.') : 'row'}: ${issue.message.replace(/^Invalid input: /, '')}`,
    )
    .join('; ');
}

/**
 * Reads an import file: a JSON array of articles or JSON Lines. Good rows are kept; each bad row
 * is reported with the line it starts on. A slug repeated in the file keeps its first row.
 */
export function parseImportText(text: string): ParsedImport {
  const source = text.replace(/^\uFEFF/, '');
  const firstChar = source.trimStart()[0];
  const split =
    firstChar === '['
      ? splitJsonArray(source)
      : firstChar === undefined
        ? { rows: [], errors: [{ line: 1, message: 'the file is empty' }] }
        : { rows: splitJsonLines(source), errors: [] };
  const errors = [...split.errors];
  const rows: ParsedImport['rows'] = [];
  const firstLineBySlug = new Map<string, number>();
  for (const raw of split.rows) {
    let value: unknown;
    try {
      value = JSON.parse(raw.text);
    } catch (err) {
      errors.push({ line: raw.line, message: `not valid JSON (${(err as Error).message})` });
      continue;
    }
    const parsed = articleInputSchema.safeParse(value);
    if (!parsed.success) {
      errors.push({ line: raw.line, message: describe(parsed.error) });
      continue;
    }
    const earlier = firstLineBySlug.get(parsed.data.slug);
    if (earlier !== undefined) {
      errors.push({
        line: raw.line,
        message: `slug "${parsed.data.slug}" already appears on line ${earlier}`,
      });
      continue;
    }
    firstLineBySlug.set(parsed.data.slug, raw.line);
    rows.push({ line: raw.line, article: parsed.data });
  }
  errors.sort((a, b) => a.line - b.line);
  return { rows, errors };
}

/** Saves the parsed rows in batches; saving by slug makes a second run of the same file a no-op. */
export async function importArticles(
  service: Pick<ArticleService, 'saveArticles'>,
  parsed: ParsedImport,
  options: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<ImportReport> {
  const batchSize = options.batchSize ?? 200;
  const report: ImportReport = {
    inserted: 0,
    updated: 0,
    unchanged: 0,
    rejected: parsed.errors.length,
    errors: parsed.errors,
  };
  const total = parsed.rows.length;
  for (let offset = 0; offset < total; offset += batchSize) {
    const batch = parsed.rows.slice(offset, offset + batchSize);
    const { summary } = await service.saveArticles(batch.map((r) => r.article));
    report.inserted += summary.inserted;
    report.updated += summary.updated;
    report.unchanged += summary.unchanged;
    options.onProgress?.(Math.min(offset + batchSize, total), total);
  }
  return report;
}
