import type { RequestHandler } from 'express';
import { forbidden } from '../errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REFUSAL = 'This form can only be sent from our own pages. Please go back and try again.';

/**
 * Whether a browser marks this request as a state-changing one from another site. No per-reader
 * token is needed, so reader pages stay cacheable:
 * - Browsers with Fetch Metadata (all current ones) say where a request comes from in
 *   Sec-Fetch-Site, which pages cannot set; `same-origin` (and `none`, a request the person made
 *   themselves) pass, anything else is refused. It is trusted over Origin, which Chromium sends as
 *   `null` from a page whose referrer policy is `no-referrer`.
 * - Older browsers send only Origin, which must be one of our configured origins. The Host header is
 *   not used: it is the client's to choose.
 * Requests with neither header (non-browser clients) pass; staff forms add a session-bound token.
 */
export function isCrossSiteWrite(
  request: { method: string; get(name: string): string | undefined },
  ownOrigins: readonly string[],
): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  const fetchSite = request.get('sec-fetch-site');
  if (fetchSite) return fetchSite !== 'same-origin' && fetchSite !== 'none';
  const origin = request.get('origin');
  return origin !== undefined && !ownOrigins.includes(origin);
}

/** Refuses cross-site writes (see isCrossSiteWrite) with a forbidden error page. */
export function rejectCrossSiteWrites(publicOrigin: string): RequestHandler {
  const own = [publicOrigin];
  return (req, _res, next) => {
    next(isCrossSiteWrite(req, own) ? forbidden(REFUSAL) : undefined);
  };
}
