/**
 * The Stripe adapter: the only module that calls the `stripe` SDK. Stripe Checkout for one-off
 * (mode=payment) and monthly (mode=subscription) support; events become facts in `facts.ts`, with
 * at most one API read per event for what the event does not carry (fee, ledger key, email). The
 * API version is pinned so object shapes never change under us.
 */
import Stripe from 'stripe';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../log.js';
import {
  ProviderError,
  WebhookVerificationError,
  type CheckoutOutcome,
  type CheckoutRequest,
  type CheckoutStart,
  type Money,
  type PaymentFact,
  type PaymentProvider,
  type PaymentSucceeded,
  type PlanInterval,
  type ProviderPayment,
  type VerifiedEvent,
} from '../types.js';
import { stripeDescriptor } from './descriptor.js';
import {
  detailsFromInvoice,
  detailsFromPaymentIntent,
  factsFromEvent,
  factsFromPaidInvoice,
  factsFromSession,
  fromUnix,
  handlesEventType,
  idOf,
  listedDisputeStatus,
  lookupFor,
  money,
  paidIntentOf,
  readEvent,
  type Found,
  type Lookup,
  type PaymentDetails,
} from './facts.js';
import * as s from './schemas.js';

export { stripeDescriptor } from './descriptor.js';

export interface StripeAdapterOptions {
  secretKey: string;
  webhookSecret: string;
  apiVersion: string;
  /** The local simulator in development and tests; Stripe's own API when absent. */
  api?: { host: string; port: number; protocol: 'http' | 'https' };
  logger: Logger;
}

/** A Checkout Session id as Stripe makes them (the simulator's are `cs_test_` + 56 characters). */
const SESSION_ID = /^cs_(test_|live_)?[A-Za-z0-9]{8,200}$/;

/** The expansions that put a payment's fee on the PaymentIntent / invoice we read. */
const INTENT_FEE = 'latest_charge.balance_transaction';
const INVOICE_FEE = 'payments.data.payment.payment_intent.latest_charge.balance_transaction';

interface StripeErrorLike {
  type?: string;
  statusCode?: number;
  code?: string;
  message?: string;
}

const errorOf = (err: unknown): StripeErrorLike => (err && typeof err === 'object' ? err : {});

function toProviderError(err: unknown, action: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = errorOf(err);
  const retryable =
    e.type === 'StripeConnectionError' ||
    e.type === 'StripeAPIError' ||
    e.type === 'StripeRateLimitError' ||
    (e.statusCode ?? 0) >= 500;
  const reason =
    e.type === 'StripeCardError'
      ? (e.message ?? 'the card was declined')
      : retryable
        ? 'Stripe could not be reached, try again later'
        : 'Stripe did not accept it';
  return new ProviderError('stripe', `Could not ${action}: ${reason}.`, retryable, {
    cause: err,
    ...(e.statusCode ? { statusCode: e.statusCode } : {}),
  });
}

const isMissing = (err: unknown): boolean => {
  const e = errorOf(err);
  return e.statusCode === 404 || e.code === 'resource_missing';
};

function parsed<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  value: unknown,
  what: string,
): T {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new ProviderError('stripe', `Stripe answered with a ${what} we could not use`, false);
  return result.data;
}

export function createStripeAdapter(options: StripeAdapterOptions): PaymentProvider {
  const log = options.logger.child({ provider: 'stripe' });
  const stripe = new Stripe(options.secretKey, {
    // The configured version is the one our simulator and parsers are built for.
    apiVersion: options.apiVersion as Stripe.LatestApiVersion,
    maxNetworkRetries: 2,
    timeout: 20_000,
    telemetry: false,
    ...(options.api ?? {}),
  });

  /** A PaymentIntent's fee and payer; null when Stripe does not know it. */
  async function intentDetails(id: string, withCustomer: boolean): Promise<PaymentDetails | null> {
    try {
      const intent = await stripe.paymentIntents.retrieve(id, {
        expand: [INTENT_FEE, ...(withCustomer ? ['customer'] : [])],
      });
      return detailsFromPaymentIntent(parsed(s.paymentIntent, intent, 'payment'));
    } catch (err) {
      if (isMissing(err)) return null;
      throw toProviderError(err, 'read the payment');
    }
  }

  async function readInvoice(id: string, withCustomer: boolean): Promise<s.Invoice | null> {
    try {
      const invoice = await stripe.invoices.retrieve(id, {
        expand: [INVOICE_FEE, ...(withCustomer ? ['customer'] : [])],
      });
      return parsed(s.invoice, invoice, 'invoice');
    } catch (err) {
      if (isMissing(err)) return null;
      throw toProviderError(err, 'read the invoice');
    }
  }

  /**
   * Refunds and disputes name a PaymentIntent. A subscription payment is recorded under its invoice
   * (that is what `invoice.paid` names), so find the invoice a PaymentIntent paid, if any.
   */
  async function ledgerPaymentId(paymentIntentId: string): Promise<string> {
    try {
      const payments = await stripe.invoicePayments.list({
        payment: { type: 'payment_intent', payment_intent: paymentIntentId },
        limit: 1,
      });
      return idOf(payments.data[0]?.invoice) ?? paymentIntentId;
    } catch (err) {
      throw toProviderError(err, 'look up the invoice of a payment');
    }
  }

  /** The PaymentIntent behind a ledger payment: itself, or the one that paid an invoice. */
  async function paymentIntentOf(paymentId: string): Promise<string> {
    if (!paymentId.startsWith('in_')) return paymentId;
    try {
      const payments = await stripe.invoicePayments.list({ invoice: paymentId, status: 'paid', limit: 1 });
      const intent = idOf(payments.data[0]?.payment.payment_intent);
      if (!intent) {
        throw new ProviderError('stripe', `Stripe has no paid payment for invoice ${paymentId}`, false, {
          statusCode: 404,
        });
      }
      return intent;
    } catch (err) {
      throw toProviderError(err, 'find the payment of an invoice');
    }
  }

  async function find(lookup: Lookup | null): Promise<Found> {
    if (!lookup) return {};
    switch (lookup.kind) {
      case 'paymentIntent': {
        const payment = await intentDetails(lookup.id, lookup.customer);
        return payment ? { payment } : {};
      }
      case 'invoice': {
        const invoice = await readInvoice(lookup.id, lookup.customer);
        return invoice ? { payment: detailsFromInvoice(invoice) } : {};
      }
      case 'ledgerKey':
        return { ledgerPaymentId: await ledgerPaymentId(lookup.paymentIntentId) };
    }
  }

  /** The payer of a one-off Checkout payment, from its session (Checkout keeps the email there). */
  async function sessionOfIntent(paymentIntentId: string): Promise<s.CheckoutSession | undefined> {
    try {
      const sessions = await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
      const session = sessions.data[0];
      return session ? parsed(s.checkoutSession, session, 'Checkout Session') : undefined;
    } catch (err) {
      throw toProviderError(err, 'read the checkout of a payment');
    }
  }

  async function fetchOneOff(paymentIntentId: string): Promise<PaymentSucceeded | null> {
    let intent: s.PaymentIntent;
    try {
      intent = parsed(
        s.paymentIntent,
        await stripe.paymentIntents.retrieve(paymentIntentId, { expand: [INTENT_FEE, 'customer'] }),
        'payment',
      );
    } catch (err) {
      if (isMissing(err)) return null;
      throw toProviderError(err, 'read the payment');
    }
    const amount = money(intent.amount_received, intent.currency);
    if (intent.status !== 'succeeded' || !amount) return null;
    const details = detailsFromPaymentIntent(intent);
    // A Checkout payment's receipt_email is usually empty and a one-off payer has no Customer:
    // the session that collected the payment has the email.
    const session = details.email ? undefined : await sessionOfIntent(intent.id);
    const checkoutId =
      intent.metadata?.checkoutId ??
      session?.metadata?.checkoutId ??
      session?.client_reference_id ??
      undefined;
    const planId = intent.metadata?.planId ?? session?.metadata?.planId;
    const email = details.email ?? session?.customer_details?.email ?? undefined;
    const name = details.name ?? session?.customer_details?.name ?? undefined;
    return {
      type: 'payment.succeeded',
      provider: 'stripe',
      occurredAt: details.occurredAt ?? new Date(),
      paymentId: intent.id,
      amount,
      kind: 'one_off',
      payer: {
        ...(email ? { email } : {}),
        ...(name ? { name } : {}),
        ...(details.customerId ? { customerId: details.customerId } : {}),
      },
      ...(details.fee ? { fee: details.fee } : {}),
      ...(checkoutId ? { checkoutId } : {}),
      ...(planId ? { planId } : {}),
    };
  }

  async function sessionOutcome(sessionId: string, interval: PlanInterval): Promise<CheckoutOutcome> {
    let session: s.CheckoutSession;
    try {
      const raw = await stripe.checkout.sessions.retrieve(sessionId, {
        // One read answers everything: the payment with its fee, or the subscription and invoice.
        expand: interval === 'month' ? ['subscription', 'invoice'] : [`payment_intent.${INTENT_FEE}`],
      });
      session = parsed(s.checkoutSession, raw, 'Checkout Session');
    } catch (err) {
      // A session Stripe does not know can never be paid: a 4xx answer, not an outage.
      if (isMissing(err)) return { status: 'expired', facts: [] };
      throw toProviderError(err, 'read the card payment');
    }
    const checkoutId = session.metadata?.checkoutId ?? session.client_reference_id ?? undefined;
    const withCheckout = checkoutId ? { checkoutId } : {};
    if (session.status === 'expired') return { status: 'expired', ...withCheckout, facts: [] };
    const intent =
      session.payment_intent && typeof session.payment_intent === 'object'
        ? session.payment_intent
        : undefined;
    const invoice = session.invoice && typeof session.invoice === 'object' ? session.invoice : undefined;
    const subscription =
      session.subscription && typeof session.subscription === 'object' ? session.subscription : undefined;
    const payment = intent
      ? detailsFromPaymentIntent(intent)
      : invoice
        ? detailsFromInvoice(invoice)
        : undefined;
    const facts = factsFromSession(session, {
      occurredAt: new Date(),
      ...(payment ? { payment } : {}),
      ...(subscription ? { subscription } : {}),
    });
    return { status: facts.length > 0 ? 'paid' : 'pending', ...withCheckout, facts };
  }

  return {
    descriptor: stripeDescriptor,

    async startCheckout(request: CheckoutRequest): Promise<CheckoutStart> {
      const monthly = request.plan.interval === 'month';
      const metadata = { checkoutId: request.checkoutId, planId: request.plan.id };
      const separator = request.returnUrl.includes('?') ? '&' : '?';
      try {
        const session = await stripe.checkout.sessions.create(
          {
            mode: monthly ? 'subscription' : 'payment',
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: request.amount.currency.toLowerCase(),
                  unit_amount: request.amount.amountMinor,
                  // What the reader sees on Stripe's page and receipts.
                  product_data: { name: request.description },
                  ...(monthly ? { recurring: { interval: 'month' as const } } : {}),
                },
              },
            ],
            success_url: `${request.returnUrl}${separator}session_id={CHECKOUT_SESSION_ID}`,
            cancel_url: request.cancelUrl,
            client_reference_id: request.checkoutId,
            ...(request.email ? { customer_email: request.email } : {}),
            metadata,
            ...(monthly ? { subscription_data: { metadata } } : { payment_intent_data: { metadata } }),
          },
          { idempotencyKey: `checkout-${request.checkoutId}` },
        );
        if (!session.url) throw new Error('Stripe returned a session without a checkout URL');
        return { providerRef: session.id, redirectUrl: session.url };
      } catch (err) {
        throw toProviderError(err, 'start the card payment');
      }
    },

    returnRef(query: Record<string, string>): string | null {
      const sessionId: unknown = query.session_id;
      return typeof sessionId === 'string' && SESSION_ID.test(sessionId) ? sessionId : null;
    },

    resolveCheckout(providerRef: string, interval: PlanInterval): Promise<CheckoutOutcome> {
      if (!SESSION_ID.test(providerRef)) return Promise.resolve({ status: 'expired', facts: [] });
      return sessionOutcome(providerRef, interval);
    },

    async cancelSubscription(subscriptionId, { reason, atPeriodEnd }): Promise<void> {
      const details = { cancellation_details: { comment: reason.slice(0, 500) } };
      try {
        if (atPeriodEnd) {
          // Stripe keeps it active until the paid period ends, then cancels it itself.
          await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true, ...details });
        } else {
          await stripe.subscriptions.cancel(subscriptionId, details);
        }
      } catch (err) {
        // Already over at Stripe: the outcome the supporter asked for.
        if (isMissing(err)) return;
        if (errorOf(err).statusCode === 400) {
          const current = await stripe.subscriptions.retrieve(subscriptionId).catch(() => undefined);
          if (current?.status === 'canceled' || current?.status === 'incomplete_expired') return;
        }
        throw toProviderError(err, 'cancel the subscription');
      }
    },

    async changeSubscriptionAmount(subscriptionId, amount: Money, { planName, requestKey }): Promise<void> {
      try {
        const sub = parsed(
          s.subscription,
          await stripe.subscriptions.retrieve(subscriptionId),
          'subscription',
        );
        const item = sub.items.data[0];
        const currency = item?.price?.currency;
        if (!item || !currency) {
          throw new ProviderError(
            'stripe',
            `Subscription ${subscriptionId} has no priced item to change`,
            false,
          );
        }
        if (currency.toUpperCase() !== amount.currency.toUpperCase()) {
          throw new ProviderError(
            'stripe',
            `A subscription in ${currency.toUpperCase()} cannot be billed in ${amount.currency}`,
            false,
          );
        }
        // Its own product, so the new name (on invoices and receipts) changes nothing else.
        const product = await stripe.products.create(
          { name: planName },
          { idempotencyKey: `${requestKey}-product` },
        );
        await stripe.subscriptions.update(
          subscriptionId,
          {
            items: [
              {
                id: item.id,
                price_data: {
                  currency,
                  product: product.id,
                  unit_amount: amount.amountMinor,
                  recurring: { interval: 'month' },
                },
              },
            ],
            // The new amount from the next period; the current one is paid for.
            proration_behavior: 'none',
          },
          { idempotencyKey: requestKey },
        );
      } catch (err) {
        throw toProviderError(err, 'change the monthly amount');
      }
    },

    async refund(paymentId: string, { amount, requestKey }): Promise<void> {
      const paymentIntent = await paymentIntentOf(paymentId);
      try {
        await stripe.refunds.create(
          { payment_intent: paymentIntent, ...(amount ? { amount: amount.amountMinor } : {}) },
          { idempotencyKey: requestKey },
        );
      } catch (err) {
        // A full refund of what is already fully refunded has the outcome asked for.
        if (!amount && errorOf(err).code === 'charge_already_refunded') return;
        throw toProviderError(err, 'refund the payment');
      }
    },

    async verifyWebhook(rawBody: Buffer, headers: IncomingHttpHeaders): Promise<VerifiedEvent> {
      const signature = headers['stripe-signature'];
      if (typeof signature !== 'string' || signature === '') {
        throw new WebhookVerificationError('Missing Stripe-Signature header.');
      }
      let event: unknown;
      try {
        event = stripe.webhooks.constructEvent(rawBody, signature, options.webhookSecret);
      } catch (err) {
        throw new WebhookVerificationError(
          `Stripe signature did not verify: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'unknown'}`,
        );
      }
      // Signed, but not an event: JSON null, an array, or an object without id/type.
      if (!s.isEventEnvelope(event)) {
        throw new WebhookVerificationError('Stripe webhook body is not an event (no id, type or data).');
      }
      return {
        provider: 'stripe',
        eventId: event.id,
        type: event.type,
        createdAt: fromUnix(event.created),
        payload: event as unknown as Record<string, unknown>,
      };
    },

    handlesEventType,

    async factsFromEvent(event: VerifiedEvent): Promise<PaymentFact[]> {
      const view = readEvent(event.payload);
      if (!view) return [];
      return factsFromEvent(view, await find(lookupFor(view)));
    },

    async fetchPayment(paymentId: string): Promise<PaymentSucceeded | null> {
      if (paymentId.startsWith('pi_')) return fetchOneOff(paymentId);
      if (!paymentId.startsWith('in_')) return null;
      const invoice = await readInvoice(paymentId, true);
      if (!invoice || !paidIntentOf(invoice)) return null;
      return (
        factsFromPaidInvoice(invoice, { occurredAt: fromUnix(invoice.created ?? Date.now() / 1000) })[0] ??
        null
      );
    },

    async *listPayments(since: Date, until: Date): AsyncIterable<ProviderPayment> {
      const window = { gte: Math.floor(since.getTime() / 1000), lte: Math.ceil(until.getTime() / 1000) };
      try {
        // Subscription payments are in the ledger under their invoice: map their intents first.
        const invoiceOf = new Map<string, string>();
        const margin = 86_400;
        for await (const payment of stripe.invoicePayments.list({
          created: { gte: window.gte - margin, lte: window.lte + margin },
          limit: 100,
        })) {
          const intent = idOf(payment.payment?.payment_intent);
          const invoice = idOf(payment.invoice);
          if (intent && invoice) invoiceOf.set(intent, invoice);
        }
        // Disputes come after their payment: every one opened since the window began.
        const disputesOf = new Map<
          string,
          Array<{ id: string; status: ReturnType<typeof listedDisputeStatus> }>
        >();
        for await (const dispute of stripe.disputes.list({ created: { gte: window.gte }, limit: 100 })) {
          const intent = idOf(dispute.payment_intent);
          if (!intent) continue;
          const list = disputesOf.get(intent) ?? [];
          list.push({ id: dispute.id, status: listedDisputeStatus(dispute.status) });
          disputesOf.set(intent, list);
        }
        for await (const raw of stripe.paymentIntents.list({
          created: window,
          limit: 100,
          expand: ['data.latest_charge'],
        })) {
          const intent = s.paymentIntent.safeParse(raw);
          if (!intent.success) continue;
          const { data } = intent;
          const amount = money(data.amount_received || data.amount, data.currency);
          if (!amount) continue;
          const charge =
            data.latest_charge && typeof data.latest_charge === 'object' ? data.latest_charge : undefined;
          const refundedMinor = charge?.amount_refunded;
          const succeeded = data.status === 'succeeded';
          yield {
            paymentId: invoiceOf.get(data.id) ?? data.id,
            amount,
            occurredAt: data.created ? fromUnix(data.created) : until,
            status: !succeeded
              ? 'other'
              : refundedMinor && refundedMinor >= amount.amountMinor
                ? 'refunded'
                : refundedMinor
                  ? 'partially_refunded'
                  : 'succeeded',
            ...(refundedMinor !== undefined ? { refundedMinor } : {}),
            disputes: disputesOf.get(data.id) ?? [],
          };
        }
      } catch (err) {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'Listing Stripe payments failed');
        throw toProviderError(err, 'list payments for reconciliation');
      }
    },
  };
}
