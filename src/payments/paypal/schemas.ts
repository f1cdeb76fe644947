/**
 * The parts of PayPal's replies and webhook resources we rely on. Anything else PayPal sends is
 * ignored (zod strips unknown keys), so additive API changes do not break us.
 */
import { z } from 'zod';

export const link = z.object({ href: z.string(), rel: z.string(), method: z.string().optional() });
export const links = z.array(link).optional();

/** Orders/Payments v2 money: `{ currency_code, value: "12.34" }`. */
export const moneyV2 = z.object({ currency_code: z.string(), value: z.string() });

/** The older v1 (sales) money: `{ total: "12.34", currency }`. */
export const moneyV1 = z.object({ total: z.string(), currency: z.string() });

const name = z.object({ given_name: z.string().optional(), surname: z.string().optional() }).optional();

export const payer = z
  .object({
    email_address: z.string().optional(),
    payer_id: z.string().optional(),
    name,
  })
  .optional();

export const capture = z.object({
  id: z.string(),
  status: z.string(),
  amount: moneyV2.optional(),
  custom_id: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
  /** What the seller receives: the gross, PayPal's fee and the net. */
  seller_receivable_breakdown: z.object({ paypal_fee: moneyV2.optional() }).optional(),
  supplementary_data: z
    .object({ related_ids: z.object({ order_id: z.string().optional() }).optional() })
    .optional(),
  links,
});
export type Capture = z.infer<typeof capture>;

export const order = z.object({
  id: z.string(),
  status: z.string(),
  links,
  payer,
  payment_source: z
    .object({
      paypal: z
        .object({
          email_address: z.string().optional(),
          account_id: z.string().optional(),
          name,
        })
        .optional(),
    })
    .optional(),
  purchase_units: z
    .array(
      z.object({
        reference_id: z.string().optional(),
        custom_id: z.string().optional(),
        description: z.string().optional(),
        amount: moneyV2.optional(),
        payments: z.object({ captures: z.array(capture).optional() }).optional(),
      }),
    )
    .optional(),
});
export type Order = z.infer<typeof order>;

export const createdResource = z.object({ id: z.string(), status: z.string().optional(), links });

export const plan = z.object({
  id: z.string(),
  product_id: z.string().optional(),
  status: z.string().optional(),
  billing_cycles: z
    .array(
      z.object({
        tenure_type: z.string().optional(),
        frequency: z
          .object({ interval_unit: z.string(), interval_count: z.number().int().positive().optional() })
          .optional(),
        pricing_scheme: z.object({ fixed_price: moneyV2.optional() }).optional(),
      }),
    )
    .optional(),
});

export type Plan = z.infer<typeof plan>;

export const subscription = z.object({
  id: z.string(),
  status: z.string(),
  plan_id: z.string().optional(),
  /** How many of the plan the subscriber pays for (PayPal sends a string; absent means one). */
  quantity: z.string().optional(),
  custom_id: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
  status_update_time: z.string().optional(),
  subscriber: z
    .object({ email_address: z.string().optional(), payer_id: z.string().optional(), name })
    .optional(),
  billing_info: z
    .object({
      last_payment: z.object({ amount: moneyV2.optional(), time: z.string().optional() }).optional(),
      next_billing_time: z.string().optional(),
      last_failed_payment: z
        .object({ reason_code: z.string().optional(), amount: moneyV2.optional() })
        .optional(),
    })
    .optional(),
  links,
});
export type Subscription = z.infer<typeof subscription>;

/** A v2 refund (PAYMENT.CAPTURE.REFUNDED / REVERSED resource). */
export const refundV2 = z.object({
  id: z.string(),
  status: z.string().optional(),
  amount: moneyV2.optional(),
  custom_id: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
  links,
  supplementary_data: z
    .object({ related_ids: z.object({ capture_id: z.string().optional() }).optional() })
    .optional(),
});

/** A v1 sale (PAYMENT.SALE.COMPLETED resource, GET /v1/payments/sale/{id}). */
export const sale = z.object({
  id: z.string(),
  state: z.string().optional(),
  amount: moneyV1,
  /** PayPal's fee, in the v1 shape `{ value, currency }`. */
  transaction_fee: z.object({ value: z.string(), currency: z.string() }).optional(),
  billing_agreement_id: z.string().optional(),
  custom: z.string().optional(),
  custom_id: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
});

export type Sale = z.infer<typeof sale>;

/** A v1 sale refund (PAYMENT.SALE.REFUNDED / REVERSED resource). */
export const saleRefund = z.object({
  id: z.string(),
  state: z.string().optional(),
  amount: moneyV1,
  sale_id: z.string().optional(),
  parent_payment: z.string().optional(),
  billing_agreement_id: z.string().optional(),
  custom: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
});

/** A customer dispute (CUSTOMER.DISPUTE.* resource, GET /v1/customer/disputes/{id}). */
export const dispute = z.object({
  dispute_id: z.string(),
  status: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
  dispute_amount: moneyV2.optional(),
  dispute_life_cycle_stage: z.string().optional(),
  dispute_outcome: z.object({ outcome_code: z.string().optional() }).optional(),
  disputed_transactions: z
    .array(z.object({ seller_transaction_id: z.string().optional(), custom: z.string().optional() }))
    .optional(),
});
export type Dispute = z.infer<typeof dispute>;

/** The answer to `POST /v1/billing/subscriptions/{id}/revise`. */
export const revision = z.object({ plan_id: z.string().optional(), links });

export const webhookEnvelope = z.object({
  id: z.string().min(1),
  event_type: z.string().min(1),
  resource_type: z.string().optional(),
  create_time: z.string().optional(),
  resource: z.record(z.string(), z.unknown()).optional(),
});

export const verifyWebhookReply = z.object({ verification_status: z.string() });

export const transactionsPage = z.object({
  transaction_details: z
    .array(
      z.object({
        transaction_info: z.object({
          transaction_id: z.string(),
          /** For refunds and reversals: the payment they belong to. */
          paypal_reference_id: z.string().optional(),
          transaction_event_code: z.string().optional(),
          transaction_initiation_date: z.string().optional(),
          transaction_updated_date: z.string().optional(),
          transaction_amount: moneyV2.optional(),
          transaction_status: z.string().optional(),
        }),
      }),
    )
    .optional(),
  page: z.number().optional(),
  total_pages: z.number().optional(),
});
