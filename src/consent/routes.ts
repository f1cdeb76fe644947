import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { validationError } from '../errors.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import { consentCookieName, readCookie, type ConsentCookieCodec } from './cookie.js';
import { choiceExpiresAt, type ConsentPolicy } from './policy.js';
import { ownPath, safeReturnPath } from './return-path.js';
import { formChoices, type ConsentService } from './service.js';
import type { ConsentRequestState, ConsentStates } from './state.js';
import { policyView } from './texts.js';

const choiceLabels = formChoices.join(', ');

/** The consent form as browsers send it (urlencoded; repeated checkboxes arrive as an array). */
const consentFormSchema = z.strictObject(
  {
    choice: z.enum(formChoices, {
      error: (issue) =>
        issue.input === undefined
          ? 'Please make a choice: Accept all, Reject all, or pick the categories you want.'
          : `"${String(issue.input)}" is not a choice we know (we know: ${choiceLabels}).`,
    }),
    grant: z
      .union([z.string(), z.array(z.string())], { error: 'The list of categories could not be read.' })
      .optional()
      .transform((g) => (g === undefined ? [] : Array.isArray(g) ? g : [g])),
    texts: z
      .string({ error: 'The form is incomplete: it does not say which notice it showed.' })
      .regex(/^[0-9a-f]{64}$/, {
        error: 'The form is incomplete: it does not say which notice it showed.',
      }),
    return: z.unknown().optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `The form had a field we do not know: ${issue.keys.join(', ')}.`
        : undefined,
  },
);

function firstIssue(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'The form could not be read.';
}

function stateOf(res: Response): ConsentRequestState {
  return res.locals.consentState as ConsentRequestState;
}

export interface ConsentRoutesDeps {
  policy: ConsentPolicy;
  service: ConsentService;
  states: ConsentStates;
  codec: ConsentCookieCodec;
  limiter: StoredRateLimiter | null;
  publicOrigin: string;
  https: boolean;
}

export function createConsentRoutes(deps: ConsentRoutesDeps): Router {
  const { policy, service, codec } = deps;
  const router = Router();
  const policyText = policyView(policy);

  router.post('/consent', async (req: Request, res: Response) => {
    const parsed = consentFormSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw validationError(firstIssue(parsed.error));
    if (deps.limiter) await deps.limiter.hit(req.ip ?? 'unknown');
    const state = stateOf(res);
    const outcome = await service.recordChoice({
      choice: parsed.data.choice,
      grant: parsed.data.grant,
      textsHash: parsed.data.texts,
      cookie: state.cookie,
      current: state.choice,
      gpc: state.gpc,
      ip: req.ip ?? '',
      userAgent: req.get('user-agent'),
    });
    const now = outcome.cookie.decidedAt;
    res.cookie(consentCookieName, codec.encode(outcome.cookie), {
      httpOnly: true,
      sameSite: 'lax',
      secure: deps.https,
      path: '/',
      // A refusal is remembered exactly as long as an acceptance.
      maxAge: choiceExpiresAt(policy, now).getTime() - now.getTime(),
    });
    for (const name of outcome.expireCookies) res.clearCookie(name, { path: '/' });
    res.set('Cache-Control', 'no-store');
    res.redirect(303, safeReturnPath(parsed.data.return, deps.publicOrigin) ?? '/');
  });

  router.get('/privacy', (req, res) => {
    const state = stateOf(res);
    const returnTo = safeReturnPath(req.query.return, deps.publicOrigin);
    const current = state.choice;
    // The page shows the reader's own choice and consent id, so only their browser may keep it.
    res.set('Cache-Control', state.cookie ? 'private, no-cache' : 'public, max-age=300');
    res.render('consent/privacy', {
      title: 'Privacy and cookie settings',
      policy: policyText,
      returnTo: returnTo ?? '',
      current: current
        ? {
            consentId: current.consentId,
            decidedAt: current.decidedAt.toISOString(),
            decidedDisplay: current.decidedAt.toUTCString(),
            expiresDisplay: choiceExpiresAt(policy, current.decidedAt).toUTCString(),
            seq: current.seq,
            granted: policy.optional.filter((c) => current.granted.includes(c.id)).map((c) => c.label),
          }
        : null,
      previousConsentId: !current && state.cookie ? state.cookie.consentId : null,
      gpc: state.gpc,
      choices: policy.optional.map((c) => ({
        id: c.id,
        label: c.label,
        description: c.description,
        checked: current ? current.granted.includes(c.id) : false,
        refusedBySignal: !current && state.gpc && c.optOutByGpc,
      })),
    });
  });

  // Global Privacy Control support resource (GPC spec, section "GPC Support Resource").
  const gpcSupport = JSON.stringify({
    gpc: true,
    ...(/^\d{4}-\d{2}-\d{2}$/.test(policy.version) ? { lastUpdate: policy.version } : {}),
  });
  router.get('/.well-known/gpc.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400').type('application/json').send(gpcSupport);
  });

  return router;
}

/** Decides each request's consent state from its cookie and Sec-GPC header, before anything renders. */
export function consentStateMiddleware(deps: {
  states: ConsentStates;
  onFirstServed: () => void;
}): RequestHandler {
  const { states } = deps;
  let served = false;
  return (req, res, next) => {
    const url = req.url;
    if (
      url.startsWith('/static/') ||
      url.startsWith('/webhooks/') ||
      // The staff area is not a reader page: its only cookie is the strictly necessary session.
      url === '/staff' ||
      url.startsWith('/staff/') ||
      url.startsWith('/staff?') ||
      url.startsWith('/healthz') ||
      url.startsWith('/readyz')
    ) {
      return next();
    }
    const gpc = req.headers['sec-gpc'];
    const state = states.resolve(
      readCookie(req.headers.cookie, consentCookieName),
      typeof gpc === 'string' ? gpc : undefined,
      new Date(),
    );
    res.locals.consentState = state;
    res.locals.consent = state.fullView;
    res.locals.consentReturn = state.choice || req.method !== 'GET' ? '/' : ownPath(req.originalUrl);
    if (state.csp) res.locals.cspAllow = state.csp;
    // What a shared cache must key on: the consent cookie and the GPC signal change the page.
    res.setHeader('Vary', 'Cookie, Sec-GPC');
    if (!served && state.choice === null) {
      served = true;
      deps.onFirstServed();
    }
    next();
  };
}
