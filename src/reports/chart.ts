/**
 * The report's time-series chart, drawn on the server as SVG (d3-scale for the axes, d3-shape for
 * the lines): no script, and no style attribute or <style> element, which the CSP would block —
 * only SVG presentation attributes and classes from the staff stylesheet. It reads without
 * colour: gross is hatched bars, net a solid line with round markers, MRR a dashed line with
 * square markers, each named in the legend with the same mark; a text summary goes with it and
 * the table of the same figures sits under it.
 */
import { scaleBand, scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import { moneyFormatter } from './format.js';
import type { Granularity } from './periods.js';
import type { SeriesPoint } from './service.js';

const WIDTH = 720;
const HEIGHT = 300;
const MARGIN = { top: 40, right: 16, bottom: 44, left: 72 };

const escapeXml = (text: string) =>
  text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

const round = (v: number) => Math.round(v * 10) / 10;

const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A bucket's short label: "3 Nov" for days and weeks, "Nov 2026" for months. */
export function bucketLabel(bucket: string, granularity: Granularity): string {
  const month = monthNames[Number(bucket.slice(5, 7)) - 1]!;
  if (granularity === 'month') return `${month} ${bucket.slice(0, 4)}`;
  return `${Number(bucket.slice(8, 10))} ${month}`;
}

export interface Chart {
  currency: string;
  /** The SVG element, ready to be placed in the page as it is. */
  svg: string;
  /** What the chart shows, in words, for readers who do not see it. */
  summary: string;
}

/** One chart per currency: amounts in different currencies never share an axis. */
export function renderChart(
  points: SeriesPoint[],
  options: { currency: string; granularity: Granularity; locale: string; id: string },
): Chart {
  const { currency, granularity, locale } = options;
  const money = moneyFormatter(currency, locale, { dropZeroDecimals: true });
  const id = options.id.replace(/[^A-Za-z0-9_-]/g, '');
  const innerWidth = WIDTH - MARGIN.left - MARGIN.right;
  const innerHeight = HEIGHT - MARGIN.top - MARGIN.bottom;

  const x = scaleBand<string>()
    .domain(points.map((p) => p.bucket))
    .range([0, innerWidth])
    .paddingInner(0.2)
    .paddingOuter(0.1);
  const values = points.flatMap((p) => [p.grossMinor, p.netMinor, p.mrrMinor]);
  const low = Math.min(0, ...values);
  const high = Math.max(1, ...values);
  const y = scaleLinear().domain([low, high]).nice(5).range([innerHeight, 0]);
  const centre = (bucket: string) => round((x(bucket) ?? 0) + x.bandwidth() / 2);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="report-chart-svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id}-title ${id}-desc" focusable="false">`,
    `<title id="${id}-title">${escapeXml(`Gross, net and MRR in ${currency}, per ${granularity}`)}</title>`,
    `<desc id="${id}-desc">${escapeXml(summaryOf(points, money, granularity))}</desc>`,
    '<defs>',
    `<pattern id="${id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">`,
    '<rect width="6" height="6" fill="#dfe7f2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#2a4d7a" stroke-width="2"/>',
    '</pattern>',
    '</defs>',
    `<g transform="translate(${MARGIN.left},${MARGIN.top})">`,
  );

  // Horizontal grid and the amount axis.
  // Amounts are whole minor units: a tick between two (an empty or tiny chart) is no amount.
  for (const tick of y.ticks(5).filter(Number.isInteger)) {
    const ty = round(y(tick));
    out.push(
      `<line x1="0" x2="${innerWidth}" y1="${ty}" y2="${ty}" stroke="#d0d0d0" stroke-width="1"/>`,
      `<text x="-8" y="${ty}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#333">${escapeXml(money(tick))}</text>`,
    );
  }
  const zero = round(y(0));
  out.push(`<line x1="0" x2="${innerWidth}" y1="${zero}" y2="${zero}" stroke="#333" stroke-width="1"/>`);

  // Gross: hatched bars from zero.
  for (const p of points) {
    const top = round(y(Math.max(0, p.grossMinor)));
    const bottom = round(y(Math.min(0, p.grossMinor)));
    out.push(
      `<rect x="${round(x(p.bucket) ?? 0)}" y="${top}" width="${round(x.bandwidth())}" height="${round(Math.max(0, bottom - top))}" fill="url(#${id}-hatch)" stroke="#2a4d7a" stroke-width="1"><title>${escapeXml(`${bucketLabel(p.bucket, granularity)}: gross ${money(p.grossMinor)}`)}</title></rect>`,
    );
  }

  const path = line<SeriesPoint>()
    .x((p) => centre(p.bucket))
    .y((p) => round(y(p.netMinor)));
  const mrrPath = line<SeriesPoint>()
    .x((p) => centre(p.bucket))
    .y((p) => round(y(p.mrrMinor)));
  out.push(
    `<path d="${path(points) ?? ''}" fill="none" stroke="#111" stroke-width="2"/>`,
    `<path d="${mrrPath(points) ?? ''}" fill="none" stroke="#8a3b12" stroke-width="2" stroke-dasharray="6 4"/>`,
  );
  const markers = points.length <= 62;
  if (markers) {
    for (const p of points) {
      const label = bucketLabel(p.bucket, granularity);
      out.push(
        `<circle cx="${centre(p.bucket)}" cy="${round(y(p.netMinor))}" r="3" fill="#111"><title>${escapeXml(`${label}: net ${money(p.netMinor)}`)}</title></circle>`,
        `<rect x="${centre(p.bucket) - 3}" y="${round(y(p.mrrMinor)) - 3}" width="6" height="6" fill="#fff" stroke="#8a3b12" stroke-width="1.5"><title>${escapeXml(`${label}: MRR ${money(p.mrrMinor)}`)}</title></rect>`,
      );
    }
  }

  // Bucket labels, thinned to about eight.
  const every = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((p, i) => {
    if (i % every !== 0) return;
    out.push(
      `<text x="${centre(p.bucket)}" y="${innerHeight + 18}" text-anchor="middle" font-size="11" fill="#333">${escapeXml(bucketLabel(p.bucket, granularity))}${p.partial ? '*' : ''}</text>`,
    );
  });
  out.push('</g>');

  // Legend, top left: the same marks as in the chart, each with its name.
  const lx = MARGIN.left;
  out.push(
    `<g transform="translate(${lx},14)" font-size="12" fill="#111">`,
    `<rect x="0" y="-9" width="14" height="12" fill="url(#${id}-hatch)" stroke="#2a4d7a" stroke-width="1"/><text x="20" y="1">Gross</text>`,
    '<line x1="80" x2="104" y1="-3" y2="-3" stroke="#111" stroke-width="2"/><circle cx="92" cy="-3" r="3" fill="#111"/><text x="110" y="1">Net</text>',
    '<line x1="160" x2="184" y1="-3" y2="-3" stroke="#8a3b12" stroke-width="2" stroke-dasharray="6 4"/><rect x="169" y="-6" width="6" height="6" fill="#fff" stroke="#8a3b12" stroke-width="1.5"/><text x="190" y="1">MRR (end of each bucket)</text>',
    points.some((p) => p.partial)
      ? `<text x="${innerWidth + MARGIN.right - 4}" y="1" text-anchor="end" font-size="11">* cut by the period</text>`
      : '',
    '</g>',
    '</svg>',
  );
  return { currency, svg: out.join(''), summary: summaryOf(points, money, granularity) };
}

function summaryOf(
  points: SeriesPoint[],
  money: (minor: number) => string,
  granularity: Granularity,
): string {
  if (points.length === 0) return 'No figures in this period.';
  const first = points[0]!;
  const last = points.at(-1)!;
  const best = points.reduce((a, b) => (b.grossMinor > a.grossMinor ? b : a));
  const gross = points.reduce((s, p) => s + p.grossMinor, 0);
  const net = points.reduce((s, p) => s + p.netMinor, 0);
  return (
    `${points.length} ${granularity === 'day' ? 'days' : granularity === 'week' ? 'weeks' : 'months'} from ` +
    `${bucketLabel(first.bucket, granularity)} to ${bucketLabel(last.bucket, granularity)}: ` +
    `gross ${money(gross)}, net ${money(net)} in all; the highest gross was ${money(best.grossMinor)} ` +
    `(${bucketLabel(best.bucket, granularity)}); MRR went from ${money(first.mrrMinor)} after the first to ` +
    `${money(last.mrrMinor)} at the end.`
  );
}
