/**
 * The finance report, computed from the ledger's daily rollups and the per-article months
 * (O(days), never O(donations)), per currency. Definitions follow ChartMogul's and Stripe's (see
 * definitions.ts, shown beside every figure).
 */
import type { AppConfig } from '../config.js';
import { divideRoundHalfUp, minorUnitDigits } from '../payments/money.js';
import type { ProviderId } from '../payments/types.js';
import type { LedgerRepository, RollupRow } from '../supporters/repository.js';
import { definitions } from './definitions.js';
import { addDays, bucketOf, dayInZone, monthsBetween, nextBucket, type Period } from './periods.js';
import type { ArticleFigures, ReportsRepository } from './repository.js';

export interface MoneyBreakdown {
  grossMinor: number;
  count: number;
  netMinor: number;
}

export interface ConvertedFigures {
  grossMinor: number;
  netMinor: number;
  mrrEndMinor: number;
  /** Units of the target currency per unit of this one, as configured. */
  rate: string;
}

export interface CurrencyReport {
  currency: string;
  grossMinor: number;
  payments: number;
  refundsMinor: number;
  refunds: number;
  disputesLostMinor: number;
  disputesLost: number;
  disputesReversedMinor: number;
  disputesReversed: number;
  /** Lost disputes net of won reversals. */
  disputesNetMinor: number;
  feesMinor: number;
  /** gross − refunds − disputes (net) − fees */
  netMinor: number;
  newSupporters: number;
  byKind: { oneOff: MoneyBreakdown; monthly: MoneyBreakdown; other: MoneyBreakdown };
  byProvider: Array<{ provider: ProviderId; mrrEndMinor: number } & MoneyBreakdown>;
  byPlan: Array<
    {
      planId: string;
      planName: string;
      interval: 'once' | 'month' | null;
      mrrEndMinor: number;
    } & MoneyBreakdown
  >;
  mrr: {
    startMinor: number;
    endMinor: number;
    newMinor: number;
    expansionMinor: number;
    contractionMinor: number;
    churnMinor: number;
    reactivationMinor: number;
    involuntaryChurnMinor: number;
    recoveredMinor: number;
  };
  subscriptions: {
    activeStart: number;
    activeEnd: number;
    new: number;
    churned: number;
    reactivated: number;
  };
  /** What is scheduled after today: cancellations (pending churn) and past-due grace running out. */
  pending: { churnMinor: number; involuntaryChurnMinor: number; subscriptions: number };
  /** Ratios (0.05 = 5 %); null where the denominator is zero. */
  rates: { supporterChurn: number | null; grossMrrChurn: number | null; netMrrChurn: number | null };
  /** MRR ÷ active recurring supporters at the end of the period. */
  arpuMinor: number | null;
  /** In the conversion currency, when a rate for this currency is configured. */
  converted?: ConvertedFigures;
}

export interface SeriesPoint {
  /** First day of the bucket (a day, an ISO week's Monday, a month's 1st). */
  bucket: string;
  /** The bucket is cut by the period's start or end. */
  partial: boolean;
  currency: string;
  grossMinor: number;
  netMinor: number;
  /** MRR at the end of the bucket. */
  mrrMinor: number;
}

export interface ArticleAttribution {
  articleSlug: string;
  /** Payments from the article's panel, every currency. */
  payments: number;
  newSupporters: number;
  byCurrency: Array<{ currency: string; payments: number; grossMinor: number }>;
  /** Article page views counted in the period (null: none counted). */
  views: number | null;
  /** payments ÷ views; null without views. */
  conversionRate: number | null;
}

export interface Report {
  period: Period;
  /** Today in the period's zone. */
  today: string;
  generatedAt: Date;
  currencies: CurrencyReport[];
  /** Totals in the conversion currency: secondary figures only, naming their source and date. */
  converted?: {
    currency: string;
    source: string;
    date: string;
    grossMinor: number;
    netMinor: number;
    mrrEndMinor: number;
    /** Currencies in the report without a configured rate (left out of these totals). */
    missing: string[];
  };
  series: SeriesPoint[];
  attribution: ArticleAttribution[];
  definitions: typeof definitions;
}

const n = (v: number | undefined | null) => v ?? 0;
const netOf = (r: RollupRow) =>
  n(r.grossMinor) - n(r.refundedMinor) - n(r.disputeLostMinor) + n(r.disputeReversedMinor) - n(r.feeMinor);
const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
const sumOf = (rows: RollupRow[], field: keyof RollupRow) =>
  rows.reduce((s, r) => s + n(r[field] as number | undefined), 0);

/**
 * Exact conversion with a decimal rate ("1.0832" target units per source unit): minor units of
 * one currency to minor units of the other, rounded half up, in integers throughout.
 */
export function convertMinor(amountMinor: number, from: string, to: string, rate: string): number {
  const [whole = '0', fraction = ''] = rate.split('.');
  const shift = minorUnitDigits(to) - minorUnitDigits(from);
  let numerator = BigInt(amountMinor) * BigInt(whole + fraction);
  let denominator = 10n ** BigInt(fraction.length);
  if (shift >= 0) numerator *= 10n ** BigInt(shift);
  else denominator *= 10n ** BigInt(-shift);
  const doubled = numerator * 2n + denominator;
  const twice = denominator * 2n;
  const quotient = doubled / twice - (doubled % twice < 0n ? 1n : 0n);
  return Number(quotient);
}

const lastDayOf = (month: string) => addDays(nextBucket(`${month}-01`, 'month'), -1);

/** The figures of one article month that fall inside [from, to]. */
function withinPeriod(
  doc: { month: string; days: Record<string, ArticleFigures> } & ArticleFigures,
  from: string,
  to: string,
): ArticleFigures {
  if (`${doc.month}-01` >= from && lastDayOf(doc.month) <= to) return doc;
  const out = { payments: 0, grossMinor: 0, newSupporters: 0 };
  for (const [day, f] of Object.entries(doc.days)) {
    const date = `${doc.month}-${day}`;
    if (date < from || date > to) continue;
    out.payments += f.payments;
    out.grossMinor += f.grossMinor;
    out.newSupporters += f.newSupporters;
  }
  return out;
}

export function createReportsService(deps: {
  config: AppConfig;
  ledger: Pick<LedgerRepository, 'rollupsBetween' | 'mrrBefore'>;
  reports: Pick<ReportsRepository, 'articleMonths' | 'viewsIn'>;
  now?: () => Date;
}) {
  const { config, ledger, reports } = deps;
  const now = deps.now ?? (() => new Date());
  const planOf = new Map(config.donations.plans.map((p) => [p.id, p]));
  const conversion = config.reports.conversion;
  const rateFor = (currency: string) =>
    conversion ? (currency === conversion.currency ? '1' : conversion.rates[currency]) : undefined;

  async function attributionOf(period: Period): Promise<ArticleAttribution[]> {
    // Months the period covers whole need only their totals; the (at most two) cut ones, their days.
    const months = monthsBetween(period.from, period.to);
    const whole = months.filter((m) => `${m}-01` >= period.from && lastDayOf(m) <= period.to);
    const cut = months.filter((m) => !whole.includes(m));
    const [wholeDocs, cutDocs, wholeViews, cutViews] = await Promise.all([
      reports.articleMonths(period.zone, whole, { days: false }),
      reports.articleMonths(period.zone, cut),
      reports.viewsIn(period.zone, whole, { days: false }),
      reports.viewsIn(period.zone, cut),
    ]);
    const byArticle = new Map<string, ArticleAttribution>();
    for (const doc of [...wholeDocs, ...cutDocs]) {
      if (period.currency && doc.currency !== period.currency) continue;
      const f = withinPeriod(doc, period.from, period.to);
      if (f.payments === 0 && f.newSupporters === 0) continue;
      let a = byArticle.get(doc.articleSlug);
      if (!a) {
        a = {
          articleSlug: doc.articleSlug,
          payments: 0,
          newSupporters: 0,
          byCurrency: [],
          views: null,
          conversionRate: null,
        };
        byArticle.set(doc.articleSlug, a);
      }
      a.payments += f.payments;
      a.newSupporters += f.newSupporters;
      const c = a.byCurrency.find((x) => x.currency === doc.currency);
      if (c) {
        c.payments += f.payments;
        c.grossMinor += f.grossMinor;
      } else {
        a.byCurrency.push({ currency: doc.currency, payments: f.payments, grossMinor: f.grossMinor });
      }
    }
    for (const view of [...wholeViews, ...cutViews]) {
      const a = byArticle.get(view.articleSlug);
      if (!a) continue;
      let counted = 0;
      if (whole.includes(view.month)) counted = view.views;
      else {
        for (const [day, views] of Object.entries(view.days)) {
          const date = `${view.month}-${day}`;
          if (date >= period.from && date <= period.to) counted += views;
        }
      }
      if (counted > 0) a.views = (a.views ?? 0) + counted;
    }
    const list = [...byArticle.values()];
    for (const a of list) {
      a.byCurrency.sort((x, y) => x.currency.localeCompare(y.currency));
      a.conversionRate = a.views ? a.payments / a.views : null;
    }
    return list.sort(
      (x, y) =>
        y.payments - x.payments ||
        y.newSupporters - x.newSupporters ||
        x.articleSlug.localeCompare(y.articleSlug),
    );
  }

  return {
    async report(period: Period): Promise<Report> {
      const generatedAt = now();
      const today = dayInZone(period.zone, generatedAt);
      // One read for the period and whatever is scheduled after it (the period ends today at the
      // latest), one for the MRR before it: each a pass over the zone's rollups.
      const [fromStart, startRows, attribution] = await Promise.all([
        ledger.rollupsBetween(period.zone, period.from, '9999-12-31'),
        ledger.mrrBefore(period.zone, period.from),
        attributionOf(period),
      ]);
      const allRows = fromStart.filter((r) => r.day <= period.to);
      const future = fromStart.filter((r) => r.day > today);
      const wanted = (currency: string) => !period.currency || currency === period.currency;
      const rows = allRows.filter((r) => wanted(r.currency));
      const currencies = new Set<string>();
      for (const r of rows) currencies.add(r.currency);
      for (const r of startRows)
        if (wanted(r.currency) && (r.mrrMinor !== 0 || r.subscriptions !== 0)) currencies.add(r.currency);

      const reportsByCurrency: CurrencyReport[] = [...currencies].sort().map((currency) => {
        const mine = rows.filter((r) => r.currency === currency);
        const sum = (field: keyof RollupRow, list = mine) => sumOf(list, field);
        const breakdown = (list: RollupRow[]): MoneyBreakdown => ({
          grossMinor: sum('grossMinor', list),
          count: sum('count', list),
          netMinor: list.reduce((s, r) => s + netOf(r), 0),
        });
        const start = startRows.filter((r) => r.currency === currency);
        const startMinor = start.reduce((s, r) => s + r.mrrMinor, 0);
        const activeStart = start.reduce((s, r) => s + r.subscriptions, 0);
        const mrrEndWhere = (match: (r: { provider: string; planId: string }) => boolean) =>
          start.filter(match).reduce((s, r) => s + r.mrrMinor, 0) + sum('mrrDeltaMinor', mine.filter(match));
        const endMinor = startMinor + sum('mrrDeltaMinor');
        const activeEnd = activeStart + sum('subscriptionsDelta');
        const churnMinor = sum('mrrChurnMinor');
        const contractionMinor = sum('mrrContractionMinor');
        const expansionMinor = sum('mrrExpansionMinor');
        const reactivationMinor = sum('mrrReactivationMinor');
        const gross = sum('grossMinor');
        const refunds = sum('refundedMinor');
        const lost = sum('disputeLostMinor');
        const reversed = sum('disputeReversedMinor');
        const fees = sum('feeMinor');
        const netMinor = gross - refunds - (lost - reversed) - fees;
        const providers = [
          ...new Set([
            ...mine.map((r) => r.provider),
            ...start.filter((r) => r.mrrMinor).map((r) => r.provider),
          ]),
        ].sort();
        const plans = [
          ...new Set([...mine.map((r) => r.planId), ...start.filter((r) => r.mrrMinor).map((r) => r.planId)]),
        ].sort();
        const ahead = future.filter((r) => r.currency === currency);
        const aheadChurn = sumOf(ahead, 'mrrChurnMinor');
        const aheadInvoluntary = sumOf(ahead, 'mrrInvoluntaryChurnMinor');
        const kindOf = (planId: string) => planOf.get(planId)?.interval;
        const report: CurrencyReport = {
          currency,
          grossMinor: gross,
          payments: sum('count'),
          refundsMinor: refunds,
          refunds: sum('refundCount'),
          disputesLostMinor: lost,
          disputesLost: sum('disputeLostCount'),
          disputesReversedMinor: reversed,
          disputesReversed: sum('disputeReversedCount'),
          disputesNetMinor: lost - reversed,
          feesMinor: fees,
          netMinor,
          newSupporters: sum('newSupporters'),
          byKind: {
            oneOff: breakdown(mine.filter((r) => kindOf(r.planId) === 'once')),
            monthly: breakdown(mine.filter((r) => kindOf(r.planId) === 'month')),
            other: breakdown(mine.filter((r) => kindOf(r.planId) === undefined)),
          },
          byProvider: providers.map((provider) => ({
            provider,
            ...breakdown(mine.filter((r) => r.provider === provider)),
            mrrEndMinor: mrrEndWhere((r) => r.provider === provider),
          })),
          byPlan: plans.map((planId) => ({
            planId,
            planName: planOf.get(planId)?.name ?? (planId === 'unknown' ? 'Not started here' : planId),
            interval: kindOf(planId) ?? null,
            ...breakdown(mine.filter((r) => r.planId === planId)),
            mrrEndMinor: mrrEndWhere((r) => r.planId === planId),
          })),
          mrr: {
            startMinor,
            endMinor,
            newMinor: sum('mrrNewMinor'),
            expansionMinor,
            contractionMinor,
            churnMinor,
            reactivationMinor,
            involuntaryChurnMinor: sum('mrrInvoluntaryChurnMinor'),
            recoveredMinor: sum('mrrRecoveredMinor'),
          },
          subscriptions: {
            activeStart,
            activeEnd,
            new: sum('subscriptionsNew'),
            churned: sum('subscriptionsChurned'),
            reactivated: sum('subscriptionsReactivated'),
          },
          pending: {
            churnMinor: aheadChurn - aheadInvoluntary,
            involuntaryChurnMinor: aheadInvoluntary,
            subscriptions: sumOf(ahead, 'subscriptionsChurned'),
          },
          rates: {
            supporterChurn: ratio(sum('subscriptionsChurned'), activeStart),
            grossMrrChurn: ratio(churnMinor + contractionMinor, startMinor),
            netMrrChurn: ratio(
              churnMinor + contractionMinor - expansionMinor - reactivationMinor,
              startMinor,
            ),
          },
          arpuMinor: activeEnd > 0 ? divideRoundHalfUp(endMinor, activeEnd) : null,
        };
        const rate = rateFor(currency);
        if (conversion && rate) {
          const to = (minor: number) => convertMinor(minor, currency, conversion.currency, rate);
          report.converted = {
            grossMinor: to(gross),
            netMinor: to(netMinor),
            mrrEndMinor: to(endMinor),
            rate,
          };
        }
        return report;
      });

      // The chart's series: per bucket and currency, with MRR carried from the period's start.
      const series: SeriesPoint[] = [];
      for (const currency of [...currencies].sort()) {
        let mrr = startRows.filter((r) => r.currency === currency).reduce((s, r) => s + r.mrrMinor, 0);
        const byBucket = new Map<string, RollupRow[]>();
        for (const r of rows) {
          if (r.currency !== currency) continue;
          const key = bucketOf(r.day, period.granularity);
          let list = byBucket.get(key);
          if (!list) byBucket.set(key, (list = []));
          list.push(r);
        }
        for (let bucket = bucketOf(period.from, period.granularity); bucket <= period.to;) {
          const following = nextBucket(bucket, period.granularity);
          const list = byBucket.get(bucket) ?? [];
          mrr += sumOf(list, 'mrrDeltaMinor');
          series.push({
            bucket,
            partial: bucket < period.from || addDays(following, -1) > period.to,
            currency,
            grossMinor: sumOf(list, 'grossMinor'),
            netMinor: list.reduce((s, r) => s + netOf(r), 0),
            mrrMinor: mrr,
          });
          bucket = following;
        }
      }

      const report: Report = {
        period,
        today,
        generatedAt,
        currencies: reportsByCurrency,
        series,
        attribution,
        definitions,
      };
      if (conversion) {
        const missing = reportsByCurrency.filter((c) => !c.converted).map((c) => c.currency);
        const total = (field: keyof ConvertedFigures) =>
          reportsByCurrency.reduce((s, c) => s + (c.converted ? (c.converted[field] as number) : 0), 0);
        report.converted = {
          currency: conversion.currency,
          source: conversion.source,
          date: conversion.date,
          grossMinor: total('grossMinor'),
          netMinor: total('netMinor'),
          mrrEndMinor: total('mrrEndMinor'),
          missing,
        };
      }
      return report;
    },
  };
}

export type ReportsService = ReturnType<typeof createReportsService>;
