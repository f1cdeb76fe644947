import type { RequestHandler } from 'express';
import { forbidden } from '../errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REFUSAL = 'This form can only be sent from our own pages. Please go back and try again.';

/**
 * Refuses state-changing requests that a browser marks as coming from another site. Reader pages
 * stay cacheable because this needs no per-reader token:
 * - Browsers with Fetch Metadata (all current ones) say where a request comes from in
 *   Sec-Fetch-Site, which pages cannot set; `same-origin` (and `none`, a request the person made
 *   themselves) pass, anything else is refused. It is trusted over Origin, which Chromium sends as
 *   `null` from a page whose referrer policy is `no-referrer`.
 * - Older browsers send only Origin, which must be our configured public origin. The Host header is
 *   not used: it is the client's to choose.
 * Requests with neither header (non-browser clients) pass; staff forms add a session-bound token.
 */
export function rejectCrossSiteWrites(publicOrigin: string): RequestHandler {
  return (req, _res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const fetchSite = req.get('sec-fetch-site');
    if (fetchSite) {
      return fetchSite === 'same-origin' || fetchSite === 'none' ? next() : next(forbidden(REFUSAL));
    }
    const origin = req.get('origin');
    if (origin === undefined || origin === publicOrigin) return next();
    next(forbidden(REFUSAL));
  };
}
