import type { RequestHandler } from 'express';
import { forbidden } from '../errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses state-changing requests that a browser marks as coming from another site. Reader pages
 * stay cacheable because this needs no per-reader token: browsers send Sec-Fetch-Site and Origin
 * on every cross-origin POST. Requests with neither (non-browser clients) are let through; staff
 * forms add a session-bound token on top.
 */
export function rejectCrossSiteWrites(publicOrigin: string): RequestHandler {
  return (req, _res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const fetchSite = req.get('sec-fetch-site');
    if (fetchSite && fetchSite !== 'same-origin' && fetchSite !== 'none') {
      return next(forbidden('This form can only be sent from our own pages. Please go back and try again.'));
    }
    const origin = req.get('origin');
    if (origin && origin !== 'null') {
      const ownOrigin = `${req.protocol}://${req.get('host') ?? ''}`;
      if (origin !== publicOrigin && origin !== ownOrigin) {
        return next(
          forbidden('This form can only be sent from our own pages. Please go back and try again.'),
        );
      }
    } else if (origin === 'null') {
      return next(forbidden('This form can only be sent from our own pages. Please go back and try again.'));
    }
    next();
  };
}
