import mongoose, { Schema } from 'mongoose';
import { consentSources } from './policy.js';

/**
 * `consentrecords`: append-only. Records are inserted and read, never updated; the only deletion is
 * the retention job's, for records older than the retention period. (consentId, seq) is unique, so
 * two simultaneous choices of one reader cannot both claim the same place in the chain.
 */
const consentRecordSchema = new Schema(
  {
    _id: { type: String, required: true },
    consentId: { type: String, required: true },
    seq: { type: Number, required: true },
    recordedAt: { type: Date, required: true },
    policyVersion: { type: String, required: true },
    textHash: { type: String, required: true },
    locale: { type: String, required: true },
    choices: { type: Schema.Types.Mixed, required: true },
    source: { type: String, required: true, enum: consentSources },
    gpc: { type: Boolean, required: true },
    browserFamily: { type: String, required: true },
    ipHash: { type: String, required: true },
    previousId: { type: String, default: null },
    previousHash: { type: String, default: null },
    previousRecordedAt: { type: Date, default: null },
    hash: { type: String, required: true },
  },
  { versionKey: false, minimize: false },
);
consentRecordSchema.index({ consentId: 1, seq: 1 }, { unique: true });
consentRecordSchema.index({ recordedAt: 1 });

/**
 * `consenttexts`: the policy and banner texts of each policy version as served, with their SHA-256.
 * Inserted once per (policyVersion, hash) and never changed, so a record's text hash always leads
 * to the exact words the reader was shown.
 */
const consentTextSchema = new Schema(
  {
    policyVersion: { type: String, required: true },
    hash: { type: String, required: true },
    locale: { type: String, required: true },
    banner: { type: String, required: true },
    bannerWithGpc: { type: String, required: true },
    policy: { type: String, required: true },
    firstServedAt: { type: Date, required: true },
  },
  { versionKey: false },
);
consentTextSchema.index({ policyVersion: 1, hash: 1 }, { unique: true });

export const ConsentRecordModel = mongoose.model('ConsentRecord', consentRecordSchema, 'consentrecords');
export const ConsentTextModel = mongoose.model('ConsentText', consentTextSchema, 'consenttexts');
