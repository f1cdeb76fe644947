/**
 * The Stripe events the benchmarks deliver: a paid one-off Checkout Session (a payment into the
 * ledger) or a customer update (verified and stored, then ignored), pretty-printed as Stripe sends.
 */
export function stripeBenchEvent(options: {
  /** Distinguishes one benchmark's ids from another's (`load`, `bench`). */
  tag: string;
  i: number;
  id: string;
  payment: boolean;
  /** Unix seconds. */
  now: number;
  /** Amounts vary over this many steps of $1 from $5; payers over this many addresses. */
  amountSteps: number;
  payers: number;
  planId: string;
  name: string;
}): string {
  const { tag, i, id, now } = options;
  const object = options.payment
    ? {
        id: `cs_${tag}_${id}`,
        object: 'checkout.session',
        mode: 'payment',
        status: 'complete',
        payment_status: 'paid',
        amount_total: 500 + (i % options.amountSteps) * 100,
        currency: 'usd',
        payment_intent: `pi_${tag}_${id}`,
        customer: null,
        customer_details: { email: `reader${i % options.payers}@example.com`, name: options.name },
        metadata: { planId: options.planId },
        created: now,
      }
    : { id: `cus_${tag}_${id}`, object: 'customer', email: `reader${i}@example.com`, metadata: {} };
  return JSON.stringify(
    {
      id: `evt_${tag}_${id}`,
      object: 'event',
      created: now,
      type: options.payment ? 'checkout.session.completed' : 'customer.updated',
      data: { object },
      livemode: false,
      pending_webhooks: 1,
    },
    null,
    2,
  );
}
