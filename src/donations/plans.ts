import { z } from 'zod';
import type { AppConfig, Plan } from '../config.js';
import { providersForPlan } from '../payments/descriptors.js';
import { parseDecimalToMinor } from '../payments/money.js';
import type { Money, ProviderId } from '../payments/types.js';
import { AppError } from '../errors.js';
import { formatMoney } from '../payments/money.js';

/** The value of the panel's "Other" choice: the amount is then the one typed in `otherAmount`. */
export const OTHER_AMOUNT = 'other';

/** The amounts a plan offers as one-tap choices, in minor units: its presets, or its default alone. */
export function presetAmounts(plan: Plan): number[] {
  return plan.presetAmountsMinor.length > 0 ? [...plan.presetAmountsMinor] : [plan.defaultAmountMinor];
}

/** The donation form as it arrives: strings only, nothing trusted. */
export const donationFormSchema = z.object({
  plan: z.string().trim().max(40),
  provider: z.string().trim().max(20),
  /** A decimal amount (a preset's value, or typed by an API client), or OTHER_AMOUNT. */
  amount: z.string().trim().max(20).optional(),
  /** What the reader typed beside "Other"; read only when "Other" is the choice. */
  otherAmount: z.string().trim().max(20).optional(),
  currency: z.string().trim().max(3).optional(),
  email: z.string().trim().max(254).optional(),
  /** The article whose panel the reader gave from (attribution); optional. */
  article: z.string().trim().max(120).optional(),
  website: z.string().max(500).optional(),
});
export type DonationForm = z.infer<typeof donationFormSchema>;

export interface DonationChoice {
  plan: Plan;
  provider: ProviderId;
  amount: Money;
  email?: string;
  articleSlug?: string;
}

/** A refusal a reader can act on, with what they sent so the panel can show it again. */
export class DonationInputError extends AppError {
  constructor(
    message: string,
    readonly values: Partial<DonationForm>,
  ) {
    super('validation', message);
  }
}

/**
 * Turns the form into a price we are willing to charge. The reader chooses the plan, the provider
 * and — within the plan's configured bounds — the amount; everything else comes from config.
 */
export function resolveDonation(config: AppConfig, body: unknown): DonationChoice {
  const parsed = donationFormSchema.safeParse(body ?? {});
  if (!parsed.success) throw new DonationInputError('Please choose a plan and a way to pay.', {});
  const form = parsed.data;
  const values = {
    plan: form.plan,
    provider: form.provider,
    amount: form.amount,
    otherAmount: form.otherAmount,
    currency: form.currency,
  };
  const plan = config.donations.plans.find((p) => p.id === form.plan);
  if (!plan) throw new DonationInputError('Please choose one of the plans shown.', values);
  const offered = providersForPlan(config, plan);
  const provider = offered.find((d) => d.id === form.provider);
  if (!provider) {
    throw new DonationInputError(
      `${plan.name} can be paid with ${offered.map((d) => d.label).join(' or ')} only.`,
      values,
    );
  }
  const currency = (form.currency || plan.currencies[0]!).toUpperCase();
  if (!plan.currencies.includes(currency)) {
    throw new DonationInputError(`${plan.name} is offered in ${plan.currencies.join(', ')} only.`, values);
  }
  const amountMinor = chosenAmount(config, plan, form, currency, values);
  let email: string | undefined;
  if (form.email) {
    const check = z.email().safeParse(form.email);
    if (!check.success) throw new DonationInputError('Please check your email address.', values);
    email = check.data.toLowerCase();
  }
  const articleSlug = articleSlugOf(form.article);
  return {
    plan,
    provider: provider.id,
    amount: { amountMinor, currency },
    ...(email ? { email } : {}),
    ...(articleSlug ? { articleSlug } : {}),
  };
}

/**
 * The amount the reader chose: a preset, or "Other" with what they typed beside it. A typed amount
 * counts only with "Other" chosen: the panel shows the input only then, so a preset the reader
 * picked after typing is what they see selected and what they get.
 */
function chosenAmount(
  config: AppConfig,
  plan: Plan,
  form: DonationForm,
  currency: string,
  values: Partial<DonationForm>,
): number {
  const choice = form.amount ?? '';
  const typed = form.otherAmount ?? '';
  if (choice.toLowerCase() === OTHER_AMOUNT) {
    if (!typed) {
      const locale = config.site.locale;
      const { min, max } = amountBounds(config, plan);
      throw new DonationInputError(
        `Please enter the amount you would like to give, from ${formatMoney(min, currency, locale)} to ${formatMoney(max, currency, locale)}.`,
        values,
      );
    }
    return amountForPlan(config, plan, typed, currency, values);
  }
  if (choice) return amountForPlan(config, plan, choice, currency, values);
  // No choice sent at all (a form without the radios): "Other" alone, else the default.
  return typed ? amountForPlan(config, plan, typed, currency, values) : plan.defaultAmountMinor;
}

/** The smallest and largest amount a plan accepts, in minor units. */
export function amountBounds(config: AppConfig, plan: Plan): { min: number; max: number } {
  return {
    min: Math.max(plan.minAmountMinor, config.donations.minimumAmountMinor),
    max: plan.maxAmountMinor,
  };
}

/**
 * The key an email is rate-limited under: case and plus-addressing make no new address
 * ("Reader+1@Example.com" and "reader@example.com" share one budget).
 */
export function rateLimitKeyForEmail(email: string): string {
  const [local = '', domain = ''] = email
    .trim()
    .toLowerCase()
    .split(/@(?=[^@]*$)/);
  return `${local.replace(/\+.*$/, '')}@${domain}`;
}

/**
 * An amount a reader typed ("12.50", "$12.50", "1,000"), in minor units, within the plan's bounds;
 * otherwise a DonationInputError that says what is allowed.
 */
export function amountForPlan(
  config: AppConfig,
  plan: Plan,
  input: string,
  currency: string,
  values: Partial<DonationForm> = {},
): number {
  let amountMinor: number;
  try {
    amountMinor = parseDecimalToMinor(
      input
        .trim()
        .replace(/^[$€£]/, '')
        .replace(/,/g, ''),
      currency,
    );
  } catch {
    throw new DonationInputError('Please enter the amount as a number, such as 5 or 12.50.', values);
  }
  const { min, max } = amountBounds(config, plan);
  if (amountMinor < min || amountMinor > max) {
    const locale = config.site.locale;
    throw new DonationInputError(
      `Please choose an amount from ${formatMoney(min, currency, locale)} to ${formatMoney(max, currency, locale)}.`,
      values,
    );
  }
  return amountMinor;
}

/** An article slug as the panel sends it, or undefined for anything else (attribution is optional). */
export function articleSlugOf(value: unknown): string | undefined {
  return typeof value === 'string' && /^[a-z0-9][a-z0-9-]{0,119}$/.test(value) ? value : undefined;
}
