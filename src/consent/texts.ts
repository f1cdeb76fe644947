/**
 * The words a reader is shown before choosing — the banner (with and without a GPC signal) and the
 * policy — rendered from the same templates the pages include, hashed, and stored once per
 * (version, hash) the first time they are served. A record's text hash then leads to those words.
 */
import canonicalize from 'canonicalize';
import nunjucks from 'nunjucks';
import type { AppConfig } from '../config.js';
import type { ConsentPolicy } from './policy.js';
import { sha256Hex } from './records.js';
import type { ConsentRepository, StoredTexts } from './repository.js';
import type { BannerView } from './state.js';

/** What the policy text template is given: the same for every reader. */
export interface PolicyView {
  version: string;
  askAgainAfterMonths: number;
  recordRetentionYears: number;
  categories: ConsentPolicy['categories'];
  commentsOrigin: string;
  /** Labels of the categories a GPC signal refuses. */
  refusedByGpc: string[];
  countsArticleViews: boolean;
}

export interface ConsentTexts {
  policyVersion: string;
  locale: string;
  hash: string;
  banner: string;
  bannerWithGpc: string;
  policy: string;
}

export const bannerTextTemplate = 'consent/banner-text.njk';
export const policyTextTemplate = 'consent/policy-text.njk';

export function policyView(policy: ConsentPolicy): PolicyView {
  return {
    version: policy.version,
    askAgainAfterMonths: policy.askAgainAfterMonths,
    recordRetentionYears: policy.recordRetentionYears,
    categories: policy.categories,
    commentsOrigin: policy.commentsWidget.origin,
    refusedByGpc: policy.optional.filter((c) => c.optOutByGpc).map((c) => c.label.toLowerCase()),
    countsArticleViews: policy.countsArticleViews,
  };
}

export function hashTexts(texts: Omit<ConsentTexts, 'hash'>): string {
  return sha256Hex(
    canonicalize({
      policyVersion: texts.policyVersion,
      locale: texts.locale,
      banner: texts.banner,
      bannerWithGpc: texts.bannerWithGpc,
      policy: texts.policy,
    })!,
  );
}

/** Renders the texts exactly as the pages include them. */
export function renderTexts(options: {
  viewsDir: string;
  site: AppConfig['site'];
  policy: ConsentPolicy;
  banner: (gpc: boolean) => BannerView;
}): ConsentTexts {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(options.viewsDir), {
    autoescape: true,
    throwOnUndefined: false,
  });
  const renderBanner = (gpc: boolean) =>
    env.render(bannerTextTemplate, { site: options.site, consent: { banner: options.banner(gpc) } }).trim();
  const unhashed = {
    policyVersion: options.policy.version,
    locale: options.policy.locale,
    banner: renderBanner(false),
    bannerWithGpc: renderBanner(true),
    policy: env.render(policyTextTemplate, { site: options.site, policy: policyView(options.policy) }).trim(),
  };
  return { ...unhashed, hash: hashTexts(unhashed) };
}

/** Stores the current texts once; concurrent and repeated calls share one write per process. */
export function createTextStore(repository: ConsentRepository, texts: ConsentTexts) {
  let stored: Promise<void> | null = null;
  return {
    ensureStored(now = new Date()): Promise<void> {
      stored ??= repository
        .storeTextsOnce({ ...texts, firstServedAt: now } satisfies StoredTexts)
        .catch((err: unknown) => {
          stored = null;
          throw err;
        });
      return stored;
    },
  };
}
