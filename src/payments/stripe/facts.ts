/**
 * Stripe events and objects → neutral payment facts. Pure: what a fact needs beyond the event (the
 * fee from a balance transaction, the invoice a PaymentIntent paid, an email from the Customer) is
 * named by `lookupFor` and handed in as `Found`; the adapter does the reading.
 *
 * Rules encoded here, from Stripe's documentation:
 * - Checkout: fulfil only when `payment_status` is `paid`; delayed methods complete unpaid and say
 *   `checkout.session.async_payment_succeeded` / `_failed` later.
 * - Subscriptions are billed by invoices: a subscription's payment is recorded under its invoice
 *   (`in_…`), and refunds/disputes, which name the PaymentIntent, are mapped back to it.
 * - Disputes: `lost` moves the money out, `won` (and `charge.dispute.funds_reinstated`) brings it
 *   back, `warning_closed` is an inquiry that ended without a chargeback: no money moved.
 */
import type { z } from 'zod';
import { monthlyAmount } from '../money.js';
import {
  ProviderError,
  type Money,
  type Payer,
  type PaymentDisputed,
  type PaymentFact,
  type PaymentSucceeded,
  type SubscriptionMoved,
  type SubscriptionStatus,
} from '../types.js';
import * as s from './schemas.js';

/** Every event type that can carry facts; the rest are stored and ignored without reading them. */
export const handledEventTypes = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'invoice.paid',
  'invoice.payment_failed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.closed',
  'charge.dispute.funds_reinstated',
] as const;
export type HandledEventType = (typeof handledEventTypes)[number];

const handled = new Set<string>(handledEventTypes);
export const handlesEventType = (type: string): type is HandledEventType => handled.has(type);

/** A handled event, parsed. */
export type StripeEventView = { eventId: string; createdAt: Date } & (
  | {
      type:
        | 'checkout.session.completed'
        | 'checkout.session.async_payment_succeeded'
        | 'checkout.session.async_payment_failed';
      session: s.CheckoutSession;
    }
  | { type: 'invoice.paid' | 'invoice.payment_failed'; invoice: s.Invoice }
  | {
      type:
        'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted';
      subscription: s.Subscription;
    }
  | { type: 'charge.refunded'; charge: s.Charge }
  | {
      type: 'charge.dispute.created' | 'charge.dispute.closed' | 'charge.dispute.funds_reinstated';
      dispute: s.Dispute;
    }
);

/** What the adapter must read for an event's facts, at most one API call. */
export type Lookup =
  /** The payment's fee (and, with `customer`, the payer's email from the Customer). */
  | { kind: 'paymentIntent'; id: string; customer: boolean }
  /** An invoice's fee, paid time (and the Customer's email). */
  | { kind: 'invoice'; id: string; customer: boolean }
  /** The ledger key of a PaymentIntent: the invoice it paid, or itself. */
  | { kind: 'ledgerKey'; paymentIntentId: string };

/** What a payment's own objects say beyond the event. */
export interface PaymentDetails {
  fee?: Money;
  email?: string;
  name?: string;
  customerId?: string;
  occurredAt?: Date;
}

export interface Found {
  payment?: PaymentDetails;
  /** For refunds and disputes: the ledger key of the PaymentIntent they name. */
  ledgerPaymentId?: string;
}

export const idOf = (value: string | { id: string } | null | undefined): string | undefined =>
  typeof value === 'string' ? value : (value?.id ?? undefined);

/** The object when the field was expanded, else undefined. */
const expanded = <T extends { id: string }>(value: string | T | null | undefined): T | undefined =>
  value && typeof value === 'object' ? value : undefined;

export const fromUnix = (seconds: number): Date => new Date(seconds * 1000);

export function money(
  amountMinor: number | null | undefined,
  currency: string | null | undefined,
): Money | null {
  return typeof amountMinor === 'number' && currency
    ? { amountMinor, currency: currency.toUpperCase() }
    : null;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join('.') ?? '';
    throw new ProviderError('stripe', `Stripe ${what} is missing fields we need (${where})`, false);
  }
  return parsed.data;
}

/** Parses a verified event of a handled type; null for any other type. */
export function readEvent(payload: Record<string, unknown>): StripeEventView | null {
  // Most deliveries are of types we ignore: decide that before reading anything else.
  if (typeof payload.type === 'string' && !handlesEventType(payload.type)) return null;
  const envelope = parse(s.eventEnvelope, payload, 'event');
  const base = { eventId: envelope.id, createdAt: fromUnix(envelope.created) };
  const object = envelope.data.object;
  const type = envelope.type;
  if (!handlesEventType(type)) return null;
  switch (type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
    case 'checkout.session.async_payment_failed':
      return { ...base, type, session: parse(s.checkoutSession, object, 'Checkout Session') };
    case 'invoice.paid':
    case 'invoice.payment_failed':
      return { ...base, type, invoice: parse(s.invoice, object, 'invoice') };
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
      return { ...base, type, subscription: parse(s.subscription, object, 'subscription') };
    case 'charge.refunded':
      return { ...base, type, charge: parse(s.charge, object, 'charge') };
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
    case 'charge.dispute.funds_reinstated':
      return { ...base, type, dispute: parse(s.dispute, object, 'dispute') };
  }
}

const sessionEmail = (session: s.CheckoutSession): string | undefined =>
  session.customer_details?.email ?? expanded(session.customer)?.email ?? undefined;

/** The one read an event's facts need, or null when the event carries all of them. */
export function lookupFor(event: StripeEventView): Lookup | null {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = event.session;
      if (session.payment_status !== 'paid') return null;
      const customer = !sessionEmail(session) && Boolean(idOf(session.customer));
      if (session.mode === 'subscription') {
        const invoiceId = idOf(session.invoice);
        return invoiceId ? { kind: 'invoice', id: invoiceId, customer } : null;
      }
      const paymentIntentId = idOf(session.payment_intent);
      return paymentIntentId ? { kind: 'paymentIntent', id: paymentIntentId, customer } : null;
    }
    case 'invoice.paid': {
      const invoice = event.invoice;
      if (invoice.amount_paid <= 0) return null;
      return {
        kind: 'invoice',
        id: invoice.id,
        customer: !invoice.customer_email && Boolean(idOf(invoice.customer)),
      };
    }
    case 'charge.refunded': {
      const paymentIntentId = idOf(event.charge.payment_intent);
      return paymentIntentId ? { kind: 'ledgerKey', paymentIntentId } : null;
    }
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
    case 'charge.dispute.funds_reinstated': {
      const paymentIntentId = idOf(event.dispute.payment_intent);
      return paymentIntentId ? { kind: 'ledgerKey', paymentIntentId } : null;
    }
    default:
      return null;
  }
}

/** Fee, payer and time from a PaymentIntent read with `latest_charge.balance_transaction` (and `customer`) expanded. */
export function detailsFromPaymentIntent(intent: s.PaymentIntent): PaymentDetails {
  const transaction = expanded(expanded(intent.latest_charge)?.balance_transaction);
  const customer = expanded(intent.customer);
  const details: PaymentDetails = intent.created ? { occurredAt: fromUnix(intent.created) } : {};
  const fee = transaction ? money(transaction.fee, transaction.currency) : null;
  if (fee) details.fee = fee;
  const email = intent.receipt_email ?? customer?.email;
  if (email) details.email = email;
  if (customer?.name) details.name = customer.name;
  const customerId = idOf(intent.customer);
  if (customerId) details.customerId = customerId;
  return details;
}

/** The PaymentIntent that paid an invoice, from its expanded `payments`. */
export function paidIntentOf(invoice: s.Invoice): s.PaymentIntent | string | undefined {
  const payments = invoice.payments?.data ?? [];
  const paid = payments.find((p) => p.status === 'paid') ?? payments[0];
  return paid?.payment?.payment_intent ?? undefined;
}

/** Fee, payer and time from an invoice read with `payments…balance_transaction` (and `customer`) expanded. */
export function detailsFromInvoice(invoice: s.Invoice): PaymentDetails {
  const intent = expanded(paidIntentOf(invoice));
  const fromIntent = intent ? detailsFromPaymentIntent(intent) : {};
  const customer = expanded(invoice.customer);
  const details: PaymentDetails = {};
  if (fromIntent.fee) details.fee = fromIntent.fee;
  const email = invoice.customer_email ?? customer?.email;
  if (email) details.email = email;
  const name = invoice.customer_name ?? customer?.name;
  if (name) details.name = name;
  const customerId = idOf(invoice.customer);
  if (customerId) details.customerId = customerId;
  const paidAt = invoice.status_transitions?.paid_at;
  if (paidAt) details.occurredAt = fromUnix(paidAt);
  return details;
}

function payerOf(
  ...sources: Array<{ email?: string | null; name?: string | null; customerId?: string } | undefined>
): Payer {
  const payer: Payer = {};
  for (const source of sources) {
    if (!source) continue;
    if (!payer.email && source.email) payer.email = source.email;
    if (!payer.name && source.name) payer.name = source.name;
    if (!payer.customerId && source.customerId) payer.customerId = source.customerId;
  }
  return payer;
}

const checkoutIdOf = (session: s.CheckoutSession): string | undefined =>
  session.metadata?.checkoutId ?? session.client_reference_id ?? undefined;

function withOptional<T extends object>(fact: T, extra: Record<string, unknown>): T {
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined && value !== null && value !== '') (fact as Record<string, unknown>)[key] = value;
  }
  return fact;
}

export { monthlyAmount } from '../money.js';

const subscriptionStatus: Record<string, SubscriptionStatus | undefined> = {
  active: 'active',
  trialing: 'active',
  past_due: 'past_due',
  unpaid: 'past_due',
  paused: 'suspended',
  canceled: 'cancelled',
  incomplete_expired: 'cancelled',
  incomplete: 'pending',
};

/** A subscription object as a `subscription.moved` fact; null for a status we do not know. */
export function movedFromSubscription(
  sub: s.Subscription,
  extra: { occurredAt: Date; deleted?: boolean; sourceEventId?: string },
): SubscriptionMoved | null {
  const status = extra.deleted ? 'cancelled' : subscriptionStatus[sub.status];
  if (!status) return null;
  const items = sub.items.data;
  const periodEnd = items[0]?.current_period_end;
  const currentPeriodEnd = periodEnd ? fromUnix(periodEnd) : undefined;
  let amount: Money | undefined;
  const currency = items[0]?.price?.currency;
  const priced = items.flatMap((i) =>
    i.price?.currency === currency && i.price?.recurring && i.price.unit_amount != null
      ? [{ unit: i.price.unit_amount, quantity: i.quantity ?? 1, recurring: i.price.recurring }]
      : [],
  );
  if (currency && priced.length > 0 && priced.length === items.length) {
    amount = {
      amountMinor: priced.reduce((sum, i) => sum + monthlyAmount(i.unit, i.quantity, i.recurring), 0),
      currency: currency.toUpperCase(),
    };
  }
  // Stripe sets `cancel_at` to the period end when `cancel_at_period_end` is set; a subscription
  // without either has no end scheduled (null), which is also what an undone cancellation looks like.
  let endsAt: Date | null;
  if (status === 'cancelled') {
    endsAt = fromUnix(sub.ended_at ?? sub.canceled_at ?? Math.floor(extra.occurredAt.getTime() / 1000));
  } else if (sub.cancel_at) {
    endsAt = fromUnix(sub.cancel_at);
  } else if (sub.cancel_at_period_end && currentPeriodEnd) {
    endsAt = currentPeriodEnd;
  } else {
    endsAt = null;
  }
  const customer = expanded(sub.customer);
  const payer = payerOf({ email: customer?.email, name: customer?.name, customerId: idOf(sub.customer) });
  return withOptional<SubscriptionMoved>(
    {
      type: 'subscription.moved',
      provider: 'stripe',
      occurredAt: extra.occurredAt,
      subscriptionId: sub.id,
      status,
      endsAt,
    },
    {
      amount,
      currentPeriodEnd,
      payer: Object.keys(payer).length ? payer : undefined,
      planId: sub.metadata?.planId,
      checkoutId: sub.metadata?.checkoutId,
      sourceEventId: extra.sourceEventId,
    },
  );
}

/**
 * Facts from a Checkout Session; [] while it is not money yet. `payment` comes from the
 * PaymentIntent (one-off) or the invoice (monthly); `subscription` when it was expanded.
 */
export function factsFromSession(
  session: s.CheckoutSession,
  extra: {
    occurredAt: Date;
    sourceEventId?: string;
    payment?: PaymentDetails;
    subscription?: s.Subscription;
  },
): PaymentFact[] {
  if (session.payment_status !== 'paid') return [];
  const amount = money(session.amount_total, session.currency);
  if (!amount) return [];
  const payer = payerOf(
    { email: session.customer_details?.email, name: session.customer_details?.name },
    extra.payment,
    { customerId: idOf(session.customer) },
  );
  const occurredAt = extra.payment?.occurredAt ?? extra.occurredAt;
  const common = {
    checkoutId: checkoutIdOf(session),
    sourceEventId: extra.sourceEventId,
    planId: session.metadata?.planId,
  };
  if (session.mode === 'subscription') {
    const subscriptionId = idOf(session.subscription);
    if (!subscriptionId) return [];
    const fromObject = extra.subscription
      ? movedFromSubscription(extra.subscription, { occurredAt: extra.occurredAt })
      : null;
    const moved: SubscriptionMoved = fromObject
      ? withOptional(fromObject, { ...common, payer })
      : withOptional<SubscriptionMoved>(
          {
            type: 'subscription.moved',
            provider: 'stripe',
            occurredAt: extra.occurredAt,
            subscriptionId,
            status: 'active',
          },
          { ...common, amount, payer },
        );
    const facts: PaymentFact[] = [moved];
    const invoiceId = idOf(session.invoice);
    if (invoiceId) {
      facts.push(
        withOptional<PaymentSucceeded>(
          {
            type: 'payment.succeeded',
            provider: 'stripe',
            occurredAt,
            paymentId: invoiceId,
            amount,
            kind: 'recurring',
            subscriptionId,
            payer,
          },
          { ...common, fee: extra.payment?.fee },
        ),
      );
    }
    return facts;
  }
  const paymentIntentId = idOf(session.payment_intent);
  if (!paymentIntentId) return [];
  return [
    withOptional<PaymentSucceeded>(
      {
        type: 'payment.succeeded',
        provider: 'stripe',
        occurredAt,
        paymentId: paymentIntentId,
        amount,
        kind: 'one_off',
        payer,
      },
      { ...common, fee: extra.payment?.fee },
    ),
  ];
}

/** A paid invoice as the payment it is; [] for a zero invoice (nothing was charged). */
export function factsFromPaidInvoice(
  invoice: s.Invoice,
  extra: { occurredAt: Date; sourceEventId?: string; payment?: PaymentDetails },
): PaymentSucceeded[] {
  const amount = money(invoice.amount_paid, invoice.currency);
  if (!amount || amount.amountMinor === 0) return [];
  const details = extra.payment ?? detailsFromInvoice(invoice);
  const subscription = invoice.parent?.subscription_details;
  const subscriptionId = idOf(subscription?.subscription);
  const paidAt = invoice.status_transitions?.paid_at;
  return [
    withOptional<PaymentSucceeded>(
      {
        type: 'payment.succeeded',
        provider: 'stripe',
        occurredAt: paidAt ? fromUnix(paidAt) : (details.occurredAt ?? extra.occurredAt),
        paymentId: invoice.id,
        amount,
        kind: subscriptionId ? 'recurring' : 'one_off',
        payer: payerOf(
          { email: invoice.customer_email, name: invoice.customer_name, customerId: idOf(invoice.customer) },
          details,
        ),
      },
      {
        subscriptionId,
        planId: subscription?.metadata?.planId,
        checkoutId: subscription?.metadata?.checkoutId,
        fee: details.fee,
        sourceEventId: extra.sourceEventId,
      },
    ),
  ];
}

/**
 * A renewal that could not be collected: a failed payment, and the subscription past due (Stripe
 * moves a `charge_automatically` subscription to `past_due` when a renewal invoice fails; a failed
 * first invoice leaves it `incomplete`, which `customer.subscription.*` reports).
 */
export function factsFromFailedInvoice(
  invoice: s.Invoice,
  extra: { occurredAt: Date; sourceEventId?: string },
): PaymentFact[] {
  const subscription = invoice.parent?.subscription_details;
  const subscriptionId = idOf(subscription?.subscription);
  const common = {
    checkoutId: subscription?.metadata?.checkoutId,
    sourceEventId: extra.sourceEventId,
  };
  const attempts = invoice.attempt_count ? ` (attempt ${invoice.attempt_count})` : '';
  const facts: PaymentFact[] = [
    withOptional(
      {
        type: 'payment.failed' as const,
        provider: 'stripe' as const,
        occurredAt: extra.occurredAt,
        reason: `Stripe could not collect the invoice${attempts}`,
        paymentId: invoice.id,
      },
      { ...common, subscriptionId },
    ),
  ];
  if (subscriptionId && invoice.billing_reason !== 'subscription_create') {
    facts.push(
      withOptional<SubscriptionMoved>(
        {
          type: 'subscription.moved',
          provider: 'stripe',
          occurredAt: extra.occurredAt,
          subscriptionId,
          status: 'past_due',
        },
        common,
      ),
    );
  }
  return facts;
}

/** The dispute's state as a fact status. */
export function disputeStatus(type: StripeEventView['type'], status: string): PaymentDisputed['status'] {
  if (type === 'charge.dispute.funds_reinstated') return 'won';
  if (type === 'charge.dispute.created') return 'open';
  switch (status) {
    case 'won':
      return 'won';
    case 'lost':
      return 'lost';
    case 'warning_closed':
    case 'charge_refunded':
    case 'prevented':
      // An inquiry that ended, or a dispute settled by a refund that `charge.refunded` reports: no
      // chargeback money moved.
      return 'closed';
    default:
      return 'open';
  }
}

/** A dispute's status for reconciliation, from a dispute object as listed. */
export const listedDisputeStatus = (status: string): PaymentDisputed['status'] =>
  disputeStatus('charge.dispute.closed', status);

export function factsFromDispute(
  dispute: s.Dispute,
  extra: { type: StripeEventView['type']; occurredAt: Date; paymentId: string; sourceEventId?: string },
): PaymentDisputed {
  const transactions = dispute.balance_transactions ?? [];
  const fee = transactions.length
    ? money(
        transactions.reduce((sum, t) => sum + t.fee, 0),
        transactions[0]!.currency,
      )
    : null;
  return withOptional<PaymentDisputed>(
    {
      type: 'payment.disputed',
      provider: 'stripe',
      occurredAt: extra.occurredAt,
      paymentId: extra.paymentId,
      disputeId: dispute.id,
      status: disputeStatus(extra.type, dispute.status),
    },
    { amount: money(dispute.amount, dispute.currency), fee, sourceEventId: extra.sourceEventId },
  );
}

/** Neutral facts of a parsed event, with what `lookupFor` asked for. */
export function factsFromEvent(event: StripeEventView, found: Found = {}): PaymentFact[] {
  const base = { occurredAt: event.createdAt, sourceEventId: event.eventId };
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return factsFromSession(event.session, {
        ...base,
        ...(found.payment ? { payment: found.payment } : {}),
      });
    case 'checkout.session.async_payment_failed': {
      const session = event.session;
      return [
        withOptional(
          {
            type: 'payment.failed' as const,
            provider: 'stripe' as const,
            ...base,
            reason: 'the delayed payment failed',
          },
          { checkoutId: checkoutIdOf(session), paymentId: idOf(session.payment_intent) },
        ),
      ];
    }
    case 'invoice.paid':
      return factsFromPaidInvoice(event.invoice, {
        ...base,
        ...(found.payment ? { payment: found.payment } : {}),
      });
    case 'invoice.payment_failed':
      return factsFromFailedInvoice(event.invoice, base);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const moved = movedFromSubscription(event.subscription, {
        ...base,
        deleted: event.type === 'customer.subscription.deleted',
      });
      return moved ? [moved] : [];
    }
    case 'charge.refunded': {
      const charge = event.charge;
      const paymentIntentId = idOf(charge.payment_intent);
      const refundedTotal = money(charge.amount_refunded, charge.currency);
      if (!paymentIntentId || !refundedTotal) return [];
      // The list (newest first) is there only when the object was read with `refunds` expanded.
      const latest = [...(charge.refunds?.data ?? [])].sort((a, b) => (b.created ?? 0) - (a.created ?? 0))[0];
      return [
        withOptional(
          {
            type: 'payment.refunded' as const,
            provider: 'stripe' as const,
            ...base,
            paymentId: found.ledgerPaymentId ?? paymentIntentId,
            refundedTotal,
          },
          { latestRefundId: latest?.id, checkoutId: charge.metadata?.checkoutId },
        ),
      ];
    }
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
    case 'charge.dispute.funds_reinstated': {
      const paymentIntentId = idOf(event.dispute.payment_intent);
      if (!paymentIntentId) return [];
      return [
        factsFromDispute(event.dispute, {
          ...base,
          type: event.type,
          paymentId: found.ledgerPaymentId ?? paymentIntentId,
        }),
      ];
    }
  }
}
