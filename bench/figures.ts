/**
 * The common shape every benchmark hands its figures back in, and the one table they end up in.
 *
 * A benchmark runs in a process of its own (bench/run.ts starts it); it calls `publish` with its
 * figures, which writes them to the file run.ts named in BENCH_FIGURES_FILE. Run on its own
 * (`npx tsx bench/x.bench.ts`) it prints them as a table instead.
 */
import { writeFileSync } from 'node:fs';

export interface Figure {
  /** What was measured, e.g. "article page, no consent cookie". */
  name: string;
  value: number;
  /** "req/s", "deliveries/s", "rows/s", "ms", "MB", "s", "errors"... Rates end in "/s". */
  unit: string;
  /** The target in words, e.g. "≥ 0.7 × hello" or "< 50 ms"; absent for figures given for information. */
  target?: string;
  /** Whether the target was met; absent for figures given for information. */
  pass?: boolean;
  /**
   * The ratio to an Express hello measured inside the benchmark itself, when the target is judged on
   * that one (the articles benchmark takes turns with its own hello); otherwise run.ts computes the
   * ratio to the hello it measures around the benchmarks.
   */
  ratio?: number;
  /** A few words read beside the figure (e.g. "at 155/s, half the saturating rate"). */
  note?: string;
}

export interface PublishedFigures {
  figures: Figure[];
}

/** Hands the figures to bench/run.ts, or prints them when the benchmark runs on its own. */
export function publish(figures: Figure[]): void {
  const file = process.env.BENCH_FIGURES_FILE;
  if (file) {
    writeFileSync(file, JSON.stringify({ figures } satisfies PublishedFigures));
    return;
  }
  console.log(`\n${formatTable(figures.map((f) => ({ bench: '', ...f })))}`);
}

/** A figure with the benchmark it came from. */
export type Row = Figure & { bench: string };

export interface Baseline {
  /** Bare Express hello, requests per second flat out. */
  helloRate: number;
  /** Bare Express hello, one request at a time: mean round trip in ms. */
  helloRoundTripMs: number;
}

/**
 * The ratio of a figure to the bare Express hello: a rate to hello's rate, a time to hello's round
 * trip (how many hello round trips it lasts). Other units (MB, counts) have none.
 */
export function ratioToHello(figure: Figure, baseline: Baseline | undefined): number | undefined {
  if (figure.ratio !== undefined) return figure.ratio;
  if (!baseline) return undefined;
  if (figure.unit.endsWith('/s')) return figure.value / baseline.helloRate;
  if (figure.unit === 'ms') return figure.value / baseline.helloRoundTripMs;
  return undefined;
}

function formatValue(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const number = value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return unit ? `${number} ${unit}` : number;
}

function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return '—';
  return `${ratio.toFixed(ratio >= 100 ? 0 : 2)} ×`;
}

/** One plain-text table: benchmark, figure, value, target, result, ratio to hello. */
export function formatTable(rows: Row[], baseline?: Baseline): string {
  const header = ['benchmark', 'figure', 'value', 'target', 'result', '× hello'];
  const cells = rows.map((row) => [
    row.bench,
    row.note ? `${row.name} (${row.note})` : row.name,
    formatValue(row.value, row.unit),
    row.target ?? 'for information',
    row.pass === undefined ? '' : row.pass ? 'PASS' : 'FAIL',
    formatRatio(ratioToHello(row, baseline)),
  ]);
  const all = [header, ...cells];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const right = new Set([2, 5]);
  const line = (r: string[]) =>
    r
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
