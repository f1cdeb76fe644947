/**
 * The report as the page shows it: every figure formatted in its own currency beside the
 * definition it follows, one chart per currency, and the tables under it. No figure is computed
 * here; service.ts decides them all.
 */
import type { AppConfig } from '../config.js';
import { moneyFormatter } from './format.js';
import { bucketLabel, renderChart } from './chart.js';
import { definitions } from './definitions.js';
import type { CurrencyReport, Report } from './service.js';

export interface FigureRow {
  label: string;
  value: string;
  /** The same figure in the conversion currency, when one is configured. */
  converted?: string;
  detail?: string;
  definition: string;
}

export function presentReport(report: Report, config: AppConfig) {
  const locale = config.site.locale;
  const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  const count = new Intl.NumberFormat(locale);
  const rate = (value: number | null) => (value === null ? '—' : percent.format(value));
  const target = report.converted?.currency;
  const inCurrency = (minor: number, currency: string) => moneyFormatter(currency, locale)(minor);

  const currencies = report.currencies.map((c: CurrencyReport) => {
    const money = moneyFormatter(c.currency, locale);
    const converted = (minor: number | undefined) =>
      minor !== undefined && target ? inCurrency(minor, target) : undefined;
    const d = definitions;
    const moneyRows: FigureRow[] = [
      {
        label: 'Gross donations',
        value: money(c.grossMinor),
        detail: `${count.format(c.payments)} payments`,
        definition: d.gross,
        ...(c.converted ? { converted: converted(c.converted.grossMinor) } : {}),
      },
      {
        label: 'Refunds',
        value: money(-c.refundsMinor),
        detail: `${count.format(c.refunds)} refunds`,
        definition: d.refunds,
      },
      {
        label: 'Disputes (net of won reversals)',
        value: money(-c.disputesNetMinor),
        detail: `${count.format(c.disputesLost)} lost, ${money(c.disputesLostMinor)}; ${count.format(c.disputesReversed)} won back, ${money(c.disputesReversedMinor)}`,
        definition: d.disputes,
      },
      { label: 'Provider fees', value: money(-c.feesMinor), definition: d.fees },
      {
        label: 'Net',
        value: money(c.netMinor),
        definition: d.net,
        ...(c.converted ? { converted: converted(c.converted.netMinor) } : {}),
      },
      { label: 'New supporters', value: count.format(c.newSupporters), definition: d.newSupporters },
    ];
    const recurringRows: FigureRow[] = [
      {
        label: 'MRR',
        value: money(c.mrr.endMinor),
        detail: `at the start: ${money(c.mrr.startMinor)}`,
        definition: d.mrr,
        ...(c.converted ? { converted: converted(c.converted.mrrEndMinor) } : {}),
      },
      {
        label: 'MRR movements',
        value: money(c.mrr.endMinor - c.mrr.startMinor),
        detail:
          `new +${money(c.mrr.newMinor)}, expansion +${money(c.mrr.expansionMinor)}, ` +
          `contraction −${money(c.mrr.contractionMinor)}, churn −${money(c.mrr.churnMinor)}, ` +
          `reactivation +${money(c.mrr.reactivationMinor)}`,
        definition: d.movements,
      },
      {
        label: 'Active recurring supporters',
        value: count.format(c.subscriptions.activeEnd),
        detail: `at the start: ${count.format(c.subscriptions.activeStart)}; new ${c.subscriptions.new}, churned ${c.subscriptions.churned}, reactivated ${c.subscriptions.reactivated}`,
        definition: d.active,
      },
      { label: 'Supporter churn rate', value: rate(c.rates.supporterChurn), definition: d.supporterChurn },
      { label: 'Gross MRR churn', value: rate(c.rates.grossMrrChurn), definition: d.grossMrrChurn },
      { label: 'Net MRR churn', value: rate(c.rates.netMrrChurn), definition: d.netMrrChurn },
      { label: 'ARPU', value: c.arpuMinor === null ? '—' : money(c.arpuMinor), definition: d.arpu },
      {
        label: 'Involuntary churn',
        value: money(c.mrr.involuntaryChurnMinor),
        detail: `recovered: ${money(c.mrr.recoveredMinor)}`,
        definition: d.involuntary,
      },
      {
        label: 'Pending churn',
        value: money(c.pending.churnMinor),
        detail: `past due, grace running out: ${money(c.pending.involuntaryChurnMinor)}; ${count.format(c.pending.subscriptions)} subscriptions stop after today unless something changes`,
        definition: d.pendingChurn,
      },
    ];
    const breakdownRow = (
      label: string,
      b: { grossMinor: number; count: number; netMinor: number },
      mrr?: number,
    ) => ({
      label,
      gross: money(b.grossMinor),
      count: count.format(b.count),
      net: money(b.netMinor),
      mrr: mrr === undefined ? '' : money(mrr),
    });
    const kinds = [
      breakdownRow('One-off', c.byKind.oneOff),
      breakdownRow('Monthly', c.byKind.monthly),
      ...(c.byKind.other.count || c.byKind.other.grossMinor ? [breakdownRow('Other', c.byKind.other)] : []),
    ];
    const chartPoints = report.series.filter((p) => p.currency === c.currency);
    const chart = renderChart(chartPoints, {
      currency: c.currency,
      granularity: report.period.granularity,
      locale,
      id: `chart-${c.currency.toLowerCase()}`,
    });
    return {
      currency: c.currency,
      moneyRows,
      recurringRows,
      kinds,
      providers: c.byProvider.map((p) => breakdownRow(p.provider, p, p.mrrEndMinor)),
      plans: c.byPlan.map((p) => breakdownRow(p.planName, p, p.mrrEndMinor)),
      chart,
      series: chartPoints.map((p) => ({
        label: `${bucketLabel(p.bucket, report.period.granularity)}${p.partial ? ' (part)' : ''}`,
        bucket: p.bucket,
        gross: money(p.grossMinor),
        net: money(p.netMinor),
        mrr: money(p.mrrMinor),
      })),
      rate: c.converted?.rate,
    };
  });

  const attribution = report.attribution.map((a) => ({
    articleSlug: a.articleSlug,
    payments: count.format(a.payments),
    newSupporters: count.format(a.newSupporters),
    gross: a.byCurrency.map((g) => inCurrency(g.grossMinor, g.currency)).join(', '),
    views: a.views === null ? '—' : count.format(a.views),
    conversion: a.conversionRate === null ? '—' : percent.format(a.conversionRate),
  }));

  return {
    period: report.period,
    today: report.today,
    currencies,
    attribution,
    converted: report.converted
      ? {
          ...report.converted,
          gross: inCurrency(report.converted.grossMinor, report.converted.currency),
          net: inCurrency(report.converted.netMinor, report.converted.currency),
          mrr: inCurrency(report.converted.mrrEndMinor, report.converted.currency),
        }
      : undefined,
    attributionDefinition: definitions.attribution,
    definitions: Object.values(definitions),
  };
}
