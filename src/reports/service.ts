/**
 * The finance report, computed from the ledger's daily rollups (O(days), never O(donations)),
 * per currency. Definitions follow ChartMogul's and Stripe's (see definitions.ts).
 */
import type { AppConfig } from '../config.js';
import { divideRoundHalfUp, minorUnitDigits } from '../payments/money.js';
import type { ProviderId } from '../payments/types.js';
import type { LedgerRepository, RollupRow } from '../supporters/repository.js';
import { addDays, bucketOf, startOfDay, type Period } from './periods.js';

export interface MoneyBreakdown {
  grossMinor: number;
  count: number;
  netMinor: number;
}

export interface CurrencyReport {
  currency: string;
  grossMinor: number;
  payments: number;
  refundsMinor: number;
  refunds: number;
  disputesLostMinor: number;
  disputesReversedMinor: number;
  /** Lost disputes net of won reversals. */
  disputesNetMinor: number;
  disputesLost: number;
  feesMinor: number;
  /** gross − refunds − disputes (net) − fees */
  netMinor: number;
  newSupporters: number;
  byKind: { oneOff: MoneyBreakdown; monthly: MoneyBreakdown };
  byProvider: Array<{ provider: ProviderId } & MoneyBreakdown>;
  byPlan: Array<{ planId: string; planName: string } & MoneyBreakdown>;
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
    /** Cancellations already made that take effect after the period (or after today). */
    pendingChurnMinor: number;
  };
  subscriptions: {
    activeStart: number;
    activeEnd: number;
    new: number;
    churned: number;
    reactivated: number;
  };
  /** Ratios (0.05 = 5 %); null where the denominator is zero. */
  rates: { supporterChurn: number | null; grossMrrChurn: number | null; netMrrChurn: number | null };
  /** MRR ÷ active recurring supporters at the end of the period. */
  arpuMinor: number | null;
  /** The net total in the conversion currency, when a rate is configured. */
  converted?: { currency: string; netMinor: number; rate: string; source: string; date: string };
}

export interface SeriesPoint {
  bucket: string;
  currency: string;
  grossMinor: number;
  netMinor: number;
  /** MRR at the end of the bucket. */
  mrrMinor: number;
}

export interface AttributionRow {
  articleSlug: string;
  currency: string;
  payments: number;
  grossMinor: number;
  newSupporters: number;
}

export interface Report {
  period: Period;
  generatedAt: Date;
  currencies: CurrencyReport[];
  series: SeriesPoint[];
  attribution: AttributionRow[];
}

const n = (v: number | undefined) => v ?? 0;
const net = (r: RollupRow) =>
  n(r.grossMinor) - n(r.refundedMinor) - n(r.disputeLostMinor) + n(r.disputeReversedMinor) - n(r.feeMinor);
const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

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
  const quotient = doubled / (denominator * 2n) - (doubled % (denominator * 2n) < 0n ? 1n : 0n);
  return Number(quotient);
}

export function createReportsService(deps: {
  config: AppConfig;
  ledger: Pick<LedgerRepository, 'rollupsBetween' | 'mrrBefore' | 'attribution'>;
  now?: () => Date;
}) {
  const { config, ledger } = deps;
  const now = deps.now ?? (() => new Date());
  const intervalOf = new Map(config.donations.plans.map((p) => [p.id, p.interval]));
  const nameOf = new Map(config.donations.plans.map((p) => [p.id, p.name]));
  const conversion = config.reports.conversion;

  return {
    async report(period: Period): Promise<Report> {
      const today = new Intl.DateTimeFormat('en-CA', { timeZone: period.zone }).format(now());
      const pendingFrom = addDays(period.to > today ? period.to : today, 1);
      const [rows, startMrr, future, attribution] = await Promise.all([
        ledger.rollupsBetween(period.zone, period.from, period.to),
        ledger.mrrBefore(period.zone, period.from),
        ledger.rollupsBetween(period.zone, pendingFrom, '9999-12-31'),
        ledger.attribution(
          startOfDay(period.from, period.zone),
          startOfDay(addDays(period.to, 1), period.zone),
        ),
      ]);
      const wanted = (currency: string) => !period.currency || currency === period.currency;
      const currencies = new Set<string>();
      for (const r of [...rows, ...startMrr]) if (wanted(r.currency)) currencies.add(r.currency);

      const reports: CurrencyReport[] = [...currencies].sort().map((currency) => {
        const mine = rows.filter((r) => r.currency === currency);
        const sum = (field: keyof RollupRow, list = mine) =>
          list.reduce((s, r) => s + n(r[field] as number | undefined), 0);
        const breakdown = (list: RollupRow[]): MoneyBreakdown => ({
          grossMinor: sum('grossMinor', list),
          count: sum('count', list),
          netMinor: list.reduce((s, r) => s + net(r), 0),
        });
        const start = startMrr.filter((r) => r.currency === currency);
        const startMinor = start.reduce((s, r) => s + r.mrrMinor, 0);
        const activeStart = start.reduce((s, r) => s + r.subscriptions, 0);
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
        const providers = [...new Set(mine.map((r) => r.provider))].sort();
        const plans = [...new Set(mine.map((r) => r.planId))].sort();
        const rate = conversion?.rates[currency];
        const report: CurrencyReport = {
          currency,
          grossMinor: gross,
          payments: sum('count'),
          refundsMinor: refunds,
          refunds: sum('refundCount'),
          disputesLostMinor: lost,
          disputesReversedMinor: reversed,
          disputesNetMinor: lost - reversed,
          disputesLost: sum('disputeLostCount'),
          feesMinor: fees,
          netMinor,
          newSupporters: sum('newSupporters'),
          byKind: {
            oneOff: breakdown(mine.filter((r) => intervalOf.get(r.planId) !== 'month')),
            monthly: breakdown(mine.filter((r) => intervalOf.get(r.planId) === 'month')),
          },
          byProvider: providers.map((provider) => ({
            provider,
            ...breakdown(mine.filter((r) => r.provider === provider)),
          })),
          byPlan: plans.map((planId) => ({
            planId,
            planName: nameOf.get(planId) ?? (planId === 'unknown' ? 'Not started here' : planId),
            ...breakdown(mine.filter((r) => r.planId === planId)),
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
            pendingChurnMinor: future
              .filter((r) => r.currency === currency)
              .reduce((s, r) => s + n(r.mrrChurnMinor), 0),
          },
          subscriptions: {
            activeStart,
            activeEnd,
            new: sum('subscriptionsNew'),
            churned: sum('subscriptionsChurned'),
            reactivated: sum('subscriptionsReactivated'),
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
        if (conversion && rate && currency !== conversion.currency) {
          report.converted = {
            currency: conversion.currency,
            netMinor: convertMinor(netMinor, currency, conversion.currency, rate),
            rate,
            source: conversion.source,
            date: conversion.date,
          };
        }
        return report;
      });

      // The chart's series: per bucket and currency, with MRR carried from the period's start.
      const series: SeriesPoint[] = [];
      for (const currency of currencies) {
        let mrr = startMrr.filter((r) => r.currency === currency).reduce((s, r) => s + r.mrrMinor, 0);
        const byBucket = new Map<string, RollupRow[]>();
        for (const r of rows.filter((row) => row.currency === currency)) {
          const key = bucketOf(r.day, period.granularity);
          byBucket.set(key, [...(byBucket.get(key) ?? []), r]);
        }
        for (let day = bucketOf(period.from, period.granularity); day <= period.to;) {
          const list = byBucket.get(day) ?? [];
          mrr += list.reduce((s, r) => s + n(r.mrrDeltaMinor), 0);
          series.push({
            bucket: day,
            currency,
            grossMinor: list.reduce((s, r) => s + n(r.grossMinor), 0),
            netMinor: list.reduce((s, r) => s + net(r), 0),
            mrrMinor: mrr,
          });
          day =
            period.granularity === 'day'
              ? addDays(day, 1)
              : period.granularity === 'week'
                ? addDays(day, 7)
                : `${bucketOf(addDays(`${day.slice(0, 7)}-28`, 7), 'month')}`;
        }
      }

      return {
        period,
        generatedAt: now(),
        currencies: reports,
        series,
        attribution: attribution
          .filter((a) => wanted(a.currency))
          .map((a) => ({
            articleSlug: a.articleSlug,
            currency: a.currency,
            payments: a.count,
            grossMinor: a.grossMinor,
            newSupporters: a.newSupporters,
          }))
          .sort((a, b) => b.grossMinor - a.grossMinor),
      };
    },
  };
}

export type ReportsService = ReturnType<typeof createReportsService>;
