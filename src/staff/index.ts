/**
 * The staff area at /staff: accounts, passport sign-in with a second factor, sessions in MongoDB,
 * roles, invitations and the audit log. Other staff features (reports, operations) mount their
 * routers here with `mount()` and guard them with `requireStaff()`; see README.md beside this file.
 */
import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type mongoose from 'mongoose';
import type { AppConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Mailer } from '../supporters/mailer.js';
import { StoredRateLimiter } from '../http/rate-limit.js';
import { createAuditLog, type AuditLog } from './audit.js';
import { requireStaff, sessionLifetime, staffFormTokens, staffSessions } from './http.js';
import { createInvitationSigner } from './invitations.js';
import { createStaffRepository, type StaffRole } from './repository.js';
import { requestContext } from './request-context.js';
import { createStaffRoutes } from './routes.js';
import { createSecretBox } from './second-factor.js';
import { createStaffService, type StaffService } from './service.js';

export type { AuditActor, AuditEntry, AuditEvent, AuditLog } from './audit.js';
export type { RequireStaffOptions } from './http.js';
export type { StaffRole } from './repository.js';
export type { StaffAccount, StaffPrincipal } from './service.js';
export { requireStaff, wantsData } from './http.js';

export interface StaffNavEntry {
  label: string;
  /** A path under /staff. */
  href: string;
  /** Shown only to this role or higher; everyone signed in when absent. */
  role?: StaffRole;
}

export interface StaffFeature {
  /** Mount on the app (after the body parsers): serves /staff and everything mounted into it. */
  router: Router;
  /**
   * Adds a feature's router to the staff area. Its paths are relative to /staff (a route
   * `/reports` answers /staff/reports); sessions, req.user, form tokens and the staff navigation
   * are already there, and the router guards itself with `requireStaff(role)`.
   */
  mount(router: Router, options?: { nav?: StaffNavEntry }): void;
  requireStaff: typeof requireStaff;
  /** The audit log: `audit.recordRequest(req, 'reports.exported', { details })` from a staff route. */
  audit: AuditLog;
  service: StaffService;
  /** The form token for the current staff session, for features that render their own forms. */
  formToken(req: express.Request): string;
}

export interface StaffFeatureDeps {
  config: AppConfig;
  logger: Logger;
  connection: mongoose.Connection;
  secrets: { session: string; links: string };
  mailer?: Mailer;
  /** Tests move time forward instead of waiting. */
  now?: () => Date;
}

/** Staff pages show times in UTC, to the minute: the same for everyone reading the audit log. */
const formatTime = (date: Date | undefined) =>
  date ? `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '';

const staffStatic = path.resolve(import.meta.dirname, '..', '..', 'views', 'staff', 'static');

export function createStaffParts(deps: Omit<StaffFeatureDeps, 'connection'>) {
  const { config } = deps;
  const now = deps.now ?? (() => new Date());
  const settings = config.staff;
  const repository = createStaffRepository();
  const audit = createAuditLog({ logger: deps.logger, now });
  const service = createStaffService({
    repository,
    audit,
    logger: deps.logger,
    ...(deps.mailer ? { mailer: deps.mailer } : {}),
    box: createSecretBox(settings.totpEncryptionKey || deps.secrets.session),
    signer: createInvitationSigner(deps.secrets.links),
    lockout: {
      maxFailures: settings.lockout.maxFailures,
      windowMs: settings.lockout.windowMinutes * 60_000,
      lockMs: settings.lockout.lockMinutes * 60_000,
    },
    invitationLifetimeMs: settings.invitationLifetimeHours * 3_600_000,
    site: { name: config.site.name, publicUrl: config.site.publicUrl },
    now,
  });
  return { now, repository, audit, service };
}

export function createStaffFeature(deps: StaffFeatureDeps): StaffFeature {
  const { config } = deps;
  const settings = config.staff;
  const { now, audit, service } = createStaffParts(deps);

  const authenticator = new passport.Passport();
  authenticator.use(
    'staff-local',
    new LocalStrategy(
      { usernameField: 'email', passwordField: 'password', passReqToCallback: true, session: false },
      (req, email, password, done) => {
        service
          .signIn(email, password, requestContext(req))
          .then((result) => {
            // passport hands this third argument to the route unchanged: which step comes next.
            const info = result.ok ? { message: '', next: result.next } : { message: result.message };
            done(null, result.ok ? result.principal : false, info);
          })
          .catch(done);
      },
    ),
  );
  authenticator.serializeUser((user, done) => done(null, user.id));
  // Read on every request, so a disabled account or a changed role counts from the next request on.
  authenticator.deserializeUser((id: string, done) => {
    service
      .principalFor(id)
      .then((principal) => done(null, principal ?? false))
      .catch(done);
  });

  const sessionSettings = {
    connection: deps.connection,
    secret: deps.secrets.session,
    cookieName: settings.cookieName,
    secureCookie: config.site.publicUrl.startsWith('https:'),
    idleMs: settings.idleTimeoutMinutes * 60_000,
    absoluteMs: settings.absoluteLifetimeHours * 3_600_000,
    now,
  };
  const tokens = staffFormTokens();

  const nav: StaffNavEntry[] = [{ label: 'Home', href: '/staff' }];
  const ownNav: StaffNavEntry[] = [
    { label: 'Staff', href: '/staff/users', role: 'admin' },
    { label: 'Audit log', href: '/staff/audit', role: 'admin' },
    { label: 'Account', href: '/staff/account' },
  ];
  const rank: Record<StaffRole, number> = { finance: 1, admin: 2 };

  // Every staff page (error pages too) gets the staff navigation, so nobody is stranded.
  const navigation: RequestHandler = (req, res, next) => {
    const user = req.user;
    const signedIn = Boolean(user && req.session.staffAuth);
    const enrolling = signedIn && user!.role === 'admin' && !user!.totpEnabled;
    // The reader sections stay out of the way in the staff area; the masthead still links home.
    res.locals.navSections = [];
    res.locals.staffArea = {
      signedIn,
      user: signedIn ? user : undefined,
      csrfToken: signedIn ? tokens.tokenFor(req) : undefined,
      items:
        signedIn && !enrolling
          ? [...nav, ...ownNav].filter((entry) => !entry.role || rank[user!.role] >= rank[entry.role])
          : [],
      current: (req.baseUrl + req.path).replace(/\/+$/, ''),
      time: formatTime,
    };
    next();
  };

  const noStore: RequestHandler = (req, res, next) => {
    res.set('Cache-Control', 'private, no-store');
    // A .json address is asked for by spreadsheets and scripts that send "Accept: */*": it answers
    // JSON, its errors included (the error middleware picks JSON or a page from Accept).
    if (/\.json$/i.test(req.path)) req.headers.accept = 'application/json';
    next();
  };

  const mounted = Router();
  const area = Router();
  area.use(
    createStaffRoutes({
      service,
      audit,
      tokens,
      authenticator,
      signInLimiter: new StoredRateLimiter(
        { name: 'staff_signin_ip', ...settings.rateLimits.signInPerIp },
        'Too many sign-in attempts from your connection. Please wait a few minutes and try again.',
      ),
      cookieName: settings.cookieName,
      idleMinutes: settings.idleTimeoutMinutes,
      absoluteHours: settings.absoluteLifetimeHours,
      now,
    }),
  );
  area.use(mounted);

  const router = Router();
  router.use('/staff/static', express.static(staffStatic, { maxAge: '1d', index: false }));
  router.use(
    '/staff',
    noStore,
    staffSessions(sessionSettings),
    sessionLifetime(sessionSettings),
    authenticator.initialize(),
    authenticator.session(),
    navigation,
    tokens.check,
    area,
  );

  return {
    router,
    mount(featureRouter, options = {}) {
      if (options.nav) nav.push(options.nav);
      mounted.use(featureRouter);
    },
    requireStaff,
    audit,
    service,
    formToken: (req) => tokens.tokenFor(req),
  };
}
