import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import { rateLimitKeyForEmail } from '../donations/plans.js';
import type { ManageLinks } from './manage-links.js';
import type { SelfService } from './self-service.js';

const messages = {
  formExpired: 'This form has expired. Please reload the page and try again.',
  linkSent:
    'If we have contributions for that address, a fresh link is on its way to it now. It replaces any earlier link.',
};

const formBody = z.object({ formToken: z.string().max(200) }).loose();
const amountBody = z
  .object({ formToken: z.string().max(200), amount: z.string().trim().min(1).max(20) })
  .loose();
const linkBody = z.object({ email: z.string().trim().min(3).max(254) }).loose();

/** The self-service pages behind the signed link in every receipt, and the way to get a new link. */
export function createSupporterRoutes(deps: {
  links: ManageLinks;
  selfService: SelfService;
  limits: { perIp: StoredRateLimiter; perEmail: StoredRateLimiter };
}): Router {
  const { links, selfService, limits } = deps;
  const router = Router();

  // The token in the path is the credential: keep it out of caches, and out of other sites'
  // Referer headers while still sending our own Origin on the page's forms (`no-referrer` would
  // make browsers post them with `Origin: null`).
  router.use('/manage', (_req, res, next) => {
    res.set({ 'Cache-Control': 'private, no-store', 'Referrer-Policy': 'same-origin' });
    next();
  });

  const renderLinkPage = (
    res: Response,
    status: number,
    view: { heading: string; message?: string; sent?: boolean },
  ) => {
    res.status(status).render('supporters/link', { title: view.heading, ...view });
  };

  /** The supporter a manage link belongs to; an outdated link gets the page to ask for a new one. */
  async function holder(req: Request, res: Response): Promise<string | null> {
    const token = String(req.params.token);
    const verified = links.verify(token);
    if (
      verified &&
      verified !== 'expired' &&
      (await selfService.linkIsCurrent(verified.supporterId, verified.issuedAt))
    ) {
      return verified.supporterId;
    }
    if (verified === null) {
      renderLinkPage(res, 404, {
        heading: 'This link is not valid',
        message: 'It may have been copied incompletely. We can email you a new one.',
      });
    } else {
      renderLinkPage(res, 410, {
        heading: 'This link has expired',
        message:
          'Links in our emails work for a limited time, and each new email replaces the previous link. We can email you a new one.',
      });
    }
    return null;
  }

  const checkForm = (token: string, body: unknown) => {
    const parsed = formBody.safeParse(body ?? {});
    if (!parsed.success || !links.checkFormToken(token, parsed.data.formToken)) {
      throw new AppError('forbidden', messages.formExpired);
    }
  };

  router.get('/manage/link', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    renderLinkPage(res, 200, { heading: 'Get a link to manage your support' });
  });

  router.post('/manage/link', async (req, res) => {
    const parsed = linkBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      return renderLinkPage(res, 400, {
        heading: 'Get a link to manage your support',
        message: 'Please enter the email address you gave with.',
      });
    }
    await limits.perIp.hit(req.ip ?? 'unknown');
    await limits.perEmail.hit(rateLimitKeyForEmail(parsed.data.email));
    await selfService.requestLink(parsed.data.email);
    renderLinkPage(res, 200, { heading: 'Check your email', message: messages.linkSent, sent: true });
  });

  router.get('/manage/:token', async (req, res) => {
    const supporterId = await holder(req, res);
    if (!supporterId) return;
    const token = String(req.params.token);
    const overview = await selfService.overview(supporterId);
    res.render('supporters/manage', {
      title: 'Your support',
      overview,
      token,
      formToken: links.formTokenFor(token),
      notice: typeof req.query.notice === 'string' ? req.query.notice : undefined,
    });
  });

  router.get('/manage/:token/receipts/:donationId', async (req, res) => {
    const supporterId = await holder(req, res);
    if (!supporterId) return;
    const receipt = await selfService.receipt(supporterId, String(req.params.donationId));
    res.attachment(receipt.filename).type('text/plain; charset=utf-8').send(receipt.text);
  });

  router.post('/manage/:token/subscriptions/:subscriptionId/cancel', async (req, res) => {
    const supporterId = await holder(req, res);
    if (!supporterId) return;
    checkForm(String(req.params.token), req.body);
    await selfService.cancelSubscription(supporterId, String(req.params.subscriptionId));
    // A destructive action retires the link it was made with.
    const fresh = await selfService.rotateLink(supporterId);
    res.redirect(303, `/manage/${fresh}?notice=cancelled`);
  });

  router.post('/manage/:token/subscriptions/:subscriptionId/amount', async (req, res) => {
    const supporterId = await holder(req, res);
    if (!supporterId) return;
    const token = String(req.params.token);
    checkForm(token, req.body);
    const parsed = amountBody.safeParse(req.body ?? {});
    if (!parsed.success) throw new AppError('validation', 'Please enter the new monthly amount.');
    await selfService.changeAmount(supporterId, String(req.params.subscriptionId), parsed.data.amount);
    res.redirect(303, `/manage/${token}?notice=amount`);
  });

  return router;
}
