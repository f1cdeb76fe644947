/**
 * Staff sessions and the guards around staff pages. Sessions exist only under /staff: reader pages
 * never get a cookie and stay cacheable. The cookie is ours (`rf_staff`), httpOnly, SameSite=Lax,
 * Secure behind HTTPS and scoped to /staff; the session itself lives in MongoDB (connect-mongo),
 * so every app process shares it.
 */
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import MongoStore from 'connect-mongo';
import { csrfSync } from 'csrf-sync';
import type mongoose from 'mongoose';
import type { MongoClient } from 'mongodb';
import { AppError, forbidden } from '../errors.js';
import type { StaffRole } from './repository.js';
import type { StaffPrincipal } from './service.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // What passport puts on req.user for staff routes.
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends StaffPrincipal {}
  }
}

declare module 'express-session' {
  interface SessionData {
    /** Set once both factors (or the password, where no second factor is needed) are through. */
    staffAuth?: { signedInAt: number; lastSeenAt: number };
    /** Between a correct password and the second factor. */
    pendingSignIn?: { accountId: string; startedAt: number };
    /** A TOTP secret being enrolled (sealed), until a code proves the app has it. */
    pendingTotpSecret?: string;
  }
}

declare module 'node:http' {
  interface IncomingMessage {
    /** Why this request's staff session was just ended, if it was. */
    staffSessionEnded?: 'idle' | 'absolute';
  }
}

export interface SessionSettings {
  connection: mongoose.Connection;
  secret: string;
  cookieName: string;
  secureCookie: boolean;
  idleMs: number;
  absoluteMs: number;
  /** How long a correct password waits for its second factor. */
  pendingMs?: number;
  now: () => Date;
}

export function staffSessions(settings: SessionSettings): RequestHandler {
  const db = settings.connection.db;
  if (!db) throw new Error('staff sessions need a connected store');
  return session({
    name: settings.cookieName,
    secret: settings.secret,
    store: MongoStore.create({
      // The driver version mongoose bundles may differ from connect-mongo's by a patch release.
      client: settings.connection.getClient() as unknown as MongoClient,
      dbName: db.databaseName,
      collectionName: 'sessions',
      stringify: false,
    }),
    resave: false,
    saveUninitialized: false,
    rolling: true,
    unset: 'destroy',
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: settings.secureCookie,
      path: '/staff',
      maxAge: settings.idleMs,
    },
  });
}

const regenerate = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));

/**
 * Ends a signed-in session that has been idle too long or has reached its absolute lifetime, by the
 * injected clock (so tests need not wait); otherwise marks it as seen now, which keeps it rolling.
 */
export function sessionLifetime(settings: SessionSettings): RequestHandler {
  const pendingMs = settings.pendingMs ?? 10 * 60_000;
  return async (req, _res, next) => {
    try {
      const t = settings.now().getTime();
      const auth = req.session.staffAuth;
      if (auth) {
        const ended =
          t - auth.lastSeenAt > settings.idleMs
            ? 'idle'
            : t - auth.signedInAt > settings.absoluteMs
              ? 'absolute'
              : null;
        if (ended) {
          await regenerate(req);
          req.staffSessionEnded = ended;
        } else {
          auth.lastSeenAt = t;
        }
      }
      const pending = req.session.pendingSignIn;
      if (pending && t - pending.startedAt > pendingMs) delete req.session.pendingSignIn;
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** Paths answered with data rather than a page: they get a 401, not a redirect to sign in. */
export function wantsData(req: Request): boolean {
  if (/\.(json|csv)$/i.test(req.path)) return true;
  return req.accepts(['html', 'json', 'text/csv']) !== 'html';
}

function unauthenticated(req: Request, res: Response, next: NextFunction): void {
  const page = req.method === 'GET' || req.method === 'HEAD';
  if (wantsData(req) || (!page && !req.staffSessionEnded)) {
    return next(new AppError('unauthorized', 'Please sign in to the staff area first.'));
  }
  const params = new URLSearchParams();
  if (page) params.set('next', req.originalUrl);
  if (req.staffSessionEnded) params.set('ended', req.staffSessionEnded);
  res.redirect(303, `/staff/login?${params.toString()}`);
}

const rank: Record<StaffRole, number> = { finance: 1, admin: 2 };

export interface RequireStaffOptions {
  /** The two-factor enrolment page itself must be reachable by an admin who has not enrolled yet. */
  allowPendingEnrolment?: boolean;
}

/**
 * Lets a request through only for a signed-in staff member with at least `role` (admins can do all
 * that finance can). No session: a redirect to sign in (pages) or 401 (JSON/CSV); too low a role:
 * 403. An admin without TOTP is sent to enrol before anything else.
 */
export function requireStaff(role?: StaffRole, options: RequireStaffOptions = {}): RequestHandler {
  return (req, res, next) => {
    const user = req.user;
    if (!user || !req.session?.staffAuth) return unauthenticated(req, res, next);
    if (user.role === 'admin' && !user.totpEnabled && !options.allowPendingEnrolment) {
      if (wantsData(req)) {
        return next(
          forbidden('Set up two-factor sign-in for your admin account before using the staff area.'),
        );
      }
      return res.redirect(303, '/staff/account/two-factor');
    }
    if (role && rank[user.role] < rank[role]) {
      return next(forbidden(`This page is for ${role === 'admin' ? 'admins' : role} only.`));
    }
    next();
  };
}

/**
 * The synchronizer token on every staff form: one random token per session (csrf-sync keeps it in
 * the session), compared in constant time. The Origin / Sec-Fetch-Site check runs before this for
 * every POST in the app. A form sent after the session ended goes back to sign in instead.
 */
export function staffFormTokens() {
  const tokens = csrfSync({
    getTokenFromRequest: (req) => (req.body as { _csrf?: string } | undefined)?._csrf,
  });
  const check: RequestHandler = (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    if (req.staffSessionEnded) return unauthenticated(req, res, next);
    const sent = tokens.getTokenFromRequest(req);
    const kept = tokens.getTokenFromState(req);
    const ok =
      typeof sent === 'string' &&
      typeof kept === 'string' &&
      sent.length === kept.length &&
      timingSafeEqual(Buffer.from(sent), Buffer.from(kept));
    if (!ok) return next(forbidden('This form has expired. Please reload the page and try again.'));
    next();
  };
  return { check, tokenFor: (req: Request) => tokens.generateToken(req) };
}
