import type { AppConfig, Plan, ProviderId } from '../config.js';
import { providersForPlan } from '../payments/descriptors.js';
import { formatMoney, parseDecimalToMinor, toMajorUnitsString } from '../payments/money.js';
import { amountBounds, articleSlugOf, OTHER_AMOUNT, presetAmounts } from './plans.js';

export interface DonationPanelValues {
  plan?: string;
  provider?: string;
  amount?: string;
  otherAmount?: string;
  currency?: string;
  /** The article whose panel a refused form came from (kept for attribution). */
  article?: string;
}

export interface DonationPanelProvider {
  id: ProviderId;
  label: string;
}

/** One of the amounts offered as a radio button. */
export interface DonationPanelPreset {
  /** The radio's element id: "amount-contributor-500". */
  id: string;
  /** What the form sends: "5.00". */
  value: string;
  /** What the reader reads: "$5". */
  label: string;
  checked: boolean;
}

export interface DonationPanelPlan {
  id: string;
  name: string;
  description: string;
  interval: Plan['interval'];
  currencies: string[];
  defaultAmountMinor: number;
  minAmountMinor: number;
  maxAmountMinor: number;
  /** Providers a reader can actually use for this plan, in the same order for every plan. */
  providers: ProviderId[];
  display: {
    /** "$1" and "$1,000", for the hint under the other amount */
    minFormatted: string;
    maxFormatted: string;
    /** How often the gift is given, in the words of a gift: "once" / "each month". */
    cadence: string;
    /** The question the amount choices answer. */
    legend: string;
    /** What giving this way means, said plainly (monthly: when the charges happen, how to stop). */
    terms: string;
    presets: DonationPanelPreset[];
    other: {
      /** The "Other" radio's id; the amount input is `${id}-amount`. */
      id: string;
      value: typeof OTHER_AMOUNT;
      checked: boolean;
      /** What the reader typed, shown again after a refusal. */
      amount: string;
      /** True when a refusal concerns what was typed here. */
      invalid: boolean;
    };
    providers: DonationPanelProvider[];
    /** The refusal of this plan's last submission, shown inside its form. */
    error: string;
    currency: string;
    provider: string;
  };
}

export interface DonationPanel {
  plans: DonationPanelPlan[];
  error?: string;
  /** The error belongs to no plan shown (rate limit, honeypot, unknown plan): show it above them. */
  errorAbovePlans: boolean;
  values?: DonationPanelValues;
  /** The article the panel stands under: each form names it, so the payment is attributed to it. */
  articleSlug?: string;
}

const cadences: Record<Plan['interval'], string> = { once: 'once', month: 'each month' };
const legends: Record<Plan['interval'], string> = {
  once: 'How much would you like to give?',
  month: 'How much would you like to give each month?',
};
const terms: Record<Plan['interval'], string> = {
  once: 'A single payment, taken today. Nothing more is taken.',
  month:
    'You are charged today and then on the same day each month. Cancel any time, from the link in every receipt.',
};

/**
 * Providers in one order for every plan — the order they first appear in the configured plans — so
 * "Card" is never first in one form and second in the next.
 */
function providerOrder(config: AppConfig): Map<ProviderId, number> {
  const order = new Map<ProviderId, number>();
  for (const plan of config.donations.plans) {
    for (const id of plan.providers) if (!order.has(id)) order.set(id, order.size);
  }
  return order;
}

function minorOrNull(value: string, currency: string): number | null {
  try {
    return parseDecimalToMinor(value.trim(), currency);
  } catch {
    return null;
  }
}

/**
 * Which amount is selected: the reader's own choice after a refusal (a preset, or "Other" with what
 * they typed; an amount matching no preset counts as typed), otherwise the default preset.
 */
function selection(
  plan: Plan,
  presets: number[],
  currency: string,
  mine: DonationPanelValues | undefined,
): { preset: number | null; otherAmount: string | null } {
  const choice = mine?.amount?.trim() ?? '';
  const typed = mine?.otherAmount?.trim() ?? '';
  if (choice.toLowerCase() === OTHER_AMOUNT) return { preset: null, otherAmount: typed };
  if (choice) {
    const minor = minorOrNull(choice, currency);
    if (minor !== null && presets.includes(minor)) return { preset: minor, otherAmount: null };
    return { preset: null, otherAmount: choice };
  }
  if (typed) return { preset: null, otherAmount: typed };
  return {
    preset: presets.includes(plan.defaultAmountMinor) ? plan.defaultAmountMinor : presets[0]!,
    otherAmount: null,
  };
}

/** The context of views/partials/donation-panel.njk, for every page that shows the panel. */
export function buildDonationPanel(
  config: AppConfig,
  options: { error?: string; values?: DonationPanelValues; articleSlug?: string } = {},
): DonationPanel {
  const locale = config.site.locale;
  const order = providerOrder(config);
  const money = (minor: number, currency: string) =>
    formatMoney(minor, currency, locale, { dropZeroDecimals: true });
  const plans = config.donations.plans
    .map((plan): DonationPanelPlan => {
      const mine = options.values?.plan === plan.id ? options.values : undefined;
      const currency =
        mine?.currency && plan.currencies.includes(mine.currency.toUpperCase())
          ? mine.currency.toUpperCase()
          : plan.currencies[0]!;
      const offered = providersForPlan(config, plan).sort(
        (a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0),
      );
      const presets = presetAmounts(plan);
      const selected = selection(plan, presets, currency, mine);
      const error = mine && options.error ? options.error : '';
      const { min, max } = amountBounds(config, plan);
      return {
        id: plan.id,
        name: plan.name,
        description: plan.description,
        interval: plan.interval,
        currencies: [...plan.currencies],
        defaultAmountMinor: plan.defaultAmountMinor,
        minAmountMinor: plan.minAmountMinor,
        maxAmountMinor: plan.maxAmountMinor,
        providers: offered.map((d) => d.id),
        display: {
          minFormatted: money(min, currency),
          maxFormatted: money(max, currency),
          cadence: cadences[plan.interval],
          legend: legends[plan.interval],
          terms: terms[plan.interval],
          presets: presets.map((minor) => ({
            id: `amount-${plan.id}-${minor}`,
            value: toMajorUnitsString(minor, currency),
            label: money(minor, currency),
            checked: selected.preset === minor,
          })),
          other: {
            id: `amount-${plan.id}-other`,
            value: OTHER_AMOUNT,
            checked: selected.otherAmount !== null,
            amount: selected.otherAmount ?? '',
            invalid: !!error && selected.otherAmount !== null,
          },
          providers: offered.map((d) => ({ id: d.id, label: d.label })),
          error,
          currency,
          provider: mine?.provider ?? '',
        },
      };
    })
    .filter((plan) => plan.providers.length > 0);
  const error = options.error;
  const articleSlug = articleSlugOf(options.articleSlug ?? options.values?.article);
  return {
    plans,
    ...(articleSlug ? { articleSlug } : {}),
    ...(error ? { error } : {}),
    errorAbovePlans: !!error && !plans.some((p) => p.display.error),
    ...(options.values ? { values: options.values } : {}),
  };
}
