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
  type CheckoutRequest,
  type CheckoutStart,
  type Money,
  type PaymentProvider,
  type PaymentSucceeded,
  type PlanInterval,
  type ProviderPayment,
  type ReturnOutcome,
  type VerifiedEvent,
} from '../types.js';
import { createPayPalClient, PayPalRequestError, type PayPalEnvironmentOption } from './client.js';
import {
  activatedFromSubscription,
  date,
  factsFromPayPalEvent,
  moneyFromV2,
  payerFrom,
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

/** PayPal caps these free-text fields at 127 characters. */
const TEXT_LIMIT = 127;
/** PayPal's transaction search covers at most 31 days per request. */
const REPORT_WINDOW_MS = 31 * 86_400_000;
const REPORT_PAGE_SIZE = 500;
const PLAN_AMOUNT_CACHE_LIMIT = 100;

function clip(text: string, limit = TEXT_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

function id(value: string): string {
  return encodeURIComponent(value);
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
  const planAmounts = new Map<string, Money | undefined>();

  async function planAmount(planId: string): Promise<Money | undefined> {
    if (planAmounts.has(planId)) return planAmounts.get(planId);
    const plan = await client.call({
      method: 'GET',
      path: `/v1/billing/plans/${id(planId)}`,
      action: `read billing plan ${planId}`,
      schema: s.plan,
    });
    const regular = plan.billing_cycles?.find((c) => c.tenure_type === 'REGULAR') ?? plan.billing_cycles?.[0];
    const price = regular?.pricing_scheme?.fixed_price;
    const amount = price ? moneyFromV2(price) : undefined;
    if (planAmounts.size >= PLAN_AMOUNT_CACHE_LIMIT) planAmounts.clear();
    planAmounts.set(planId, amount);
    return amount;
  }

  async function provisionPlan(amount: Money, interval: PlanInterval): Promise<string> {
    if (interval !== 'month') {
      throw new ProviderError('paypal', `PayPal plans are only set up for monthly support`, false);
    }
    const key = `${amount.amountMinor}:${amount.currency}:${interval}`;
    const known = await options.planStore.find(key);
    if (known) return known;
    // One provisioning per key per process; across processes the PayPal-Request-Ids below make
    // PayPal answer a repeat with the product/plan it already made, and the store picks one winner.
    const inFlight = provisioning.get(key);
    if (inFlight) return inFlight;
    const work = (async () => {
      const requestKey = key.replace(/:/g, '-');
      const value = toDecimalString(amount);
      const product = await client.call({
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
      });
      const plan = await client.call({
        method: 'POST',
        path: '/v1/billing/plans',
        requestId: `plan-${requestKey}`,
        body: {
          product_id: product.id,
          name: clip(`${options.brandName} monthly ${value} ${amount.currency}`),
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
      const winner = await options.planStore.save(key, plan.id, product.id);
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

  function outcomeFromOrder(order: s.Order): ReturnOutcome {
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
      case 'REFUNDED': {
        // Refunded later still means the money arrived first; the refund has its own fact.
        const source = order.payer ?? {
          email_address: order.payment_source?.paypal?.email_address,
          payer_id: order.payment_source?.paypal?.account_id,
          name: order.payment_source?.paypal?.name,
        };
        const fact = succeededFromCapture(capture, {
          payer: payerFrom(source),
          ...withCheckout,
        });
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

  async function completeOrder(orderId: string): Promise<ReturnOutcome> {
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

  async function getSubscription(subscriptionId: string): Promise<s.Subscription> {
    return client.call({
      method: 'GET',
      path: `/v1/billing/subscriptions/${id(subscriptionId)}`,
      action: `read subscription ${subscriptionId}`,
      schema: s.subscription,
    });
  }

  async function completeSubscription(subscriptionId: string): Promise<ReturnOutcome> {
    const sub = await getSubscription(subscriptionId);
    const withCheckout = sub.custom_id ? { checkoutId: sub.custom_id } : {};
    switch (sub.status) {
      case 'ACTIVE': {
        const fact = await activatedFromSubscription(sub, { planAmount });
        return { status: 'paid', ...withCheckout, facts: [fact] };
      }
      case 'APPROVAL_PENDING':
      case 'APPROVED':
        // Approved but not yet active: PayPal activates it shortly and says so by webhook.
        return { status: 'pending', ...withCheckout, facts: [] };
      case 'CANCELLED':
      case 'EXPIRED':
        return { status: 'cancelled', ...withCheckout, facts: [] };
      default:
        return { status: 'failed', ...withCheckout, facts: [] };
    }
  }

  async function refundCapture(captureId: string, amount?: Money): Promise<void> {
    await client.call({
      method: 'POST',
      path: `/v2/payments/captures/${id(captureId)}/refund`,
      // A full refund can only happen once, so a stable id makes retries safe. Two partial
      // refunds of the same amount are legitimate, so those get no fixed id.
      ...(amount ? {} : { requestId: `refund-${captureId}` }),
      body: amount ? { amount: { value: toDecimalString(amount), currency_code: amount.currency } } : {},
      action: `refund capture ${captureId}`,
      schema: s.createdResource,
    });
  }

  async function refundSale(saleId: string, amount?: Money): Promise<void> {
    await client.call({
      method: 'POST',
      path: `/v1/payments/sale/${id(saleId)}/refund`,
      ...(amount ? {} : { requestId: `refund-${saleId}` }),
      body: amount ? { amount: { total: toDecimalString(amount), currency: amount.currency } } : {},
      action: `refund payment ${saleId}`,
      schema: s.createdResource,
    });
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
    id: 'paypal',

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
                description: clip(request.plan.name),
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

      const planId = await provisionPlan(amount, request.plan.interval);
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

    async completeReturn(query: Record<string, string>): Promise<ReturnOutcome> {
      // Subscription returns carry `subscription_id` and also a `token`; the former decides.
      const subscriptionId = query.subscription_id;
      if (subscriptionId) return completeSubscription(subscriptionId);
      const orderId = query.token;
      if (orderId) return completeOrder(orderId);
      throw new ProviderError(
        'paypal',
        'The PayPal return carried neither an order token nor a subscription id',
        false,
      );
    },

    async cancelSubscription(subscriptionId: string, reason: string): Promise<void> {
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

    async refund(paymentId: string, amount?: Money): Promise<void> {
      try {
        await refundCapture(paymentId, amount);
      } catch (err) {
        if (!(err instanceof PayPalRequestError)) throw err;
        if (err.statusCode === 404) {
          // Not a capture: monthly payments are v1 sales.
          try {
            await refundSale(paymentId, amount);
            return;
          } catch (saleErr) {
            if (saleErr instanceof PayPalRequestError && saleErr.statusCode === 404) {
              throw new ProviderError('paypal', `PayPal knows no payment ${paymentId}`, false, {
                cause: saleErr,
              });
            }
            throw saleErr;
          }
        }
        if (!amount && err.is('CAPTURE_FULLY_REFUNDED')) return;
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

    async factsFromEvent(event: VerifiedEvent) {
      const envelope = s.webhookEnvelope.safeParse(event.payload);
      if (!envelope.success) {
        throw new ProviderError('paypal', `PayPal event ${event.eventId} is malformed`, false);
      }
      return factsFromPayPalEvent({
        eventId: envelope.data.id,
        eventType: envelope.data.event_type,
        ...(envelope.data.create_time ? { createTime: envelope.data.create_time } : {}),
        resource: envelope.data.resource,
        planAmount,
      });
    },

    async fetchPayment(paymentId: string): Promise<PaymentSucceeded | null> {
      try {
        const capture = await client.call({
          method: 'GET',
          path: `/v2/payments/captures/${id(paymentId)}`,
          action: `read payment ${paymentId}`,
          schema: s.capture,
        });
        if (!['COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED'].includes(capture.status)) return null;
        return succeededFromCapture(capture, {});
      } catch (err) {
        if (!(err instanceof PayPalRequestError) || err.statusCode !== 404) throw err;
      }
      try {
        const sale = await client.call({
          method: 'GET',
          path: `/v1/payments/sale/${id(paymentId)}`,
          action: `read payment ${paymentId}`,
          schema: s.sale,
        });
        const state = sale.state?.toLowerCase();
        if (state && !['completed', 'partially_refunded', 'refunded'].includes(state)) return null;
        return succeededFromSale(sale, {});
      } catch (err) {
        if (err instanceof PayPalRequestError && err.statusCode === 404) return null;
        throw err;
      }
    },

    async *listPayments(since: Date, until: Date): AsyncIterable<ProviderPayment> {
      for (let start = since.getTime(); start < until.getTime(); start += REPORT_WINDOW_MS) {
        const end = Math.min(start + REPORT_WINDOW_MS, until.getTime());
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
            // Refunds, fees and reversals appear as their own negative transactions; only money
            // that came in is a payment.
            if (amount.amountMinor <= 0) continue;
            const status = info.transaction_status;
            yield {
              paymentId: info.transaction_id,
              amount,
              occurredAt:
                date(info.transaction_initiation_date, info.transaction_updated_date) ?? new Date(start),
              status: status === 'S' ? 'succeeded' : status === 'V' ? 'refunded' : 'other',
            };
          }
          const totalPages = reply.total_pages ?? 1;
          if (page >= totalPages || (reply.transaction_details ?? []).length === 0) break;
        }
      }
    },
  };
}
