/**
 * The PayPal side of `PaymentProvider`: Orders v2 for one-off gifts, Subscriptions v1 for monthly
 * support, offline webhook verification, and the translation of PayPal resources into neutral
 * facts. Every PayPal call in the product goes through this folder, so replacing the archived
 * `@paypal/checkout-server-sdk` later touches client.ts and nothing outside.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../log.js';
import { toDecimalString } from '../money.js';
import {
  ProviderError,
  WebhookVerificationError,
  type CheckoutOutcome,
  type CheckoutRequest,
  type CheckoutStart,
  type Money,
  type Payer,
  type PaymentDisputed,
  type PaymentProvider,
  type PaymentSucceeded,
  type PlanInterval,
  type ProviderPayment,
  type VerifiedEvent,
} from '../types.js';
import { createPayPalClient, PayPalRequestError, type PayPalEnvironmentOption } from './client.js';
import { paypalDescriptor } from './descriptor.js';
import {
  date,
  disputeIdOf,
  factsFromPayPalEvent,
  handlesEventType,
  moneyFromV2,
  movedFromSubscription,
  payerOfOrder,
  planPriceOf,
  type PlanPrice,
  succeededFromCapture,
  succeededFromSale,
} from './facts.js';
import * as s from './schemas.js';
import {
  allowedCertUrl,
  CertificateUnavailableError,
  checkAuthAlgo,
  checkTransmissionTime,
  createCertificateSource,
  createTokenBucket,
  isDocumentedCertUrl,
  ONLINE_VERIFICATION_BURST,
  ONLINE_VERIFICATION_REFILL_MS,
  readTransmissionHeaders,
  signatureMatches,
  signedMessage,
  type TransmissionHeaders,
} from './webhook.js';

export interface PayPalAdapterOptions {
  clientId: string;
  clientSecret: string;
  webhookId: string;
  /** PayPal's sandbox or live API, or a base URL (the local simulator, http://127.0.0.1:PORT). */
  environment: PayPalEnvironmentOption;
  /** Extra origins allowed for PAYPAL-CERT-URL besides PayPal's own hosts (the simulator's origin in simulator mode; http allowed only for these). */
  extraCertOrigins?: string[];
  /** Remembers provisioned catalog product + billing plan per (amount, currency, interval) — backed by MongoDB in the app. */
  planStore: PayPalPlanStore;
  brandName: string;
  logger: Logger;
  /** For certificate download; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** The clock for transmission-time and certificate-validity checks (tests). */
  now?: () => number;
  /** Root certificates (PEM) a PayPal certificate chain must lead to; Node's root store by default (tests). */
  trustedRoots?: string[];
}

export interface PayPalPlanStore {
  /** key like "500:USD:month" → plan id */
  find(key: string): Promise<string | null>;
  /** Returns the winning plan id (first writer wins across processes). */
  save(key: string, planId: string, productId?: string): Promise<string>;
}

export { PayPalRequestError } from './client.js';
export { paypalDescriptor } from './descriptor.js';

/**
 * PayPal answered a revision with an approval link: a subscriber paying from a PayPal account must
 * consent to the new price there, and until they do PayPal keeps billing the old one.
 */
export class PayPalApprovalRequiredError extends ProviderError {
  constructor(readonly approvalUrl: string) {
    super('paypal', 'PayPal needs the supporter to approve the new amount on PayPal', false);
    this.name = 'PayPalApprovalRequiredError';
  }
}

/** PayPal caps these free-text fields at 127 characters. */
const TEXT_LIMIT = 127;
/** PayPal's transaction search covers at most 31 days per request. */
const REPORT_WINDOW_MS = 31 * 86_400_000;
const REPORT_PAGE_SIZE = 500;
const PLAN_AMOUNT_CACHE_LIMIT = 100;
/** PayPal order ids are 17 upper-case letters and digits (a little leeway either side). */
const ORDER_ID = /^[A-Z0-9]{15,20}$/;
/** PayPal subscription ids: `I-` and 12 upper-case letters and digits. */
const SUBSCRIPTION_ID = /^I-[A-Z0-9]{12}$/;
/** Transaction search event codes: payments are T00xx; refunds T1107; reversals T1106; chargebacks T1201, reversed back T1202. */
const REFUND_CODES = new Set(['T1107']);
const LOST_CODES = new Set(['T1106', 'T1201']);
const WON_BACK_CODES = new Set(['T1202']);

function clip(text: string, limit = TEXT_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

function id(value: string): string {
  return encodeURIComponent(value);
}

/** The answer, or null when PayPal says there is no such resource (a 404 is an answer, not an outage). */
async function unlessGone<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request;
  } catch (err) {
    if (err instanceof PayPalRequestError && err.statusCode === 404) return null;
    throw err;
  }
}

function redirectLink(resource: { id: string; links?: { rel: string; href: string }[] | undefined }): string {
  const found = resource.links?.find((l) => l.rel === 'approve' || l.rel === 'payer-action');
  if (!found) {
    throw new ProviderError('paypal', `PayPal gave no approval link for ${resource.id}`, false);
  }
  return found.href;
}

/** PayPal wants `yyyy-MM-ddTHH:mm:ssZ` in reporting queries; milliseconds are not accepted everywhere. */
function reportDate(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function createPayPalAdapter(options: PayPalAdapterOptions): PaymentProvider {
  if (!options.clientId || !options.clientSecret || !options.webhookId) {
    throw new Error('The PayPal adapter needs a client id, a client secret and a webhook id');
  }
  const log = options.logger.child({ provider: 'paypal' });
  const now = options.now ?? Date.now;
  const client = createPayPalClient({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    environment: options.environment,
    logger: options.logger,
  });
  const extraCertOrigins = new Set((options.extraCertOrigins ?? []).map((o) => new URL(o).origin));
  const certificates = createCertificateSource({
    fetch: options.fetch ?? globalThis.fetch,
    logger: log,
    now,
    trustedOrigins: extraCertOrigins,
    ...(options.trustedRoots ? { roots: options.trustedRoots.map((pem) => new X509Certificate(pem)) } : {}),
  });
  // Each online verification spends a call with our credentials; forged deliveries must not be
  // able to spend them without bound.
  const onlineVerifications = createTokenBucket({
    capacity: ONLINE_VERIFICATION_BURST,
    refillEveryMs: ONLINE_VERIFICATION_REFILL_MS,
    now,
  });
  const provisioning = new Map<string, Promise<string>>();
  const plans = new Map<string, s.Plan | undefined>();
  const transactionKinds = new Map<string, 'capture' | 'sale'>();

  /** A billing plan, remembered per process (plans do not change their price or product). */
  async function readPlan(planId: string): Promise<s.Plan> {
    const known = plans.get(planId);
    if (known) return known;
    const plan = await client.call({
      method: 'GET',
      path: `/v1/billing/plans/${id(planId)}`,
      action: `read billing plan ${planId}`,
      schema: s.plan,
    });
    if (plans.size >= PLAN_AMOUNT_CACHE_LIMIT) plans.clear();
    plans.set(planId, plan);
    return plan;
  }

  async function planAmount(planId: string): Promise<PlanPrice | undefined> {
    const plan = await readPlan(planId);
    const regular = plan.billing_cycles?.find((c) => c.tenure_type === 'REGULAR') ?? plan.billing_cycles?.[0];
    const price = regular?.pricing_scheme?.fixed_price;
    return price ? planPriceOf(moneyFromV2(price), regular.frequency) : undefined;
  }

  /**
   * The billing plan for an amount, provisioned once and remembered in the plan store. `productId`
   * puts it under an existing product (PayPal revises a subscription only between plans of one
   * product); without it, the amount gets a product of its own, as checkouts always have.
   */
  async function provisionPlan(
    amount: Money,
    interval: PlanInterval,
    name: string,
    productId?: string,
  ): Promise<string> {
    if (interval !== 'month') {
      throw new ProviderError('paypal', `PayPal plans are only set up for monthly support`, false);
    }
    const key = `${amount.amountMinor}:${amount.currency}:${interval}${productId ? `:${productId}` : ''}`;
    const known = await options.planStore.find(key);
    if (known) return known;
    // One provisioning per key per process; across processes the PayPal-Request-Ids below make
    // PayPal answer a repeat with the product/plan it already made, and the store picks one winner.
    const inFlight = provisioning.get(key);
    if (inFlight) return inFlight;
    const work = (async () => {
      const requestKey = key.replace(/:/g, '-');
      const value = toDecimalString(amount);
      const product =
        productId ??
        (
          await client.call({
            method: 'POST',
            path: '/v1/catalogs/products',
            requestId: `product-${requestKey}`,
            body: {
              name: clip(`${options.brandName} support`),
              description: clip(`Reader support for ${options.brandName}`),
              type: 'SERVICE',
            },
            action: 'create the catalog product for monthly support',
            schema: s.createdResource,
          })
        ).id;
      const plan = await client.call({
        method: 'POST',
        path: '/v1/billing/plans',
        requestId: `plan-${requestKey}`,
        body: {
          product_id: product,
          // What the reader sees on PayPal's approval page and in their account.
          name: clip(name),
          status: 'ACTIVE',
          billing_cycles: [
            {
              frequency: { interval_unit: 'MONTH', interval_count: 1 },
              tenure_type: 'REGULAR',
              sequence: 1,
              total_cycles: 0,
              pricing_scheme: { fixed_price: { value, currency_code: amount.currency } },
            },
          ],
          payment_preferences: {
            auto_bill_outstanding: true,
            setup_fee_failure_action: 'CONTINUE',
            payment_failure_threshold: 3,
          },
        },
        action: `create the monthly ${value} ${amount.currency} billing plan`,
        schema: s.createdResource,
      });
      const winner = await options.planStore.save(key, plan.id, product);
      if (winner !== plan.id) {
        log.info({ key, planId: winner }, 'Another process provisioned this PayPal plan first');
      } else {
        log.info({ key, planId: plan.id }, 'Provisioned a PayPal billing plan');
      }
      return winner;
    })();
    provisioning.set(key, work);
    try {
      return await work;
    } finally {
      provisioning.delete(key);
    }
  }

  function outcomeFromOrder(order: s.Order): CheckoutOutcome {
    const unit = order.purchase_units?.[0];
    const capture = unit?.payments?.captures?.[0];
    const checkoutId = capture?.custom_id ?? unit?.custom_id;
    const withCheckout = checkoutId ? { checkoutId } : {};
    if (!capture) {
      const status = order.status === 'VOIDED' ? 'cancelled' : 'pending';
      return { status, ...withCheckout, facts: [] };
    }
    switch (capture.status) {
      case 'COMPLETED':
      case 'PARTIALLY_REFUNDED':
      case 'REFUNDED':
      case 'REVERSED': {
        // Refunded or reversed later still means the money arrived first; those have their own facts.
        const fact = succeededFromCapture(capture, { payer: payerOfOrder(order), ...withCheckout });
        return { status: 'paid', ...withCheckout, facts: [fact] };
      }
      case 'DECLINED':
      case 'FAILED':
        return { status: 'failed', ...withCheckout, facts: [] };
      default:
        return { status: 'pending', ...withCheckout, facts: [] };
    }
  }

  async function getOrder(orderId: string): Promise<s.Order> {
    return client.call({
      method: 'GET',
      path: `/v2/checkout/orders/${id(orderId)}`,
      action: `read order ${orderId}`,
      schema: s.order,
    });
  }

  /** Captures an approved order, once whoever asks (return page, webhook, sweep): PayPal-Request-Id. */
  async function captureOrder(orderId: string): Promise<CheckoutOutcome> {
    let order: s.Order;
    try {
      order = await client.call({
        method: 'POST',
        path: `/v2/checkout/orders/${id(orderId)}/capture`,
        requestId: `capture-${orderId}`,
        body: {},
        action: `capture order ${orderId}`,
        schema: s.order,
      });
    } catch (err) {
      if (!(err instanceof PayPalRequestError)) throw err;
      if (err.is('ORDER_ALREADY_CAPTURED') || err.is('ORDER_NOT_APPROVED')) {
        // Already captured (a webhook or a second tab got there first), or not approved yet:
        // either way the order itself says where things stand.
        order = await getOrder(orderId);
      } else if (err.is('INSTRUMENT_DECLINED') || err.is('TRANSACTION_REFUSED')) {
        log.info({ orderId, issue: err.issue }, 'PayPal declined the capture');
        const current = await getOrder(orderId).catch(() => undefined);
        const checkoutId = current?.purchase_units?.[0]?.custom_id;
        return { status: 'failed', ...(checkoutId ? { checkoutId } : {}), facts: [] };
      } else {
        throw err;
      }
    }
    return outcomeFromOrder(order);
  }

  /** Where an order stands: an approved one is captured; a 404 can never be paid. */
  async function resolveOrder(orderId: string): Promise<CheckoutOutcome> {
    const order = await unlessGone(getOrder(orderId));
    if (!order) return { status: 'expired', facts: [] };
    if (order.status === 'APPROVED') return captureOrder(orderId);
    return outcomeFromOrder(order);
  }

  async function getSubscription(subscriptionId: string): Promise<s.Subscription> {
    return client.call({
      method: 'GET',
      path: `/v1/billing/subscriptions/${id(subscriptionId)}`,
      action: `read subscription ${subscriptionId}`,
      schema: s.subscription,
    });
  }

  async function resolveSubscription(subscriptionId: string): Promise<CheckoutOutcome> {
    const sub = await unlessGone(getSubscription(subscriptionId));
    if (!sub) return { status: 'expired', facts: [] };
    const withCheckout = sub.custom_id ? { checkoutId: sub.custom_id } : {};
    const at = new Date(now());
    switch (sub.status) {
      case 'ACTIVE': {
        const fact = await movedFromSubscription(sub, 'active', { occurredAt: at, planAmount });
        return { status: 'paid', ...withCheckout, facts: [fact] };
      }
      case 'APPROVAL_PENDING':
      case 'APPROVED':
        // Approved but not yet active: PayPal activates it shortly and says so by webhook.
        return { status: 'pending', ...withCheckout, facts: [] };
      case 'CANCELLED':
      case 'EXPIRED':
        return { status: 'cancelled', ...withCheckout, facts: [] };
      default: {
        const fact = await movedFromSubscription(sub, 'suspended', { occurredAt: at });
        return { status: 'failed', ...withCheckout, facts: [fact] };
      }
    }
  }

  /** Whether a transaction is a v2 capture or a v1 sale (remembered: ids never change kind). */
  async function transactionKind(transactionId: string): Promise<'capture' | 'sale'> {
    const known = transactionKinds.get(transactionId);
    if (known) return known;
    const kind = (await unlessGone(getCapture(transactionId))) ? 'capture' : 'sale';
    if (transactionKinds.size >= PLAN_AMOUNT_CACHE_LIMIT) transactionKinds.clear();
    transactionKinds.set(transactionId, kind);
    return kind;
  }

  function getCapture(captureId: string): Promise<s.Capture> {
    return client.call({
      method: 'GET',
      path: `/v2/payments/captures/${id(captureId)}`,
      action: `read payment ${captureId}`,
      schema: s.capture,
    });
  }

  function getSale(saleId: string): Promise<s.Sale> {
    return client.call({
      method: 'GET',
      path: `/v1/payments/sale/${id(saleId)}`,
      action: `read payment ${saleId}`,
      schema: s.sale,
    });
  }

  /** The payer of an order; an order PayPal no longer shows leaves it to a later fact. */
  async function orderPayer(orderId: string): Promise<Payer | undefined> {
    const order = await unlessGone(getOrder(orderId));
    return order ? payerOfOrder(order) : undefined;
  }

  async function refundCapture(
    captureId: string,
    amount: Money | undefined,
    requestKey: string,
  ): Promise<void> {
    await client.call({
      method: 'POST',
      path: `/v2/payments/captures/${id(captureId)}/refund`,
      requestId: requestKey,
      body: amount ? { amount: { value: toDecimalString(amount), currency_code: amount.currency } } : {},
      action: `refund capture ${captureId}`,
      schema: s.createdResource,
    });
  }

  async function refundSale(saleId: string, amount: Money | undefined, requestKey: string): Promise<void> {
    await client.call({
      method: 'POST',
      path: `/v1/payments/sale/${id(saleId)}/refund`,
      requestId: requestKey,
      body: amount ? { amount: { total: toDecimalString(amount), currency: amount.currency } } : {},
      action: `refund payment ${saleId}`,
      schema: s.createdResource,
    });
  }

  async function saleFullyRefunded(saleId: string): Promise<boolean> {
    return (await getSale(saleId)).state === 'refunded';
  }

  async function verifyOnline(
    transmission: TransmissionHeaders,
    event: Record<string, unknown>,
    why: Error,
  ): Promise<void> {
    log.warn({ reason: why.message }, 'Verifying a PayPal webhook online');
    let reply: { verification_status: string };
    try {
      reply = await client.call({
        method: 'POST',
        path: '/v1/notifications/verify-webhook-signature',
        body: {
          auth_algo: transmission.authAlgo,
          cert_url: transmission.certUrl,
          transmission_id: transmission.transmissionId,
          transmission_sig: transmission.transmissionSig,
          transmission_time: transmission.transmissionTime,
          webhook_id: options.webhookId,
          webhook_event: event,
        },
        action: 'verify a webhook signature',
        schema: s.verifyWebhookReply,
      });
    } catch (err) {
      throw new WebhookVerificationError(
        `Could not verify the PayPal webhook: ${why.message}, and PayPal's verification service failed too (${err instanceof Error ? err.message : 'unknown error'})`,
      );
    }
    if (reply.verification_status !== 'SUCCESS') {
      throw new WebhookVerificationError(
        `PayPal says the webhook signature does not verify (${reply.verification_status})`,
      );
    }
  }

  return {
    descriptor: paypalDescriptor,

    async startCheckout(request: CheckoutRequest): Promise<CheckoutStart> {
      const { amount } = request;
      if (!Number.isSafeInteger(amount.amountMinor) || amount.amountMinor <= 0) {
        throw new ProviderError('paypal', 'A PayPal payment needs a positive amount', false);
      }
      if (request.plan.interval === 'once') {
        const order = await client.call({
          method: 'POST',
          path: '/v2/checkout/orders',
          requestId: `order-${request.checkoutId}`,
          body: {
            intent: 'CAPTURE',
            purchase_units: [
              {
                reference_id: clip(request.plan.id, 256),
                custom_id: request.checkoutId,
                // What the reader sees on PayPal's page and in their account.
                description: clip(request.description),
                amount: { currency_code: amount.currency, value: toDecimalString(amount) },
              },
            ],
            application_context: {
              return_url: request.returnUrl,
              cancel_url: request.cancelUrl,
              brand_name: clip(options.brandName),
              user_action: 'PAY_NOW',
              shipping_preference: 'NO_SHIPPING',
            },
          },
          action: 'create an order',
          schema: s.createdResource,
        });
        return { providerRef: order.id, redirectUrl: redirectLink(order) };
      }

      const planId = await provisionPlan(amount, request.plan.interval, request.description);
      const subscription = await client.call({
        method: 'POST',
        path: '/v1/billing/subscriptions',
        requestId: `sub-${request.checkoutId}`,
        body: {
          plan_id: planId,
          custom_id: request.checkoutId,
          ...(request.email ? { subscriber: { email_address: request.email } } : {}),
          application_context: {
            return_url: request.returnUrl,
            cancel_url: request.cancelUrl,
            brand_name: clip(options.brandName),
            user_action: 'SUBSCRIBE_NOW',
            shipping_preference: 'NO_SHIPPING',
          },
        },
        action: 'create a subscription',
        schema: s.createdResource,
      });
      return { providerRef: subscription.id, redirectUrl: redirectLink(subscription) };
    },

    returnRef(query: Record<string, string>): string | null {
      // Subscription returns carry `subscription_id` and also a `token`; the former decides.
      const subscriptionId: unknown = query.subscription_id;
      if (subscriptionId !== undefined) {
        return typeof subscriptionId === 'string' && SUBSCRIPTION_ID.test(subscriptionId)
          ? subscriptionId
          : null;
      }
      const orderId: unknown = query.token;
      return typeof orderId === 'string' && ORDER_ID.test(orderId) ? orderId : null;
    },

    resolveCheckout(providerRef: string, interval: PlanInterval): Promise<CheckoutOutcome> {
      const expired: CheckoutOutcome = { status: 'expired', facts: [] };
      if (interval === 'month') {
        return SUBSCRIPTION_ID.test(providerRef)
          ? resolveSubscription(providerRef)
          : Promise.resolve(expired);
      }
      return ORDER_ID.test(providerRef) ? resolveOrder(providerRef) : Promise.resolve(expired);
    },

    /**
     * PayPal cannot wait for the end of the period: cancelling stops future billing at once, and
     * the supporter keeps the period they paid for (the CANCELLED event says when it ends), so
     * `atPeriodEnd` asks nothing different of PayPal.
     */
    async cancelSubscription(subscriptionId: string, { reason }): Promise<void> {
      try {
        await client.call({
          method: 'POST',
          path: `/v1/billing/subscriptions/${id(subscriptionId)}/cancel`,
          body: { reason: clip(reason || 'Cancelled by the supporter') },
          action: `cancel subscription ${subscriptionId}`,
        });
      } catch (err) {
        if (err instanceof PayPalRequestError && err.is('SUBSCRIPTION_STATUS_INVALID')) {
          // PayPal refuses to cancel what is already over; that is the outcome we wanted.
          const sub = await getSubscription(subscriptionId);
          if (sub.status === 'CANCELLED' || sub.status === 'EXPIRED') return;
        }
        throw err;
      }
    },

    async changeSubscriptionAmount(
      subscriptionId: string,
      amount: Money,
      { planName, requestKey },
    ): Promise<void> {
      const sub = await getSubscription(subscriptionId);
      if (!sub.plan_id) {
        throw new ProviderError(
          'paypal',
          `PayPal subscription ${subscriptionId} has no plan to change`,
          false,
        );
      }
      const current = await readPlan(sub.plan_id);
      const currentAmount = await planAmount(sub.plan_id);
      if (currentAmount && currentAmount.currency !== amount.currency) {
        throw new ProviderError(
          'paypal',
          `A PayPal subscription in ${currentAmount.currency} cannot be billed in ${amount.currency}`,
          false,
        );
      }
      if (currentAmount?.amountMinor === amount.amountMinor) return;
      // PayPal revises only to a plan of the same product, so the new plan joins the current one's.
      const planId = await provisionPlan(amount, 'month', planName, current.product_id);
      const revision = await client.call({
        method: 'POST',
        path: `/v1/billing/subscriptions/${id(subscriptionId)}/revise`,
        requestId: requestKey,
        body: { plan_id: planId },
        action: `change the amount of subscription ${subscriptionId}`,
        schema: s.revision,
      });
      const approve = revision.links?.find((l) => l.rel === 'approve');
      if (approve) throw new PayPalApprovalRequiredError(approve.href);
    },

    async refund(paymentId: string, { amount, requestKey }): Promise<void> {
      // One-off gifts are v2 captures, monthly payments v1 sales; ask which before refunding, so
      // the request key is only ever sent to the one endpoint that does the refund.
      const kind = await transactionKind(paymentId);
      try {
        if (kind === 'capture') await refundCapture(paymentId, amount, requestKey);
        else await refundSale(paymentId, amount, requestKey);
      } catch (err) {
        if (!(err instanceof PayPalRequestError)) throw err;
        if (err.statusCode === 404) {
          throw new ProviderError('paypal', `PayPal knows no payment ${paymentId}`, false, {
            cause: err,
            statusCode: 404,
          });
        }
        // A full refund of what is already fully refunded has the outcome asked for.
        if (!amount && err.is('CAPTURE_FULLY_REFUNDED')) return;
        if (
          !amount &&
          kind === 'sale' &&
          err.is('TRANSACTION_REFUSED') &&
          (await saleFullyRefunded(paymentId))
        ) {
          return;
        }
        throw err;
      }
    },

    async verifyWebhook(rawBody: Buffer, headers: IncomingHttpHeaders): Promise<VerifiedEvent> {
      const transmission = readTransmissionHeaders(headers);
      let payload: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(rawBody.toString('utf8'));
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
        payload = parsed as Record<string, unknown>;
      } catch {
        throw new WebhookVerificationError('PayPal webhook body is not a JSON object');
      }
      const envelope = s.webhookEnvelope.safeParse(payload);
      if (!envelope.success) {
        throw new WebhookVerificationError('PayPal webhook body lacks an event id or type');
      }
      checkAuthAlgo(transmission.authAlgo);
      checkTransmissionTime(transmission.transmissionTime, now());
      const certUrl = allowedCertUrl(transmission.certUrl, extraCertOrigins);

      let certificate;
      try {
        certificate = await certificates.get(certUrl);
      } catch (err) {
        if (!(err instanceof CertificateUnavailableError)) throw err;
        if (!isDocumentedCertUrl(certUrl)) {
          throw new WebhookVerificationError(
            `${err.message}, and PAYPAL-CERT-URL is not of the form PayPal sends, so it is not verified online`,
          );
        }
        if (!onlineVerifications.take()) {
          throw new WebhookVerificationError(
            `${err.message}, and online verification is paused after too many attempts; PayPal retries the delivery later`,
          );
        }
        await verifyOnline(transmission, payload, err);
        certificate = undefined;
      }
      if (certificate) {
        const message = signedMessage(transmission, options.webhookId, rawBody);
        if (!signatureMatches(message, transmission.transmissionSig, certificate)) {
          throw new WebhookVerificationError(
            'PayPal webhook signature does not match (wrong webhook id, altered body or forged)',
          );
        }
      }
      const event = envelope.data;
      return {
        provider: 'paypal',
        eventId: event.id,
        type: event.event_type,
        createdAt: date(event.create_time, transmission.transmissionTime) ?? new Date(now()),
        payload,
      };
    },

    handlesEventType,

    async factsFromEvent(event: VerifiedEvent) {
      const envelope = s.webhookEnvelope.safeParse(event.payload);
      if (!envelope.success) {
        throw new ProviderError('paypal', `PayPal event ${event.eventId} is malformed`, false);
      }
      if (!handlesEventType(envelope.data.event_type)) return [];
      return factsFromPayPalEvent({
        eventId: envelope.data.id,
        eventType: envelope.data.event_type,
        ...(envelope.data.create_time ? { createTime: envelope.data.create_time } : {}),
        resource: envelope.data.resource,
        planAmount,
        transactionKind,
        orderPayer,
        captureOrder: async (orderId) => (await captureOrder(orderId)).facts,
      });
    },

    async fetchPayment(paymentId: string): Promise<PaymentSucceeded | null> {
      const capture = await unlessGone(getCapture(paymentId));
      if (capture) {
        if (!['COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED'].includes(capture.status))
          return null;
        const orderId = capture.supplementary_data?.related_ids?.order_id;
        const payer = orderId ? await orderPayer(orderId) : undefined;
        return succeededFromCapture(capture, payer ? { payer } : {});
      }
      // Not a capture: monthly payments are v1 sales.
      const sale = await unlessGone(getSale(paymentId));
      if (!sale) return null;
      const state = sale.state?.toLowerCase();
      if (state && !['completed', 'partially_refunded', 'refunded', 'reversed'].includes(state)) return null;
      return succeededFromSale(sale, {});
    },

    /**
     * Payments made in the window, with what was refunded and reversed on them since: refunds
     * (T1107) and reversals (T1106, chargebacks T1201, chargebacks reversed back T1202) are their
     * own transactions pointing at the payment by `paypal_reference_id`, and may come later, so
     * the search runs from the window's start until now.
     */
    async *listPayments(since: Date, until: Date): AsyncIterable<ProviderPayment> {
      const payments = new Map<
        string,
        { payment: ProviderPayment; kind: 'capture' | 'sale'; settled: boolean }
      >();
      const refunded = new Map<string, number>();
      const decided: Array<{ paymentId: string; at: number; status: PaymentDisputed['status'] }> = [];
      const searchUntil = Math.max(until.getTime(), now());
      for (let start = since.getTime(); start < searchUntil; start += REPORT_WINDOW_MS) {
        const end = Math.min(start + REPORT_WINDOW_MS, searchUntil);
        for (let page = 1; ; page += 1) {
          const query = new URLSearchParams({
            start_date: reportDate(new Date(start)),
            end_date: reportDate(new Date(end)),
            fields: 'all',
            page_size: String(REPORT_PAGE_SIZE),
            page: String(page),
          });
          const reply = await client.call({
            method: 'GET',
            path: `/v1/reporting/transactions?${query.toString()}`,
            action: 'list transactions',
            schema: s.transactionsPage,
          });
          for (const { transaction_info: info } of reply.transaction_details ?? []) {
            if (!info.transaction_amount) continue;
            const amount = moneyFromV2(info.transaction_amount);
            const code = info.transaction_event_code ?? '';
            const reference = info.paypal_reference_id;
            const at =
              date(info.transaction_initiation_date, info.transaction_updated_date) ?? new Date(start);
            if (reference && REFUND_CODES.has(code)) {
              refunded.set(reference, (refunded.get(reference) ?? 0) + Math.abs(amount.amountMinor));
              continue;
            }
            if (reference && (LOST_CODES.has(code) || WON_BACK_CODES.has(code))) {
              decided.push({
                paymentId: reference,
                at: at.getTime(),
                status: LOST_CODES.has(code) ? 'lost' : 'won',
              });
              continue;
            }
            // Only money that came in is a payment: T00xx (fees and the rest are not).
            if ((code && !code.startsWith('T00')) || amount.amountMinor <= 0) continue;
            if (at < since || at > until) continue;
            payments.set(info.transaction_id, {
              payment: { paymentId: info.transaction_id, amount, occurredAt: at, status: 'succeeded' },
              kind: code === 'T0002' ? 'sale' : 'capture',
              settled: info.transaction_status === 'S' || info.transaction_status === 'V',
            });
          }
          const totalPages = reply.total_pages ?? 1;
          if (page >= totalPages || (reply.transaction_details ?? []).length === 0) break;
        }
      }
      decided.sort((a, b) => a.at - b.at);
      for (const { payment, kind, settled } of payments.values()) {
        const refundedMinor = refunded.get(payment.paymentId) ?? 0;
        const disputes = new Map<string, PaymentDisputed['status']>();
        for (const d of decided) {
          if (d.paymentId === payment.paymentId) disputes.set(disputeIdOf(kind, d.paymentId), d.status);
        }
        yield {
          ...payment,
          status: !settled
            ? 'other'
            : refundedMinor >= payment.amount.amountMinor
              ? 'refunded'
              : refundedMinor > 0
                ? 'partially_refunded'
                : 'succeeded',
          refundedMinor,
          disputes: [...disputes].map(([disputeId, status]) => ({ id: disputeId, status })),
        };
      }
    },
  };
}
