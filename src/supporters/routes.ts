import { Router, type Request } from 'express';
import { AppError } from '../errors.js';
import type { ManageLinks } from './manage-links.js';
import type { SelfService } from './self-service.js';

const expired =
  'This link is no longer valid. Links in receipt emails work for 30 days; the newest receipt has a fresh one.';

/** The self-service pages behind the signed link in every receipt. */
export function createSupporterRoutes(deps: { links: ManageLinks; selfService: SelfService }): Router {
  const { links, selfService } = deps;
  const router = Router();

  // The token in the path is the credential: keep it out of caches and Referer headers.
  router.use('/manage', (_req, res, next) => {
    res.set({ 'Cache-Control': 'private, no-store', 'Referrer-Policy': 'same-origin' });
    next();
  });

  const supporterOf = (req: Request): string => {
    const id = links.verify(String(req.params.token));
    if (!id) throw new AppError('forbidden', expired);
    return id;
  };

  router.get('/manage/:token', async (req, res) => {
    const overview = await selfService.overview(supporterOf(req));
    const token = String(req.params.token);
    res.render('supporters/manage', {
      title: 'Your support',
      overview,
      token,
      formToken: links.formTokenFor(token),
      cancelled: req.query.cancelled === '1',
    });
  });

  router.get('/manage/:token/receipts/:donationId', async (req, res) => {
    const receipt = await selfService.receipt(supporterOf(req), String(req.params.donationId));
    res.attachment(receipt.filename).type('text/plain; charset=utf-8').send(receipt.text);
  });

  router.post('/manage/:token/subscriptions/:subscriptionId/cancel', async (req, res) => {
    const supporterId = supporterOf(req);
    const token = String(req.params.token);
    if (!links.checkFormToken(token, (req.body as Record<string, unknown> | undefined)?.formToken)) {
      throw new AppError('forbidden', 'This form has expired. Please reload the page and try again.');
    }
    await selfService.cancelSubscription(supporterId, String(req.params.subscriptionId));
    res.redirect(303, `/manage/${token}?cancelled=1`);
  });

  return router;
}
