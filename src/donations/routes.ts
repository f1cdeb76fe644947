import { Router, type Request, type Response } from 'express';
import type { AppConfig } from '../config.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import { AppError } from '../errors.js';
import { formatMoney } from '../payments/money.js';
import { buildDonationPanel } from './panel.js';
import { DonationInputError, rateLimitKeyForEmail, resolveDonation } from './plans.js';
import type { DonationService, ThankYou } from './service.js';
import type { ConsentRequestState } from '../consent/index.js';

const messages = {
  honeypot: 'We could not take that contribution. Please try again from the form.',
  rateLimited: 'Too many attempts in a short time. Please wait a few minutes and try again.',
};

const titles: Record<ThankYou['status'], string> = {
  paid: 'Thank you',
  pending: 'Your contribution',
  failed: 'Your payment did not go through',
  cancelled: 'No payment was made',
  expired: 'This payment page has expired',
  unknown: 'We could not find this payment',
};

const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Only plain string parameters reach the service; arrays and objects (`token[$ne]=`) are dropped. */
function queryStrings(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.query)) {
    const v = single(value);
    if (v !== undefined && v.length <= 200) out[key] = v;
  }
  return out;
}

/** Reader-facing checkout routes: thin — parse, call the service, render or redirect. */
export function createDonationRoutes(deps: {
  config: AppConfig;
  service: DonationService;
  limits: { perIp: StoredRateLimiter; perEmail: StoredRateLimiter };
}): Router {
  const { config, service, limits } = deps;
  const router = Router();
  const locale = config.site.locale;

  const renderPanel = (res: Response, status: number, error: string, values: Record<string, unknown>) => {
    res
      .status(status)
      .set('Cache-Control', 'no-store')
      .render('support', {
        title: 'Support our journalism',
        donationPanel: buildDonationPanel(config, { error, values }),
      });
  };

  const renderThanks = (res: Response, outcome: ThankYou) => {
    res.set('Cache-Control', 'private, no-store');
    if (outcome.status === 'unknown') res.status(404);
    else if (outcome.status === 'failed' || outcome.status === 'expired') res.status(400);
    res.render('donations/thanks', {
      title: titles[outcome.status],
      outcome,
      amount: outcome.amount
        ? formatMoney(outcome.amount.amountMinor, outcome.amount.currency, locale)
        : null,
      providerName: outcome.provider?.label ?? '',
      monthly: outcome.plan?.interval === 'month',
      nextCharge: outcome.nextChargeAt
        ? new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' }).format(outcome.nextChargeAt)
        : null,
      donationPanel: buildDonationPanel(config),
    });
  };

  router.post('/donate', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      if (single(body.website)) throw new DonationInputError(messages.honeypot, {});
      await limits.perIp.hit(req.ip ?? 'unknown');
      const choice = resolveDonation(config, body);
      if (choice.email) await limits.perEmail.hit(rateLimitKeyForEmail(choice.email));
      // The consent id of a reader who has answered the banner travels with the checkout.
      const consentId = (res.locals.consentState as ConsentRequestState | undefined)?.cookie?.consentId;
      const { redirectUrl } = await service.start(choice, consentId ? { consentId } : {});
      res.redirect(303, redirectUrl);
    } catch (err) {
      if (err instanceof DonationInputError) return renderPanel(res, 400, err.message, err.values);
      if (err instanceof AppError && err.kind === 'rate_limited') {
        res.set('Retry-After', String(err.details?.retryAfterSeconds ?? 60));
        return renderPanel(res, 429, messages.rateLimited, {});
      }
      throw err;
    }
  });

  // One return route for every provider: the descriptor's returnPath points here.
  router.get('/donate/return/:provider', async (req, res) => {
    renderThanks(res, await service.completeReturn(String(req.params.provider), queryStrings(req)));
  });

  // Leaving the provider's page changes nothing here (a GET never does); the checkout simply
  // stays unfinished until the provider says it expired.
  router.get('/donate/cancelled', (_req, res) => {
    res.set('Cache-Control', 'private, no-store');
    res.render('donations/cancelled', {
      title: 'No payment was made',
      donationPanel: buildDonationPanel(config),
    });
  });

  return router;
}
