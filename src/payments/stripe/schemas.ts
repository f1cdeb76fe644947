/**
 * The parts of Stripe objects (API version 2026-10-28.endive) the adapter reads. Everything else
 * Stripe sends is ignored (zod strips unknown keys), so additive API changes do not break us, and
 * an event missing what a fact cannot do without (ids, amounts, currency, status) is reported as
 * unusable instead of failing with a TypeError; what only enriches a fact is optional.
 * Expandable fields are an id, or the object when the request expanded it.
 */
import { z } from 'zod';

const metadata = z.record(z.string(), z.string()).nullish();
const id = z.string().min(1);

function expandable<T extends z.ZodType>(object: T) {
  return z.union([z.string(), object]).nullish();
}

export const balanceTransaction = z.object({
  id,
  amount: z.number().int(),
  fee: z.number().int(),
  currency: z.string(),
});

export const customer = z.object({
  id,
  email: z.string().nullish(),
  name: z.string().nullish(),
  deleted: z.boolean().optional(),
});

export const refund = z.object({
  id,
  amount: z.number().int().optional(),
  created: z.number().int().optional(),
});

export const charge = z.object({
  id,
  amount: z.number().int().optional(),
  amount_refunded: z.number().int(),
  currency: z.string(),
  created: z.number().int().optional(),
  disputed: z.boolean().nullish(),
  refunded: z.boolean().nullish(),
  payment_intent: expandable(z.object({ id })),
  balance_transaction: expandable(balanceTransaction),
  metadata,
  /** Only when expanded (`refunds` is not included by default since 2022-11-15). */
  refunds: z.object({ data: z.array(refund) }).nullish(),
});
export type Charge = z.infer<typeof charge>;

export const paymentIntent = z.object({
  id,
  status: z.string(),
  amount: z.number().int(),
  amount_received: z.number().int(),
  currency: z.string(),
  created: z.number().int().optional(),
  receipt_email: z.string().nullish(),
  customer: expandable(customer),
  latest_charge: expandable(charge),
  metadata,
});
export type PaymentIntent = z.infer<typeof paymentIntent>;

const price = z.object({
  id,
  currency: z.string(),
  unit_amount: z.number().int().nullish(),
  product: expandable(z.object({ id })),
  recurring: z
    .object({ interval: z.enum(['day', 'week', 'month', 'year']), interval_count: z.number().int() })
    .nullish(),
});

export const subscription = z.object({
  id,
  status: z.string(),
  created: z.number().int().optional(),
  customer: expandable(customer),
  metadata,
  cancel_at: z.number().int().nullish(),
  cancel_at_period_end: z.boolean().nullish(),
  canceled_at: z.number().int().nullish(),
  ended_at: z.number().int().nullish(),
  items: z.object({
    data: z.array(
      z.object({
        id,
        quantity: z.number().int().nullish(),
        current_period_end: z.number().int().optional(),
        price: price.optional(),
      }),
    ),
  }),
});
export type Subscription = z.infer<typeof subscription>;

export const invoicePayment = z.object({
  id: z.string().optional(),
  status: z.string().nullish(),
  invoice: expandable(z.object({ id })),
  payment: z.object({ type: z.string().optional(), payment_intent: expandable(paymentIntent) }).nullish(),
});

export const invoice = z.object({
  id,
  amount_paid: z.number().int(),
  currency: z.string(),
  created: z.number().int().optional(),
  billing_reason: z.string().nullish(),
  attempt_count: z.number().int().nullish(),
  customer: expandable(customer),
  customer_email: z.string().nullish(),
  customer_name: z.string().nullish(),
  status_transitions: z.object({ paid_at: z.number().int().nullish() }).nullish(),
  parent: z
    .object({
      subscription_details: z.object({ subscription: expandable(z.object({ id })), metadata }).nullish(),
    })
    .nullish(),
  /** Only when expanded: how the invoice was paid. */
  payments: z.object({ data: z.array(invoicePayment) }).nullish(),
});
export type Invoice = z.infer<typeof invoice>;

export const checkoutSession = z.object({
  id,
  mode: z.string(),
  status: z.string().nullish(),
  payment_status: z.string(),
  amount_total: z.number().int().nullish(),
  currency: z.string().nullish(),
  created: z.number().int().optional(),
  client_reference_id: z.string().nullish(),
  customer: expandable(customer),
  customer_details: z.object({ email: z.string().nullish(), name: z.string().nullish() }).nullish(),
  metadata,
  payment_intent: expandable(paymentIntent),
  subscription: expandable(subscription),
  invoice: expandable(invoice),
});
export type CheckoutSession = z.infer<typeof checkoutSession>;

export const dispute = z.object({
  id,
  amount: z.number().int().optional(),
  currency: z.string().optional(),
  status: z.string(),
  created: z.number().int().optional(),
  charge: expandable(z.object({ id })),
  payment_intent: expandable(z.object({ id })),
  balance_transactions: z.array(balanceTransaction).nullish(),
});
export type Dispute = z.infer<typeof dispute>;

/** The envelope every verified delivery must have: an object with an id and a type. */
export const eventEnvelope = z.object({
  id,
  type: z.string().min(1),
  created: z.number().int(),
  data: z.object({
    object: z.record(z.string(), z.unknown()),
    previous_attributes: z.record(z.string(), z.unknown()).nullish(),
  }),
});
export type EventEnvelope = z.infer<typeof eventEnvelope>;

/**
 * The envelope check for every delivery, without copying the body (most deliveries are of types we
 * ignore, and this runs for each): an object with an id, a type, a time and a data object.
 */
export function isEventEnvelope(value: unknown): value is Pick<EventEnvelope, 'id' | 'type' | 'created'> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  const data = e.data as Record<string, unknown> | null | undefined;
  return (
    typeof e.id === 'string' &&
    e.id !== '' &&
    typeof e.type === 'string' &&
    e.type !== '' &&
    Number.isInteger(e.created) &&
    typeof data === 'object' &&
    data !== null &&
    typeof data.object === 'object' &&
    data.object !== null
  );
}
