/**
 * Per-request consent state, decided from the signed cookie and the Sec-GPC header alone, and the
 * view of it that templates see. Views are shared objects, one per *variant* (no choice, no choice
 * with GPC, and each combination of granted categories that changes a page), so a rendered page is
 * a function of its URL and its variant and can be cached and shared by every reader in that
 * variant. Nothing per reader (consent id, time) ever goes into a view.
 */
import type { CspAllowance } from '../http/security.js';
import type { ConsentCookie, ConsentCookieCodec } from './cookie.js';
import {
  askedCategories,
  choiceExpiresAt,
  type Category,
  type CategoryId,
  type ConsentPolicy,
} from './policy.js';

export interface BannerView {
  gpc: boolean;
  /** The categories the banner asks about (GPC-refused ones are not asked). */
  asked: Array<Pick<Category, 'id' | 'label' | 'description'>>;
  /** Categories refused by the browser's GPC signal, named in the banner. */
  refusedBySignal: Array<Pick<Category, 'id' | 'label'>>;
}

export interface ConsentView {
  /** Cache-key part: equal views have equal keys. */
  key: string;
  /** No valid choice yet: the banner is shown. */
  ask: boolean;
  banner: BannerView | null;
  /** Granted optional categories among those that matter for the page. */
  granted: Record<CategoryId, true>;
  /** Scripts of granted categories, emitted by the layout. */
  scripts: string[];
  /** Where the comments widget is framed from, when comments are granted. */
  commentsWidget: { origin: string; embedPath: string } | null;
  /** Hash of the policy and banner texts these pages show; posted back with a choice. */
  textsHash: string;
  policyVersion: string;
}

export interface ConsentRequestState {
  /** The current, valid choice; null while the reader has to be asked. */
  choice: ConsentCookie | null;
  /** A cookie we signed, even if its choice no longer stands (older policy, too old): its consent id goes on. */
  cookie: ConsentCookie | null;
  /** The browser sent Sec-GPC: 1. */
  gpc: boolean;
  /** Optional categories in effect for this request. */
  granted: ReadonlySet<CategoryId>;
  csp: CspAllowance | null;
  /** The view for a page that only changes with the given categories (plus those with scripts). */
  forPage(uses: readonly CategoryId[]): ConsentView;
  /** The view for every category, as pages rendered per request use. */
  readonly fullView: ConsentView;
}

export const commentsCategory = 'comments';

const noGrants: ReadonlySet<CategoryId> = new Set();

/** Decided states kept per cookie value, so a reader's next page costs a lookup, not a signature check. */
const MAX_REMEMBERED = 10_000;
const REMEMBER_MS = 3_600_000;

export class ConsentStates {
  private readonly views = new Map<string, ConsentView>();
  private readonly allowances = new Map<string, CspAllowance | null>();
  private readonly allIds: CategoryId[];
  private readonly remembered = new Map<string, { state: ConsentRequestState; until: number }>();
  private anonymous: [ConsentRequestState, ConsentRequestState] | null = null;

  constructor(
    private readonly policy: ConsentPolicy,
    private readonly codec: ConsentCookieCodec,
    /** Set once the texts are rendered and hashed (they contain banner views, which need no hash). */
    private textsHash = '',
  ) {
    this.allIds = policy.optional.map((c) => c.id);
  }

  setTextsHash(hash: string): void {
    this.textsHash = hash;
    this.views.clear();
    this.remembered.clear();
    this.anonymous = null;
  }

  banner(gpc: boolean): BannerView {
    return {
      gpc,
      asked: askedCategories(this.policy, gpc).map(({ id, label, description }) => ({
        id,
        label,
        description,
      })),
      refusedBySignal: gpc
        ? this.policy.optional.filter((c) => c.optOutByGpc).map(({ id, label }) => ({ id, label }))
        : [],
    };
  }

  /** Whether the choice in a cookie still stands: same policy version and not older than the period. */
  stands(cookie: ConsentCookie, now: Date): boolean {
    return (
      cookie.policyVersion === this.policy.version &&
      cookie.decidedAt.getTime() <= now.getTime() + 60_000 &&
      choiceExpiresAt(this.policy, cookie.decidedAt) > now
    );
  }

  resolve(cookieValue: string | undefined, gpcHeader: string | undefined, now: Date): ConsentRequestState {
    const gpc = gpcHeader === '1' || gpcHeader?.trim() === '1';
    if (!cookieValue) {
      this.anonymous ??= [this.decide(null, false, now), this.decide(null, true, now)];
      return this.anonymous[gpc ? 1 : 0];
    }
    const key = `${gpc ? 1 : 0}${cookieValue}`;
    const nowMs = now.getTime();
    const known = this.remembered.get(key);
    if (known && nowMs < known.until) return known.state;
    const state = this.decide(cookieValue, gpc, now);
    // A standing choice is remembered until it expires; anything else for a while (it cannot become valid).
    const until = Math.min(
      nowMs + REMEMBER_MS,
      state.choice ? choiceExpiresAt(this.policy, state.choice.decidedAt).getTime() : Infinity,
    );
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
    this.remembered.set(key, { state, until });
    return state;
  }

  private decide(cookieValue: string | null, gpc: boolean, now: Date): ConsentRequestState {
    const cookie = cookieValue ? this.codec.decode(cookieValue) : null;
    const choice = cookie && this.stands(cookie, now) ? cookie : null;
    const granted = choice
      ? new Set(choice.granted.filter((id) => this.policy.optionalIds.has(id)))
      : noGrants;
    const pages = new Map<readonly CategoryId[], ConsentView>();
    const forPage = (uses: readonly CategoryId[]) => {
      let view = pages.get(uses);
      if (!view) {
        view = this.view(choice === null, gpc, granted, uses);
        pages.set(uses, view);
      }
      return view;
    };
    return {
      choice,
      cookie,
      gpc,
      granted,
      csp: this.allowance(granted),
      forPage,
      fullView: forPage(this.allIds),
    };
  }

  private view(
    ask: boolean,
    gpc: boolean,
    granted: ReadonlySet<CategoryId>,
    uses: readonly CategoryId[],
  ): ConsentView {
    let key: string;
    let relevant: CategoryId[] = [];
    if (ask) {
      key = gpc ? 'ask-gpc' : 'ask';
    } else {
      relevant = this.allIds.filter(
        (id) => granted.has(id) && (uses.includes(id) || this.policy.everyPageIds.includes(id)),
      );
      key = `ok:${relevant.join('+')}`;
    }
    const known = this.views.get(key);
    if (known) return known;
    const grantedView: Record<CategoryId, true> = {};
    for (const id of relevant) grantedView[id] = true;
    const view: ConsentView = {
      key,
      ask,
      banner: ask ? this.banner(gpc) : null,
      granted: grantedView,
      scripts: this.policy.optional.filter((c) => grantedView[c.id]).flatMap((c) => c.scripts),
      commentsWidget: grantedView[commentsCategory] ? this.policy.commentsWidget : null,
      textsHash: this.textsHash,
      policyVersion: this.policy.version,
    };
    this.views.set(key, view);
    return view;
  }

  private allowance(granted: ReadonlySet<CategoryId>): CspAllowance | null {
    if (granted.size === 0) return null;
    const key = [...granted].sort().join('+');
    const known = this.allowances.get(key);
    if (known !== undefined) return known;
    const scriptOrigins = [
      ...new Set(
        this.policy.optional
          .filter((c) => granted.has(c.id))
          .flatMap((c) => c.scripts.map((s) => new URL(s).origin)),
      ),
    ];
    const frameSrc = granted.has(commentsCategory) ? [this.policy.commentsWidget.origin] : [];
    const allowance =
      frameSrc.length || scriptOrigins.length
        ? { key, frameSrc, scriptSrc: scriptOrigins, connectSrc: scriptOrigins }
        : null;
    this.allowances.set(key, allowance);
    return allowance;
  }
}
