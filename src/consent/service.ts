/**
 * The consent rules: turn a reader's answer into exactly one appended record (two when a GPC
 * signal is seen for the first time) and give back the cookie summary; prune past retention.
 * Everything is decided here; routes only parse and render. Reading the log is in audit.ts.
 */
import { createHmac } from 'node:crypto';
import Bowser from 'bowser';
import { AppError, conflict, validationError } from '../errors.js';
import type { Logger } from '../log.js';
import { retentionCutoffOf } from './audit.js';
import { newConsentId, type ConsentCookie } from './cookie.js';
import {
  askedCategories,
  choicesGranting,
  grantedOptional,
  type CategoryId,
  type ConsentPolicy,
  type ConsentSource,
} from './policy.js';
import { newRecordId, sealRecord, type ConsentRecord } from './records.js';
import { isDuplicateKey, type ConsentRepository } from './repository.js';
import type { ConsentTexts } from './texts.js';

export const formChoices = ['accept_all', 'reject_all', 'custom', 'settings', 'withdraw', 'allow'] as const;
export type FormChoice = (typeof formChoices)[number];

const sourceOf: Record<FormChoice, ConsentSource> = {
  accept_all: 'accept_all',
  reject_all: 'reject_all',
  custom: 'custom',
  settings: 'settings',
  withdraw: 'withdrawal',
  // "Load comments" under an article: one category more, the others as they were.
  allow: 'custom',
};

export interface ChoiceInput {
  choice: FormChoice;
  /** Categories ticked (custom, settings) or asked for (allow). */
  grant: string[];
  /** The texts hash the form was rendered with. */
  textsHash: string;
  /** A cookie we signed, whether or not its choice still stands. */
  cookie: ConsentCookie | null;
  /** The choice in force, if any. */
  current: ConsentCookie | null;
  gpc: boolean;
  ip: string;
  userAgent: string | undefined;
}

export interface ChoiceOutcome {
  cookie: ConsentCookie;
  records: ConsentRecord[];
  /** First-party cookies of refused categories, to expire in the response. */
  expireCookies: string[];
}

export interface ConsentService {
  readonly texts: ConsentTexts;
  recordChoice(input: ChoiceInput, now?: Date): Promise<ChoiceOutcome>;
  /** Deletes records older than the retention period; answers how many. */
  pruneExpired(now?: Date): Promise<number>;
  retentionCutoff(now?: Date): Date;
}

const MAX_ATTEMPTS = 8;

export function browserFamily(userAgent: string | undefined): string {
  if (!userAgent) return 'unknown';
  try {
    return Bowser.getParser(userAgent).getBrowserName() || 'other';
  } catch {
    return 'other';
  }
}

export function createConsentService(deps: {
  policy: ConsentPolicy;
  texts: ConsentTexts;
  textStore: { ensureStored(now?: Date): Promise<void> };
  repository: ConsentRepository;
  ipKey: Buffer;
  logger: Logger;
}): ConsentService {
  const { policy, texts, repository } = deps;
  let ready: Promise<void> | null = null;
  const init = () =>
    (ready ??= repository.init().catch((err: unknown) => {
      ready = null;
      throw err;
    }));

  const retentionCutoff = (now = new Date()) => retentionCutoffOf(policy, now);
  const ipHash = (ip: string) => createHmac('sha256', deps.ipKey).update(ip).digest('base64url');

  function grantedBy(input: ChoiceInput): Set<CategoryId> {
    const unknown = input.grant.filter((id) => !policy.optionalIds.has(id) && id !== 'necessary');
    if (unknown.length) {
      throw validationError(
        `We do not know the categor${unknown.length > 1 ? 'ies' : 'y'} ${unknown.map((u) => `"${u}"`).join(', ')}. ` +
          `The categories are: ${policy.optional.map((c) => c.id).join(', ')}.`,
      );
    }
    const ticked = input.grant.filter((id) => id !== 'necessary');
    switch (input.choice) {
      case 'accept_all':
      case 'reject_all':
      case 'withdraw':
        if (ticked.length) {
          throw validationError(
            'Accept all, Reject all and Withdraw everything do not take a list of categories.',
          );
        }
        // Under a GPC signal the banner asks only about the categories the signal does not refuse.
        return new Set(
          input.choice === 'accept_all' ? askedCategories(policy, input.gpc).map((c) => c.id) : [],
        );
      case 'custom':
      case 'settings':
        return new Set(ticked);
      case 'allow':
        if (!ticked.length) throw validationError('Please say which category to turn on.');
        return new Set(
          [...(input.current?.granted ?? []), ...ticked].filter((id) => policy.optionalIds.has(id)),
        );
    }
  }

  return {
    texts,

    async recordChoice(input, now = new Date()) {
      if (input.textsHash !== texts.hash) {
        throw conflict(
          'Our privacy notice changed after this page was shown to you, so we have not recorded anything. ' +
            'Please read the current notice and choose again.',
        );
      }
      const granted = grantedBy(input);
      const consentId = input.cookie?.consentId ?? newConsentId();
      await Promise.all([init(), deps.textStore.ensureStored(now)]);
      const common = {
        consentId,
        recordedAt: now,
        policyVersion: policy.version,
        textHash: texts.hash,
        locale: policy.locale,
        gpc: input.gpc,
        browserFamily: browserFamily(input.userAgent),
        ipHash: ipHash(input.ip),
      };
      for (let attempt = 1; ; attempt++) {
        const previous = await repository.latest(consentId);
        const records: ConsentRecord[] = [];
        // The signal is recorded once per consent id, when it is first seen with no choice standing.
        if (input.gpc && !input.current && !(await repository.hasSource(consentId, 'gpc'))) {
          records.push(
            sealRecord(
              { ...common, id: newRecordId(), source: 'gpc', choices: choicesGranting(policy, []) },
              previous,
            ),
          );
        }
        records.push(
          sealRecord(
            {
              ...common,
              id: newRecordId(),
              source: sourceOf[input.choice],
              choices: choicesGranting(policy, granted),
            },
            records.at(-1) ?? previous,
          ),
        );
        try {
          await repository.append(records);
        } catch (err) {
          // Another request of the same reader took this place in the chain: read again and retry.
          if (isDuplicateKey(err) && attempt < MAX_ATTEMPTS) continue;
          if (isDuplicateKey(err))
            throw new AppError('conflict', 'Your choice could not be saved. Please try again.');
          throw err;
        }
        const last = records.at(-1)!;
        deps.logger.debug({ consentId, seq: last.seq, source: last.source }, 'consent recorded');
        return {
          records,
          cookie: {
            consentId,
            policyVersion: policy.version,
            decidedAt: now,
            granted: grantedOptional(policy, last.choices),
            seq: last.seq,
          },
          expireCookies: policy.optional.filter((c) => !granted.has(c.id)).flatMap((c) => c.cookies),
        };
      }
    },

    retentionCutoff,

    async pruneExpired(now = new Date()) {
      await init();
      return repository.pruneOlderThan(retentionCutoff(now));
    },
  };
}
