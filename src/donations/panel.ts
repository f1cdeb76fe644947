import type { AppConfig, Plan, ProviderId } from '../config.js';
import { providersForPlan } from '../payments/descriptors.js';
import { formatMoney, stepOf, toMajorUnitsString } from '../payments/money.js';

export interface DonationPanelValues {
  plan?: string;
  provider?: string;
  amount?: string;
  currency?: string;
}

export interface DonationPanelProvider {
  id: ProviderId;
  label: string;
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
  /** Providers a reader can actually use for this plan, in the configured order. */
  providers: ProviderId[];
  display: {
    /** "$5" */
    defaultAmount: string;
    /** "5.00", for the amount input's placeholder */
    defaultAmountInput: string;
    /** "1.00" */
    min: string;
    /** "1000.00" */
    max: string;
    /** "0.01" */
    step: string;
    /** "$1" and "$1,000", for the hint under the amount input */
    minFormatted: string;
    maxFormatted: string;
    /** "Billed once" / "Billed monthly" */
    billing: string;
    /** "Card or PayPal" / "PayPal only" */
    providerSummary: string;
    providers: DonationPanelProvider[];
    /** The values to show again after a refused submission of this plan's form. */
    amount: string;
    currency: string;
    provider: string;
  };
}

export interface DonationPanel {
  plans: DonationPanelPlan[];
  error?: string;
  values?: DonationPanelValues;
}

const billingLabels: Record<Plan['interval'], string> = { once: 'Billed once', month: 'Billed monthly' };

function providerSummary(labels: string[]): string {
  if (labels.length === 1) return `${labels[0]} only`;
  return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`;
}

/** The context of views/partials/donation-panel.njk, for every page that shows the panel. */
export function buildDonationPanel(
  config: AppConfig,
  options: { error?: string; values?: DonationPanelValues } = {},
): DonationPanel {
  const locale = config.site.locale;
  const plans = config.donations.plans
    .map((plan): DonationPanelPlan => {
      const currency = plan.currencies[0]!;
      const offered = providersForPlan(config, plan);
      const providers = offered.map((d) => d.id);
      const labels = offered.map((d) => d.label);
      const mine = options.values?.plan === plan.id ? options.values : undefined;
      return {
        id: plan.id,
        name: plan.name,
        description: plan.description,
        interval: plan.interval,
        currencies: [...plan.currencies],
        defaultAmountMinor: plan.defaultAmountMinor,
        minAmountMinor: plan.minAmountMinor,
        maxAmountMinor: plan.maxAmountMinor,
        providers,
        display: {
          defaultAmount: formatMoney(plan.defaultAmountMinor, currency, locale, { dropZeroDecimals: true }),
          defaultAmountInput: toMajorUnitsString(plan.defaultAmountMinor, currency),
          min: toMajorUnitsString(plan.minAmountMinor, currency),
          max: toMajorUnitsString(plan.maxAmountMinor, currency),
          step: stepOf(currency),
          minFormatted: formatMoney(plan.minAmountMinor, currency, locale, { dropZeroDecimals: true }),
          maxFormatted: formatMoney(plan.maxAmountMinor, currency, locale, { dropZeroDecimals: true }),
          billing: billingLabels[plan.interval],
          providerSummary: providerSummary(labels),
          providers: offered.map((d) => ({ id: d.id, label: d.label })),
          amount: mine?.amount ?? '',
          currency: mine?.currency && plan.currencies.includes(mine.currency) ? mine.currency : currency,
          provider: mine?.provider ?? '',
        },
      };
    })
    .filter((plan) => plan.providers.length > 0);
  return {
    plans,
    ...(options.error ? { error: options.error } : {}),
    ...(options.values ? { values: options.values } : {}),
  };
}
