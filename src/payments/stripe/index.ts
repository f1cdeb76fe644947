/**
 * The Stripe adapter: the only module that imports the `stripe` SDK. It speaks Stripe Checkout for
 * one-off (mode=payment) and monthly (mode=subscription) support, and turns Stripe events into
 * neutral payment facts. The API version is pinned so object shapes never change under us.
 */
import Stripe from 'stripe';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../log.js';
import {
  ProviderError,
  WebhookVerificationError,
  type CheckoutRequest,
  type CheckoutStart,
  type Money,
  type PaymentFact,
  type PaymentProvider,
  type PaymentSucceeded,
  type ProviderPayment,
  type ReturnOutcome,
  type SubscriptionStatusChanged,
  type VerifiedEvent,
} from '../types.js';

export interface StripeAdapterOptions {
  secretKey: string;
  webhookSecret: string;
  apiVersion: string;
  /** The local simulator in development and tests; Stripe's own API when absent. */
  api?: { host: string; port: number; protocol: 'http' | 'https' };
  logger: Logger;
}

type Session = Stripe.Checkout.Session;

const idOf = (value: string | { id: string } | null | undefined): string | undefined =>
  typeof value === 'string' ? value : (value?.id ?? undefined);

const money = (amountMinor: number | null | undefined, currency: string | null | undefined): Money | null =>
  typeof amountMinor === 'number' && currency ? { amountMinor, currency: currency.toUpperCase() } : null;

const fromUnix = (seconds: number | null | undefined): Date =>
  new Date((seconds ?? Date.now() / 1000) * 1000);

function toProviderError(err: unknown, action: string): ProviderError {
  const e = err as { type?: string; statusCode?: number; message?: string };
  const retryable =
    e?.type === 'StripeConnectionError' || e?.type === 'StripeAPIError' || (e?.statusCode ?? 0) >= 500;
  const reason =
    e?.type === 'StripeCardError' ? (e.message ?? 'the card was declined') : 'Stripe did not accept it';
  return new ProviderError('stripe', `Could not ${action}: ${reason}.`, retryable, { cause: err });
}

const subscriptionStatus: Record<string, SubscriptionStatusChanged['status'] | undefined> = {
  active: 'active',
  trialing: 'active',
  past_due: 'past_due',
  unpaid: 'past_due',
  paused: 'suspended',
  canceled: 'cancelled',
  incomplete_expired: 'cancelled',
};

export function createStripeAdapter(options: StripeAdapterOptions): PaymentProvider {
  const stripe = new Stripe(options.secretKey, {
    // The configured version is the one our simulator and parsers are built for.
    apiVersion: options.apiVersion as Stripe.LatestApiVersion,
    maxNetworkRetries: 2,
    timeout: 20_000,
    telemetry: false,
    ...(options.api ?? {}),
  });

  /** Facts from a Checkout Session that has been paid; [] while it is not money yet. */
  function factsFromSession(session: Session, sourceEventId?: string): PaymentFact[] {
    if (session.payment_status !== 'paid') return [];
    const amount = money(session.amount_total, session.currency);
    if (!amount) return [];
    const checkoutId = session.metadata?.checkoutId ?? session.client_reference_id ?? undefined;
    const payer = {
      ...(session.customer_details?.email ? { email: session.customer_details.email } : {}),
      ...(session.customer_details?.name ? { name: session.customer_details.name } : {}),
      ...(idOf(session.customer) ? { customerId: idOf(session.customer)! } : {}),
    };
    const base = {
      provider: 'stripe' as const,
      occurredAt: fromUnix(session.created),
      ...(checkoutId ? { checkoutId } : {}),
      ...(sourceEventId ? { sourceEventId } : {}),
    };
    const planId = session.metadata?.planId;
    if (session.mode === 'subscription') {
      const subscriptionId = idOf(session.subscription);
      if (!subscriptionId) return [];
      const facts: PaymentFact[] = [
        {
          ...base,
          type: 'subscription.activated',
          subscriptionId,
          amount,
          payer,
          ...(planId ? { planId } : {}),
        },
      ];
      const invoiceId = idOf(session.invoice);
      if (invoiceId) {
        facts.push({
          ...base,
          type: 'payment.succeeded',
          paymentId: invoiceId,
          amount,
          kind: 'recurring',
          subscriptionId,
          payer,
          ...(planId ? { planId } : {}),
        });
      }
      return facts;
    }
    const paymentIntentId = idOf(session.payment_intent);
    if (!paymentIntentId) return [];
    return [
      {
        ...base,
        type: 'payment.succeeded',
        paymentId: paymentIntentId,
        amount,
        kind: 'one_off',
        payer,
        ...(planId ? { planId } : {}),
      },
    ];
  }

  function factsFromInvoice(invoice: Stripe.Invoice, eventId: string, paid: boolean): PaymentFact[] {
    const details = invoice.parent?.subscription_details;
    const subscriptionId = idOf(details?.subscription);
    const checkoutId = details?.metadata?.checkoutId;
    const planId = details?.metadata?.planId;
    const base = {
      provider: 'stripe' as const,
      occurredAt: fromUnix(invoice.status_transitions?.paid_at ?? invoice.created),
      sourceEventId: eventId,
      ...(checkoutId ? { checkoutId } : {}),
    };
    if (!paid) {
      return [
        {
          ...base,
          type: 'payment.failed',
          reason: 'the renewal payment failed',
          ...(subscriptionId ? { subscriptionId } : {}),
        },
        ...(subscriptionId
          ? [
              {
                ...base,
                type: 'subscription.status_changed' as const,
                subscriptionId,
                status: 'past_due' as const,
              },
            ]
          : []),
      ];
    }
    const amount = money(invoice.amount_paid, invoice.currency);
    if (!amount || amount.amountMinor === 0 || !invoice.id) return [];
    return [
      {
        ...base,
        type: 'payment.succeeded',
        paymentId: invoice.id,
        amount,
        kind: subscriptionId ? 'recurring' : 'one_off',
        ...(subscriptionId ? { subscriptionId } : {}),
        ...(planId ? { planId } : {}),
        payer: {
          ...(invoice.customer_email ? { email: invoice.customer_email } : {}),
          ...(invoice.customer_name ? { name: invoice.customer_name } : {}),
          ...(idOf(invoice.customer) ? { customerId: idOf(invoice.customer)! } : {}),
        },
      },
    ];
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

  return {
    id: 'stripe',

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
                  product_data: { name: request.plan.name },
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

    async completeReturn(query: Record<string, string>): Promise<ReturnOutcome> {
      const sessionId = query.session_id;
      if (!sessionId || !/^cs_[A-Za-z0-9_]+$/.test(sessionId)) {
        return { status: 'failed', facts: [] };
      }
      let session: Session;
      try {
        session = await stripe.checkout.sessions.retrieve(sessionId);
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status === 404) return { status: 'failed', facts: [] };
        throw toProviderError(err, 'read the card payment');
      }
      const checkoutId = session.metadata?.checkoutId ?? session.client_reference_id ?? undefined;
      const facts = factsFromSession(session);
      const status =
        facts.length > 0 ? 'paid' : session.status === 'expired' ? 'cancelled' : ('pending' as const);
      return { status, facts, ...(checkoutId ? { checkoutId } : {}) };
    },

    async cancelSubscription(subscriptionId: string): Promise<void> {
      try {
        await stripe.subscriptions.cancel(subscriptionId);
      } catch (err) {
        const e = err as { code?: string; statusCode?: number };
        // Already cancelled at Stripe: the outcome the reader asked for.
        if (e.statusCode === 404 || e.code === 'resource_missing') return;
        throw toProviderError(err, 'cancel the subscription');
      }
    },

    async refund(paymentId: string, amount?: Money): Promise<void> {
      try {
        await stripe.refunds.create({
          payment_intent: paymentId,
          ...(amount ? { amount: amount.amountMinor } : {}),
        });
      } catch (err) {
        throw toProviderError(err, 'refund the payment');
      }
    },

    async verifyWebhook(rawBody: Buffer, headers: IncomingHttpHeaders): Promise<VerifiedEvent> {
      const signature = headers['stripe-signature'];
      if (typeof signature !== 'string' || signature === '') {
        throw new WebhookVerificationError('Missing Stripe-Signature header.');
      }
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(rawBody, signature, options.webhookSecret);
      } catch (err) {
        throw new WebhookVerificationError(
          `Stripe signature did not verify: ${err instanceof Error ? err.message.split('\n')[0] : 'unknown'}`,
        );
      }
      return {
        provider: 'stripe',
        eventId: event.id,
        type: event.type,
        createdAt: fromUnix(event.created),
        payload: event as unknown as Record<string, unknown>,
      };
    },

    async factsFromEvent(event: VerifiedEvent): Promise<PaymentFact[]> {
      const e = event.payload as unknown as Stripe.Event;
      const base = { provider: 'stripe' as const, sourceEventId: event.eventId };
      switch (e.type) {
        case 'checkout.session.completed':
        case 'checkout.session.async_payment_succeeded':
          return factsFromSession(e.data.object, event.eventId);
        case 'checkout.session.async_payment_failed': {
          const s = e.data.object;
          const checkoutId = s.metadata?.checkoutId ?? s.client_reference_id ?? undefined;
          return [
            {
              ...base,
              type: 'payment.failed',
              occurredAt: event.createdAt,
              reason: 'the delayed payment failed',
              ...(checkoutId ? { checkoutId } : {}),
            },
          ];
        }
        case 'invoice.paid':
          return factsFromInvoice(e.data.object, event.eventId, true);
        case 'invoice.payment_failed':
          return factsFromInvoice(e.data.object, event.eventId, false);
        case 'customer.subscription.updated':
        case 'customer.subscription.deleted': {
          const sub = e.data.object;
          const status =
            e.type === 'customer.subscription.deleted' ? 'cancelled' : subscriptionStatus[sub.status];
          if (!status) return [];
          const periodEnd = sub.items?.data?.[0]?.current_period_end;
          return [
            {
              ...base,
              type: 'subscription.status_changed',
              occurredAt: event.createdAt,
              subscriptionId: sub.id,
              status,
              ...(periodEnd ? { currentPeriodEnd: fromUnix(periodEnd) } : {}),
            },
          ];
        }
        case 'charge.refunded': {
          const charge = e.data.object;
          const paymentIntentId = idOf(charge.payment_intent);
          const refundedTotal = money(charge.amount_refunded, charge.currency);
          if (!paymentIntentId || !refundedTotal) return [];
          const paymentId = await ledgerPaymentId(paymentIntentId);
          return [
            { ...base, type: 'payment.refunded', occurredAt: event.createdAt, paymentId, refundedTotal },
          ];
        }
        case 'charge.dispute.created':
        case 'charge.dispute.closed': {
          const dispute = e.data.object;
          const paymentIntentId = idOf(dispute.payment_intent);
          if (!paymentIntentId) return [];
          const paymentId = await ledgerPaymentId(paymentIntentId);
          const status =
            e.type === 'charge.dispute.created' ? 'open' : dispute.status === 'won' ? 'won' : 'lost';
          const amount = money(dispute.amount, dispute.currency);
          return [
            {
              ...base,
              type: 'payment.disputed',
              occurredAt: event.createdAt,
              paymentId,
              disputeId: dispute.id,
              status,
              ...(amount ? { amount } : {}),
            },
          ];
        }
        default:
          return [];
      }
    },

    async fetchPayment(paymentId: string): Promise<PaymentSucceeded | null> {
      if (!paymentId.startsWith('pi_')) return null;
      let intent: Stripe.PaymentIntent;
      try {
        intent = await stripe.paymentIntents.retrieve(paymentId);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return null;
        throw toProviderError(err, 'read the payment');
      }
      const amount = money(intent.amount_received, intent.currency);
      if (intent.status !== 'succeeded' || !amount) return null;
      const checkoutId = intent.metadata?.checkoutId;
      const planId = intent.metadata?.planId;
      return {
        type: 'payment.succeeded',
        provider: 'stripe',
        occurredAt: fromUnix(intent.created),
        paymentId: intent.id,
        amount,
        kind: 'one_off',
        payer: {
          ...(intent.receipt_email ? { email: intent.receipt_email } : {}),
          ...(idOf(intent.customer) ? { customerId: idOf(intent.customer)! } : {}),
        },
        ...(checkoutId ? { checkoutId } : {}),
        ...(planId ? { planId } : {}),
      };
    },

    async *listPayments(since: Date, until: Date): AsyncIterable<ProviderPayment> {
      // Subscription payments are in the ledger under their invoice: map their intents first.
      const invoiceOf = new Map<string, string>();
      const margin = 86_400;
      const invoicePayments = stripe.invoicePayments.list({
        created: {
          gte: Math.floor(since.getTime() / 1000) - margin,
          lte: Math.ceil(until.getTime() / 1000) + margin,
        },
        limit: 100,
      });
      for await (const payment of invoicePayments) {
        const intent = idOf(payment.payment?.payment_intent);
        const invoice = idOf(payment.invoice);
        if (intent && invoice) invoiceOf.set(intent, invoice);
      }
      const list = stripe.paymentIntents.list({
        created: { gte: Math.floor(since.getTime() / 1000), lte: Math.ceil(until.getTime() / 1000) },
        limit: 100,
      });
      for await (const intent of list) {
        const amount = money(intent.amount_received || intent.amount, intent.currency);
        if (!amount) continue;
        yield {
          paymentId: invoiceOf.get(intent.id) ?? intent.id,
          amount,
          occurredAt: fromUnix(intent.created),
          status: intent.status === 'succeeded' ? 'succeeded' : 'other',
        };
      }
    },
  };
}
