/**
 * PayPal resources → neutral payment facts. Pure functions, except where a fact needs something the
 * event does not carry (a plan's price, whether a transaction is a capture or a sale, the payer of
 * an order, capturing an approved order), which the caller supplies as lookups.
 *
 * Rules encoded here, from PayPal's documentation (Orders v2, Subscriptions v1, Disputes v1 and the
 * webhook event list):
 * - A reversal (`PAYMENT.CAPTURE.REVERSED`, `PAYMENT.SALE.REVERSED`) is a chargeback decided against
 *   us, not a refund: a lost dispute with the id `capture:<id>` / `sale:<id>`. Customer disputes on
 *   the same payment use the same id, so a buyer-favour resolution and its reversal are one loss.
 * - PayPal has no cancellation at the period end: a cancelled subscription stops billing, and the
 *   supporter keeps the period they paid for.
 * - Subscription statuses: APPROVAL_PENDING/APPROVED pending, ACTIVE active, SUSPENDED suspended,
 *   CANCELLED/EXPIRED cancelled; a failed payment makes it past due until a payment succeeds.
 */
import { addMonths } from 'date-fns';
import type { z } from 'zod';
import { monthlyAmount, parseDecimalToMinor, type BillingFrequency } from '../money.js';
import type {
  Money,
  Payer,
  PaymentDisputed,
  PaymentFact,
  PaymentRefunded,
  PaymentSucceeded,
  SubscriptionMoved,
  SubscriptionStatus,
} from '../types.js';
import { ProviderError } from '../types.js';
import * as s from './schemas.js';

/** Every event type that can carry facts; the rest are stored and ignored without reading them. */
export const handledEventTypes = [
  'CHECKOUT.ORDER.APPROVED',
  'PAYMENT.CAPTURE.COMPLETED',
  'PAYMENT.CAPTURE.REFUNDED',
  'PAYMENT.CAPTURE.REVERSED',
  'PAYMENT.SALE.COMPLETED',
  'PAYMENT.SALE.REFUNDED',
  'PAYMENT.SALE.REVERSED',
  'BILLING.SUBSCRIPTION.CREATED',
  'BILLING.SUBSCRIPTION.ACTIVATED',
  'BILLING.SUBSCRIPTION.UPDATED',
  'BILLING.SUBSCRIPTION.RE-ACTIVATED',
  'BILLING.SUBSCRIPTION.SUSPENDED',
  'BILLING.SUBSCRIPTION.CANCELLED',
  'BILLING.SUBSCRIPTION.EXPIRED',
  'BILLING.SUBSCRIPTION.PAYMENT.FAILED',
  'CUSTOMER.DISPUTE.CREATED',
  'CUSTOMER.DISPUTE.UPDATED',
  'CUSTOMER.DISPUTE.RESOLVED',
] as const;

const handled = new Set<string>(handledEventTypes);
export const handlesEventType = (type: string): boolean => handled.has(type);

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
  email_address?: string | undefined;
  payer_id?: string | undefined;
  name?: { given_name?: string; surname?: string } | undefined;
}): Payer {
  const payer: Payer = {};
  if (source.email_address) payer.email = source.email_address;
  const name = fullName(source.name);
  if (name) payer.name = name;
  if (source.payer_id) payer.customerId = source.payer_id;
  return payer;
}

/** The payer of an order: `payer`, or the PayPal wallet in `payment_source`. */
export function payerOfOrder(order: s.Order): Payer {
  return payerFrom(
    order.payer ?? {
      email_address: order.payment_source?.paypal?.email_address,
      payer_id: order.payment_source?.paypal?.account_id,
      name: order.payment_source?.paypal?.name,
    },
  );
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

/** PayPal's fee on a capture, from its seller receivable breakdown. */
export function feeOfCapture(capture: s.Capture): Money | undefined {
  const fee = capture.seller_receivable_breakdown?.paypal_fee;
  return fee ? moneyFromV2(fee) : undefined;
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
  const fee = feeOfCapture(capture);
  if (fee) fact.fee = fee;
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
  if (sale.transaction_fee) {
    fact.fee = moneyFromV1({ total: sale.transaction_fee.value, currency: sale.transaction_fee.currency });
  }
  if (sale.billing_agreement_id) fact.subscriptionId = sale.billing_agreement_id;
  // Subscription sales echo the subscription's custom_id in `custom`.
  const checkoutId = sale.custom_id ?? sale.custom;
  if (checkoutId) fact.checkoutId = checkoutId;
  if (extra.sourceEventId) fact.sourceEventId = extra.sourceEventId;
  return fact;
}

const subscriptionStatus: Record<string, SubscriptionStatus | undefined> = {
  APPROVAL_PENDING: 'pending',
  APPROVED: 'pending',
  ACTIVE: 'active',
  SUSPENDED: 'suspended',
  CANCELLED: 'cancelled',
  EXPIRED: 'cancelled',
};

/**
 * The end of the period a cancelled subscription was paid for: the next billing time when PayPal
 * still reports one after the cancellation; else a month after the last payment (Readerfund's PayPal
 * plans bill monthly; PayPal drops `next_billing_time` from a cancelled subscription); else now.
 */
export function paidPeriodEnd(sub: s.Subscription, at: Date): Date {
  const next = date(sub.billing_info?.next_billing_time);
  if (next && next > at) return next;
  const last = date(sub.billing_info?.last_payment?.time);
  const afterLast = last ? addMonths(last, 1) : undefined;
  return afterLast && afterLast > at ? afterLast : at;
}

/** A plan's price per billing cycle, and the cycle (absent: every month). */
export interface PlanPrice extends Money {
  every?: BillingFrequency;
}

const everyMonth: BillingFrequency = { interval: 'month', interval_count: 1 };

/** PayPal's billing cycle frequency as ours; twice a month counts as two payments a month. */
export function planPriceOf(
  price: Money,
  frequency?: { interval_unit: string; interval_count?: number },
): PlanPrice {
  const count = frequency?.interval_count ?? 1;
  switch (frequency?.interval_unit) {
    case 'DAY':
      return { ...price, every: { interval: 'day', interval_count: count } };
    case 'WEEK':
      return { ...price, every: { interval: 'week', interval_count: count } };
    case 'SEMI_MONTH':
      return {
        amountMinor: price.amountMinor * 2,
        currency: price.currency,
        every: { interval: 'month', interval_count: count },
      };
    case 'YEAR':
      return { ...price, every: { interval: 'year', interval_count: count } };
    default:
      return { ...price, every: { interval: 'month', interval_count: count } };
  }
}

function quantityOf(sub: s.Subscription): number {
  const quantity = Number.parseInt(sub.quantity ?? '1', 10);
  return Number.isSafeInteger(quantity) && quantity > 0 ? quantity : 1;
}

/** A subscription resource as a `subscription.moved` fact in `status`, as of `occurredAt`. */
export async function movedFromSubscription(
  sub: s.Subscription,
  status: SubscriptionStatus,
  extra: {
    occurredAt: Date;
    sourceEventId?: string;
    planAmount?: (planId: string) => Promise<PlanPrice | undefined>;
  },
): Promise<SubscriptionMoved> {
  const fact: SubscriptionMoved = {
    type: 'subscription.moved',
    provider: 'paypal',
    occurredAt: extra.occurredAt,
    subscriptionId: sub.id,
    status,
  };
  if (sub.subscriber) {
    const payer = payerFrom(sub.subscriber);
    if (Object.keys(payer).length) fact.payer = payer;
  }
  if (extra.planAmount) {
    // The plan's price is the price from now on (after a revision the last payment is the old one),
    // times the quantity, per month whatever the plan's billing cycle (MRR counts a month).
    const fromPlan = sub.plan_id ? await extra.planAmount(sub.plan_id) : undefined;
    const lastPayment = sub.billing_info?.last_payment?.amount;
    if (fromPlan) {
      fact.amount = {
        amountMinor: monthlyAmount(fromPlan.amountMinor, quantityOf(sub), fromPlan.every ?? everyMonth),
        currency: fromPlan.currency,
      };
    } else if (lastPayment) {
      fact.amount = moneyFromV2(lastPayment);
    }
  }
  if (status === 'cancelled') {
    fact.endsAt = paidPeriodEnd(sub, extra.occurredAt);
    fact.currentPeriodEnd = fact.endsAt;
  } else {
    const periodEnd = date(sub.billing_info?.next_billing_time);
    if (periodEnd) fact.currentPeriodEnd = periodEnd;
    // PayPal schedules no ends: a live subscription has none.
    if (status === 'active') fact.endsAt = null;
  }
  if (sub.custom_id) fact.checkoutId = sub.custom_id;
  if (extra.sourceEventId) fact.sourceEventId = extra.sourceEventId;
  return fact;
}

/** A dispute's outcome as the fact's status. */
export function disputeStatus(dispute: s.Dispute, eventType: string): PaymentDisputed['status'] {
  if (eventType === 'CUSTOMER.DISPUTE.CREATED' || dispute.status !== 'RESOLVED') return 'open';
  switch (dispute.dispute_outcome?.outcome_code) {
    case 'RESOLVED_BUYER_FAVOUR':
    case 'ACCEPTED': // the seller accepted the claim: the buyer gets the money
      return 'lost';
    case 'RESOLVED_SELLER_FAVOUR':
    case 'RESOLVED_WITH_PAYOUT': // PayPal paid the buyer itself: the seller keeps the money
    case 'DENIED': // the buyer's claim was denied: the seller keeps the money
      return 'won';
    default:
      // CANCELED_BY_BUYER (a withdrawn claim), NONE: ended without money moving.
      return 'closed';
  }
}

/** The id one chargeback has in every event about it: the payment's kind and id. */
export const disputeIdOf = (kind: 'capture' | 'sale', transactionId: string): string =>
  `${kind}:${transactionId}`;

export interface EventContext {
  eventId: string;
  eventType: string;
  createTime?: string;
  resource: unknown;
  planAmount: (planId: string) => Promise<PlanPrice | undefined>;
  /** Whether a PayPal transaction id is a v2 capture or a v1 sale. */
  transactionKind: (transactionId: string) => Promise<'capture' | 'sale'>;
  /** The payer of an order (a capture's webhook does not say who paid). */
  orderPayer: (orderId: string) => Promise<Payer | undefined>;
  /** Captures an approved order (idempotently) and returns its facts. */
  captureOrder: (orderId: string) => Promise<PaymentFact[]>;
}

/** Neutral facts for one PayPal webhook event; [] for event types Readerfund does not use. */
export async function factsFromPayPalEvent(ctx: EventContext): Promise<PaymentFact[]> {
  const base = { provider: 'paypal' as const, sourceEventId: ctx.eventId };
  const fallbackTime = ctx.createTime;
  const eventTime = date(ctx.createTime) ?? new Date();
  const subscriptionMoved = async (status: SubscriptionStatus, withAmount: boolean) => {
    const sub = parse(s.subscription, ctx.resource, 'subscription');
    return [
      await movedFromSubscription(sub, status, {
        occurredAt: eventTime,
        sourceEventId: ctx.eventId,
        ...(withAmount ? { planAmount: ctx.planAmount } : {}),
      }),
    ];
  };

  switch (ctx.eventType) {
    case 'CHECKOUT.ORDER.APPROVED': {
      // The reader approved but may never come back to our return page: capture it now.
      const order = parse(s.order, ctx.resource, 'order');
      const facts = await ctx.captureOrder(order.id);
      return facts.map((fact) => ({ ...fact, sourceEventId: ctx.eventId }));
    }

    case 'PAYMENT.CAPTURE.COMPLETED': {
      const capture = parse(s.capture, ctx.resource, 'capture');
      const orderId = capture.supplementary_data?.related_ids?.order_id;
      const payer = orderId ? await ctx.orderPayer(orderId) : undefined;
      return [
        succeededFromCapture(capture, {
          sourceEventId: ctx.eventId,
          fallbackTime,
          ...(payer ? { payer } : {}),
        }),
      ];
    }

    case 'PAYMENT.CAPTURE.REFUNDED': {
      const refund = parse(s.refundV2, ctx.resource, 'refund');
      const captureId = captureIdOfRefund(refund);
      if (!captureId) {
        throw new ProviderError(
          'paypal',
          `PayPal refund ${refund.id} does not say which capture it belongs to`,
          false,
        );
      }
      if (!refund.amount)
        throw new ProviderError('paypal', `PayPal refund ${refund.id} has no amount`, false);
      const fact: PaymentRefunded = {
        ...base,
        type: 'payment.refunded',
        occurredAt: date(refund.create_time, refund.update_time) ?? eventTime,
        paymentId: captureId,
        refund: { id: refund.id, amount: absolute(moneyFromV2(refund.amount)) },
      };
      if (refund.custom_id) fact.checkoutId = refund.custom_id;
      return [fact];
    }

    case 'PAYMENT.CAPTURE.REVERSED': {
      // Usually a refund-shaped resource pointing "up" at the capture; sometimes the capture itself.
      const refund = parse(s.refundV2, ctx.resource, 'reversal');
      const captureId = captureIdOfRefund(refund) ?? (refund.status === 'REVERSED' ? refund.id : undefined);
      if (!captureId) {
        throw new ProviderError(
          'paypal',
          `PayPal reversal ${refund.id} does not say which capture it reverses`,
          false,
        );
      }
      return [
        lostByReversal(base, {
          paymentId: captureId,
          disputeId: disputeIdOf('capture', captureId),
          occurredAt: date(refund.create_time, refund.update_time) ?? eventTime,
          ...(refund.amount ? { amount: absolute(moneyFromV2(refund.amount)) } : {}),
        }),
      ];
    }

    case 'PAYMENT.SALE.COMPLETED': {
      const sale = parse(s.sale, ctx.resource, 'sale');
      return [succeededFromSale(sale, { sourceEventId: ctx.eventId, fallbackTime })];
    }

    case 'PAYMENT.SALE.REFUNDED': {
      const refund = parse(s.saleRefund, ctx.resource, 'sale refund');
      const paymentId = refund.sale_id;
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
      if (refund.custom) fact.checkoutId = refund.custom;
      return [fact];
    }

    case 'PAYMENT.SALE.REVERSED': {
      const reversal = parse(s.saleRefund, ctx.resource, 'sale reversal');
      // A refund-shaped resource naming its sale, or the reversed sale itself.
      const saleId = reversal.sale_id ?? (reversal.state === 'reversed' ? reversal.id : undefined);
      if (!saleId) {
        throw new ProviderError(
          'paypal',
          `PayPal reversal ${reversal.id} does not say which sale it reverses`,
          false,
        );
      }
      return [
        lostByReversal(base, {
          paymentId: saleId,
          disputeId: disputeIdOf('sale', saleId),
          occurredAt: date(reversal.create_time, reversal.update_time) ?? eventTime,
          amount: absolute(moneyFromV1(reversal.amount)),
        }),
      ];
    }

    case 'BILLING.SUBSCRIPTION.CREATED':
      return subscriptionMoved('pending', true);
    case 'BILLING.SUBSCRIPTION.ACTIVATED':
    case 'BILLING.SUBSCRIPTION.RE-ACTIVATED':
      return subscriptionMoved('active', true);
    case 'BILLING.SUBSCRIPTION.UPDATED': {
      const sub = parse(s.subscription, ctx.resource, 'subscription');
      const status = subscriptionStatus[sub.status];
      return status ? subscriptionMoved(status, true) : [];
    }
    case 'BILLING.SUBSCRIPTION.SUSPENDED':
      return subscriptionMoved('suspended', false);
    case 'BILLING.SUBSCRIPTION.CANCELLED':
      return subscriptionMoved('cancelled', false);
    case 'BILLING.SUBSCRIPTION.EXPIRED': {
      // Every cycle ran and was paid: it ends now.
      const [moved] = await subscriptionMoved('cancelled', false);
      return [{ ...moved!, endsAt: eventTime, currentPeriodEnd: eventTime }];
    }

    case 'BILLING.SUBSCRIPTION.PAYMENT.FAILED': {
      const sub = parse(s.subscription, ctx.resource, 'subscription');
      const code = sub.billing_info?.last_failed_payment?.reason_code;
      const checkout = sub.custom_id ? { checkoutId: sub.custom_id } : {};
      return [
        {
          ...base,
          ...checkout,
          type: 'payment.failed',
          occurredAt: eventTime,
          subscriptionId: sub.id,
          reason: code
            ? `PayPal could not collect the subscription payment (${code})`
            : 'PayPal could not collect the subscription payment',
        },
        {
          ...base,
          ...checkout,
          type: 'subscription.moved',
          occurredAt: eventTime,
          subscriptionId: sub.id,
          status: 'past_due',
        },
      ];
    }

    case 'CUSTOMER.DISPUTE.CREATED':
    case 'CUSTOMER.DISPUTE.UPDATED':
    case 'CUSTOMER.DISPUTE.RESOLVED': {
      const dispute = parse(s.dispute, ctx.resource, 'dispute');
      const transactionId = dispute.disputed_transactions?.[0]?.seller_transaction_id;
      if (!transactionId) {
        throw new ProviderError('paypal', `PayPal dispute ${dispute.dispute_id} names no transaction`, false);
      }
      const fact: PaymentDisputed = {
        ...base,
        type: 'payment.disputed',
        occurredAt: date(dispute.update_time, dispute.create_time) ?? eventTime,
        paymentId: transactionId,
        disputeId: disputeIdOf(await ctx.transactionKind(transactionId), transactionId),
        status: disputeStatus(dispute, ctx.eventType),
      };
      if (dispute.dispute_amount) fact.amount = moneyFromV2(dispute.dispute_amount);
      return [fact];
    }

    default:
      return [];
  }
}

function lostByReversal(
  base: { provider: 'paypal'; sourceEventId: string },
  fields: { paymentId: string; disputeId: string; occurredAt: Date; amount?: Money },
): PaymentDisputed {
  return { ...base, type: 'payment.disputed', status: 'lost', ...fields };
}
