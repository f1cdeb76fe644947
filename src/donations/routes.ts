import { Router, type Request, type Response } from 'express';
import type { AppConfig } from '../config.js';
import { buildDonationPanel } from './panel.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import { AppError } from '../errors.js';
import { DonationInputError, resolveDonation } from './plans.js';
import type { DonationService, ThankYou } from './service.js';
import { formatMoney } from '../payments/money.js';

const messages = {
  honeypot: 'We could not take that contribution. Please try again from the form.',
  rateLimited: 'Too many attempts in a short time. Please wait a few minutes and try again.',
};

const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

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
    res.render('donations/thanks', {
      title: outcome.status === 'paid' ? 'Thank you' : 'Your contribution',
      outcome,
      amount: outcome.amount
        ? formatMoney(outcome.amount.amountMinor, outcome.amount.currency, config.site.locale)
        : null,
      providerName: outcome.provider === 'stripe' ? 'card' : 'PayPal',
      monthly: outcome.plan?.interval === 'month',
      donationPanel: buildDonationPanel(config),
    });
  };

  router.post('/donate', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      if (single(body.website)) throw new DonationInputError(messages.honeypot, {});
      await limits.perIp.hit(req.ip ?? 'unknown');
      const choice = resolveDonation(config, body);
      if (choice.email) await limits.perEmail.hit(choice.email);
      const { redirectUrl } = await service.start(choice);
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

  router.get('/donate/thanks', async (req, res) => {
    renderThanks(res, await service.completeReturn('stripe', queryStrings(req)));
  });

  router.get('/donate/paypal/return', async (req, res) => {
    renderThanks(res, await service.completeReturn('paypal', queryStrings(req)));
  });

  router.get('/donate/cancelled', async (req, res) => {
    await service.markCancelled(single(req.query.checkout));
    res.set('Cache-Control', 'private, no-store');
    res.render('donations/cancelled', {
      title: 'No payment was made',
      donationPanel: buildDonationPanel(config),
    });
  });

  return router;
}
