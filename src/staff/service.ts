/**
 * The staff use cases: create an account, sign in (password, then a second factor), enrol TOTP,
 * invite, accept an invitation, change a role, disable. Each one reads as its story; storage is the
 * repository's, and everything that changes something goes to the audit log.
 */
import { z } from 'zod';
import { conflict, forbidden, notFound, validationError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mailer } from '../supporters/mailer.js';
import type { AuditActor, AuditLog } from './audit.js';
import type { InvitationSigner } from './invitations.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import {
  normaliseEmail,
  type LockoutPolicy,
  type StaffRecord,
  type StaffRepository,
  type StaffRole,
  type StaffStatus,
} from './repository.js';
import type { RequestContext } from './request-context.js';
import {
  enrolmentFor,
  hashRecoveryCode,
  newRecoveryCodes,
  newTotpSecret,
  normaliseRecoveryCode,
  totpStep,
  type Enrolment,
  type SecretBox,
} from './second-factor.js';

export const messages = {
  signInFailed:
    'That email and password do not match an active staff account. After several failed attempts, ' +
    'sign-in pauses for a while; if you cannot get in, ask an admin.',
  codeFailed: 'That code did not work. Enter the current code from your app, or one of your recovery codes.',
  codeLocked: 'Too many failed attempts. Sign-in for this account is paused for a while; try again later.',
  enrolCodeFailed:
    'That code did not match. Check the time on your phone and enter the code your app shows now.',
  invitationInvalid: 'This invitation link is not valid. Ask an admin to send you a new one.',
  invitationExpired: 'This invitation has expired. Ask an admin to send you a new one.',
  invitationUsed:
    'This invitation has already been used or replaced by a newer one. Sign in, or ask an admin.',
  lastAdmin: 'There must always be at least one active admin: make someone else an admin first.',
  passwordsDiffer: 'The two passwords are not the same.',
} as const;

/** Who is signed in, as handlers and templates see it: no hashes, no secrets. */
export interface StaffPrincipal {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
  totpEnabled: boolean;
}

/** An account as the admins' staff page lists it. */
export interface StaffAccount extends StaffPrincipal {
  status: StaffStatus;
  lastSignInAt?: Date;
  lockedUntil?: Date;
  recoveryCodesLeft: number;
  invitationExpiresAt?: Date;
}

export type SignInResult =
  { ok: true; principal: StaffPrincipal; next: 'code' | 'enrol' | 'done' } | { ok: false; message: string };

export type SecondFactorResult =
  | { ok: true; principal: StaffPrincipal; factor: 'totp' | 'recovery_code'; recoveryCodesLeft: number }
  | { ok: false; message: string };

export interface InvitationSent {
  accountId: string;
  email: string;
  link: string;
  expiresAt: Date;
  mailed: boolean;
}

export interface StaffServiceDeps {
  repository: StaffRepository;
  audit: AuditLog;
  logger: Logger;
  mailer?: Mailer;
  box: SecretBox;
  signer: InvitationSigner;
  lockout: LockoutPolicy;
  invitationLifetimeMs: number;
  site: { name: string; publicUrl: string };
  now: () => Date;
}

const emailSchema = z.email().max(254);
const roleSchema = z.enum(['admin', 'finance']);

const principalOf = (r: StaffRecord): StaffPrincipal => ({
  id: r.id,
  email: r.email,
  name: r.name,
  role: r.role,
  totpEnabled: Boolean(r.totp.sealedSecret),
});

const accountOf = (r: StaffRecord): StaffAccount => {
  const account: StaffAccount = {
    ...principalOf(r),
    status: r.status,
    recoveryCodesLeft: r.recoveryCodesLeft,
  };
  if (r.lastSignInAt) account.lastSignInAt = r.lastSignInAt;
  if (r.lockedUntil) account.lockedUntil = r.lockedUntil;
  if (r.invitation) account.invitationExpiresAt = r.invitation.expiresAt;
  return account;
};

const actorOf = (p: StaffPrincipal): AuditActor => ({
  kind: 'staff',
  id: p.id,
  email: p.email,
  role: p.role,
});
const targetOf = (r: { id: string; email: string }) => ({ type: 'staff', id: r.id, label: r.email });

export function createStaffService(deps: StaffServiceDeps) {
  const { repository, audit, now } = deps;

  const checkEmail = (email: string): string => {
    const normalised = normaliseEmail(email);
    if (!emailSchema.safeParse(normalised).success)
      throw validationError('Please enter a valid email address.');
    return normalised;
  };
  const checkRole = (role: string): StaffRole => {
    const parsed = roleSchema.safeParse(role);
    if (!parsed.success) throw validationError('The role must be admin or finance.');
    return parsed.data;
  };
  const checkPassword = (password: string, email: string) => {
    const problem = passwordProblem(password, email);
    if (problem) throw validationError(problem);
  };
  const isLocked = (r: StaffRecord) => r.lockedUntil !== undefined && r.lockedUntil > now();

  /** The invited account a token points to, or the reason it cannot be used. */
  const invitedAccount = async (token: string): Promise<{ record: StaffRecord; nonceHash: string }> => {
    const parsed = deps.signer.read(token);
    if (!parsed) throw forbidden(messages.invitationInvalid);
    if (parsed.expiresAt <= now()) throw forbidden(messages.invitationExpired);
    const record = await repository.findById(parsed.accountId);
    if (!record || record.status !== 'invited' || record.invitation?.nonceHash !== parsed.nonceHash) {
      throw forbidden(messages.invitationUsed);
    }
    if (record.invitation.expiresAt <= now()) throw forbidden(messages.invitationExpired);
    return { record, nonceHash: parsed.nonceHash };
  };

  const signedIn = async (record: StaffRecord, factor: string, context: RequestContext) => {
    await repository.recordSignIn(record.id, now());
    await audit.record({
      actor: actorOf(principalOf(record)),
      action: 'staff.signed_in',
      details: { factor },
      context,
    });
  };

  return {
    async ready(): Promise<void> {
      await repository.ready();
    },

    /** Throws the first thing wrong with a new account's details; writes nothing. */
    checkNewAccount(input: { email: string; password: string; role: string }): {
      email: string;
      role: StaffRole;
    } {
      const email = checkEmail(input.email);
      const role = checkRole(input.role);
      checkPassword(input.password, email);
      return { email, role };
    },

    /** The first account (from the command line) or any other made without an invitation. */
    async createAccount(
      input: { email: string; password: string; role: string; name?: string },
      actor: AuditActor,
      context: RequestContext = {},
    ): Promise<StaffAccount> {
      const email = checkEmail(input.email);
      const role = checkRole(input.role);
      checkPassword(input.password, email);
      const record = await repository.insert({
        email,
        name: (input.name ?? '').trim().slice(0, 120),
        role,
        status: 'active',
        passwordHash: await hashPassword(input.password),
      });
      await audit.record({
        actor,
        action: 'staff.account_created',
        target: targetOf(record),
        details: { role },
        context,
      });
      return accountOf(record);
    },

    /**
     * Checks a password. Unknown emails are verified against a dummy hash and locked accounts are
     * verified too, so every answer takes the same time; every refusal gives the same message.
     */
    async signIn(emailInput: string, password: string, context: RequestContext): Promise<SignInResult> {
      const email = normaliseEmail(emailInput);
      const record = await repository.findByEmail(email);
      const usable = record?.status === 'active' && record.passwordHash ? record : undefined;
      const passwordOk = await verifyPassword(usable?.passwordHash, password);
      const refuse = async (reason: string, locked = false): Promise<SignInResult> => {
        await audit.record({
          actor: record
            ? { kind: 'staff', id: record.id, email: record.email, role: record.role }
            : { kind: 'anonymous' },
          action: 'staff.sign_in_failed',
          details: { email: email.slice(0, 254), reason, ...(locked ? { locked: true } : {}) },
          context,
        });
        return { ok: false, message: messages.signInFailed };
      };
      if (!record) return refuse('unknown_email');
      if (!usable) return refuse(`account_${record.status}`);
      if (isLocked(usable)) return refuse('locked');
      if (!passwordOk) {
        const locked = await repository.recordFailure(usable.id, now(), deps.lockout);
        return refuse('wrong_password', locked);
      }
      const principal = principalOf(usable);
      if (principal.totpEnabled) return { ok: true, principal, next: 'code' };
      await signedIn(usable, 'password', context);
      return { ok: true, principal, next: principal.role === 'admin' ? 'enrol' : 'done' };
    },

    /** The second step: a TOTP code (each time step once) or a recovery code (each code once). */
    async verifySecondFactor(
      accountId: string,
      input: string,
      context: RequestContext,
    ): Promise<SecondFactorResult> {
      const record = await repository.findById(accountId);
      if (!record || record.status !== 'active' || !record.totp.sealedSecret) {
        return { ok: false, message: messages.codeFailed };
      }
      if (isLocked(record)) return { ok: false, message: messages.codeLocked };
      const code = input.trim();
      let factor: 'totp' | 'recovery_code' | null = null;
      if (/^[\d\s]{6,9}$/.test(code)) {
        const step = totpStep(deps.box.open(record.totp.sealedSecret), code, now());
        if (step !== null && (await repository.claimTotpStep(record.id, step))) factor = 'totp';
      } else {
        const recovery = normaliseRecoveryCode(code);
        if (recovery && (await repository.useRecoveryCode(record.id, hashRecoveryCode(recovery)))) {
          factor = 'recovery_code';
        }
      }
      if (!factor) {
        const locked = await repository.recordFailure(record.id, now(), deps.lockout);
        await audit.record({
          actor: actorOf(principalOf(record)),
          action: 'staff.second_factor_failed',
          details: locked ? { locked: true } : {},
          context,
        });
        return { ok: false, message: locked ? messages.codeLocked : messages.codeFailed };
      }
      await signedIn(record, factor, context);
      const left = factor === 'recovery_code' ? record.recoveryCodesLeft - 1 : record.recoveryCodesLeft;
      return { ok: true, principal: principalOf(record), factor, recoveryCodesLeft: left };
    },

    /** A new secret to show as a QR code; kept sealed in the session until a code proves it works. */
    async startEnrolment(principal: StaffPrincipal): Promise<{ sealedSecret: string; enrolment: Enrolment }> {
      const secret = newTotpSecret();
      return {
        sealedSecret: deps.box.seal(secret),
        enrolment: await enrolmentFor(secret, principal.email, deps.site.name),
      };
    },

    enrolmentFor(principal: StaffPrincipal, sealedSecret: string): Promise<Enrolment> {
      return enrolmentFor(deps.box.open(sealedSecret), principal.email, deps.site.name);
    },

    /** Turns TOTP on once a code from the app matches; returns the recovery codes, shown this once. */
    async completeEnrolment(
      principal: StaffPrincipal,
      sealedSecret: string,
      code: string,
      context: RequestContext,
    ): Promise<string[]> {
      const step = totpStep(deps.box.open(sealedSecret), code, now());
      if (step === null) throw validationError(messages.enrolCodeFailed);
      const codes = newRecoveryCodes();
      const enabled = await repository.enableTotp(principal.id, {
        sealedSecret,
        step,
        recoveryCodeHashes: codes.map(hashRecoveryCode),
        at: now(),
      });
      if (!enabled) throw conflict('Two-factor sign-in is already set up for this account.');
      await audit.record({ actor: actorOf(principal), action: 'staff.two_factor_enrolled', context });
      return codes;
    },

    /** Invites someone (or sends a pending invitee a fresh link, which replaces the old one). */
    async invite(
      admin: StaffPrincipal,
      input: { email: string; role: string; name?: string },
      context: RequestContext,
    ): Promise<InvitationSent> {
      const email = checkEmail(input.email);
      const role = checkRole(input.role);
      let record = await repository.findByEmail(email);
      if (record && record.status !== 'invited') {
        throw conflict(`${email} already has a staff account (${record.status}).`);
      }
      record ??= await repository.insert({
        email,
        name: (input.name ?? '').trim().slice(0, 120),
        role,
        status: 'invited',
      });
      const expiresAt = new Date(now().getTime() + deps.invitationLifetimeMs);
      const { token, nonceHash } = deps.signer.issue(record.id, expiresAt);
      const updated = await repository.setInvitation(
        record.id,
        { nonceHash, expiresAt, invitedBy: admin.id },
        role,
      );
      if (!updated) throw conflict(`${email} has just been changed by someone else; please try again.`);
      const link = `${deps.site.publicUrl}/staff/invitation?token=${token}`;
      let mailed = false;
      if (deps.mailer) {
        try {
          await deps.mailer.send({
            to: email,
            subject: `You are invited to the ${deps.site.name} staff area`,
            text:
              `${admin.name || admin.email} has invited you to the ${deps.site.name} staff area as ${role}.\n\n` +
              `Choose your password here (the link works once, until ${expiresAt.toUTCString()}):\n${link}\n\n` +
              'If you did not expect this, you can ignore this message.\n',
          });
          mailed = true;
        } catch (err) {
          deps.logger.warn(
            { err: { message: (err as Error).message } },
            'invitation email could not be sent',
          );
        }
      }
      await audit.record({
        actor: actorOf(admin),
        action: 'staff.invited',
        target: targetOf(updated),
        details: { role, mailed },
        context,
      });
      return { accountId: updated.id, email, link, expiresAt, mailed };
    },

    /** Who an invitation is for, to greet them on the page where they choose a password. */
    async invitation(token: string): Promise<{ email: string; name: string; role: StaffRole }> {
      const { record } = await invitedAccount(token);
      return { email: record.email, name: record.name, role: record.role };
    },

    async acceptInvitation(
      token: string,
      password: string,
      confirmation: string,
      context: RequestContext,
    ): Promise<StaffPrincipal> {
      const { record, nonceHash } = await invitedAccount(token);
      checkPassword(password, record.email);
      if (password !== confirmation) throw validationError(messages.passwordsDiffer);
      const accepted = await repository.acceptInvitation(
        record.id,
        nonceHash,
        now(),
        await hashPassword(password),
      );
      if (!accepted) throw forbidden(messages.invitationUsed);
      const principal = principalOf(accepted);
      await audit.record({
        actor: actorOf(principal),
        action: 'staff.invitation_accepted',
        target: targetOf(accepted),
        context,
      });
      return principal;
    },

    async changeRole(admin: StaffPrincipal, accountId: string, roleInput: string, context: RequestContext) {
      const role = checkRole(roleInput);
      const before = await repository.findById(accountId);
      if (!before) throw notFound('There is no such staff account.');
      const result = await repository.changeRole(accountId, role);
      if (result === 'last_admin') throw conflict(messages.lastAdmin);
      if (!result) throw notFound('There is no such staff account.');
      if (before.role !== result.role) {
        await audit.record({
          actor: actorOf(admin),
          action: 'staff.role_changed',
          target: targetOf(result),
          details: { from: before.role, to: result.role },
          context,
        });
      }
      return accountOf(result);
    },

    async setDisabled(admin: StaffPrincipal, accountId: string, disabled: boolean, context: RequestContext) {
      const before = await repository.findById(accountId);
      if (!before) throw notFound('There is no such staff account.');
      const result = await repository.setDisabled(accountId, disabled);
      if (result === 'last_admin') throw conflict(messages.lastAdmin);
      if (!result) throw notFound('There is no such staff account.');
      if (before.status !== result.status) {
        await audit.record({
          actor: actorOf(admin),
          action: disabled ? 'staff.disabled' : 'staff.enabled',
          target: targetOf(result),
          details: { from: before.status, to: result.status },
          context,
        });
      }
      return accountOf(result);
    },

    async listAccounts(): Promise<StaffAccount[]> {
      return (await repository.list()).map(accountOf);
    },

    /** The signed-in person for a session, or null once the account is disabled or gone. */
    async principalFor(accountId: string): Promise<StaffPrincipal | null> {
      const record = await repository.findById(accountId);
      return record && record.status === 'active' ? principalOf(record) : null;
    },

    async signedOut(principal: StaffPrincipal, context: RequestContext): Promise<void> {
      await audit.record({ actor: actorOf(principal), action: 'staff.signed_out', context });
    },
  };
}

export type StaffService = ReturnType<typeof createStaffService>;
