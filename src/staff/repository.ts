/**
 * Staff accounts in `staffusers`, plus the roster of active admins in `staffroster`. Mongoose stays
 * in here; callers get plain objects. Every change that depends on what is stored is one
 * conditional update, so two app processes (or two tabs) racing each other cannot both win.
 */
import mongoose, { Schema } from 'mongoose';
import { conflict } from '../errors.js';

export const staffRoles = ['admin', 'finance'] as const;
export type StaffRole = (typeof staffRoles)[number];
export const staffStatuses = ['invited', 'active', 'disabled'] as const;
export type StaffStatus = (typeof staffStatuses)[number];

const staffUserSchema = new Schema(
  {
    email: { type: String, required: true, lowercase: true, trim: true },
    name: { type: String, default: '' },
    role: { type: String, required: true, enum: staffRoles },
    status: { type: String, required: true, enum: staffStatuses },
    passwordHash: { type: String },
    lastSignInAt: { type: Date },
    failedAttempts: { type: Number, default: 0 },
    /** Start of the current window of failed attempts. */
    firstFailedAt: { type: Date },
    lockedUntil: { type: Date },
    totp: {
      /** AES-GCM sealed base32 secret (see second-factor.ts); never logged, never sent back. */
      sealedSecret: { type: String },
      enrolledAt: { type: Date },
      /** Time step of the last code accepted: a code is good once. */
      lastStep: { type: Number },
    },
    recoveryCodeHashes: { type: [String], default: [] },
    invitation: {
      nonceHash: { type: String },
      expiresAt: { type: Date },
      invitedBy: { type: String },
    },
  },
  { timestamps: true, collection: 'staffusers' },
);
staffUserSchema.index({ email: 1 }, { unique: true });

/** One document listing the active admins; the guard against removing the last one. */
const staffRosterSchema = new Schema(
  { _id: { type: String }, adminIds: { type: [String], default: [] } },
  { collection: 'staffroster', versionKey: false },
);

const StaffUserModel = mongoose.model('StaffUser', staffUserSchema);
const StaffRosterModel = mongoose.model('StaffRoster', staffRosterSchema);
const ROSTER_ID = 'admins';

export interface StaffRecord {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
  status: StaffStatus;
  passwordHash?: string;
  lastSignInAt?: Date;
  failedAttempts: number;
  firstFailedAt?: Date;
  lockedUntil?: Date;
  totp: { sealedSecret?: string; enrolledAt?: Date; lastStep?: number };
  recoveryCodesLeft: number;
  invitation?: { nonceHash: string; expiresAt: Date; invitedBy?: string };
  createdAt: Date;
}

export interface NewStaffUser {
  email: string;
  name: string;
  role: StaffRole;
  status: 'invited' | 'active';
  passwordHash?: string;
  invitation?: { nonceHash: string; expiresAt: Date; invitedBy?: string };
}

export interface LockoutPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

type Lean = Record<string, unknown> & { _id: mongoose.Types.ObjectId };

function toRecord(doc: Lean): StaffRecord {
  const d = doc as unknown as {
    _id: mongoose.Types.ObjectId;
    email: string;
    name?: string;
    role: StaffRole;
    status: StaffStatus;
    passwordHash?: string | null;
    lastSignInAt?: Date | null;
    failedAttempts?: number;
    firstFailedAt?: Date | null;
    lockedUntil?: Date | null;
    totp?: { sealedSecret?: string | null; enrolledAt?: Date | null; lastStep?: number | null };
    recoveryCodeHashes?: string[];
    invitation?: { nonceHash?: string | null; expiresAt?: Date | null; invitedBy?: string | null };
    createdAt: Date;
  };
  const record: StaffRecord = {
    id: String(d._id),
    email: d.email,
    name: d.name ?? '',
    role: d.role,
    status: d.status,
    failedAttempts: d.failedAttempts ?? 0,
    totp: {},
    recoveryCodesLeft: d.recoveryCodeHashes?.length ?? 0,
    createdAt: d.createdAt,
  };
  if (d.passwordHash) record.passwordHash = d.passwordHash;
  if (d.lastSignInAt) record.lastSignInAt = d.lastSignInAt;
  if (d.firstFailedAt) record.firstFailedAt = d.firstFailedAt;
  if (d.lockedUntil) record.lockedUntil = d.lockedUntil;
  if (d.totp?.sealedSecret) record.totp.sealedSecret = d.totp.sealedSecret;
  if (d.totp?.enrolledAt) record.totp.enrolledAt = d.totp.enrolledAt;
  if (typeof d.totp?.lastStep === 'number') record.totp.lastStep = d.totp.lastStep;
  if (d.invitation?.nonceHash && d.invitation.expiresAt) {
    record.invitation = { nonceHash: d.invitation.nonceHash, expiresAt: d.invitation.expiresAt };
    if (d.invitation.invitedBy) record.invitation.invitedBy = d.invitation.invitedBy;
  }
  return record;
}

const isDuplicateKey = (err: unknown) => (err as { code?: number })?.code === 11000;
const validId = (id: string) => mongoose.isValidObjectId(id) && /^[a-f0-9]{24}$/.test(id);

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function createStaffRepository() {
  const byId = async (id: string) => {
    if (!validId(id)) return null;
    const doc = await StaffUserModel.findById(id).lean<Lean>();
    return doc ? toRecord(doc) : null;
  };

  const roster = {
    async add(id: string): Promise<void> {
      await StaffRosterModel.updateOne(
        { _id: ROSTER_ID },
        { $addToSet: { adminIds: id } },
        { upsert: true },
      ).catch((err: unknown) => {
        // Two first admins created at once both upsert; the loser retries as a plain update.
        if (!isDuplicateKey(err)) throw err;
        return StaffRosterModel.updateOne({ _id: ROSTER_ID }, { $addToSet: { adminIds: id } });
      });
    },
    /** Takes an admin off the roster only while another active admin stays on it. */
    async removeUnlessLast(id: string): Promise<boolean> {
      const result = await StaffRosterModel.updateOne(
        { _id: ROSTER_ID, adminIds: id, 'adminIds.1': { $exists: true } },
        { $pull: { adminIds: id } },
      );
      return result.modifiedCount === 1;
    },
    async remove(id: string): Promise<void> {
      await StaffRosterModel.updateOne({ _id: ROSTER_ID }, { $pull: { adminIds: id } });
    },
    async list(): Promise<string[]> {
      const doc = await StaffRosterModel.findById(ROSTER_ID).lean<{ adminIds?: string[] }>();
      return doc?.adminIds ?? [];
    },
  };

  return {
    /** Builds the unique index before the first write, so a duplicate email is refused from the start. */
    async ready(): Promise<void> {
      await StaffUserModel.init();
    },

    async insert(user: NewStaffUser): Promise<StaffRecord> {
      try {
        const doc = await StaffUserModel.create({ ...user, email: normaliseEmail(user.email) });
        const record = toRecord(doc.toObject());
        if (record.role === 'admin' && record.status === 'active') await roster.add(record.id);
        return record;
      } catch (err) {
        if (isDuplicateKey(err)) throw conflict(`There is already a staff account for ${user.email}.`);
        throw err;
      }
    },

    findById: byId,

    async findByEmail(email: string): Promise<StaffRecord | null> {
      const doc = await StaffUserModel.findOne({ email: normaliseEmail(email) }).lean<Lean>();
      return doc ? toRecord(doc) : null;
    },

    async list(): Promise<StaffRecord[]> {
      const docs = await StaffUserModel.find().sort({ email: 1 }).lean<Lean[]>();
      return docs.map(toRecord);
    },

    async count(): Promise<number> {
      return StaffUserModel.countDocuments();
    },

    /**
     * Counts one failed attempt in the current window (or opens a new window), and locks the
     * account once the window holds `maxFailures`. Returns whether the account is now locked.
     */
    async recordFailure(id: string, now: Date, policy: LockoutPolicy): Promise<boolean> {
      const windowStart = new Date(now.getTime() - policy.windowMs);
      let updated: Lean | null = null;
      for (let attempt = 0; attempt < 5 && !updated; attempt += 1) {
        updated = await StaffUserModel.findOneAndUpdate(
          { _id: id, firstFailedAt: { $gte: windowStart } },
          { $inc: { failedAttempts: 1 } },
          { returnDocument: 'after' },
        ).lean<Lean>();
        if (updated) break;
        // No open window: start one. Only one racer can match "no window / an old window".
        updated = await StaffUserModel.findOneAndUpdate(
          {
            _id: id,
            $or: [{ firstFailedAt: null }, { firstFailedAt: { $lt: windowStart } }],
          },
          { $set: { failedAttempts: 1, firstFailedAt: now } },
          { returnDocument: 'after' },
        ).lean<Lean>();
      }
      if (!updated) return false;
      if (((updated as { failedAttempts?: number }).failedAttempts ?? 0) < policy.maxFailures) return false;
      // Whichever racer gets here first sets the lock; the others find it set.
      await StaffUserModel.updateOne(
        { _id: id, failedAttempts: { $gte: policy.maxFailures } },
        {
          $set: { lockedUntil: new Date(now.getTime() + policy.lockMs), failedAttempts: 0 },
          $unset: { firstFailedAt: 1 },
        },
      );
      return true;
    },

    async recordSignIn(id: string, now: Date): Promise<void> {
      await StaffUserModel.updateOne(
        { _id: id },
        { $set: { lastSignInAt: now, failedAttempts: 0 }, $unset: { firstFailedAt: 1, lockedUntil: 1 } },
      );
    },

    /** Accepts a TOTP time step only if it is later than the last one used (no code twice). */
    async claimTotpStep(id: string, step: number): Promise<boolean> {
      const result = await StaffUserModel.updateOne(
        {
          _id: id,
          'totp.sealedSecret': { $exists: true },
          $or: [{ 'totp.lastStep': null }, { 'totp.lastStep': { $lt: step } }],
        },
        { $set: { 'totp.lastStep': step } },
      );
      return result.modifiedCount === 1;
    },

    /** Turns on TOTP for an account that has none yet; false if it was enrolled meanwhile. */
    async enableTotp(
      id: string,
      enrolment: { sealedSecret: string; step: number; recoveryCodeHashes: string[]; at: Date },
    ): Promise<boolean> {
      const result = await StaffUserModel.updateOne(
        { _id: id, status: 'active', 'totp.sealedSecret': null },
        {
          $set: {
            'totp.sealedSecret': enrolment.sealedSecret,
            'totp.enrolledAt': enrolment.at,
            'totp.lastStep': enrolment.step,
            recoveryCodeHashes: enrolment.recoveryCodeHashes,
          },
        },
      );
      return result.modifiedCount === 1;
    },

    /** Uses up one recovery code; false if it is unknown or already used. */
    async useRecoveryCode(id: string, codeHash: string): Promise<boolean> {
      const result = await StaffUserModel.updateOne(
        { _id: id, recoveryCodeHashes: codeHash },
        { $pull: { recoveryCodeHashes: codeHash } },
      );
      return result.modifiedCount === 1;
    },

    /** A fresh invitation replaces any earlier one, whose link then stops working. */
    async setInvitation(
      id: string,
      invitation: { nonceHash: string; expiresAt: Date; invitedBy: string },
      role: StaffRole,
    ): Promise<StaffRecord | null> {
      const doc = await StaffUserModel.findOneAndUpdate(
        { _id: id, status: 'invited' },
        { $set: { invitation, role } },
        { returnDocument: 'after' },
      ).lean<Lean>();
      return doc ? toRecord(doc) : null;
    },

    /** Sets the password from an invitation, once: the same link used twice finds nothing to match. */
    async acceptInvitation(
      id: string,
      nonceHash: string,
      now: Date,
      passwordHash: string,
    ): Promise<StaffRecord | null> {
      const doc = await StaffUserModel.findOneAndUpdate(
        {
          _id: id,
          status: 'invited',
          'invitation.nonceHash': nonceHash,
          'invitation.expiresAt': { $gt: now },
        },
        { $set: { passwordHash, status: 'active' }, $unset: { invitation: 1 } },
        { returnDocument: 'after' },
      ).lean<Lean>();
      if (!doc) return null;
      const record = toRecord(doc);
      if (record.role === 'admin') await roster.add(record.id);
      return record;
    },

    /**
     * Changes a role. Demoting an active admin first takes them off the roster, which only works
     * while another admin stays on it; the roster only ever lists people who really are active
     * admins (removals happen before the change, additions after it), so this can never leave
     * the publication without one.
     */
    async changeRole(id: string, role: StaffRole): Promise<StaffRecord | 'last_admin' | null> {
      const current = await byId(id);
      if (!current) return null;
      if (current.role === role) return current;
      const demotingActiveAdmin = current.role === 'admin' && current.status === 'active';
      if (demotingActiveAdmin && !(await roster.removeUnlessLast(id))) return 'last_admin';
      const doc = await StaffUserModel.findOneAndUpdate(
        { _id: id, role: current.role },
        { $set: { role } },
        { returnDocument: 'after' },
      ).lean<Lean>();
      const record = doc ? toRecord(doc) : await byId(id);
      if (record && record.role === 'admin' && record.status === 'active') await roster.add(id);
      return record;
    },

    /** Disables or re-enables an account, with the same last-admin guard as changeRole. */
    async setDisabled(id: string, disabled: boolean): Promise<StaffRecord | 'last_admin' | null> {
      const current = await byId(id);
      if (!current) return null;
      if (disabled) {
        if (current.status === 'disabled') return current;
        const activeAdmin = current.role === 'admin' && current.status === 'active';
        if (activeAdmin && !(await roster.removeUnlessLast(id))) return 'last_admin';
        const doc = await StaffUserModel.findOneAndUpdate(
          { _id: id, status: current.status },
          { $set: { status: 'disabled' }, $unset: { invitation: 1 } },
          { returnDocument: 'after' },
        ).lean<Lean>();
        const record = doc ? toRecord(doc) : await byId(id);
        if (record && record.role === 'admin' && record.status === 'active') await roster.add(id);
        return record;
      }
      if (current.status !== 'disabled') return current;
      // Without a password the account needs a new invitation before it can sign in.
      const status: StaffStatus = current.passwordHash ? 'active' : 'invited';
      const doc = await StaffUserModel.findOneAndUpdate(
        { _id: id, status: 'disabled' },
        { $set: { status, failedAttempts: 0 }, $unset: { lockedUntil: 1, firstFailedAt: 1 } },
        { returnDocument: 'after' },
      ).lean<Lean>();
      const record = doc ? toRecord(doc) : await byId(id);
      if (record && record.role === 'admin' && record.status === 'active') await roster.add(id);
      return record;
    },

    roster,
  };
}

export type StaffRepository = ReturnType<typeof createStaffRepository>;
