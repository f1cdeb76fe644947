/**
 * /staff/reports (page), /staff/reports.json (the same figures for spreadsheets and BI tools) and
 * /staff/reports/donations.csv (the ledger export). Finance and admins; each export is audited.
 */
import { Router, type Request, type Response } from 'express';
import type { AppConfig } from '../config.js';
import { AppError, isAppError } from '../errors.js';
import type { StaffFeature } from '../staff/index.js';
import type { LedgerRepository } from '../supporters/repository.js';
import { writeLedgerCsv } from './csv.js';
import { parsePeriod, type Period } from './periods.js';
import { presentReport } from './presenter.js';
import type { ReportsService } from './service.js';

export interface ReportRoutesDeps {
  config: AppConfig;
  service: ReportsService;
  staff: Pick<StaffFeature, 'requireStaff' | 'audit'>;
  ledger: Pick<LedgerRepository, 'entryBatchesBetween' | 'supporterEmails' | 'donationStatuses'>;
  pseudonymKey: string;
  now?: () => Date;
}

/** Currencies offered in the form: every currency a plan takes, and the conversion's. */
function currencyChoices(config: AppConfig): string[] {
  const set = new Set(config.donations.plans.flatMap((p) => p.currencies));
  if (config.reports.conversion) {
    set.add(config.reports.conversion.currency);
    for (const c of Object.keys(config.reports.conversion.rates)) set.add(c);
  }
  return [...set].sort();
}

const csvName = (period: Period) =>
  ['donations', period.from, period.to, period.zone.replace(/[^A-Za-z0-9]+/g, '_'), period.currency]
    .filter(Boolean)
    .join('-') + '.csv';

export function createReportRoutes(deps: ReportRoutesDeps): Router {
  const { config, service, staff } = deps;
  const now = deps.now ?? (() => new Date());
  const zones = config.reports.timeZones;
  const router = Router();
  const period = (req: Request) => parsePeriod(req.query, { zones, today: now() });
  const form = (req: Request) => ({
    zones,
    currencies: currencyChoices(config),
    query: {
      from: typeof req.query.from === 'string' ? req.query.from.slice(0, 40) : '',
      to: typeof req.query.to === 'string' ? req.query.to.slice(0, 40) : '',
      tz: typeof req.query.tz === 'string' ? req.query.tz.slice(0, 64) : zones[0],
      granularity: typeof req.query.granularity === 'string' ? req.query.granularity.slice(0, 10) : '',
      currency: typeof req.query.currency === 'string' ? req.query.currency.slice(0, 3).toUpperCase() : '',
    },
  });

  router.get('/reports', staff.requireStaff('finance'), async (req, res) => {
    let chosen: Period;
    try {
      chosen = period(req);
    } catch (err) {
      if (!isAppError(err) || err.kind !== 'validation') throw err;
      res
        .status(400)
        .render('staff/reports/report', { title: 'Reports', form: form(req), error: err.message });
      return;
    }
    const report = await service.report(chosen);
    const params = new URLSearchParams({
      from: chosen.from,
      to: chosen.to,
      tz: chosen.zone,
      granularity: chosen.granularity,
      ...(chosen.currency ? { currency: chosen.currency } : {}),
    });
    const csvParams = new URLSearchParams({
      from: chosen.from,
      to: chosen.to,
      tz: chosen.zone,
      ...(chosen.currency ? { currency: chosen.currency } : {}),
    });
    res.render('staff/reports/report', {
      title: 'Reports',
      form: {
        ...form(req),
        query: {
          from: chosen.from,
          to: chosen.requestedTo ?? chosen.to,
          tz: chosen.zone,
          granularity: chosen.granularity,
          currency: chosen.currency ?? '',
        },
      },
      report: presentReport(report, config),
      links: {
        json: `/staff/reports.json?${params.toString()}`,
        csv: `/staff/reports/donations.csv?${csvParams.toString()}`,
        csvBom: `/staff/reports/donations.csv?${csvParams.toString()}&bom=1`,
      },
    });
  });

  router.get('/reports.json', staff.requireStaff('finance'), async (req, res) => {
    res.json(await service.report(period(req)));
  });

  router.get('/reports/donations.csv', staff.requireStaff('finance'), async (req: Request, res: Response) => {
    if (typeof req.query.from !== 'string' || typeof req.query.to !== 'string') {
      throw new AppError('validation', 'Please give the period as from=YYYY-MM-DD&to=YYYY-MM-DD.');
    }
    const bom = req.query.bom;
    if (bom !== undefined && bom !== '0' && bom !== '1') {
      throw new AppError('validation', 'bom must be 1 (for Excel) or 0.');
    }
    const chosen = period(req);
    res.status(200);
    res.set('Content-Type', 'text/csv; charset=utf-8');
    res.set('Content-Disposition', `attachment; filename="${csvName(chosen)}"`);
    res.set('X-Content-Type-Options', 'nosniff');
    const progress = { rows: 0 };
    let failure: unknown;
    try {
      await writeLedgerCsv({
        config,
        ledger: deps.ledger,
        period: chosen,
        out: res,
        bom: bom === '1',
        pseudonymKey: deps.pseudonymKey,
        progress,
      });
    } catch (err) {
      failure = err;
    }
    // The download is complete only once it is in the audit log, so the last bytes wait for it.
    await staff.audit.recordRequest(req, 'reports.exported', {
      target: { type: 'ledger', label: `donations ${chosen.from}…${chosen.to}` },
      details: {
        from: chosen.from,
        to: chosen.to,
        zone: chosen.zone,
        currency: chosen.currency ?? 'all',
        rows: progress.rows,
        completed: failure === undefined,
      },
    });
    if (failure === undefined) {
      res.end();
      return;
    }
    // The person closed the download: nothing to answer, the audit entry says how far it got.
    if (res.destroyed || req.destroyed) return;
    throw failure;
  });

  return router;
}
