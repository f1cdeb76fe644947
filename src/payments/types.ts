/**
 * The provider-neutral payment vocabulary. Adapters (stripe/, paypal/) translate their SDKs into
 * these types; nothing outside src/payments/ sees a provider's own objects or branches on a
 * provider's name: what differs between providers is described by their descriptor.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Every provider the product knows, in the order readers see them offered. */
export const providerIds = ['stripe', 'paypal'] as const;
export type ProviderId = (typeof providerIds)[number];

export const isProviderId = (value: unknown): value is ProviderId =>
  typeof value === 'string' && (providerIds as readonly string[]).includes(value);

/** Money is an integer count of the currency's minor units, always with its currency (ISO 4217, upper case). */
export interface Money {
  amountMinor: number;
  currency: string;
}

export type PlanInterval = 'once' | 'month';

/** What the rest of the product may know about a provider without importing it. */
export interface ProviderDescriptor {
  id: ProviderId;
  /** On the donation panel's button: "Card", "PayPal". */
  label: string;
  /** On receipts and the manage page: "Card (Stripe)", "PayPal". */
  longLabel: string;
  /** The provider sends the reader back here (one generic route serves every provider). */
  returnPath: string;
  capabilities: {
    /** Monthly support (a recurring subscription at the provider). */
    monthly: boolean;
    /** A monthly supporter can change the amount from the next period on. */
    changeAmount: boolean;
    /** A cancellation can wait for the end of the paid period at the provider itself. */
    cancelAtPeriodEnd: boolean;
  };
}

export interface CheckoutRequest {
  /** Our `checkouts` document id; travels as metadata / custom_id so events find their way back. */
  checkoutId: string;
  plan: { id: string; name: string; interval: PlanInterval };
  amount: Money;
  /** What the reader gives, in words, for the provider's page ("Monthly support of $5.00 for …"). */
  description: string;
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

/** Who paid, as the provider reports it. Untrusted text: the ledger normalises and validates it. */
export interface Payer {
  email?: string;
  name?: string;
  /** The provider's customer / payer id. */
  customerId?: string;
}

/**
 * Money arrived. `paymentId` is the ledger key: Stripe PaymentIntent (pi_…) or, for subscription
 * payments, the invoice (in_…); PayPal capture or sale id. A later fact for the same payment that
 * knows more (the payer, the fee) completes the entry; it never counts the money twice.
 */
export interface PaymentSucceeded extends FactBase {
  type: 'payment.succeeded';
  paymentId: string;
  amount: Money;
  /** The provider's fee on this payment, when it reports one. */
  fee?: Money;
  kind: 'one_off' | 'recurring';
  subscriptionId?: string;
  planId?: string;
  payer: Payer;
}

/** A payment attempt failed (a declined renewal, a delayed payment that bounced). No money moved. */
export interface PaymentFailed extends FactBase {
  type: 'payment.failed';
  reason: string;
  subscriptionId?: string;
  paymentId?: string;
}

/**
 * Some or all of a payment went back because we (or the provider on our behalf) refunded it.
 * Either one refund, deduplicated by its id, or the running total the provider reports.
 * Chargebacks are not refunds: they are `payment.disputed` with status `lost`.
 */
export interface PaymentRefunded extends FactBase {
  type: 'payment.refunded';
  paymentId: string;
  refund?: { id: string; amount: Money };
  refundedTotal?: Money;
  /** The latest refund's id at the provider, for the audit trail of a running total. */
  latestRefundId?: string;
}

/**
 * A dispute (chargeback) on a payment. Only a decision moves money: `lost` takes the disputed
 * amount out; a later `won` for a dispute recorded as lost brings it back. `open` marks the payment
 * disputed; `closed` is a dispute that ended without money moving (Stripe's `warning_closed`
 * inquiry, a withdrawn claim). A decided dispute never reopens.
 */
export interface PaymentDisputed extends FactBase {
  type: 'payment.disputed';
  paymentId: string;
  disputeId: string;
  status: 'open' | 'won' | 'lost' | 'closed';
  amount?: Money;
  /** A fee the provider charged for the dispute, when it reports one. */
  fee?: Money;
}

export type SubscriptionStatus = 'pending' | 'active' | 'past_due' | 'suspended' | 'cancelled';

/**
 * A subscription's state at the provider as of `occurredAt`. Fields that are absent are unknown
 * (not "cleared"); the ledger applies each only when it moves the subscription forward, so an
 * older event never undoes a newer one.
 */
export interface SubscriptionMoved extends FactBase {
  type: 'subscription.moved';
  subscriptionId: string;
  status: SubscriptionStatus;
  /** The price per period from now on. */
  amount?: Money;
  planId?: string;
  payer?: Payer;
  /** End of the period paid for so far. */
  currentPeriodEnd?: Date;
  /** When the subscription ends because it was cancelled: a date (scheduled or past), or null when no end is scheduled. */
  endsAt?: Date | null;
}

export type PaymentFact =
  PaymentSucceeded | PaymentFailed | PaymentRefunded | PaymentDisputed | SubscriptionMoved;

/** A webhook delivery whose signature checked out. */
export interface VerifiedEvent {
  provider: ProviderId;
  eventId: string;
  type: string;
  createdAt: Date;
  /** The parsed JSON payload as the provider sent it. */
  payload: Record<string, unknown>;
}

/** Where a checkout stands at the provider, and the facts that tells us. */
export interface CheckoutOutcome {
  /** paid: money arrived (or the subscription is active); pending: nothing decided yet; expired: it can no longer be paid. */
  status: 'paid' | 'pending' | 'failed' | 'cancelled' | 'expired';
  checkoutId?: string;
  facts: PaymentFact[];
}

/** What reconciliation compares: the provider's view of one payment. */
export interface ProviderPayment {
  paymentId: string;
  amount: Money;
  occurredAt: Date;
  status: 'succeeded' | 'refunded' | 'partially_refunded' | 'other';
  /** Refunded so far, when the provider's listing says (undefined: not known from this listing). */
  refundedMinor?: number;
  /** Disputes on the payment and their state, when the provider's listing says. */
  disputes?: Array<{ id: string; status: PaymentDisputed['status'] }>;
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
    options?: { cause?: unknown; statusCode?: number },
  ) {
    super(message, options);
    this.name = 'ProviderError';
    this.statusCode = options?.statusCode;
  }

  /** The provider's HTTP status, when it answered at all. */
  readonly statusCode: number | undefined;
}

/** One per provider; the only code that imports a provider SDK lives behind this. */
export interface PaymentProvider {
  readonly descriptor: ProviderDescriptor;
  startCheckout(request: CheckoutRequest): Promise<CheckoutStart>;
  /**
   * The provider's return parameters identify the checkout the reader comes back from: Stripe
   * `session_id`, PayPal `token` (order) or `subscription_id`. Null when the query carries none
   * in a plausible shape (nothing is asked of the provider then).
   */
  returnRef(query: Record<string, string>): string | null;
  /**
   * Finds out where a checkout we started stands, and finishes it where it is ours to finish: an
   * approved PayPal order is captured (idempotently). Used by the return page, the approval webhook
   * and the sweep of checkouts whose reader never came back.
   */
  resolveCheckout(providerRef: string, interval: PlanInterval): Promise<CheckoutOutcome>;
  /** Ends a subscription; `atPeriodEnd` keeps what was paid for (where the provider can, it waits itself). */
  cancelSubscription(
    subscriptionId: string,
    options: { reason: string; atPeriodEnd: boolean },
  ): Promise<void>;
  /**
   * Changes a monthly supporter's price from the next billing period on, without proration
   * (Stripe: the subscription item's price; PayPal: a revision to the plan for that amount).
   */
  changeSubscriptionAmount(
    subscriptionId: string,
    amount: Money,
    options: { planName: string; requestKey: string },
  ): Promise<void>;
  /** Refunds a ledger payment (all of it, or `amount`). Idempotent per `requestKey`. */
  refund(paymentId: string, options: { amount?: Money; requestKey: string }): Promise<void>;
  /** Throws WebhookVerificationError for a missing, forged, stale or malformed delivery. */
  verifyWebhook(rawBody: Buffer, headers: IncomingHttpHeaders): Promise<VerifiedEvent>;
  /** Whether events of this type can carry facts; cheap and without I/O (others are stored as ignored). */
  handlesEventType(type: string): boolean;
  /** Neutral facts in an event; [] when it carries none. May read the provider (and capture an approved order). */
  factsFromEvent(event: VerifiedEvent): Promise<PaymentFact[]>;
  /** Re-reads one payment (a refund arrived before its payment; a payment without its payer). */
  fetchPayment(paymentId: string): Promise<PaymentSucceeded | null>;
  /** Payments made at the provider in a window, for reconciliation. */
  listPayments(since: Date, until: Date): AsyncIterable<ProviderPayment>;
}
