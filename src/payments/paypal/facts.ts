/**
 * PayPal resources → neutral payment facts. Pure functions, except where a fact needs something
 * the event does not carry (a plan's price), which the caller supplies as a lookup.
 */
import type { z } from 'zod';
import { parseDecimalToMinor } from '../money.js';
import type {
  Money,
  Payer,
  PaymentFact,
  PaymentRefunded,
  PaymentSucceeded,
  SubscriptionActivated,
} from '../types.js';
import { ProviderError } from '../types.js';
import * as s from './schemas.js';

export function moneyFromV2(amount: z.infer<typeof s.moneyV2>): Money {
  const currency = amount.currency_code.toUpperCase();
  return { amountMinor: parseAmount(amount.value, currency), currency };
}

export function moneyFromV1(amount: z.infer<typeof s.moneyV1>): Money {
  const currency = amount.currency.toUpperCase();
  return { amountMinor: parseAmount(amount.total, currency), currency };
}

function parseAmount(value: string, currency: string): number {
  try {
    return parseDecimalToMinor(value, currency);
  } catch (err) {
    throw new ProviderError(
      'paypal',
      `PayPal sent an amount we cannot read exactly: "${value}" ${currency}`,
      false,
      { cause: err },
    );
  }
}

/** Refunds and reversals are sometimes reported as negative amounts; the fact carries the size. */
function absolute(money: Money): Money {
  return { amountMinor: Math.abs(money.amountMinor), currency: money.currency };
}

export function date(...candidates: (string | undefined)[]): Date | undefined {
  for (const candidate of candidates) {
    if (!candidate) continue;
    const at = new Date(candidate);
    if (!Number.isNaN(at.getTime())) return at;
  }
  return undefined;
}

function fullName(name: { given_name?: string; surname?: string } | undefined): string | undefined {
  const joined = [name?.given_name, name?.surname].filter(Boolean).join(' ').trim();
  return joined.length > 0 ? joined : undefined;
}

export function payerFrom(source: {
  email_address?: string;
  payer_id?: string;
  name?: { given_name?: string; surname?: string } | undefined;
}): Payer {
  const payer: Payer = {};
  if (source.email_address) payer.email = source.email_address;
  const name = fullName(source.name);
  if (name) payer.name = name;
  if (source.payer_id) payer.customerId = source.payer_id;
  return payer;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ProviderError('paypal', `PayPal ${what} is missing fields we need`, false);
  }
  return parsed.data;
}

/** The capture id from a refund's `up` link (`…/v2/payments/captures/{id}`). */
export function captureIdOfRefund(refund: z.infer<typeof s.refundV2>): string | undefined {
  for (const l of refund.links ?? []) {
    if (l.rel !== 'up') continue;
    const match = /\/v2\/payments\/captures\/([^/?#]+)/.exec(l.href);
    if (match?.[1]) return decodeURIComponent(match[1]);
  }
  return refund.supplementary_data?.related_ids?.capture_id;
}

export function succeededFromCapture(
  capture: s.Capture,
  extra: { payer?: Payer; checkoutId?: string; sourceEventId?: string; fallbackTime?: string },
): PaymentSucceeded {
  if (!capture.amount) {
    throw new ProviderError('paypal', `PayPal capture ${capture.id} has no amount`, false);
  }
  const fact: PaymentSucceeded = {
    type: 'payment.succeeded',
    provider: 'paypal',
    occurredAt: date(capture.create_time, capture.update_time, extra.fallbackTime) ?? new Date(),
    paymentId: capture.id,
    amount: moneyFromV2(capture.amount),
    kind: 'one_off',
    payer: extra.payer ?? {},
  };
  const checkoutId = capture.custom_id ?? extra.checkoutId;
  if (checkoutId) fact.checkoutId = checkoutId;
  if (extra.sourceEventId) fact.sourceEventId = extra.sourceEventId;
  return fact;
}

export function succeededFromSale(
  sale: z.infer<typeof s.sale>,
  extra: { sourceEventId?: string; fallbackTime?: string },
): PaymentSucceeded {
  const fact: PaymentSucceeded = {
    type: 'payment.succeeded',
    provider: 'paypal',
    occurredAt: date(sale.create_time, sale.update_time, extra.fallbackTime) ?? new Date(),
    paymentId: sale.id,
    amount: moneyFromV1(sale.amount),
    kind: sale.billing_agreement_id ? 'recurring' : 'one_off',
    payer: {},
  };
  if (sale.billing_agreement_id) fact.subscriptionId = sale.billing_agreement_id;
  // Subscription sales echo the subscription's custom_id in `custom`.
  const checkoutId = sale.custom_id ?? sale.custom;
  if (checkoutId) fact.checkoutId = checkoutId;
  if (extra.sourceEventId) fact.sourceEventId = extra.sourceEventId;
  return fact;
}

export async function activatedFromSubscription(
  sub: s.Subscription,
  extra: {
    sourceEventId?: string;
    fallbackTime?: string;
    planAmount: (planId: string) => Promise<Money | undefined>;
  },
): Promise<SubscriptionActivated> {
  const fact: SubscriptionActivated = {
    type: 'subscription.activated',
    provider: 'paypal',
    occurredAt:
      date(sub.status_update_time, sub.update_time, sub.create_time, extra.fallbackTime) ?? new Date(),
    subscriptionId: sub.id,
    payer: sub.subscriber ? payerFrom(sub.subscriber) : {},
  };
  const lastPayment = sub.billing_info?.last_payment?.amount;
  const amount = lastPayment
    ? moneyFromV2(lastPayment)
    : sub.plan_id
      ? await extra.planAmount(sub.plan_id)
      : undefined;
  if (amount) fact.amount = amount;
  const periodEnd = date(sub.billing_info?.next_billing_time);
  if (periodEnd) fact.currentPeriodEnd = periodEnd;
  if (sub.custom_id) fact.checkoutId = sub.custom_id;
  if (extra.sourceEventId) fact.sourceEventId = extra.sourceEventId;
  return fact;
}

export interface EventContext {
  eventId: string;
  eventType: string;
  createTime?: string;
  resource: unknown;
  planAmount: (planId: string) => Promise<Money | undefined>;
}

/** Neutral facts for one PayPal webhook event; [] for event types Readerfund does not use. */
export async function factsFromPayPalEvent(ctx: EventContext): Promise<PaymentFact[]> {
  const base = { provider: 'paypal' as const, sourceEventId: ctx.eventId };
  const fallbackTime = ctx.createTime;
  const eventTime = date(ctx.createTime) ?? new Date();

  switch (ctx.eventType) {
    case 'PAYMENT.CAPTURE.COMPLETED': {
      const capture = parse(s.capture, ctx.resource, 'capture');
      return [succeededFromCapture(capture, { sourceEventId: ctx.eventId, fallbackTime })];
    }

    case 'PAYMENT.CAPTURE.REFUNDED':
    case 'PAYMENT.CAPTURE.REVERSED': {
      const reversal = ctx.eventType === 'PAYMENT.CAPTURE.REVERSED';
      const refund = parse(s.refundV2, ctx.resource, 'refund');
      const captureId = captureIdOfRefund(refund);
      const occurredAt = date(refund.create_time, refund.update_time) ?? eventTime;
      if (captureId) {
        if (!refund.amount) {
          throw new ProviderError('paypal', `PayPal refund ${refund.id} has no amount`, false);
        }
        const fact: PaymentRefunded = {
          ...base,
          type: 'payment.refunded',
          occurredAt,
          paymentId: captureId,
          refund: { id: refund.id, amount: absolute(moneyFromV2(refund.amount)) },
        };
        if (reversal) fact.reversal = true;
        if (refund.custom_id) fact.checkoutId = refund.custom_id;
        return [fact];
      }
      if (reversal && refund.amount) {
        // Some reversals carry the capture itself (status REVERSED) instead of a refund object:
        // then the whole captured amount went back.
        const fact: PaymentRefunded = {
          ...base,
          type: 'payment.refunded',
          occurredAt,
          paymentId: refund.id,
          refundedTotal: absolute(moneyFromV2(refund.amount)),
          reversal: true,
        };
        if (refund.custom_id) fact.checkoutId = refund.custom_id;
        return [fact];
      }
      throw new ProviderError(
        'paypal',
        `PayPal refund ${refund.id} does not say which capture it belongs to`,
        false,
      );
    }

    case 'BILLING.SUBSCRIPTION.ACTIVATED': {
      const sub = parse(s.subscription, ctx.resource, 'subscription');
      return [
        await activatedFromSubscription(sub, {
          sourceEventId: ctx.eventId,
          fallbackTime,
          planAmount: ctx.planAmount,
        }),
      ];
    }

    case 'BILLING.SUBSCRIPTION.CANCELLED':
    case 'BILLING.SUBSCRIPTION.SUSPENDED': {
      const sub = parse(s.subscription, ctx.resource, 'subscription');
      const periodEnd = date(sub.billing_info?.next_billing_time);
      return [
        {
          ...base,
          type: 'subscription.status_changed',
          occurredAt: date(sub.status_update_time, sub.update_time) ?? eventTime,
          subscriptionId: sub.id,
          status: ctx.eventType === 'BILLING.SUBSCRIPTION.CANCELLED' ? 'cancelled' : 'suspended',
          ...(sub.custom_id ? { checkoutId: sub.custom_id } : {}),
          ...(periodEnd ? { currentPeriodEnd: periodEnd } : {}),
        },
      ];
    }

    case 'BILLING.SUBSCRIPTION.PAYMENT.FAILED': {
      const sub = parse(s.subscription, ctx.resource, 'subscription');
      const occurredAt = date(sub.update_time, sub.status_update_time) ?? eventTime;
      const code = sub.billing_info?.last_failed_payment?.reason_code;
      const checkout = sub.custom_id ? { checkoutId: sub.custom_id } : {};
      return [
        {
          ...base,
          ...checkout,
          type: 'payment.failed',
          occurredAt,
          subscriptionId: sub.id,
          reason: code
            ? `PayPal could not collect the subscription payment (${code})`
            : 'PayPal could not collect the subscription payment',
        },
        {
          ...base,
          ...checkout,
          type: 'subscription.status_changed',
          occurredAt,
          subscriptionId: sub.id,
          status: 'past_due',
        },
      ];
    }

    case 'PAYMENT.SALE.COMPLETED': {
      const sale = parse(s.sale, ctx.resource, 'sale');
      return [succeededFromSale(sale, { sourceEventId: ctx.eventId, fallbackTime })];
    }

    case 'PAYMENT.SALE.REFUNDED':
    case 'PAYMENT.SALE.REVERSED': {
      const refund = parse(s.saleRefund, ctx.resource, 'sale refund');
      const paymentId = refund.sale_id ?? refund.parent_payment;
      if (!paymentId) {
        throw new ProviderError(
          'paypal',
          `PayPal sale refund ${refund.id} does not say which sale it belongs to`,
          false,
        );
      }
      const fact: PaymentRefunded = {
        ...base,
        type: 'payment.refunded',
        occurredAt: date(refund.create_time, refund.update_time) ?? eventTime,
        paymentId,
        refund: { id: refund.id, amount: absolute(moneyFromV1(refund.amount)) },
      };
      if (ctx.eventType === 'PAYMENT.SALE.REVERSED') fact.reversal = true;
      if (refund.custom) fact.checkoutId = refund.custom;
      return [fact];
    }

    default:
      return [];
  }
}
