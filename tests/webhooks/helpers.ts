import { randomUUID } from 'node:crypto';
import type express from 'express';
import Stripe from 'stripe';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { STRIPE_API_VERSION } from '../../src/simulator/index.js';

export const uid = () => randomUUID().replace(/-/g, '').slice(0, 20);

/** The Stripe webhook secret this runtime's simulator signs with (random per process). */
export const stripeSecret = (runtime: Runtime) =>
  runtime.payments.simulator?.secrets.stripeWebhookSecret ?? runtime.config.payments.stripe.webhookSecret;

/** A Stripe event body as Stripe sends it (pretty-printed JSON). */
export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  options: { id?: string; created?: number } = {},
): string {
  return JSON.stringify(
    {
      id: options.id ?? `evt_test_${uid()}`,
      object: 'event',
      api_version: STRIPE_API_VERSION,
      created: options.created ?? Math.floor(Date.now() / 1000),
      type,
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    },
    null,
    2,
  );
}

export const eventIdOf = (payload: string) => (JSON.parse(payload) as { id: string }).id;

export function signStripe(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp !== undefined ? { timestamp } : {}),
  });
}

export function deliverStripe(app: express.Express, payload: string, secret: string) {
  return request(app)
    .post('/webhooks/stripe')
    .set('Content-Type', 'application/json; charset=utf-8')
    .set('Stripe-Signature', signStripe(payload, secret))
    .send(payload);
}

/** A paid one-off Checkout Session, as in `checkout.session.completed`. */
export function paidSession(options: {
  paymentIntent: string;
  amountMinor?: number;
  currency?: string;
  email?: string;
  checkoutId?: string;
  planId?: string;
  created?: number;
}): Record<string, unknown> {
  const metadata: Record<string, string> = {};
  if (options.checkoutId) metadata.checkoutId = options.checkoutId;
  if (options.planId) metadata.planId = options.planId;
  return {
    id: `cs_test_${uid()}`,
    object: 'checkout.session',
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    amount_total: options.amountMinor ?? 500,
    currency: options.currency ?? 'usd',
    payment_intent: options.paymentIntent,
    subscription: null,
    invoice: null,
    customer: null,
    customer_details: { email: options.email ?? 'reader@example.com', name: 'A Reader' },
    client_reference_id: null,
    metadata,
    created: options.created ?? Math.floor(Date.now() / 1000),
  };
}

export function refundedCharge(options: {
  paymentIntent: string;
  amountMinor?: number;
  refundedMinor: number;
  currency?: string;
}): Record<string, unknown> {
  const amount = options.amountMinor ?? 500;
  return {
    id: `ch_${uid()}`,
    object: 'charge',
    payment_intent: options.paymentIntent,
    amount,
    amount_refunded: options.refundedMinor,
    currency: options.currency ?? 'usd',
    refunded: options.refundedMinor >= amount,
  };
}

export function stripeSubscription(id: string, status: string): Record<string, unknown> {
  return { id, object: 'subscription', status, items: { object: 'list', data: [] }, metadata: {} };
}
