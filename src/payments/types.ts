/**
 * The provider-neutral payment vocabulary. Adapters (stripe/, paypal/) translate their SDKs into
 * these types; nothing outside src/payments/ sees a provider's own objects.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type ProviderId = 'stripe' | 'paypal';

/** Money is an integer count of the currency's minor units, always with its currency (ISO 4217, upper case). */
export interface Money {
  amountMinor: number;
  currency: string;
}

export type PlanInterval = 'once' | 'month';

export interface CheckoutRequest {
  /** Our `checkouts` document id; travels as metadata / custom_id so events find their way back. */
  checkoutId: string;
  plan: { id: string; name: string; interval: PlanInterval };
  amount: Money;
  email?: string;
  /** Where the provider sends the reader after paying / approving. */
  returnUrl: string;
  cancelUrl: string;
}

export interface CheckoutStart {
  /** Stripe Checkout Session id (cs_…), PayPal order id, or PayPal subscription id (I-…). */
  providerRef: string;
  /** The provider's hosted page the reader is sent to with a 303. */
  redirectUrl: string;
}

interface FactBase {
  provider: ProviderId;
  occurredAt: Date;
  /** Our checkout id when the provider echoed it back (metadata / custom_id); absent for payments we did not start. */
  checkoutId?: string;
  /** The provider's event id this fact came from, for the audit trail. */
  sourceEventId?: string;
}

export interface Payer {
  email?: string;
  name?: string;
  /** The provider's customer / payer id. */
  customerId?: string;
}

/** Money arrived. `paymentId` is the ledger key: Stripe PaymentIntent (pi_…) or invoice id; PayPal capture or sale id. */
export interface PaymentSucceeded extends FactBase {
  type: 'payment.succeeded';
  paymentId: string;
  amount: Money;
  kind: 'one_off' | 'recurring';
  subscriptionId?: string;
  planId?: string;
  payer: Payer;
}

export interface PaymentFailed extends FactBase {
  type: 'payment.failed';
  reason: string;
  subscriptionId?: string;
  paymentId?: string;
}

/** Some or all of a payment went back. Either an individual refund (deduplicated by refundId) or a running total. */
export interface PaymentRefunded extends FactBase {
  type: 'payment.refunded';
  paymentId: string;
  refund?: { id: string; amount: Money };
  refundedTotal?: Money;
  /** A reversal (chargeback decided against us) rather than a refund we made. */
  reversal?: boolean;
}

export interface PaymentDisputed extends FactBase {
  type: 'payment.disputed';
  paymentId: string;
  disputeId: string;
  status: 'open' | 'won' | 'lost';
  amount?: Money;
}

export interface SubscriptionActivated extends FactBase {
  type: 'subscription.activated';
  subscriptionId: string;
  amount?: Money;
  planId?: string;
  payer: Payer;
  currentPeriodEnd?: Date;
}

export interface SubscriptionStatusChanged extends FactBase {
  type: 'subscription.status_changed';
  subscriptionId: string;
  status: 'active' | 'past_due' | 'suspended' | 'cancelled';
  currentPeriodEnd?: Date;
}

export type PaymentFact =
  | PaymentSucceeded
  | PaymentFailed
  | PaymentRefunded
  | PaymentDisputed
  | SubscriptionActivated
  | SubscriptionStatusChanged;

/** A webhook delivery whose signature checked out. */
export interface VerifiedEvent {
  provider: ProviderId;
  eventId: string;
  type: string;
  createdAt: Date;
  /** The parsed JSON payload as the provider sent it. */
  payload: Record<string, unknown>;
}

/** What a return visit found out; the facts go to the ledger like a webhook's would. */
export interface ReturnOutcome {
  status: 'paid' | 'pending' | 'failed' | 'cancelled';
  checkoutId?: string;
  facts: PaymentFact[];
}

export interface ProviderPayment {
  paymentId: string;
  amount: Money;
  occurredAt: Date;
  status: 'succeeded' | 'refunded' | 'partially_refunded' | 'other';
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** A provider-side failure: declined, unreachable, or an answer we could not use. */
export class ProviderError extends Error {
  constructor(
    readonly provider: ProviderId,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}

/** One per provider; the only code that imports a provider SDK lives behind this. */
export interface PaymentProvider {
  readonly id: ProviderId;
  startCheckout(request: CheckoutRequest): Promise<CheckoutStart>;
  /**
   * The reader came back from the provider. Stripe: `{ session_id }`; PayPal orders: `{ token }`
   * (captured here, idempotently); PayPal subscriptions: `{ subscription_id }`.
   */
  completeReturn(query: Record<string, string>): Promise<ReturnOutcome>;
  cancelSubscription(subscriptionId: string, reason: string): Promise<void>;
  refund(paymentId: string, amount?: Money): Promise<void>;
  /** Throws WebhookVerificationError for a missing, forged, stale or malformed delivery. */
  verifyWebhook(rawBody: Buffer, headers: IncomingHttpHeaders): Promise<VerifiedEvent>;
  /** Neutral facts in an event; [] for event types we do not use. May re-read the provider. */
  factsFromEvent(event: VerifiedEvent): Promise<PaymentFact[]>;
  /** Re-reads one payment (e.g. a refund arrived before its payment). */
  fetchPayment(paymentId: string): Promise<PaymentSucceeded | null>;
  /** Payments made at the provider since a moment, for reconciliation. */
  listPayments(since: Date, until: Date): AsyncIterable<ProviderPayment>;
}
