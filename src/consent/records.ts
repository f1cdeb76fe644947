/**
 * Consent records as evidence: each record's hash covers its canonical content (RFC 8785 JSON)
 * including the previous record's id, hash and time, so the records of one consent id form a chain
 * in which an edited, inserted or removed record shows. Pure: no I/O.
 */
import { createHash, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Choices, ConsentSource } from './policy.js';

export interface ConsentRecordContent {
  id: string;
  consentId: string;
  /** Position in this consent id's chain, from 1. */
  seq: number;
  recordedAt: Date;
  policyVersion: string;
  /** SHA-256 of the policy and banner texts shown (see `consenttexts`). */
  textHash: string;
  locale: string;
  /** Every category of the policy, granted or denied. */
  choices: Choices;
  source: ConsentSource;
  /** The request carried Sec-GPC: 1. */
  gpc: boolean;
  browserFamily: string;
  /** HMAC of the client IP with a server key; never the IP itself. */
  ipHash: string;
  previousId: string | null;
  previousHash: string | null;
  previousRecordedAt: Date | null;
}

export interface ConsentRecord extends ConsentRecordContent {
  hash: string;
}

export function newRecordId(): string {
  return `cr_${randomBytes(12).toString('base64url')}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The canonical form a record's hash is computed over. */
export function canonicalRecord(content: ConsentRecordContent): string {
  const { recordedAt, previousRecordedAt, ...rest } = content;
  const text = canonicalize({
    ...rest,
    choices: { ...rest.choices },
    recordedAt: recordedAt.toISOString(),
    previousRecordedAt: previousRecordedAt ? previousRecordedAt.toISOString() : null,
  });
  if (text === undefined) throw new Error('a consent record could not be put in canonical form');
  return text;
}

export function hashRecord(content: ConsentRecordContent): string {
  return sha256Hex(canonicalRecord(content));
}

/** The record that follows `previous` (or starts a chain) with the given content. */
export function sealRecord(
  content: Omit<ConsentRecordContent, 'seq' | 'previousId' | 'previousHash' | 'previousRecordedAt'>,
  previous: ConsentRecord | null,
): ConsentRecord {
  const full: ConsentRecordContent = {
    ...content,
    seq: previous ? previous.seq + 1 : 1,
    previousId: previous?.id ?? null,
    previousHash: previous?.hash ?? null,
    previousRecordedAt: previous?.recordedAt ?? null,
  };
  return { ...full, hash: hashRecord(full) };
}

export interface RecordCheck {
  id: string;
  seq: number;
  ok: boolean;
  problem?: string;
}

export interface ChainCheck {
  verified: boolean;
  records: RecordCheck[];
  /** The chain's first records were pruned under retention (not a fault). */
  prunedBefore: number | null;
  problems: string[];
}

/**
 * Checks a consent id's records (any order). A missing start is accepted only when the missing
 * predecessor is older than the retention cutoff, i.e. it was pruned, not removed.
 */
export function verifyChain(records: ConsentRecord[], retentionCutoff: Date): ChainCheck {
  const sorted = [...records].sort((a, b) => a.seq - b.seq);
  const problems: string[] = [];
  const checks: RecordCheck[] = [];
  let prunedBefore: number | null = null;
  sorted.forEach((record, i) => {
    const issues: string[] = [];
    const { hash, ...content } = record;
    if (hashRecord(content) !== hash) issues.push('its content does not match its hash: it was changed');
    const previous = i > 0 ? sorted[i - 1]! : null;
    if (previous) {
      if (record.seq !== previous.seq + 1) issues.push(`record #${previous.seq + 1} is missing before it`);
      else if (
        record.previousId !== previous.id ||
        record.previousHash !== previous.hash ||
        record.previousRecordedAt?.getTime() !== previous.recordedAt.getTime()
      ) {
        issues.push('it does not point to the record before it');
      }
    } else if (record.seq === 1) {
      if (record.previousId !== null || record.previousHash !== null) {
        issues.push('it is the first record but points to a predecessor');
      }
    } else if (record.previousRecordedAt && record.previousRecordedAt < retentionCutoff) {
      prunedBefore = record.seq;
    } else {
      issues.push(`the records before #${record.seq} are missing and were not due for pruning`);
    }
    if (issues.length)
      problems.push(...issues.map((issue) => `record #${record.seq} (${record.id}): ${issue}`));
    checks.push({
      id: record.id,
      seq: record.seq,
      ok: issues.length === 0,
      ...(issues.length ? { problem: issues.join('; ') } : {}),
    });
  });
  if (sorted.length === 0) problems.push('no records for this consent id');
  return { verified: problems.length === 0, records: checks, prunedBefore, problems };
}
