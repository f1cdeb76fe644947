/** The staff area's own pages: sign-in, second factor, account, staff admin, audit log. */
import { Router, type Request, type Response } from 'express';
import type { PassportStatic } from 'passport';
import { isAppError, notFound, validationError } from '../errors.js';
import type { StoredRateLimiter } from '../http/rate-limit.js';
import type { AuditLog } from './audit.js';
import {
  codeForm,
  enrolForm,
  invitationForm,
  inviteForm,
  loginForm,
  logoutForm,
  parseForm,
  roleForm,
  safeNext,
  statusForm,
} from './forms.js';
import { requireStaff, type staffFormTokens } from './http.js';
import { requestContext } from './request-context.js';
import { messages, type StaffPrincipal, type StaffService } from './service.js';

export interface StaffRouteDeps {
  service: StaffService;
  audit: AuditLog;
  tokens: ReturnType<typeof staffFormTokens>;
  authenticator: PassportStatic['Authenticator']['prototype'];
  signInLimiter: StoredRateLimiter;
  cookieName: string;
  idleMinutes: number;
  absoluteHours: number;
  now: () => Date;
}

const promised = <T>(run: (done: (err: unknown, value?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));

export function createStaffRoutes(deps: StaffRouteDeps): Router {
  const { service, tokens, now } = deps;
  const router = Router();

  const notices: Record<string, string> = {
    idle: `You were signed out after ${deps.idleMinutes} minutes without activity. Please sign in again.`,
    absolute: `Staff sessions last at most ${deps.absoluteHours} hours. Please sign in again.`,
    signedOut: 'You are signed out.',
    welcome: 'Your password is set. Sign in to continue.',
  };
  const noticeFor = (req: Request): string | undefined => {
    const q = req.query;
    if (q.ended === 'idle' || q.ended === 'absolute') return notices[q.ended];
    if (q.signedOut === '1') return notices.signedOut;
    if (q.welcome === '1') return notices.welcome;
    return undefined;
  };

  const authenticate = (req: Request, res: Response) =>
    new Promise<{ user: StaffPrincipal | false; info?: { message?: string; next?: string } }>(
      (resolve, reject) => {
        deps.authenticator.authenticate(
          'staff-local',
          { session: false },
          (err: unknown, user: StaffPrincipal | false, info?: { message?: string; next?: string }) =>
            err ? reject(err) : resolve({ user, info: info ?? {} }),
        )(req, res, reject);
      },
    );

  /** Both factors are through: a new session id (no fixation), and the clock for its lifetime. */
  const completeSignIn = async (req: Request, principal: StaffPrincipal) => {
    await promised<void>((done) => req.logIn(principal, { session: true, keepSessionInfo: false }, done));
    const t = now().getTime();
    req.session.staffAuth = { signedInAt: t, lastSeenAt: t };
  };

  const hitLimit = (req: Request) => deps.signInLimiter.hit(req.ip ?? 'unknown');
  const signedInUser = (req: Request): StaffPrincipal => req.user!;

  router.get('/', requireStaff(), (_req, res) => {
    res.render('staff/home', { title: 'Staff area' });
  });

  // --- Sign-in -----------------------------------------------------------------------------------

  router.get('/login', (req, res) => {
    if (req.user && req.session.staffAuth) return res.redirect(303, safeNext(req.query.next));
    res.render('staff/login', {
      title: 'Staff sign-in',
      csrfToken: tokens.tokenFor(req),
      next: safeNext(req.query.next),
      notice: noticeFor(req),
    });
  });

  router.post('/login', async (req, res) => {
    const form = parseForm(loginForm, req.body);
    const next = safeNext(form.next);
    await hitLimit(req);
    const { user, info } = await authenticate(req, res);
    if (!user) {
      res.status(401).render('staff/login', {
        title: 'Staff sign-in',
        csrfToken: tokens.tokenFor(req),
        next,
        email: form.email.slice(0, 254),
        error: messages.signInFailed,
      });
      return;
    }
    if (info?.next === 'code') {
      // The password is right; the session is renewed now and again once the code is.
      await promised<void>((done) => req.session.regenerate(done));
      req.session.pendingSignIn = { accountId: user.id, startedAt: now().getTime() };
      return res.redirect(303, `/staff/login/code?${new URLSearchParams({ next }).toString()}`);
    }
    await completeSignIn(req, user);
    res.redirect(303, info?.next === 'enrol' ? '/staff/account/two-factor' : next);
  });

  router.get('/login/code', (req, res) => {
    if (!req.session.pendingSignIn) return res.redirect(303, '/staff/login');
    res.render('staff/code', {
      title: 'Enter your code',
      csrfToken: tokens.tokenFor(req),
      next: safeNext(req.query.next),
    });
  });

  router.post('/login/code', async (req, res) => {
    const form = parseForm(codeForm, req.body);
    const next = safeNext(form.next);
    const pending = req.session.pendingSignIn;
    if (!pending) return res.redirect(303, '/staff/login');
    await hitLimit(req);
    const result = await service.verifySecondFactor(pending.accountId, form.code, requestContext(req));
    if (!result.ok) {
      res.status(401).render('staff/code', {
        title: 'Enter your code',
        csrfToken: tokens.tokenFor(req),
        next,
        error: result.message,
      });
      return;
    }
    await completeSignIn(req, result.principal);
    if (result.factor === 'recovery_code') {
      return res.redirect(303, `/staff/account?recoveryCodesLeft=${result.recoveryCodesLeft}`);
    }
    res.redirect(303, next);
  });

  router.post('/logout', async (req, res) => {
    parseForm(logoutForm, req.body);
    if (req.user) await service.signedOut(req.user, requestContext(req));
    await promised<void>((done) => req.session.destroy(done));
    res.clearCookie(deps.cookieName, { path: '/staff' });
    res.redirect(303, '/staff/login?signedOut=1');
  });

  // --- Own account and two-factor enrolment --------------------------------------------------------

  router.get('/account', requireStaff(), (req, res) => {
    const left = Number(req.query.recoveryCodesLeft);
    res.render('staff/account', {
      title: 'Your account',
      account: signedInUser(req),
      recoveryCodesLeft: Number.isInteger(left) && left >= 0 && left <= 10 ? left : undefined,
    });
  });

  const enrolPage = async (req: Request, res: Response, error?: string) => {
    const user = signedInUser(req);
    let sealed = req.session.pendingTotpSecret;
    let enrolment;
    if (sealed) {
      enrolment = await service.enrolmentFor(user, sealed);
    } else {
      ({ sealedSecret: sealed, enrolment } = await service.startEnrolment(user));
      req.session.pendingTotpSecret = sealed;
    }
    res.status(error ? 400 : 200).render('staff/two-factor', {
      title: 'Two-factor sign-in',
      enrolment,
      required: user.role === 'admin',
      error,
    });
  };

  router.get(
    '/account/two-factor',
    requireStaff(undefined, { allowPendingEnrolment: true }),
    async (req, res) => {
      if (signedInUser(req).totpEnabled) {
        return res.render('staff/two-factor', { title: 'Two-factor sign-in', enabled: true });
      }
      await enrolPage(req, res);
    },
  );

  router.post(
    '/account/two-factor',
    requireStaff(undefined, { allowPendingEnrolment: true }),
    async (req, res) => {
      const form = parseForm(enrolForm, req.body);
      const user = signedInUser(req);
      const sealed = req.session.pendingTotpSecret;
      if (user.totpEnabled || !sealed) return res.redirect(303, '/staff/account/two-factor');
      let codes: string[];
      try {
        codes = await service.completeEnrolment(user, sealed, form.code, requestContext(req));
      } catch (err) {
        if (isAppError(err) && err.kind === 'validation') return enrolPage(req, res, err.message);
        throw err;
      }
      delete req.session.pendingTotpSecret;
      res.render('staff/recovery-codes', { title: 'Your recovery codes', codes });
    },
  );

  // --- Staff accounts (admins) ---------------------------------------------------------------------

  router.get('/users', requireStaff('admin'), async (req, res) => {
    res.render('staff/users', {
      title: 'Staff accounts',
      accounts: await service.listAccounts(),
      me: signedInUser(req).id,
      changed: typeof req.query.changed === 'string' ? req.query.changed.slice(0, 254) : undefined,
    });
  });

  router.post('/users/invite', requireStaff('admin'), async (req, res) => {
    const form = parseForm(inviteForm, req.body);
    const invitation = await service.invite(
      signedInUser(req),
      { email: form.email, role: form.role, ...(form.name !== undefined ? { name: form.name } : {}) },
      requestContext(req),
    );
    res.render('staff/invited', { title: 'Invitation ready', invitation });
  });

  const accountIdOf = (req: Request): string => {
    const id = String(req.params.id);
    if (!/^[a-f0-9]{24}$/.test(id)) throw notFound('There is no such staff account.');
    return id;
  };

  router.post('/users/:id/role', requireStaff('admin'), async (req, res) => {
    const form = parseForm(roleForm, req.body);
    const account = await service.changeRole(
      signedInUser(req),
      accountIdOf(req),
      form.role,
      requestContext(req),
    );
    res.redirect(303, `/staff/users?${new URLSearchParams({ changed: account.email }).toString()}`);
  });

  router.post('/users/:id/status', requireStaff('admin'), async (req, res) => {
    const form = parseForm(statusForm, req.body);
    const account = await service.setDisabled(
      signedInUser(req),
      accountIdOf(req),
      form.status === 'disabled',
      requestContext(req),
    );
    res.redirect(303, `/staff/users?${new URLSearchParams({ changed: account.email }).toString()}`);
  });

  // --- Invitations (no session needed: the link is the credential) --------------------------------

  router.use('/invitation', (_req, res, next) => {
    res.set('Referrer-Policy', 'no-referrer');
    next();
  });

  router.get('/invitation', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const invitation = await service.invitation(token);
    res.render('staff/invitation', {
      title: 'Choose your password',
      invitation,
      token,
      csrfToken: tokens.tokenFor(req),
    });
  });

  router.post('/invitation', async (req, res) => {
    const form = parseForm(invitationForm, req.body);
    try {
      await service.acceptInvitation(form.token, form.password, form.confirmation, requestContext(req));
    } catch (err) {
      if (!isAppError(err) || err.kind !== 'validation') throw err;
      const invitation = await service.invitation(form.token);
      res.status(400).render('staff/invitation', {
        title: 'Choose your password',
        invitation,
        token: form.token,
        csrfToken: tokens.tokenFor(req),
        error: err.message,
      });
      return;
    }
    res.redirect(303, '/staff/login?welcome=1');
  });

  // --- Audit log (admins) ---------------------------------------------------------------------------

  router.get('/audit', requireStaff('admin'), async (req, res) => {
    const raw = req.query.before;
    let before: number | undefined;
    if (raw !== undefined) {
      before = Number(raw);
      if (typeof raw !== 'string' || !Number.isSafeInteger(before) || before < 1) {
        throw validationError('The page of the audit log was not given as expected.');
      }
    }
    const page = await deps.audit.list({ ...(before ? { before } : {}), limit: 50 });
    res.render('staff/audit', { title: 'Audit log', page, first: before === undefined });
  });

  return router;
}
