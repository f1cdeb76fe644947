/**
 * Reading the consent log for an audit: the proof of one consent id (its chain, whether it
 * verifies, and the texts it points to) and the whole log over a period. Needs no keys and no
 * HTTP, so the operator CLI can use it against the store directly.
 */
import { subYears } from 'date-fns';
import type { ConsentPolicy } from './policy.js';
import { verifyChain, type ChainCheck, type ConsentRecord } from './records.js';
import type { ConsentRepository, StoredTexts } from './repository.js';
import { hashTexts } from './texts.js';

export interface TextsCheck {
  policyVersion: string;
  hash: string;
  stored: StoredTexts | null;
  /** The stored words still hash to the hash the records point to. */
  intact: boolean;
}

export interface ConsentProof {
  consentId: string;
  records: ConsentRecord[];
  check: ChainCheck;
  texts: TextsCheck[];
}

export interface ConsentAudit {
  proof(consentId: string, now?: Date): Promise<ConsentProof>;
  /** Records made in [from, to), oldest first. */
  log(from: Date, to: Date): AsyncIterable<ConsentRecord>;
}

/** Records made before this are past retention and may be (or have been) pruned. */
export function retentionCutoffOf(policy: Pick<ConsentPolicy, 'recordRetentionYears'>, now: Date): Date {
  return subYears(now, policy.recordRetentionYears);
}

export function createConsentAudit(deps: {
  policy: Pick<ConsentPolicy, 'recordRetentionYears'>;
  repository: ConsentRepository;
}): ConsentAudit {
  const { repository } = deps;
  return {
    async proof(consentId, now = new Date()) {
      const records = await repository.chain(consentId);
      const check = verifyChain(records, retentionCutoffOf(deps.policy, now));
      const pairs = new Map<string, { policyVersion: string; hash: string }>();
      for (const r of records) {
        pairs.set(`${r.policyVersion}\n${r.textHash}`, { policyVersion: r.policyVersion, hash: r.textHash });
      }
      const texts: TextsCheck[] = [];
      for (const { policyVersion, hash } of pairs.values()) {
        const stored = await repository.texts(policyVersion, hash);
        const intact = stored !== null && hashTexts(stored) === hash;
        texts.push({ policyVersion, hash, stored, intact });
        if (!intact) {
          check.verified = false;
          check.problems.push(
            stored
              ? `the stored texts of policy ${policyVersion} no longer hash to ${hash}: they were changed`
              : `the texts of policy ${policyVersion} with hash ${hash} are not stored`,
          );
        }
      }
      return { consentId, records, check, texts };
    },
    log(from, to) {
      return repository.between(from, to);
    },
  };
}
