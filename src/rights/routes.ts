/**
 * The readers' rights pages: ask for a link (/rights), the page behind it (/rights/:token) with
 * the export download and the erasure form, and the way in from the manage page
 * (/manage/:token/rights). Cross-site posts are refused before they reach here (src/http/cross-site.ts).
 */
import { Router, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import type { AppConfig } from '../config.js';
import type { ManageLinks } from '../supporters/manage-links.js';
import type { RightsService } from './service.js';

const messages = {
  heading: 'See or erase your data',
  email: 'Please enter the email address you gave with.',
  sent: 'If we hold data for that address, a link to see or erase it is on its way to it now. If no email arrives, we hold no payments or contact details under that address.',
  formExpired: 'This form has expired. Please reload the page and try again.',
  confirm: 'Please tick the box to confirm that you want your data erased.',
  expired:
    'Links in our emails work for a limited time. Enter your email address and we will send you a new one.',
  invalid: 'It may have been copied incompletely. Enter your email address and we will send you a new one.',
};

// Strict: an unknown field (`email[$ne]`, a second email) is a 400, never a query.
const requestBody = z.strictObject({ email: z.string().trim().min(3).max(254) });
const formTokenBody = z.object({ formToken: z.string().max(200) }).loose();
const eraseBody = z.strictObject({ formToken: z.string().max(200), confirm: z.literal('yes') });

export function createRightsRoutes(deps: {
  config: AppConfig;
  service: RightsService;
  links: ManageLinks;
  limits: { perIp: StoredRateLimiter; perEmail: StoredRateLimiter };
}): Router {
  const { config, service, links, limits } = deps;
  const router = Router();

  // The token in the path is the credential (as on the manage page).
  router.use(['/rights', '/manage/:token/rights'], (_req, res, next) => {
    res.set({ 'Cache-Control': 'private, no-store', 'Referrer-Policy': 'same-origin' });
    next();
  });

  const renderRequest = (
    res: Response,
    status: number,
    view: { heading?: string; message?: string; sent?: boolean; error?: boolean },
  ) => {
    const heading = view.heading ?? messages.heading;
    res.status(status).render('rights/request', { title: heading, ...view, heading });
  };

  /** The holder of a rights link, or the page that says the link no longer works. */
  function holderOf(res: Response, token: string) {
    const link = service.verifyLink(token);
    if (link.state === 'open') return link;
    if (link.state === 'expired') {
      renderRequest(res, 410, { heading: 'This link has expired', message: messages.expired, error: true });
    } else {
      renderRequest(res, 404, { heading: 'This link is not valid', message: messages.invalid, error: true });
    }
    return null;
  }

  router.get('/rights', (_req, res) => {
    renderRequest(res, 200, {});
  });

  router.post('/rights', async (req, res) => {
    const parsed = requestBody.safeParse(req.body ?? {});
    if (!parsed.success) return renderRequest(res, 400, { message: messages.email, error: true });
    try {
      await limits.perIp.hit(req.ip ?? 'unknown');
      await limits.perEmail.hit(service.rateLimitKey(parsed.data.email));
      await service.requestLink(parsed.data.email);
    } catch (err) {
      if (err instanceof AppError && err.kind === 'validation') {
        return renderRequest(res, 400, { message: err.message, error: true });
      }
      if (err instanceof AppError && err.kind === 'rate_limited') {
        res.set('Retry-After', String(err.details?.retryAfterSeconds ?? 60));
      }
      throw err;
    }
    renderRequest(res, 200, { heading: 'Check your email', message: messages.sent, sent: true });
  });

  router.get('/manage/:token/rights', async (req, res) => {
    const token = await service.linkFromManage(String(req.params.token));
    if (token === 'expired') {
      return renderRequest(res, 410, {
        heading: 'This link has expired',
        message: messages.expired,
        error: true,
      });
    }
    if (token === 'invalid') {
      return renderRequest(res, 404, {
        heading: 'This link is not valid',
        message: messages.invalid,
        error: true,
      });
    }
    res.redirect(303, `/rights/${token}`);
  });

  router.get('/rights/:token', async (req, res) => {
    const token = String(req.params.token);
    const holder = holderOf(res, token);
    if (!holder) return;
    const page = await service.page(holder.supporterId);
    res.render('rights/page', {
      title: page.state === 'erased' ? 'Your data has been erased' : 'Your data',
      page,
      token,
      formToken: links.formTokenFor(token),
      retention: config.retention,
      notice: req.query.notice === 'erased' ? 'erased' : undefined,
    });
  });

  router.get('/rights/:token/export', async (req, res) => {
    const holder = holderOf(res, String(req.params.token));
    if (!holder) return;
    const data = await service.exportFor(holder.supporterId, holder.via);
    res
      .attachment(`personal-data-${data.generatedAt.slice(0, 10)}.json`)
      .type('application/json; charset=utf-8')
      .send(`${JSON.stringify(data, null, 2)}\n`);
  });

  router.post('/rights/:token/erase', async (req, res) => {
    const token = String(req.params.token);
    const holder = holderOf(res, token);
    if (!holder) return;
    const form = formTokenBody.safeParse(req.body ?? {});
    if (!form.success || !links.checkFormToken(token, form.data.formToken)) {
      throw new AppError('forbidden', messages.formExpired);
    }
    if (!eraseBody.safeParse(req.body ?? {}).success) throw new AppError('validation', messages.confirm);
    await service.erase(holder.supporterId, holder.via);
    res.redirect(303, `/rights/${token}?notice=erased`);
  });

  return router;
}
