import type { IntervalUnit, SimClock } from '../util.js';
import { addInterval, clone, decimalToMinor, minorToDecimal, paypalId } from '../util.js';

export class PayPalApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
    readonly details: Array<{
      issue: string;
      description: string;
      field?: string;
      value?: string;
      location?: string;
    }> = [],
  ) {
    super(message);
  }
}

export function notFound(): PayPalApiError {
  return new PayPalApiError(404, 'RESOURCE_NOT_FOUND', 'The specified resource does not exist.', [
    {
      issue: 'INVALID_RESOURCE_ID',
      description: 'Specified resource ID does not exist. Please check the resource ID and try again.',
    },
  ]);
}

function invalidRequest(field: string, issue: string, description: string, value?: unknown): PayPalApiError {
  return new PayPalApiError(
    400,
    'INVALID_REQUEST',
    'Request is not well-formed, syntactically incorrect, or violates schema.',
    [
      {
        field,
        ...(value !== undefined ? { value: String(value) } : {}),
        location: 'body',
        issue,
        description,
      },
    ],
  );
}

function unprocessable(issue: string, description: string): PayPalApiError {
  return new PayPalApiError(
    422,
    'UNPROCESSABLE_ENTITY',
    'The requested action could not be performed, semantically incorrect, or failed business validation.',
    [{ issue, description }],
  );
}

export type Json = Record<string, unknown>;

export interface PayPalEvent {
  id: string;
  type: string;
  body: Json;
}

export type PayPalSink = (events: PayPalEvent[]) => void;

interface Money {
  currency_code: string;
  value: string;
}

interface Payer {
  email: string;
  payerId: string;
  given: string;
  surname: string;
}

interface OrderInternal {
  returnUrl: string | null;
  cancelUrl: string | null;
  payer: Payer | null;
}

interface SubscriptionInternal {
  token: string;
  returnUrl: string | null;
  cancelUrl: string | null;
  amountMinor: number;
  currency: string;
  unit: IntervalUnit;
  count: number;
  failureThreshold: number;
  failNext: boolean;
  nextBillingMs: number;
  payer: Payer | null;
  /** Billing cycles after which the subscription expires; 0 bills until cancelled. */
  totalCycles: number;
}

export interface TransactionRecord {
  id: string;
  eventCode: string;
  amountMinor: number;
  feeMinor: number;
  currency: string;
  timeMs: number;
  customField: string | null;
  referenceId: string | null;
  payer: Payer | null;
}

const MERCHANT = { email_address: 'merchant@readerfund.example', merchant_id: 'SIMMERCHANT01' };

/**
 * PayPal's fee on a payment as the simulator charges it: 3.49% of the amount plus 49 minor units of
 * its currency, in integer minor units, the percentage rounded half up on the minor unit
 * (1000 → 34.9 → 35, plus 49: 84).
 */
export function paypalFee(minor: number): number {
  return Math.floor((minor * 349 + 5000) / 10000) + 49;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function money(v: unknown, field: string): { minor: number; currency: string } {
  if (!isObject(v))
    throw invalidRequest(field, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.');
  const currency = v.currency_code;
  const value = v.value;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) {
    throw invalidRequest(
      `${field}/currency_code`,
      'INVALID_PARAMETER_SYNTAX',
      'The value of a field does not conform to the expected format.',
      currency,
    );
  }
  const minor = typeof value === 'string' ? decimalToMinor(value, currency) : Number.NaN;
  if (!Number.isFinite(minor) || minor < 0) {
    throw invalidRequest(
      `${field}/value`,
      'INVALID_PARAMETER_SYNTAX',
      'The value of a field does not conform to the expected format.',
      value,
    );
  }
  return { minor, currency };
}

export class PayPalState {
  readonly orders = new Map<string, Json>();
  readonly orderInternals = new Map<string, OrderInternal>();
  readonly captures = new Map<string, Json>();
  readonly refunds = new Map<string, Json>();
  readonly products = new Map<string, Json>();
  readonly plans = new Map<string, Json>();
  readonly subscriptions = new Map<string, Json>();
  readonly subInternals = new Map<string, SubscriptionInternal>();
  readonly subscriptionsByToken = new Map<string, string>();
  readonly sales = new Map<string, Json>();
  readonly saleRefunds = new Map<string, Json>();
  readonly transactions: TransactionRecord[] = [];
  readonly events = new Map<string, Json>();
  readonly disputes = new Map<string, Json>();

  constructor(
    private readonly clock: SimClock,
    private readonly baseUrl: () => string,
    private readonly sink: PayPalSink,
  ) {}

  private event(type: string, resourceType: string, resource: Json, summary: string, v2 = true): PayPalEvent {
    const id = `WH-${paypalId(17)}-${paypalId(17)}`;
    const body: Json = {
      id,
      event_version: '1.0',
      create_time: this.clock.iso(),
      resource_type: resourceType,
      ...(v2 ? { resource_version: '2.0' } : {}),
      event_type: type,
      summary,
      resource: clone(resource),
      links: [
        { href: `${this.baseUrl()}/v1/notifications/webhooks-events/${id}`, rel: 'self', method: 'GET' },
        {
          href: `${this.baseUrl()}/v1/notifications/webhooks-events/${id}/resend`,
          rel: 'resend',
          method: 'POST',
        },
      ],
    };
    this.events.set(id, body);
    return { id, type, body };
  }

  private emit(...events: PayPalEvent[]): void {
    this.sink(events);
  }

  private defaultPayer(email?: string): Payer {
    return {
      email: email || 'sb-buyer@personal.example.com',
      payerId: paypalId(13),
      given: 'Sandbox',
      surname: 'Buyer',
    };
  }

  // ---- Orders v2 ----

  createOrder(body: Json): Json {
    const intent = body.intent;
    if (intent !== 'CAPTURE') {
      throw invalidRequest(
        '/intent',
        'INVALID_PARAMETER_VALUE',
        'The value of a field is invalid. The simulator supports intent CAPTURE.',
        intent,
      );
    }
    const units = body.purchase_units;
    if (!Array.isArray(units) || units.length === 0) {
      throw invalidRequest(
        '/purchase_units',
        'MISSING_REQUIRED_PARAMETER',
        'A required field / parameter is missing.',
      );
    }
    const purchaseUnits = units.map((raw, i) => {
      if (!isObject(raw))
        throw invalidRequest(`/purchase_units/${i}`, 'INVALID_PARAMETER_SYNTAX', 'Invalid purchase unit.');
      const { minor, currency } = money(raw.amount, `/purchase_units/${i}/amount`);
      const amount = raw.amount as Json;
      return {
        reference_id: typeof raw.reference_id === 'string' ? raw.reference_id : 'default',
        amount: { ...amount, currency_code: currency, value: minorToDecimal(minor, currency) },
        payee: clone(MERCHANT),
        ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
        ...(typeof raw.custom_id === 'string' ? { custom_id: raw.custom_id } : {}),
        ...(typeof raw.invoice_id === 'string' ? { invoice_id: raw.invoice_id } : {}),
        ...(typeof raw.soft_descriptor === 'string' ? { soft_descriptor: raw.soft_descriptor } : {}),
        ...(Array.isArray(raw.items) ? { items: clone(raw.items) } : {}),
      };
    });
    const ctx = isObject(body.application_context) ? body.application_context : {};
    const paypalSource =
      isObject(body.payment_source) && isObject(body.payment_source.paypal)
        ? body.payment_source.paypal
        : null;
    const exp =
      paypalSource && isObject(paypalSource.experience_context) ? paypalSource.experience_context : {};
    const returnUrl = (exp.return_url ?? ctx.return_url) as string | undefined;
    const cancelUrl = (exp.cancel_url ?? ctx.cancel_url) as string | undefined;
    const id = paypalId(17);
    const now = this.clock.iso();
    const base = this.baseUrl();
    const order: Json = {
      id,
      intent,
      status: paypalSource ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
      ...(paypalSource ? { payment_source: { paypal: {} } } : {}),
      purchase_units: purchaseUnits,
      create_time: now,
      links: [
        { href: `${base}/v2/checkout/orders/${id}`, rel: 'self', method: 'GET' },
        {
          href: `${base}/checkoutnow?token=${id}`,
          rel: paypalSource ? 'payer-action' : 'approve',
          method: 'GET',
        },
        { href: `${base}/v2/checkout/orders/${id}`, rel: 'update', method: 'PATCH' },
        { href: `${base}/v2/checkout/orders/${id}/capture`, rel: 'capture', method: 'POST' },
      ],
    };
    this.orders.set(id, order);
    this.orderInternals.set(id, {
      returnUrl: typeof returnUrl === 'string' ? returnUrl : null,
      cancelUrl: typeof cancelUrl === 'string' ? cancelUrl : null,
      payer: null,
    });
    return order;
  }

  getOrder(id: string): Json {
    const order = this.orders.get(id);
    if (!order) throw notFound();
    return order;
  }

  orderReturnUrls(id: string): OrderInternal | undefined {
    return this.orderInternals.get(id);
  }

  /** The buyer approved on the hosted page. Returns the URL PayPal redirects to. */
  approveOrder(id: string, email: string): string | null {
    const order = this.getOrder(id);
    const internal = this.orderInternals.get(id)!;
    if (order.status === 'CREATED' || order.status === 'PAYER_ACTION_REQUIRED') {
      const payer = this.defaultPayer(email);
      internal.payer = payer;
      order.status = 'APPROVED';
      order.update_time = this.clock.iso();
      order.payer = {
        name: { given_name: payer.given, surname: payer.surname },
        email_address: payer.email,
        payer_id: payer.payerId,
        address: { country_code: 'US' },
      };
      order.payment_source = {
        paypal: {
          email_address: payer.email,
          account_id: payer.payerId,
          account_status: 'VERIFIED',
          name: { given_name: payer.given, surname: payer.surname },
          address: { country_code: 'US' },
        },
      };
      this.emit(
        this.event('CHECKOUT.ORDER.APPROVED', 'checkout-order', order, 'An order has been approved by buyer'),
      );
    }
    if (!internal.returnUrl) return null;
    const url = new URL(internal.returnUrl);
    url.searchParams.set('token', id);
    url.searchParams.set('PayerID', internal.payer?.payerId ?? '');
    return url.toString();
  }

  captureOrder(id: string): Json {
    const order = this.getOrder(id);
    if (order.status === 'COMPLETED') {
      throw unprocessable(
        'ORDER_ALREADY_CAPTURED',
        "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.",
      );
    }
    if (order.status !== 'APPROVED') {
      throw unprocessable(
        'ORDER_NOT_APPROVED',
        "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
      );
    }
    const internal = this.orderInternals.get(id)!;
    const now = this.clock.iso();
    const base = this.baseUrl();
    const events: PayPalEvent[] = [];
    for (const unit of order.purchase_units as Json[]) {
      const amount = unit.amount as Money;
      const minor = decimalToMinor(amount.value, amount.currency_code);
      const fee = paypalFee(minor);
      const captureId = paypalId(17);
      const capture: Json = {
        id: captureId,
        status: 'COMPLETED',
        amount: { currency_code: amount.currency_code, value: amount.value },
        final_capture: true,
        seller_protection: {
          status: 'ELIGIBLE',
          dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'],
        },
        seller_receivable_breakdown: {
          gross_amount: { currency_code: amount.currency_code, value: amount.value },
          paypal_fee: {
            currency_code: amount.currency_code,
            value: minorToDecimal(fee, amount.currency_code),
          },
          net_amount: {
            currency_code: amount.currency_code,
            value: minorToDecimal(minor - fee, amount.currency_code),
          },
        },
        ...(typeof unit.custom_id === 'string' ? { custom_id: unit.custom_id } : {}),
        ...(typeof unit.invoice_id === 'string' ? { invoice_id: unit.invoice_id } : {}),
        supplementary_data: { related_ids: { order_id: id } },
        links: [
          { href: `${base}/v2/payments/captures/${captureId}`, rel: 'self', method: 'GET' },
          { href: `${base}/v2/payments/captures/${captureId}/refund`, rel: 'refund', method: 'POST' },
          { href: `${base}/v2/checkout/orders/${id}`, rel: 'up', method: 'GET' },
        ],
        create_time: now,
        update_time: now,
      };
      this.captures.set(captureId, capture);
      unit.payments = { captures: [capture] };
      this.transactions.push({
        id: captureId,
        eventCode: 'T0006',
        amountMinor: minor,
        feeMinor: fee,
        currency: amount.currency_code,
        timeMs: this.clock.nowMs(),
        customField: typeof unit.custom_id === 'string' ? unit.custom_id : null,
        referenceId: null,
        payer: internal.payer,
      });
      events.push(
        this.event(
          'PAYMENT.CAPTURE.COMPLETED',
          'capture',
          capture,
          `Payment completed for ${amount.value} ${amount.currency_code}`,
        ),
      );
    }
    order.status = 'COMPLETED';
    order.update_time = now;
    this.emit(...events);
    return order;
  }

  getCapture(id: string): Json {
    const capture = this.captures.get(id);
    if (!capture) throw notFound();
    return capture;
  }

  private refundedMinor(captureId: string): number {
    let total = 0;
    for (const r of this.refunds.values()) {
      if (r.capture_id === captureId) {
        const a = r.amount as Money;
        total += decimalToMinor(a.value, a.currency_code);
      }
    }
    return total;
  }

  refundCapture(captureId: string, body: Json, reversal = false, reversalCode = 'T1106'): Json {
    const capture = this.getCapture(captureId);
    const amount = capture.amount as Money;
    const total = decimalToMinor(amount.value, amount.currency_code);
    if (capture.status === 'REFUNDED' || capture.status === 'REVERSED') {
      throw unprocessable('CAPTURE_FULLY_REFUNDED', 'The capture has already been fully refunded');
    }
    const remaining = total - this.refundedMinor(captureId);
    let minor = remaining;
    if (body.amount !== undefined) {
      const requested = money(body.amount, '/amount');
      if (requested.currency !== amount.currency_code) {
        throw unprocessable(
          'REFUND_CURRENCY_MISMATCH',
          'Refund must be in the same currency as the capture.',
        );
      }
      minor = requested.minor;
    }
    if (minor <= 0 || minor > remaining) {
      throw unprocessable(
        'REFUND_AMOUNT_EXCEEDED',
        'The refund amount must be less than or equal to the capture amount that has not yet been refunded.',
      );
    }
    const now = this.clock.iso();
    const id = paypalId(17);
    const base = this.baseUrl();
    const refund: Json = {
      id,
      amount: { currency_code: amount.currency_code, value: minorToDecimal(minor, amount.currency_code) },
      seller_payable_breakdown: {
        gross_amount: {
          currency_code: amount.currency_code,
          value: minorToDecimal(minor, amount.currency_code),
        },
        paypal_fee: { currency_code: amount.currency_code, value: '0.00' },
        net_amount: {
          currency_code: amount.currency_code,
          value: minorToDecimal(minor, amount.currency_code),
        },
        total_refunded_amount: {
          currency_code: amount.currency_code,
          value: minorToDecimal(total - remaining + minor, amount.currency_code),
        },
      },
      ...(typeof capture.custom_id === 'string' ? { custom_id: capture.custom_id } : {}),
      ...(typeof capture.invoice_id === 'string' ? { invoice_id: capture.invoice_id } : {}),
      ...(typeof body.note_to_payer === 'string' ? { note_to_payer: body.note_to_payer } : {}),
      ...(reversal ? { note_to_payer: 'Payment reversed', reason: 'BUYER_COMPLAINT' } : {}),
      status: 'COMPLETED',
      create_time: now,
      update_time: now,
      links: [
        { href: `${base}/v2/payments/refunds/${id}`, rel: 'self', method: 'GET' },
        { href: `${base}/v2/payments/captures/${captureId}`, rel: 'up', method: 'GET' },
      ],
    };
    this.refunds.set(id, refund);
    Object.defineProperty(refund, 'capture_id', { value: captureId, enumerable: false });
    const fully = minor === remaining;
    capture.status = reversal ? 'REVERSED' : fully ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    capture.update_time = now;
    const order = this.orders.get(
      String((capture.supplementary_data as Json & { related_ids: Json }).related_ids.order_id),
    );
    const payer = order ? (this.orderInternals.get(String(order.id))?.payer ?? null) : null;
    this.transactions.push({
      id,
      eventCode: reversal ? reversalCode : 'T1107',
      amountMinor: -minor,
      feeMinor: 0,
      currency: amount.currency_code,
      timeMs: this.clock.nowMs(),
      customField: typeof capture.custom_id === 'string' ? capture.custom_id : null,
      referenceId: captureId,
      payer,
    });
    const type = reversal ? 'PAYMENT.CAPTURE.REVERSED' : 'PAYMENT.CAPTURE.REFUNDED';
    const summary = reversal
      ? `A ${refund.amount ? (refund.amount as Money).value : ''} ${amount.currency_code} capture payment was reversed`
      : `A ${(refund.amount as Money).value} ${amount.currency_code} capture payment was refunded`;
    this.emit(this.event(type, 'refund', refund, summary));
    return refund;
  }

  getRefund(id: string): Json {
    const refund = this.refunds.get(id);
    if (!refund) throw notFound();
    return refund;
  }

  // ---- Catalog products and billing plans ----

  createProduct(body: Json): Json {
    if (typeof body.name !== 'string' || !body.name) {
      throw invalidRequest('/name', 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.');
    }
    const type = typeof body.type === 'string' ? body.type : 'PHYSICAL';
    if (!['PHYSICAL', 'DIGITAL', 'SERVICE'].includes(type)) {
      throw invalidRequest('/type', 'INVALID_PARAMETER_VALUE', 'The value of a field is invalid.', type);
    }
    const id = typeof body.id === 'string' ? body.id : `PROD-${paypalId(17)}`;
    if (this.products.has(id))
      throw unprocessable('DUPLICATE_RESOURCE_IDENTIFIER', 'The product id is already in use.');
    const now = this.clock.iso();
    const product: Json = {
      id,
      name: body.name,
      ...(typeof body.description === 'string' ? { description: body.description } : {}),
      type,
      ...(typeof body.category === 'string' ? { category: body.category } : {}),
      create_time: now,
      update_time: now,
      links: [
        { href: `${this.baseUrl()}/v1/catalogs/products/${id}`, rel: 'self', method: 'GET' },
        { href: `${this.baseUrl()}/v1/catalogs/products/${id}`, rel: 'edit', method: 'PATCH' },
      ],
    };
    this.products.set(id, product);
    return product;
  }

  getProduct(id: string): Json {
    const product = this.products.get(id);
    if (!product) throw notFound();
    return product;
  }

  createPlan(body: Json): Json {
    const productId = body.product_id;
    if (typeof productId !== 'string') {
      throw invalidRequest(
        '/product_id',
        'MISSING_REQUIRED_PARAMETER',
        'A required field / parameter is missing.',
      );
    }
    if (!this.products.has(productId)) {
      throw unprocessable('INVALID_PRODUCT_ID', 'The specified product ID does not exist.');
    }
    if (typeof body.name !== 'string' || !body.name) {
      throw invalidRequest('/name', 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.');
    }
    const cycles = body.billing_cycles;
    if (!Array.isArray(cycles) || cycles.length === 0) {
      throw invalidRequest(
        '/billing_cycles',
        'MISSING_REQUIRED_PARAMETER',
        'A required field / parameter is missing.',
      );
    }
    const regularIndex = cycles.findIndex((c) => isObject(c) && c.tenure_type === 'REGULAR');
    const regular = cycles[regularIndex] as Json | undefined;
    if (!regular) {
      throw invalidRequest(
        '/billing_cycles',
        'INVALID_PARAMETER_VALUE',
        'A plan needs one REGULAR billing cycle.',
      );
    }
    const frequency = isObject(regular.frequency) ? regular.frequency : {};
    const unit = String(frequency.interval_unit ?? '');
    if (!['DAY', 'WEEK', 'MONTH', 'YEAR'].includes(unit)) {
      throw invalidRequest(
        `/billing_cycles/${regularIndex}/frequency/interval_unit`,
        'INVALID_PARAMETER_VALUE',
        'The value of a field is invalid.',
        unit,
      );
    }
    const scheme = isObject(regular.pricing_scheme) ? regular.pricing_scheme : {};
    money(scheme.fixed_price, `/billing_cycles/${regularIndex}/pricing_scheme/fixed_price`);
    const id = `P-${paypalId(24)}`;
    const now = this.clock.iso();
    const plan: Json = {
      id,
      product_id: productId,
      name: body.name,
      status: typeof body.status === 'string' ? body.status : 'ACTIVE',
      ...(typeof body.description === 'string' ? { description: body.description } : {}),
      usage_type: 'LICENSED',
      billing_cycles: clone(cycles).map((c) => {
        const cycle = c as Json;
        const ps = cycle.pricing_scheme as Json | undefined;
        return ps
          ? { ...cycle, pricing_scheme: { version: 1, ...ps, create_time: now, update_time: now } }
          : cycle;
      }),
      payment_preferences: {
        service_type: 'PREPAID',
        auto_bill_outstanding: true,
        setup_fee_failure_action: 'CONTINUE',
        payment_failure_threshold: 0,
        ...(isObject(body.payment_preferences) ? body.payment_preferences : {}),
      },
      taxes: isObject(body.taxes) ? body.taxes : { percentage: '0', inclusive: false },
      quantity_supported: Boolean(body.quantity_supported),
      create_time: now,
      update_time: now,
      links: [
        { href: `${this.baseUrl()}/v1/billing/plans/${id}`, rel: 'self', method: 'GET' },
        { href: `${this.baseUrl()}/v1/billing/plans/${id}`, rel: 'edit', method: 'PATCH' },
      ],
    };
    this.plans.set(id, plan);
    return plan;
  }

  getPlan(id: string): Json {
    const plan = this.plans.get(id);
    if (!plan) throw notFound();
    return plan;
  }

  /** The `plan_id` of a request body: a plan that exists and is active. */
  private activePlan(body: Json, action: string): { planId: string; plan: Json } {
    const planId = body.plan_id;
    if (typeof planId !== 'string') {
      throw invalidRequest(
        '/plan_id',
        'MISSING_REQUIRED_PARAMETER',
        'A required field / parameter is missing.',
      );
    }
    const plan = this.plans.get(planId);
    if (!plan) throw unprocessable('RESOURCE_NOT_FOUND', 'The specified plan does not exist.');
    if (plan.status !== 'ACTIVE') {
      throw unprocessable(
        'PLAN_STATUS_INVALID',
        `Invalid plan status for ${action} action; plan should be active.`,
      );
    }
    return { planId, plan };
  }

  // ---- Subscriptions v1 ----

  createSubscription(body: Json): Json {
    const { planId, plan } = this.activePlan(body, 'subscribe');
    const regular = (plan.billing_cycles as Json[]).find((c) => c.tenure_type === 'REGULAR')!;
    const price = (regular.pricing_scheme as Json).fixed_price as Money;
    const frequency = regular.frequency as { interval_unit: string; interval_count?: number };
    const ctx = isObject(body.application_context) ? body.application_context : {};
    const id = `I-${paypalId(12)}`;
    const token = `BA-${paypalId(17)}`;
    const now = this.clock.iso();
    const base = this.baseUrl();
    const subscriber = isObject(body.subscriber) ? clone(body.subscriber) : undefined;
    const subscription: Json = {
      id,
      status: 'APPROVAL_PENDING',
      status_update_time: now,
      plan_id: planId,
      plan_overridden: false,
      start_time: typeof body.start_time === 'string' ? body.start_time : now,
      quantity: typeof body.quantity === 'string' ? body.quantity : '1',
      ...(subscriber ? { subscriber } : {}),
      ...(typeof body.custom_id === 'string' ? { custom_id: body.custom_id } : {}),
      create_time: now,
      links: [
        { href: `${base}/webapps/billing/subscriptions?ba_token=${token}`, rel: 'approve', method: 'GET' },
        { href: `${base}/v1/billing/subscriptions/${id}`, rel: 'edit', method: 'PATCH' },
        { href: `${base}/v1/billing/subscriptions/${id}`, rel: 'self', method: 'GET' },
      ],
    };
    this.subscriptions.set(id, subscription);
    this.subscriptionsByToken.set(token, id);
    const prefs = plan.payment_preferences as Json;
    this.subInternals.set(id, {
      token,
      returnUrl: typeof ctx.return_url === 'string' ? ctx.return_url : null,
      cancelUrl: typeof ctx.cancel_url === 'string' ? ctx.cancel_url : null,
      amountMinor: decimalToMinor(price.value, price.currency_code),
      currency: price.currency_code,
      unit: frequency.interval_unit.toLowerCase() as IntervalUnit,
      count: Number(frequency.interval_count ?? 1),
      failureThreshold: Number(prefs.payment_failure_threshold ?? 0),
      failNext: false,
      nextBillingMs: 0,
      payer: null,
      totalCycles: Number(regular.total_cycles ?? 0),
    });
    this.emit(
      this.event('BILLING.SUBSCRIPTION.CREATED', 'subscription', subscription, 'Subscription created'),
    );
    return subscription;
  }

  getSubscription(id: string): Json {
    const sub = this.subscriptions.get(id);
    if (!sub) throw notFound();
    return sub;
  }

  subscriptionByToken(token: string): { subscription: Json; internal: SubscriptionInternal } | undefined {
    const id = this.subscriptionsByToken.get(token);
    if (!id) return undefined;
    return { subscription: this.subscriptions.get(id)!, internal: this.subInternals.get(id)! };
  }

  private money(minor: number, currency: string): Money {
    return { currency_code: currency, value: minorToDecimal(minor, currency) };
  }

  /** The buyer agreed on the hosted page: activate, take the first payment. Returns the redirect. */
  approveSubscription(token: string, email: string): string | null {
    const found = this.subscriptionByToken(token);
    if (!found) throw notFound();
    const { subscription: sub, internal } = found;
    if (sub.status === 'APPROVAL_PENDING') {
      const payer = this.defaultPayer(email);
      internal.payer = payer;
      const now = this.clock.nowMs();
      sub.subscriber = {
        ...(isObject(sub.subscriber) ? sub.subscriber : {}),
        email_address: payer.email,
        payer_id: payer.payerId,
        name: { given_name: payer.given, surname: payer.surname },
      };
      sub.status = 'ACTIVE';
      sub.status_update_time = this.clock.iso();
      sub.update_time = this.clock.iso();
      internal.nextBillingMs = addInterval(now, internal.unit, internal.count);
      sub.billing_info = {
        outstanding_balance: this.money(0, internal.currency),
        cycle_executions: [
          {
            tenure_type: 'REGULAR',
            sequence: 1,
            cycles_completed: 0,
            cycles_remaining: internal.totalCycles,
            current_pricing_scheme_version: 1,
            total_cycles: internal.totalCycles,
          },
        ],
        next_billing_time: this.clock.iso(internal.nextBillingMs),
        failed_payments_count: 0,
      };
      const activated = this.event(
        'BILLING.SUBSCRIPTION.ACTIVATED',
        'subscription',
        sub,
        'Subscription activated',
      );
      const sale = this.recordSale(sub, internal);
      this.emit(activated, sale);
    }
    if (!internal.returnUrl) return null;
    const url = new URL(internal.returnUrl);
    url.searchParams.set('subscription_id', String(sub.id));
    url.searchParams.set('ba_token', token);
    url.searchParams.set('token', paypalId(17));
    return url.toString();
  }

  cancelUrlForSubscription(token: string): string | null {
    const found = this.subscriptionByToken(token);
    if (!found?.internal.cancelUrl) return null;
    const url = new URL(found.internal.cancelUrl);
    url.searchParams.set('subscription_id', String(found.subscription.id));
    url.searchParams.set('ba_token', token);
    url.searchParams.set('token', paypalId(17));
    return url.toString();
  }

  /** A successful recurring payment, in PayPal's older sale shape. */
  private recordSale(sub: Json, internal: SubscriptionInternal): PayPalEvent {
    const id = paypalId(17);
    const now = this.clock.iso();
    const fee = paypalFee(internal.amountMinor);
    const base = this.baseUrl();
    const sale: Json = {
      id,
      state: 'completed',
      amount: {
        total: minorToDecimal(internal.amountMinor, internal.currency),
        currency: internal.currency,
        details: { subtotal: minorToDecimal(internal.amountMinor, internal.currency) },
      },
      payment_mode: 'INSTANT_TRANSFER',
      protection_eligibility: 'ELIGIBLE',
      protection_eligibility_type: 'ITEM_NOT_RECEIVED_ELIGIBLE,UNAUTHORIZED_PAYMENT_ELIGIBLE',
      transaction_fee: { value: minorToDecimal(fee, internal.currency), currency: internal.currency },
      billing_agreement_id: sub.id,
      ...(typeof sub.custom_id === 'string' ? { custom: sub.custom_id } : {}),
      create_time: now,
      update_time: now,
      links: [
        { href: `${base}/v1/payments/sale/${id}`, rel: 'self', method: 'GET' },
        { href: `${base}/v1/payments/sale/${id}/refund`, rel: 'refund', method: 'POST' },
      ],
    };
    this.sales.set(id, sale);
    const billing = sub.billing_info as Json;
    const cycle = (billing.cycle_executions as Json[])[0]!;
    cycle.cycles_completed = Number(cycle.cycles_completed) + 1;
    if (internal.totalCycles > 0)
      cycle.cycles_remaining = Math.max(0, internal.totalCycles - Number(cycle.cycles_completed));
    billing.last_payment = { amount: this.money(internal.amountMinor, internal.currency), time: now };
    this.transactions.push({
      id,
      eventCode: 'T0002',
      amountMinor: internal.amountMinor,
      feeMinor: fee,
      currency: internal.currency,
      timeMs: this.clock.nowMs(),
      customField: typeof sub.custom_id === 'string' ? sub.custom_id : null,
      referenceId: String(sub.id),
      payer: internal.payer,
    });
    return this.event(
      'PAYMENT.SALE.COMPLETED',
      'sale',
      sale,
      `Payment completed for $ ${minorToDecimal(internal.amountMinor, internal.currency)} ${internal.currency}`,
      false,
    );
  }

  private changeStatus(
    id: string,
    allowed: string[],
    status: string,
    eventType: string,
    summary: string,
    reason?: unknown,
  ): void {
    const sub = this.getSubscription(id);
    if (!allowed.includes(String(sub.status))) {
      throw unprocessable(
        'SUBSCRIPTION_STATUS_INVALID',
        `Invalid subscription status for ${status.toLowerCase()} action; subscription status should be ${allowed.join(' or ').toLowerCase()}.`,
      );
    }
    sub.status = status;
    sub.status_update_time = this.clock.iso();
    sub.update_time = this.clock.iso();
    if (typeof reason === 'string') sub.status_change_note = reason;
    if (status === 'CANCELLED' && isObject(sub.billing_info)) delete sub.billing_info.next_billing_time;
    this.emit(this.event(eventType, 'subscription', sub, summary));
  }

  cancelSubscription(id: string, body: Json): void {
    this.changeStatus(
      id,
      ['ACTIVE', 'SUSPENDED', 'APPROVED'],
      'CANCELLED',
      'BILLING.SUBSCRIPTION.CANCELLED',
      'Subscription cancelled',
      body.reason,
    );
  }

  suspendSubscription(id: string, body: Json): void {
    this.changeStatus(
      id,
      ['ACTIVE'],
      'SUSPENDED',
      'BILLING.SUBSCRIPTION.SUSPENDED',
      'Subscription suspended',
      body.reason,
    );
  }

  activateSubscription(id: string, body: Json): void {
    this.changeStatus(
      id,
      ['SUSPENDED'],
      'ACTIVE',
      'BILLING.SUBSCRIPTION.RE-ACTIVATED',
      'Subscription re-activated',
      body.reason,
    );
  }

  failNextRenewal(id: string): void {
    this.getSubscription(id);
    this.subInternals.get(id)!.failNext = true;
  }

  /** Bills every cycle whose billing time has passed by the simulator's now. */
  renew(failAll: boolean): void {
    for (const sub of this.subscriptions.values()) {
      const internal = this.subInternals.get(String(sub.id))!;
      for (let guard = 0; guard < 1000; guard++) {
        if (sub.status !== 'ACTIVE' || internal.nextBillingMs > this.clock.nowMs()) break;
        const billing = sub.billing_info as Json;
        const cycle = (billing.cycle_executions as Json[])[0]!;
        if (internal.totalCycles > 0 && Number(cycle.cycles_completed) >= internal.totalCycles) {
          // Every cycle of a finite plan is paid and its last period is over.
          sub.status = 'EXPIRED';
          sub.status_update_time = this.clock.iso(internal.nextBillingMs);
          sub.update_time = sub.status_update_time;
          delete billing.next_billing_time;
          this.emit(this.event('BILLING.SUBSCRIPTION.EXPIRED', 'subscription', sub, 'Subscription expired'));
          break;
        }
        internal.nextBillingMs = addInterval(internal.nextBillingMs, internal.unit, internal.count);
        billing.next_billing_time = this.clock.iso(internal.nextBillingMs);
        const fail = failAll || internal.failNext;
        internal.failNext = false;
        if (!fail) {
          billing.failed_payments_count = 0;
          this.emit(this.recordSale(sub, internal));
          continue;
        }
        billing.failed_payments_count = Number(billing.failed_payments_count ?? 0) + 1;
        const outstanding = billing.outstanding_balance as Money;
        billing.outstanding_balance = this.money(
          decimalToMinor(outstanding.value, outstanding.currency_code) + internal.amountMinor,
          internal.currency,
        );
        billing.last_failed_payment = {
          amount: this.money(internal.amountMinor, internal.currency),
          time: this.clock.iso(),
          reason_code: 'PAYMENT_DENIED',
        };
        const events = [
          this.event(
            'BILLING.SUBSCRIPTION.PAYMENT.FAILED',
            'subscription',
            sub,
            'Subscription payment failed',
          ),
        ];
        if (
          internal.failureThreshold > 0 &&
          Number(billing.failed_payments_count) >= internal.failureThreshold
        ) {
          sub.status = 'SUSPENDED';
          sub.status_update_time = this.clock.iso();
          events.push(
            this.event('BILLING.SUBSCRIPTION.SUSPENDED', 'subscription', sub, 'Subscription suspended'),
          );
        }
        this.emit(...events);
      }
    }
  }

  /**
   * Subscriptions v1 `revise`: another plan of the same product, billed from the next cycle. PayPal
   * asks a subscriber paying from a PayPal balance to re-consent (an `approve` link in the answer);
   * the simulator models the case that needs none (card-funded), so the new price simply applies.
   */
  reviseSubscription(id: string, body: Json): Json {
    const sub = this.getSubscription(id);
    if (sub.status !== 'ACTIVE' && sub.status !== 'SUSPENDED') {
      throw unprocessable(
        'SUBSCRIPTION_STATUS_INVALID',
        'Invalid subscription status for revise action; subscription status should be active or suspended.',
      );
    }
    const { planId, plan } = this.activePlan(body, 'revise');
    const current = this.plans.get(String(sub.plan_id));
    if (current && current.product_id !== plan.product_id) {
      // PayPal revises only between plans of one product (its "upgrade or downgrade" guide).
      throw unprocessable('INVALID_PLAN', 'The new plan must belong to the product of the current plan.');
    }
    const internal = this.subInternals.get(id)!;
    const regular = (plan.billing_cycles as Json[]).find((c) => c.tenure_type === 'REGULAR')!;
    const price = (regular.pricing_scheme as Json).fixed_price as Money;
    if (price.currency_code !== internal.currency) {
      throw unprocessable('CURRENCY_MISMATCH', 'The new plan must be in the currency of the subscription.');
    }
    const frequency = regular.frequency as { interval_unit: string; interval_count?: number };
    internal.amountMinor = decimalToMinor(price.value, price.currency_code);
    internal.unit = frequency.interval_unit.toLowerCase() as IntervalUnit;
    internal.count = Number(frequency.interval_count ?? 1);
    sub.plan_id = planId;
    sub.plan_overridden = false;
    sub.update_time = this.clock.iso();
    this.emit(this.event('BILLING.SUBSCRIPTION.UPDATED', 'subscription', sub, 'Subscription updated'));
    return {
      plan_id: planId,
      plan_overridden: false,
      links: [{ href: `${this.baseUrl()}/v1/billing/subscriptions/${id}`, rel: 'edit', method: 'PATCH' }],
    };
  }

  // ---- disputes (v1 customer disputes) ----

  /**
   * A buyer disputes a capture or a sale (a simulator control: at PayPal the buyer opens it). An
   * inquiry waits for the seller and can be escalated to a claim; a chargeback comes from the card
   * issuer and is under review at once. Either is settled by `adjudicate` (sandbox-only at PayPal).
   */
  openDispute(body: Json): Json {
    const transactionId = typeof body.transaction_id === 'string' ? body.transaction_id : '';
    const capture = this.captures.get(transactionId);
    const sale = capture ? undefined : this.sales.get(transactionId);
    if (!capture && !sale) throw notFound();
    const chargeback = body.stage === 'CHARGEBACK';
    const amount = capture
      ? (capture.amount as Money)
      : this.money(
          decimalToMinor((sale!.amount as { total: string }).total, String((sale!.amount as Json).currency)),
          String((sale!.amount as Json).currency),
        );
    const id = `PP-D-${paypalId(8)}`;
    const now = this.clock.iso();
    const custom = capture ? capture.custom_id : sale!.custom;
    const dispute: Json = {
      dispute_id: id,
      create_time: now,
      update_time: now,
      disputed_transactions: [
        {
          seller_transaction_id: transactionId,
          seller: { merchant_id: MERCHANT.merchant_id, name: 'Readerfund' },
          items: [],
          seller_protection_eligible: true,
          ...(typeof custom === 'string' ? { custom } : {}),
        },
      ],
      reason:
        typeof body.reason === 'string'
          ? body.reason
          : chargeback
            ? 'UNAUTHORISED'
            : 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
      status: chargeback ? 'UNDER_REVIEW' : 'WAITING_FOR_SELLER_RESPONSE',
      dispute_amount: { currency_code: amount.currency_code, value: amount.value },
      dispute_life_cycle_stage: chargeback ? 'CHARGEBACK' : 'INQUIRY',
      dispute_channel: chargeback ? 'EXTERNAL' : 'INTERNAL',
      links: [{ href: `${this.baseUrl()}/v1/customer/disputes/${id}`, rel: 'self', method: 'GET' }],
    };
    this.disputes.set(id, dispute);
    this.emit(
      this.disputeEvent('CUSTOMER.DISPUTE.CREATED', dispute, `A new dispute opened with Case # ${id}`),
    );
    return dispute;
  }

  getDispute(id: string): Json {
    const dispute = this.disputes.get(id);
    if (!dispute) throw notFound();
    return dispute;
  }

  listDisputes(query: URLSearchParams): Json {
    const transaction = query.get('disputed_transaction_id');
    const items = [...this.disputes.values()].filter(
      (d) =>
        !transaction ||
        (d.disputed_transactions as Json[]).some((t) => t.seller_transaction_id === transaction),
    );
    return { items: items.map((d) => clone(d)), links: [] };
  }

  /** The seller escalates an inquiry to a PayPal claim, which PayPal then reviews. */
  escalateDispute(id: string): Json {
    const dispute = this.unresolved(id);
    if (dispute.dispute_life_cycle_stage !== 'INQUIRY') {
      throw unprocessable('DISPUTE_NOT_IN_INQUIRY', 'Only an inquiry can be escalated to a claim.');
    }
    dispute.dispute_life_cycle_stage = 'CLAIM';
    dispute.status = 'UNDER_REVIEW';
    dispute.update_time = this.clock.iso();
    this.emit(
      this.disputeEvent('CUSTOMER.DISPUTE.UPDATED', dispute, `Dispute ${id} was escalated to a claim`),
    );
    return dispute;
  }

  /** PayPal decides (sandbox `adjudicate`): for the buyer, the money goes back by a reversal. */
  adjudicateDispute(id: string, body: Json): Json {
    const dispute = this.unresolved(id);
    if (dispute.status !== 'UNDER_REVIEW') {
      throw unprocessable(
        'INVALID_DISPUTE_STATUS',
        'The dispute status must be UNDER_REVIEW to adjudicate it.',
      );
    }
    const outcome = body.adjudication_outcome;
    if (outcome !== 'BUYER_FAVOR' && outcome !== 'SELLER_FAVOR') {
      throw invalidRequest(
        '/adjudication_outcome',
        'INVALID_PARAMETER_VALUE',
        'The value of a field is invalid.',
        outcome,
      );
    }
    if (outcome === 'SELLER_FAVOR') return this.resolveDispute(dispute, 'RESOLVED_SELLER_FAVOUR');
    this.resolveDispute(dispute, 'RESOLVED_BUYER_FAVOUR');
    const transactionId = String((dispute.disputed_transactions as Json[])[0]!.seller_transaction_id);
    // A chargeback decided against the seller: PayPal reverses the payment (transaction T1201).
    if (this.captures.has(transactionId)) this.refundCapture(transactionId, {}, true, 'T1201');
    else this.refundSale(transactionId, {}, true, 'T1201');
    return dispute;
  }

  /** The buyer withdraws the dispute (a simulator control). */
  cancelDispute(id: string): Json {
    return this.resolveDispute(this.unresolved(id), 'CANCELED_BY_BUYER');
  }

  private unresolved(id: string): Json {
    const dispute = this.getDispute(id);
    if (dispute.status === 'RESOLVED') {
      throw unprocessable('DISPUTE_ALREADY_RESOLVED', 'The dispute is already resolved.');
    }
    return dispute;
  }

  private resolveDispute(dispute: Json, outcomeCode: string): Json {
    dispute.status = 'RESOLVED';
    dispute.update_time = this.clock.iso();
    dispute.dispute_outcome = {
      outcome_code: outcomeCode,
      ...(outcomeCode === 'RESOLVED_BUYER_FAVOUR' ? { amount_refunded: clone(dispute.dispute_amount) } : {}),
    };
    this.emit(
      this.disputeEvent(
        'CUSTOMER.DISPUTE.RESOLVED',
        dispute,
        `Dispute ${String(dispute.dispute_id)} was resolved`,
      ),
    );
    return dispute;
  }

  private disputeEvent(type: string, dispute: Json, summary: string): PayPalEvent {
    return this.event(type, 'dispute', dispute, summary, false);
  }

  // ---- v1 sales (recurring payments) ----

  getSale(id: string): Json {
    const sale = this.sales.get(id);
    if (!sale) throw notFound();
    return sale;
  }

  refundSale(id: string, body: Json, reversal = false, reversalCode = 'T1106'): Json {
    const sale = this.getSale(id);
    const amount = sale.amount as { total: string; currency: string };
    const total = decimalToMinor(amount.total, amount.currency);
    let refunded = 0;
    for (const r of this.saleRefunds.values()) {
      if (r.sale_id === id)
        refunded += decimalToMinor((r.amount as { total: string }).total, amount.currency);
    }
    const remaining = total - refunded;
    if (sale.state === 'refunded' || sale.state === 'reversed' || remaining <= 0) {
      throw new PayPalApiError(400, 'TRANSACTION_REFUSED', 'The request was refused.', [
        { issue: 'TRANSACTION_REFUSED', description: 'The sale has already been fully refunded.' },
      ]);
    }
    let minor = remaining;
    if (isObject(body.amount) && typeof body.amount.total === 'string') {
      minor = decimalToMinor(body.amount.total, amount.currency);
      if (!Number.isFinite(minor) || minor <= 0 || minor > remaining) {
        throw new PayPalApiError(400, 'TRANSACTION_REFUSED', 'The request was refused.', [
          {
            issue: 'REFUND_EXCEEDED_TRANSACTION_AMOUNT',
            description: 'Refund amount exceeds the amount left to refund.',
          },
        ]);
      }
    }
    const now = this.clock.iso();
    const refundId = paypalId(17);
    const base = this.baseUrl();
    const refund: Json = {
      id: refundId,
      state: 'completed',
      amount: { total: minorToDecimal(minor, amount.currency), currency: amount.currency },
      sale_id: id,
      parent_payment: `PAYID-${paypalId(24)}`,
      ...(typeof sale.custom === 'string' ? { custom: sale.custom } : {}),
      create_time: now,
      update_time: now,
      links: [
        { href: `${base}/v1/payments/refund/${refundId}`, rel: 'self', method: 'GET' },
        { href: `${base}/v1/payments/sale/${id}`, rel: 'sale', method: 'GET' },
      ],
    };
    this.saleRefunds.set(refundId, refund);
    sale.state = reversal ? 'reversed' : minor === remaining ? 'refunded' : 'partially_refunded';
    sale.update_time = now;
    const subId = String(sale.billing_agreement_id);
    const internal = this.subInternals.get(subId);
    this.transactions.push({
      id: refundId,
      eventCode: reversal ? reversalCode : 'T1107',
      amountMinor: -minor,
      feeMinor: 0,
      currency: amount.currency,
      timeMs: this.clock.nowMs(),
      customField: typeof sale.custom === 'string' ? sale.custom : null,
      referenceId: id,
      payer: internal?.payer ?? null,
    });
    // In webhooks PayPal reports refunded and reversed sale amounts as negative totals.
    const resource: Json = {
      ...clone(refund),
      amount: { total: minorToDecimal(-minor, amount.currency), currency: amount.currency },
      billing_agreement_id: subId,
      ...(reversal ? { reason_code: 'CHARGEBACK' } : {}),
    };
    const type = reversal ? 'PAYMENT.SALE.REVERSED' : 'PAYMENT.SALE.REFUNDED';
    this.emit(
      this.event(
        type,
        'sale',
        resource,
        `A ${minorToDecimal(minor, amount.currency)} ${amount.currency} sale payment was ${reversal ? 'reversed' : 'refunded'}`,
        false,
      ),
    );
    return refund;
  }

  // ---- reporting ----

  searchTransactions(query: URLSearchParams): Json {
    const start = query.get('start_date');
    const end = query.get('end_date');
    const startMs = start ? Date.parse(start) : Number.NaN;
    const endMs = end ? Date.parse(end) : Number.NaN;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) {
      throw new PayPalApiError(
        400,
        'INVALID_REQUEST',
        'Request is not well-formed, syntactically incorrect, or violates schema.',
        [
          {
            field: start ? 'end_date' : 'start_date',
            location: 'query',
            issue: 'MISSING_REQUIRED_PARAMETER',
            description: 'start_date and end_date are required (ISO 8601).',
          },
        ],
      );
    }
    if (endMs < startMs || endMs - startMs > 31 * 86_400_000) {
      throw new PayPalApiError(
        400,
        'INVALID_REQUEST',
        'Request is not well-formed, syntactically incorrect, or violates schema.',
        [
          {
            field: 'end_date',
            location: 'query',
            issue: 'INVALID_DATE_RANGE',
            description: 'Date range is greater than 31 days.',
          },
        ],
      );
    }
    const pageSize = Math.min(Math.max(Number(query.get('page_size') ?? 100) || 100, 1), 500);
    const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
    const txnId = query.get('transaction_id');
    const matching = this.transactions.filter(
      (t) => t.timeMs >= startMs && t.timeMs <= endMs && (!txnId || t.id === txnId),
    );
    const slice = matching.slice((page - 1) * pageSize, page * pageSize);
    const totalPages = Math.max(1, Math.ceil(matching.length / pageSize));
    return {
      transaction_details: slice.map((t) => ({
        transaction_info: {
          paypal_account_id: t.payer?.payerId,
          transaction_id: t.id,
          ...(t.referenceId
            ? {
                paypal_reference_id: t.referenceId,
                paypal_reference_id_type: t.eventCode === 'T0002' ? 'SUB' : 'TXN',
              }
            : {}),
          transaction_event_code: t.eventCode,
          transaction_initiation_date: this.offsetIso(t.timeMs),
          transaction_updated_date: this.offsetIso(t.timeMs),
          transaction_amount: { currency_code: t.currency, value: minorToDecimal(t.amountMinor, t.currency) },
          fee_amount: { currency_code: t.currency, value: minorToDecimal(-t.feeMinor, t.currency) },
          transaction_status: 'S',
          ...(t.customField ? { custom_field: t.customField } : {}),
          protection_eligibility: '01',
        },
        payer_info: t.payer
          ? {
              account_id: t.payer.payerId,
              email_address: t.payer.email,
              address_status: 'Y',
              payer_status: 'Y',
              payer_name: {
                given_name: t.payer.given,
                surname: t.payer.surname,
                alternate_full_name: `${t.payer.given} ${t.payer.surname}`,
              },
              country_code: 'US',
            }
          : {},
        shipping_info: {},
        cart_info: {},
        store_info: {},
        auction_info: {},
        incentive_info: {},
      })),
      account_number: MERCHANT.merchant_id,
      start_date: this.offsetIso(startMs),
      end_date: this.offsetIso(endMs),
      last_refreshed_datetime: this.offsetIso(this.clock.nowMs()),
      page,
      total_items: matching.length,
      total_pages: totalPages,
      links: [
        {
          href: `${this.baseUrl()}/v1/reporting/transactions?${query.toString()}`,
          rel: 'self',
          method: 'GET',
        },
      ],
    };
  }

  private offsetIso(ms: number): string {
    return this.clock.iso(ms).replace('Z', '+0000');
  }
}
