/**
 * The consent policy as configured: which categories exist, which a reader may refuse, which a
 * Global Privacy Control signal refuses, and how long a choice stands. Pure: no I/O.
 */
import { addMonths } from 'date-fns';
import type { AppConfig } from '../config.js';

export type CategoryId = string;
export type CategoryState = 'granted' | 'denied';
/** Every category of the policy, each explicitly granted or denied. */
export type Choices = Record<CategoryId, CategoryState>;

export const consentSources = [
  'accept_all',
  'reject_all',
  'custom',
  'settings',
  'withdrawal',
  'gpc',
] as const;
export type ConsentSource = (typeof consentSources)[number];

export interface Category {
  id: CategoryId;
  label: string;
  description: string;
  required: boolean;
  optOutByGpc: boolean;
  cookies: string[];
  scripts: string[];
}

export interface ConsentPolicy {
  version: string;
  locale: string;
  askAgainAfterMonths: number;
  recordRetentionYears: number;
  categories: Category[];
  /** The categories a reader may refuse, in configured order. */
  optional: Category[];
  optionalIds: ReadonlySet<CategoryId>;
  /** Optional categories that change every page when granted (they carry scripts). */
  everyPageIds: CategoryId[];
  commentsWidget: { origin: string; embedPath: string };
  /** Article pages are counted, without cookies or identifiers (reports.articleViews). */
  countsArticleViews: boolean;
}

export function policyFromConfig(config: AppConfig): ConsentPolicy {
  const categories = config.consent.categories.map((c) => ({
    ...c,
    cookies: [...c.cookies],
    scripts: [...c.scripts],
  }));
  const optional = categories.filter((c) => !c.required);
  return {
    version: config.consent.policyVersion,
    locale: config.site.locale,
    askAgainAfterMonths: config.consent.askAgainAfterMonths,
    recordRetentionYears: config.consent.recordRetentionYears,
    categories,
    optional,
    optionalIds: new Set(optional.map((c) => c.id)),
    everyPageIds: optional.filter((c) => c.scripts.length > 0).map((c) => c.id),
    commentsWidget: { ...config.consent.commentsWidget },
    countsArticleViews: config.reports.articleViews,
  };
}

/** The choices when the given optional categories are granted and all others denied. */
export function choicesGranting(policy: ConsentPolicy, granted: Iterable<CategoryId>): Choices {
  const grant = new Set(granted);
  const choices: Choices = {};
  for (const c of policy.categories) choices[c.id] = c.required || grant.has(c.id) ? 'granted' : 'denied';
  return choices;
}

export function grantedOptional(policy: ConsentPolicy, choices: Choices): CategoryId[] {
  return policy.optional.filter((c) => choices[c.id] === 'granted').map((c) => c.id);
}

/** The categories a banner asks about: all optional ones, less those a GPC signal already refused. */
export function askedCategories(policy: ConsentPolicy, gpc: boolean): Category[] {
  return gpc ? policy.optional.filter((c) => !c.optOutByGpc) : policy.optional;
}

/** When a choice made at decidedAt stops standing and the reader is asked again. */
export function choiceExpiresAt(policy: ConsentPolicy, decidedAt: Date): Date {
  return addMonths(decidedAt, policy.askAgainAfterMonths);
}
