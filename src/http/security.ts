import helmet, { contentSecurityPolicy } from 'helmet';
import type { RequestHandler } from 'express';

export interface SecurityOptions {
  /** Origins our forms may post or redirect to (payment providers' hosted pages). */
  formActionOrigins: string[];
  /** Third-party frames allowed on every response (none by default). */
  frameOrigins?: string[];
  https: boolean;
}

/**
 * Extra sources that one response may use, such as the comments widget of a reader who allowed
 * it. An earlier middleware puts it in `res.locals.cspAllow`; equal keys mean equal sources.
 */
export interface CspAllowance {
  key: string;
  frameSrc: string[];
  scriptSrc: string[];
  connectSrc: string[];
}

function directivesFor(options: SecurityOptions, allow?: CspAllowance) {
  const frames = [...(options.frameOrigins ?? []), ...(allow?.frameSrc ?? [])];
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'", ...(allow?.scriptSrc ?? [])],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'", ...(allow?.connectSrc ?? [])],
    frameSrc: frames.length ? frames : ["'none'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'", ...options.formActionOrigins],
    frameAncestors: ["'none'"],
    ...(options.https ? { upgradeInsecureRequests: [] } : {}),
  };
}

/**
 * Powerful browser features no page of ours uses, switched off for our pages and anything they
 * embed (the comments widget after consent included).
 */
export const PERMISSIONS_POLICY = [
  'accelerometer=()',
  'autoplay=()',
  'browsing-topics=()',
  'camera=()',
  'display-capture=()',
  'geolocation=()',
  'gyroscope=()',
  'hid=()',
  'magnetometer=()',
  'microphone=()',
  'midi=()',
  'payment=()',
  'publickey-credentials-get=()',
  'serial=()',
  'usb=()',
].join(', ');

/** Strict CSP with no inline script, plus the usual hardening headers. */
export function securityHeaders(options: SecurityOptions): RequestHandler {
  const base = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: directivesFor(options) },
    strictTransportSecurity: options.https ? { maxAge: 31536000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    // Agrees with frame-ancestors 'none' for browsers that only know the older header.
    xFrameOptions: { action: 'deny' },
    crossOriginEmbedderPolicy: false,
  });
  // One precomputed policy per allowance seen (a handful: one per combination of consents).
  const widened = new Map<string, RequestHandler>();
  return (req, res, next) => {
    res.setHeader('Permissions-Policy', PERMISSIONS_POLICY);
    base(req, res, (err?: unknown) => {
      const allow = res.locals.cspAllow as CspAllowance | undefined;
      if (err || !allow) return next(err);
      let csp = widened.get(allow.key);
      if (!csp) {
        csp = contentSecurityPolicy({ useDefaults: false, directives: directivesFor(options, allow) });
        widened.set(allow.key, csp);
      }
      csp(req, res, next);
    });
  };
}
