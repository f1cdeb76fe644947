import type { FormObject } from '../form.js';
import { arr, int, obj, str, stringMap } from '../form.js';
import type { IntervalUnit, SimClock } from '../util.js';
import { addInterval, clone, stripeId } from '../util.js';

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function missing(kind: string, id: string, param = 'id'): StripeApiError {
  return new StripeApiError(
    404,
    'invalid_request_error',
    `No such ${kind}: '${id}'`,
    'resource_missing',
    param,
  );
}

function invalid(message: string, param?: string, code = 'parameter_invalid_empty'): StripeApiError {
  return new StripeApiError(400, 'invalid_request_error', message, param ? code : undefined, param);
}

/** A Stripe API object: its documented fields plus whatever else the object carries. */
export interface StripeObject {
  id: string;
  object: string;
  [key: string]: unknown;
}

export interface StripeEvent {
  id: string;
  type: string;
  body: StripeObject;
}

export type EventSink = (events: StripeEvent[]) => void;

interface LineItemInput {
  priceId: string;
  productId: string;
  quantity: number;
  unitAmount: number;
  currency: string;
  name: string;
  recurring: { interval: IntervalUnit; interval_count: number } | null;
}

interface SessionInternal {
  lineItems: LineItemInput[];
  /** A delayed payment method (bank debit): the session completes unpaid and settles later. */
  delayed: boolean;
  paymentIntentData: {
    metadata: Record<string, string>;
    description: string | null;
    receiptEmail: string | null;
  };
  subscriptionMetadata: Record<string, string>;
}

interface SubscriptionInternal {
  unit: IntervalUnit;
  count: number;
  amount: number;
  currency: string;
  failNext: boolean;
  failures: number;
  openInvoice: string | null;
}

type PaymentMethod =
  | { type: 'card'; brand: string; last4: string; exp_month: number; exp_year: number }
  | { type: 'us_bank_account'; last4: string };

const DEFAULT_CARD: PaymentMethod = {
  type: 'card',
  brand: 'visa',
  last4: '4242',
  exp_month: 12,
  exp_year: 2034,
};

/** The account number typed on the hosted page of a bank-debit session. */
function bankAccount(
  input: string,
):
  | { ok: true; method: PaymentMethod; failsLater: boolean; dispute?: undefined }
  | { ok: false; message: string } {
  const digits = input.replace(/[\s-]/g, '');
  if (!/^\d{4,17}$/.test(digits)) return { ok: false, message: 'Your account number is invalid.' };
  return {
    ok: true,
    method: { type: 'us_bank_account', last4: digits.slice(-4) },
    failsLater: digits === FAILING_BANK_ACCOUNT,
  };
}

/**
 * Stripe's processing fee on a card payment as the simulator charges it: 2.9% of the amount plus 30
 * minor units of the charge's currency, in integer minor units, the percentage rounded half up on
 * the minor unit (500 → 14.5 → 15, plus 30: 45).
 */
export function stripeFee(amountMinor: number): number {
  return Math.floor((amountMinor * 29 + 500) / 1000) + 30;
}

/** What Stripe charges for a dispute (withdrawn with the disputed amount), in minor units. */
export const DISPUTE_FEE_MINOR = 1500;

/** Bank accounts of Stripe's test mode for delayed (ACH-like) payments: this one fails on settlement. */
export const FAILING_BANK_ACCOUNT = '000111111116';
/** Days a delayed bank payment takes to settle in the simulator. */
export const BANK_SETTLEMENT_DAYS = 3;

export const TEST_CARDS: Record<
  string,
  | { ok: true; brand: string; dispute?: 'chargeback' | 'inquiry' }
  | { ok: false; code: string; decline_code: string; message: string }
> = {
  '4242424242424242': { ok: true, brand: 'visa' },
  // Stripe's test cards that succeed and are then disputed: a chargeback, and an inquiry.
  '4000000000000259': { ok: true, brand: 'visa', dispute: 'chargeback' },
  '4000000000001976': { ok: true, brand: 'visa', dispute: 'inquiry' },
  '4000056655665556': { ok: true, brand: 'visa' },
  '5555555555554444': { ok: true, brand: 'mastercard' },
  '378282246310005': { ok: true, brand: 'amex' },
  '4000000000000002': {
    ok: false,
    code: 'card_declined',
    decline_code: 'generic_decline',
    message: 'Your card was declined.',
  },
  '4000000000009995': {
    ok: false,
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
  '4000000000009987': {
    ok: false,
    code: 'card_declined',
    decline_code: 'lost_card',
    message: 'Your card was declined.',
  },
  '4000000000000069': {
    ok: false,
    code: 'expired_card',
    decline_code: 'expired_card',
    message: 'Your card has expired.',
  },
};

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length >= 12 && sum % 10 === 0;
}

/** `price_data[unit_amount]` and `price_data[recurring]` of a line or subscription item. */
function priceAmount(
  pd: FormObject,
  param: string,
): { unitAmount: number; recurring: { interval: IntervalUnit; interval_count: number } | null } {
  const unitAmount = int(pd, 'unit_amount');
  if (unitAmount === undefined || unitAmount < 0) {
    throw invalid('Invalid integer', `${param}[price_data][unit_amount]`, 'parameter_invalid_integer');
  }
  const recurring = obj(pd, 'recurring');
  if (!recurring) return { unitAmount, recurring: null };
  const interval = str(recurring, 'interval');
  if (interval !== 'day' && interval !== 'week' && interval !== 'month' && interval !== 'year') {
    throw invalid(
      'Invalid recurring interval',
      `${param}[price_data][recurring][interval]`,
      'parameter_invalid',
    );
  }
  return { unitAmount, recurring: { interval, interval_count: int(recurring, 'interval_count') ?? 1 } };
}

/** Stripe's `created[gte|gt|lte|lt]` filter of list calls. */
function createdInRange(item: StripeObject, params: FormObject): boolean {
  const range = obj(params, 'created');
  if (!range) return true;
  const c = Number(item.created);
  const gte = int(range, 'gte');
  const gt = int(range, 'gt');
  const lte = int(range, 'lte');
  const lt = int(range, 'lt');
  return !(
    (gte !== undefined && c < gte) ||
    (gt !== undefined && c <= gt) ||
    (lte !== undefined && c > lte) ||
    (lt !== undefined && c >= lt)
  );
}

export type CheckoutResult =
  { ok: true; redirect: string } | { ok: false; message: string; field: 'email' | 'card' | 'session' };

export class StripeState {
  readonly customers = new Map<string, StripeObject>();
  readonly sessions = new Map<string, StripeObject>();
  readonly sessionInternals = new Map<string, SessionInternal>();
  readonly paymentIntents = new Map<string, StripeObject>();
  readonly charges = new Map<string, StripeObject>();
  readonly invoices = new Map<string, StripeObject>();
  readonly subscriptions = new Map<string, StripeObject>();
  readonly subInternals = new Map<string, SubscriptionInternal>();
  readonly refunds = new Map<string, StripeObject>();
  readonly disputes = new Map<string, StripeObject>();
  readonly prices = new Map<string, StripeObject>();
  readonly products = new Map<string, StripeObject>();
  readonly invoicePayments = new Map<string, StripeObject>();
  readonly balanceTransactions = new Map<string, StripeObject>();
  readonly events = new Map<string, StripeObject>();
  /** Delayed payments waiting to settle: PaymentIntent id → when, and whether it fails. */
  private readonly settlements = new Map<string, { dueAt: number; fail: boolean; sessionId: string }>();

  constructor(
    private readonly clock: SimClock,
    private readonly baseUrl: () => string,
    private readonly apiVersion: string,
    private readonly sink: EventSink,
  ) {}

  // ---- lookup and expansion ----

  lookup(id: string): StripeObject | undefined {
    for (const map of [
      this.customers,
      this.sessions,
      this.paymentIntents,
      this.charges,
      this.invoices,
      this.subscriptions,
      this.refunds,
      this.disputes,
      this.prices,
      this.products,
      this.balanceTransactions,
      this.events,
    ]) {
      const found = map.get(id);
      if (found) return found;
    }
    return undefined;
  }

  /** Applies `expand[]` paths such as `payment_intent`, `subscription.latest_invoice` or `data.customer`. */
  expand<T extends object>(object: T, paths: string[]): T {
    const out = clone(object);
    for (const path of paths) this.expandPath(out, path.split('.'));
    return out;
  }

  private expandPath(target: unknown, segments: string[]): void {
    if (!target || typeof target !== 'object' || segments.length === 0) return;
    const [head, ...rest] = segments as [string, ...string[]];
    const record = target as Record<string, unknown>;
    if (head === 'data' && Array.isArray(record.data)) {
      for (const item of record.data) this.expandPath(item, rest);
      return;
    }
    if (head === 'line_items' && record.object === 'checkout.session') {
      record.line_items = this.sessionLineItems(String(record.id));
    } else if (head === 'payments' && record.object === 'invoice') {
      record.payments = this.listObject(
        [...this.invoicePayments.values()].filter((p) => p.invoice === record.id),
        `/v1/invoices/${String(record.id)}/payments`,
      );
    } else {
      const value = record[head];
      if (typeof value === 'string') {
        const found = this.lookup(value);
        if (found) record[head] = clone(found);
      }
    }
    if (rest.length) this.expandPath(record[head], rest);
  }

  listObject(data: StripeObject[], url: string, hasMore = false): StripeObject & { data: StripeObject[] } {
    return {
      object: 'list',
      data: data.map((d) => clone(d)),
      has_more: hasMore,
      url,
    } as unknown as StripeObject & {
      data: StripeObject[];
    };
  }

  sessionLineItems(sessionId: string): StripeObject {
    const internal = this.sessionInternals.get(sessionId);
    const items = (internal?.lineItems ?? []).map((li) => ({
      id: stripeId('li'),
      object: 'item',
      amount_discount: 0,
      amount_subtotal: li.unitAmount * li.quantity,
      amount_tax: 0,
      amount_total: li.unitAmount * li.quantity,
      currency: li.currency,
      description: li.name,
      price: clone(this.prices.get(li.priceId)),
      quantity: li.quantity,
    }));
    const list = {
      object: 'list',
      data: items,
      has_more: false,
      url: `/v1/checkout/sessions/${sessionId}/line_items`,
    };
    return list as unknown as StripeObject;
  }

  // ---- events ----

  private event(type: string, object: StripeObject, previous?: Record<string, unknown>): StripeEvent {
    const id = stripeId('evt');
    const body: StripeObject = {
      id,
      object: 'event',
      api_version: this.apiVersion,
      created: this.clock.unix(),
      data: previous ? { object: clone(object), previous_attributes: previous } : { object: clone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    this.events.set(id, body);
    return { id, type, body };
  }

  private emit(...events: StripeEvent[]): void {
    this.sink(events);
  }

  // ---- customers ----

  createCustomer(params: FormObject): StripeObject {
    const customer: StripeObject = {
      id: stripeId('cus', 14),
      object: 'customer',
      address: null,
      balance: 0,
      created: this.clock.unix(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: str(params, 'description') ?? null,
      email: str(params, 'email') ?? null,
      invoice_prefix: stripeId('x', 8).slice(2).toUpperCase(),
      invoice_settings: {
        custom_fields: null,
        default_payment_method: null,
        footer: null,
        rendering_options: null,
      },
      livemode: false,
      metadata: stringMap(params, 'metadata'),
      name: str(params, 'name') ?? null,
      phone: str(params, 'phone') ?? null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: 'none',
      test_clock: null,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  updateCustomer(id: string, params: FormObject): StripeObject {
    const customer = this.customers.get(id);
    if (!customer) throw missing('customer', id);
    for (const key of ['email', 'name', 'description', 'phone'] as const) {
      const v = str(params, key);
      if (v !== undefined) customer[key] = v === '' ? null : v;
    }
    if (obj(params, 'metadata')) {
      customer.metadata = {
        ...(customer.metadata as Record<string, string>),
        ...stringMap(params, 'metadata'),
      };
    }
    return customer;
  }

  deleteCustomer(id: string): StripeObject {
    if (!this.customers.delete(id)) throw missing('customer', id);
    return { id, object: 'customer', deleted: true };
  }

  // ---- checkout ----

  createCheckoutSession(params: FormObject): StripeObject {
    const mode = str(params, 'mode') ?? 'payment';
    if (mode !== 'payment' && mode !== 'subscription') {
      throw invalid(
        `Invalid mode: must be one of payment, setup, or subscription`,
        'mode',
        'parameter_invalid',
      );
    }
    const successUrl = str(params, 'success_url');
    const cancelUrl = str(params, 'cancel_url') ?? null;
    if (!successUrl)
      throw invalid('Missing required param: success_url.', 'success_url', 'parameter_missing');
    for (const [name, url] of [
      ['success_url', successUrl],
      ['cancel_url', cancelUrl],
    ] as const) {
      if (url && !/^https?:\/\//.test(url)) throw invalid(`Not a valid URL`, name, 'url_invalid');
    }
    const rawItems = arr(params, 'line_items');
    if (rawItems.length === 0) {
      throw invalid('Missing required param: line_items.', 'line_items', 'parameter_missing');
    }
    const lineItems: LineItemInput[] = rawItems.map((raw, index) =>
      this.lineItem(raw as FormObject, index, mode),
    );
    const currency = lineItems[0]!.currency;
    if (lineItems.some((li) => li.currency !== currency)) {
      throw invalid('All line items must use the same currency.', 'line_items');
    }
    const customerId = str(params, 'customer');
    if (customerId && !this.customers.has(customerId)) throw missing('customer', customerId, 'customer');
    const total = lineItems.reduce((sum, li) => sum + li.unitAmount * li.quantity, 0);
    const now = this.clock.unix();
    const id = `cs_test_${stripeId('x', 56).slice(2)}`;
    const pid = obj(params, 'payment_intent_data');
    const sub = obj(params, 'subscription_data');
    // `allowed_payment_method_types` filters the dynamic payment methods (this API version);
    // older versions named the list `payment_method_types`.
    const allowed = arr(params, 'allowed_payment_method_types');
    const methodParam = allowed.length ? 'allowed_payment_method_types' : 'payment_method_types';
    const methods = arr(params, methodParam).filter((m): m is string => typeof m === 'string');
    const paymentMethodTypes = methods.length ? methods : ['card'];
    for (const [index, method] of paymentMethodTypes.entries()) {
      if (method !== 'card' && method !== 'us_bank_account') {
        throw invalid(
          `The payment method type "${method}" is not supported by the simulator (card, us_bank_account).`,
          `${methodParam}[${index}]`,
          'parameter_invalid',
        );
      }
    }
    // A bank debit is a delayed payment method: only one-off payments use it here.
    const delayed = paymentMethodTypes.includes('us_bank_account') && !paymentMethodTypes.includes('card');
    if (delayed && mode !== 'payment') {
      throw invalid(
        'The simulator settles bank debits for one-off payments only.',
        methodParam,
        'parameter_invalid',
      );
    }
    const session: StripeObject = {
      id,
      object: 'checkout.session',
      after_expiration: null,
      allow_promotion_codes: null,
      amount_subtotal: total,
      amount_total: total,
      automatic_tax: { enabled: false, liability: null, provider: null, status: null },
      billing_address_collection: null,
      cancel_url: cancelUrl,
      client_reference_id: str(params, 'client_reference_id') ?? null,
      client_secret: null,
      consent: null,
      created: now,
      currency,
      custom_fields: [],
      customer: customerId ?? null,
      customer_creation:
        mode === 'payment' && !customerId ? (str(params, 'customer_creation') ?? 'if_required') : null,
      customer_details: null,
      customer_email: str(params, 'customer_email') ?? null,
      expires_at: int(params, 'expires_at') ?? now + 24 * 3600,
      invoice: null,
      livemode: false,
      locale: str(params, 'locale') ?? null,
      metadata: stringMap(params, 'metadata'),
      mode,
      payment_intent: null,
      allowed_payment_method_types: allowed.length ? paymentMethodTypes : null,
      payment_method_types: paymentMethodTypes,
      payment_status: 'unpaid',
      status: 'open',
      submit_type: str(params, 'submit_type') ?? null,
      subscription: null,
      success_url: successUrl,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      ui_mode: 'hosted',
      url: `${this.baseUrl()}/c/pay/${id}`,
    };
    this.sessions.set(id, session);
    this.sessionInternals.set(id, {
      lineItems,
      delayed,
      paymentIntentData: {
        metadata: stringMap(pid, 'metadata'),
        description: str(pid, 'description') ?? null,
        receiptEmail: str(pid, 'receipt_email') ?? null,
      },
      subscriptionMetadata: stringMap(sub, 'metadata'),
    });
    return session;
  }

  private lineItem(raw: FormObject, index: number, mode: string): LineItemInput {
    const param = `line_items[${index}]`;
    const quantity = int(raw, 'quantity') ?? 1;
    if (quantity < 1)
      throw invalid('Quantity must be at least 1.', `${param}[quantity]`, 'parameter_invalid_integer');
    const priceId = str(raw, 'price');
    if (priceId) {
      const price = this.prices.get(priceId);
      if (!price) throw missing('price', priceId, `${param}[price]`);
      const product = this.products.get(String(price.product));
      return {
        priceId,
        productId: String(price.product),
        quantity,
        unitAmount: Number(price.unit_amount),
        currency: String(price.currency),
        name: String(product?.name ?? ''),
        recurring: (price.recurring as LineItemInput['recurring']) ?? null,
      };
    }
    const pd = obj(raw, 'price_data');
    if (!pd)
      throw invalid(
        `You must specify either price or price_data.`,
        `${param}[price_data]`,
        'parameter_missing',
      );
    const currency = str(pd, 'currency')?.toLowerCase();
    if (!currency || !/^[a-z]{3}$/.test(currency)) {
      throw invalid(
        'Missing required param: currency.',
        `${param}[price_data][currency]`,
        'parameter_missing',
      );
    }
    const { unitAmount, recurring } = priceAmount(pd, param);
    if (mode === 'subscription' && !recurring) {
      throw invalid(
        'You must provide at least one recurring price in `subscription` mode when using prices.',
        `${param}[price_data][recurring]`,
        'parameter_missing',
      );
    }
    if (mode === 'payment' && recurring) {
      throw invalid(
        'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.',
        `${param}[price_data][recurring]`,
        'parameter_invalid',
      );
    }
    let productId = str(pd, 'product');
    let name: string;
    if (productId) {
      const product = this.products.get(productId);
      if (!product) throw missing('product', productId, `${param}[price_data][product]`);
      name = String(product.name);
    } else {
      const productData = obj(pd, 'product_data');
      name = str(productData, 'name') ?? '';
      if (!name)
        throw invalid(
          'Missing required param: name.',
          `${param}[price_data][product_data][name]`,
          'parameter_missing',
        );
      productId = this.createProduct(productData ?? {}).id;
    }
    const price: StripeObject = {
      id: stripeId('price'),
      object: 'price',
      active: false,
      billing_scheme: 'per_unit',
      created: this.clock.unix(),
      currency,
      livemode: false,
      lookup_key: null,
      metadata: {},
      nickname: null,
      product: productId,
      recurring: recurring
        ? {
            interval: recurring.interval,
            interval_count: recurring.interval_count,
            meter: null,
            usage_type: 'licensed',
          }
        : null,
      tax_behavior: 'unspecified',
      type: recurring ? 'recurring' : 'one_time',
      unit_amount: unitAmount,
      unit_amount_decimal: String(unitAmount),
    };
    this.prices.set(price.id, price);
    return { priceId: price.id, productId, quantity, unitAmount, currency, name, recurring };
  }

  getSession(id: string): StripeObject {
    const session = this.sessions.get(id);
    if (!session) throw missing('checkout.session', id, 'session');
    this.expireIfDue(session);
    return session;
  }

  private expireIfDue(session: StripeObject): void {
    if (session.status === 'open' && Number(session.expires_at) <= this.clock.unix()) {
      session.status = 'expired';
      session.url = null;
      this.emit(this.event('checkout.session.expired', session));
    }
  }

  expireSession(id: string): StripeObject {
    const session = this.getSession(id);
    if (session.status !== 'open') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${String(session.status)}".`,
      );
    }
    session.status = 'expired';
    session.url = null;
    this.emit(this.event('checkout.session.expired', session));
    return session;
  }

  /** The hosted page's submit: charge the card and complete the session, or report the decline. */
  completeCheckout(
    id: string,
    input: { email: string; name: string; cardNumber: string; expiry: string },
  ): CheckoutResult {
    const session = this.sessions.get(id);
    if (!session) return { ok: false, message: 'This Checkout Session does not exist.', field: 'session' };
    this.expireIfDue(session);
    if (session.status === 'complete') {
      return { ok: true, redirect: String(session.success_url).replaceAll('{CHECKOUT_SESSION_ID}', id) };
    }
    if (session.status !== 'open')
      return { ok: false, message: 'This Checkout Session is no longer active.', field: 'session' };
    const email = (typeof session.customer_email === 'string' ? session.customer_email : input.email).trim();
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      return { ok: false, message: 'Your email address is invalid.', field: 'email' };
    }
    const internal = this.sessionInternals.get(id)!;
    const instrument = internal.delayed
      ? bankAccount(input.cardNumber)
      : this.card(input, this.clock.nowMs());
    if (!instrument.ok) return { ok: false, message: instrument.message, field: 'card' };
    const name = input.name.trim() || null;
    const customerDetails = {
      address: { city: null, country: 'US', line1: null, line2: null, postal_code: null, state: null },
      business_name: null,
      email,
      individual_name: null,
      name,
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    };
    let customerId = typeof session.customer === 'string' ? session.customer : null;
    const events: StripeEvent[] = [];
    if (!customerId && (session.mode === 'subscription' || session.customer_creation === 'always')) {
      const customer = this.createCustomer({ email, ...(name ? { name } : {}) });
      customerId = customer.id;
      events.push(this.event('customer.created', customer));
    }
    session.customer = customerId;
    session.customer_details = customerDetails;
    session.status = 'complete';
    session.payment_status =
      session.amount_total === 0 ? 'no_payment_required' : internal.delayed ? 'unpaid' : 'paid';
    session.url = null;

    let disputed: StripeObject | undefined;
    if (session.mode === 'payment') {
      const { paymentIntent, charge } = this.createPayment({
        amount: Number(session.amount_total),
        currency: String(session.currency),
        customer: customerId,
        email,
        // Checkout collects the email on the session and the customer; it does not set the
        // PaymentIntent's receipt_email unless payment_intent_data asks it to.
        receiptEmail: internal.paymentIntentData.receiptEmail,
        name,
        method: instrument.method,
        metadata: internal.paymentIntentData.metadata,
        description: internal.paymentIntentData.description,
        pending: internal.delayed,
      });
      session.payment_intent = paymentIntent.id;
      if (internal.delayed) {
        this.settlements.set(paymentIntent.id, {
          dueAt: this.clock.unix() + BANK_SETTLEMENT_DAYS * 86400,
          fail: instrument.failsLater,
          sessionId: id,
        });
        events.push(this.event('payment_intent.processing', paymentIntent));
      } else {
        events.push(this.event('payment_intent.succeeded', paymentIntent));
        if (instrument.dispute) disputed = charge;
      }
    } else {
      const { subscription, invoice } = this.createSubscription(
        session,
        internal,
        customerId!,
        email,
        name,
        instrument.method,
      );
      session.subscription = subscription.id;
      session.invoice = invoice.id;
      events.push(this.event('customer.subscription.created', subscription));
      events.push(this.event('invoice.paid', invoice));
    }
    events.push(this.event('checkout.session.completed', session));
    this.emit(...events);
    if (disputed && instrument.dispute) {
      this.createDispute({
        charge: disputed.id,
        ...(instrument.dispute === 'inquiry' ? { inquiry: 'true' } : {}),
      });
    }
    return { ok: true, redirect: String(session.success_url).replaceAll('{CHECKOUT_SESSION_ID}', id) };
  }

  private card(
    input: { cardNumber: string; expiry: string },
    nowMs: number,
  ):
    | { ok: true; method: PaymentMethod; failsLater: false; dispute?: 'chargeback' | 'inquiry' }
    | { ok: false; message: string } {
    const digits = input.cardNumber.replace(/[\s-]/g, '');
    const known = TEST_CARDS[digits];
    if (!known) {
      if (!luhn(digits)) return { ok: false, message: 'Your card number is invalid.' };
      return {
        ok: false,
        message: 'Your card was declined. Your request was in test mode, but used a non test card.',
      };
    }
    const expiry = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(input.expiry);
    const month = expiry ? Number(expiry[1]) : 12;
    const year = expiry ? Number(expiry[2]!.length === 2 ? `20${expiry[2]}` : expiry[2]) : 2034;
    if (!expiry || month < 1 || month > 12 || Date.UTC(year, month, 1) <= nowMs) {
      return { ok: false, message: "Your card's expiration date is incomplete or in the past." };
    }
    if (!known.ok) return { ok: false, message: known.message };
    return {
      ok: true,
      method: { type: 'card', brand: known.brand, last4: digits.slice(-4), exp_month: month, exp_year: year },
      failsLater: false,
      ...(known.dispute ? { dispute: known.dispute } : {}),
    };
  }

  /** Settles the delayed (bank) payments that are due by the simulator's now. */
  settleDelayedPayments(): void {
    for (const [piId, due] of this.settlements) {
      if (due.dueAt > this.clock.unix()) continue;
      this.settlements.delete(piId);
      const pi = this.paymentIntents.get(piId)!;
      const charge = this.charges.get(String(pi.latest_charge))!;
      const session = this.sessions.get(due.sessionId)!;
      if (due.fail) {
        const failure = {
          code: 'insufficient_funds',
          decline_code: 'insufficient_funds',
          message: "The customer's account has insufficient funds to cover this payment.",
        };
        Object.assign(charge, {
          status: 'failed',
          paid: false,
          captured: false,
          amount_captured: 0,
          failure_code: failure.code,
          failure_message: failure.message,
        });
        Object.assign(pi, {
          status: 'requires_payment_method',
          amount_received: 0,
          last_payment_error: { charge: charge.id, ...failure, type: 'card_error' },
        });
        this.emit(
          this.event('payment_intent.payment_failed', pi),
          this.event('checkout.session.async_payment_failed', session),
        );
        continue;
      }
      charge.status = 'succeeded';
      charge.paid = true;
      charge.balance_transaction = this.balanceTransaction(charge, 'charge').id;
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      session.payment_status = 'paid';
      this.emit(
        this.event('payment_intent.succeeded', pi),
        this.event('checkout.session.async_payment_succeeded', session),
      );
    }
  }

  /** Records money moving on the balance, with Stripe's fee on charges. */
  private balanceTransaction(
    source: StripeObject,
    type: 'charge' | 'refund' | 'adjustment',
    amount = Number(source.amount),
    fee = type === 'charge' ? stripeFee(amount) : 0,
  ): StripeObject {
    const created = this.clock.unix();
    const txn: StripeObject = {
      id: stripeId('txn'),
      object: 'balance_transaction',
      amount,
      available_on: created + 2 * 86400,
      created,
      currency: source.currency,
      description: null,
      exchange_rate: null,
      fee,
      fee_details: fee
        ? [
            {
              amount: fee,
              application: null,
              currency: source.currency,
              description: type === 'adjustment' ? 'Dispute fee' : 'Stripe processing fees',
              type: 'stripe_fee',
            },
          ]
        : [],
      net: amount - fee,
      reporting_category: type === 'adjustment' ? 'dispute' : type,
      source: source.id,
      status: 'pending',
      type,
    };
    this.balanceTransactions.set(txn.id, txn);
    return txn;
  }

  private createPayment(input: {
    amount: number;
    currency: string;
    customer: string | null;
    email: string | null;
    receiptEmail: string | null;
    name: string | null;
    method: PaymentMethod;
    metadata: Record<string, string>;
    description: string | null;
    failure?: { code: string; decline_code: string; message: string };
    /** A delayed payment method: processing until it settles. */
    pending?: boolean;
  }): { paymentIntent: StripeObject; charge: StripeObject } {
    const now = this.clock.unix();
    const piId = stripeId('pi');
    const chId = stripeId('ch');
    const pmId = stripeId('pm');
    const failed = Boolean(input.failure);
    const settled = !failed && !input.pending;
    const { method } = input;
    const charge: StripeObject = {
      id: chId,
      object: 'charge',
      amount: input.amount,
      amount_captured: failed ? 0 : input.amount,
      amount_refunded: 0,
      balance_transaction: null,
      billing_details: {
        address: { city: null, country: 'US', line1: null, line2: null, postal_code: null, state: null },
        email: input.email,
        name: input.name,
        phone: null,
        tax_id: null,
      },
      captured: !failed,
      created: now,
      currency: input.currency,
      customer: input.customer,
      description: input.description,
      disputed: false,
      failure_code: input.failure?.code ?? null,
      failure_message: input.failure?.message ?? null,
      livemode: false,
      metadata: { ...input.metadata },
      outcome: failed
        ? {
            network_status: 'declined_by_network',
            reason: input.failure!.decline_code,
            risk_level: 'normal',
            seller_message: 'The bank did not return any further details with this decline.',
            type: 'issuer_declined',
          }
        : {
            network_status: 'approved_by_network',
            reason: null,
            risk_level: 'normal',
            seller_message: 'Payment complete.',
            type: 'authorized',
          },
      paid: settled,
      payment_intent: piId,
      payment_method: pmId,
      payment_method_details:
        method.type === 'card'
          ? {
              card: {
                brand: method.brand,
                country: 'US',
                exp_month: method.exp_month,
                exp_year: method.exp_year,
                funding: 'credit',
                last4: method.last4,
                network: method.brand,
              },
              type: 'card',
            }
          : {
              type: 'us_bank_account',
              us_bank_account: {
                account_holder_type: 'individual',
                account_type: 'checking',
                bank_name: 'STRIPE TEST BANK',
                last4: method.last4,
                routing_number: '110000000',
              },
            },
      receipt_email: input.receiptEmail,
      receipt_url: `${this.baseUrl()}/_simulator/receipts/${chId}`,
      refunded: false,
      status: failed ? 'failed' : settled ? 'succeeded' : 'pending',
    };
    const paymentIntent: StripeObject = {
      id: piId,
      object: 'payment_intent',
      amount: input.amount,
      amount_capturable: 0,
      amount_received: settled ? input.amount : 0,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: 'automatic_async',
      client_secret: `${piId}_secret_${stripeId('x', 24).slice(2)}`,
      confirmation_method: 'automatic',
      created: now,
      currency: input.currency,
      customer: input.customer,
      description: input.description,
      last_payment_error: failed
        ? {
            charge: chId,
            code: input.failure!.code,
            decline_code: input.failure!.decline_code,
            message: input.failure!.message,
            type: 'card_error',
          }
        : null,
      latest_charge: chId,
      livemode: false,
      metadata: { ...input.metadata },
      payment_method: pmId,
      payment_method_types: [method.type],
      receipt_email: input.receiptEmail,
      status: failed ? 'requires_payment_method' : settled ? 'succeeded' : 'processing',
    };
    this.paymentIntents.set(piId, paymentIntent);
    this.charges.set(chId, charge);
    if (settled) charge.balance_transaction = this.balanceTransaction(charge, 'charge').id;
    return { paymentIntent, charge };
  }

  private createSubscription(
    session: StripeObject,
    internal: SessionInternal,
    customerId: string,
    email: string,
    name: string | null,
    card: PaymentMethod,
  ): { subscription: StripeObject; invoice: StripeObject } {
    const recurringItem = internal.lineItems.find((li) => li.recurring)!;
    const now = this.clock.nowMs();
    const start = Math.floor(now / 1000);
    const unit = recurringItem.recurring!.interval;
    const count = recurringItem.recurring!.interval_count;
    const end = Math.floor(addInterval(now, unit, count) / 1000);
    const subId = stripeId('sub');
    const items = internal.lineItems.map((li) => ({
      id: stripeId('si', 14),
      object: 'subscription_item',
      created: start,
      current_period_end: end,
      current_period_start: start,
      discounts: [],
      metadata: {},
      price: clone(this.prices.get(li.priceId)),
      quantity: li.quantity,
      subscription: subId,
      tax_rates: [],
    }));
    const amount = internal.lineItems.reduce((s, li) => s + li.unitAmount * li.quantity, 0);
    const subscription: StripeObject = {
      id: subId,
      object: 'subscription',
      billing_cycle_anchor: start,
      cancel_at: null,
      cancel_at_period_end: false,
      canceled_at: null,
      cancellation_details: { comment: null, feedback: null, reason: null },
      collection_method: 'charge_automatically',
      created: start,
      currency: session.currency,
      customer: customerId,
      default_payment_method: null,
      description: null,
      discounts: [],
      ended_at: null,
      items: {
        object: 'list',
        data: items,
        has_more: false,
        total_count: items.length,
        url: `/v1/subscription_items?subscription=${subId}`,
      },
      latest_invoice: null,
      livemode: false,
      metadata: { ...internal.subscriptionMetadata },
      start_date: start,
      status: 'active',
      test_clock: null,
      trial_end: null,
      trial_start: null,
    };
    this.subscriptions.set(subId, subscription);
    this.subInternals.set(subId, {
      unit,
      count,
      amount,
      currency: String(session.currency),
      failNext: false,
      failures: 0,
      openInvoice: null,
    });
    const invoice = this.createInvoice(subscription, 'subscription_create', start, end, email, name);
    subscription.default_payment_method = stripeId('pm');
    this.payInvoice(invoice, subscription, card, email, name);
    subscription.latest_invoice = invoice.id;
    return { subscription, invoice };
  }

  private createInvoice(
    subscription: StripeObject,
    reason: 'subscription_create' | 'subscription_cycle',
    periodStart: number,
    periodEnd: number,
    email: string | null,
    name: string | null,
  ): StripeObject {
    const internal = this.subInternals.get(subscription.id)!;
    const id = stripeId('in');
    const items = (subscription.items as { data: Array<Record<string, unknown>> }).data;
    const lines = items.map((item) => {
      const price = item.price as StripeObject;
      const quantity = Number(item.quantity);
      const amount = Number(price.unit_amount) * quantity;
      return {
        id: stripeId('il'),
        object: 'line_item',
        amount,
        currency: internal.currency,
        description: `${quantity} × ${String(this.products.get(String(price.product))?.name ?? 'Item')}`,
        discount_amounts: [],
        discountable: true,
        discounts: [],
        invoice: id,
        livemode: false,
        metadata: {},
        parent: {
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration: false,
            proration_details: { credited_items: null },
            subscription: subscription.id,
            subscription_item: item.id,
          },
          type: 'subscription_item_details',
        },
        period: { end: periodEnd, start: periodStart },
        pricing: {
          price_details: { price: price.id, product: price.product },
          type: 'price_details',
          unit_amount_decimal: String(price.unit_amount),
        },
        quantity,
        taxes: [],
      };
    });
    const customer = this.customers.get(String(subscription.customer));
    const invoice: StripeObject = {
      id,
      object: 'invoice',
      account_country: 'US',
      amount_due: internal.amount,
      amount_overpaid: 0,
      amount_paid: 0,
      amount_remaining: internal.amount,
      attempt_count: 0,
      attempted: false,
      auto_advance: true,
      billing_reason: reason,
      collection_method: 'charge_automatically',
      created: this.clock.unix(),
      currency: internal.currency,
      customer: subscription.customer,
      customer_email: email ?? customer?.email ?? null,
      customer_name: name ?? customer?.name ?? null,
      description: null,
      hosted_invoice_url: `${this.baseUrl()}/_simulator/invoices/${id}`,
      invoice_pdf: null,
      lines: {
        object: 'list',
        data: lines,
        has_more: false,
        total_count: lines.length,
        url: `/v1/invoices/${id}/lines`,
      },
      livemode: false,
      metadata: {},
      next_payment_attempt: null,
      number: `${String(customer?.invoice_prefix ?? 'SIM')}-${String(this.invoices.size + 1).padStart(4, '0')}`,
      parent: {
        quote_details: null,
        subscription_details: { metadata: clone(subscription.metadata), subscription: subscription.id },
        type: 'subscription_details',
      },
      period_end: periodEnd,
      period_start: periodStart,
      status: 'open',
      status_transitions: {
        finalized_at: this.clock.unix(),
        marked_uncollectible_at: null,
        paid_at: null,
        voided_at: null,
      },
      subtotal: internal.amount,
      total: internal.amount,
    };
    this.invoices.set(id, invoice);
    return invoice;
  }

  /** Attempts to pay an invoice; returns false when the charge was declined. */
  private payInvoice(
    invoice: StripeObject,
    subscription: StripeObject,
    card: PaymentMethod | null,
    email: string | null,
    name: string | null,
    fail = false,
  ): boolean {
    const customer = this.customers.get(String(subscription.customer));
    const { paymentIntent } = this.createPayment({
      amount: Number(invoice.amount_due),
      currency: String(invoice.currency),
      customer: String(subscription.customer),
      email: email ?? (customer?.email as string | null) ?? null,
      receiptEmail: null,
      name: name ?? (customer?.name as string | null) ?? null,
      method: card ?? DEFAULT_CARD,
      metadata: {},
      description:
        invoice.billing_reason === 'subscription_create' ? 'Subscription creation' : 'Subscription update',
      ...(fail
        ? {
            failure: {
              code: 'card_declined',
              decline_code: 'insufficient_funds',
              message: 'Your card has insufficient funds.',
            },
          }
        : {}),
    });
    const payment: StripeObject = {
      id: stripeId('inpay'),
      object: 'invoice_payment',
      amount_paid: fail ? null : invoice.amount_due,
      amount_requested: invoice.amount_due,
      created: this.clock.unix(),
      currency: invoice.currency,
      invoice: invoice.id,
      is_default: true,
      livemode: false,
      payment: { payment_intent: paymentIntent.id, type: 'payment_intent' },
      status: fail ? 'open' : 'paid',
      status_transitions: { canceled_at: null, paid_at: fail ? null : this.clock.unix() },
    };
    this.invoicePayments.set(payment.id, payment);
    invoice.attempt_count = Number(invoice.attempt_count) + 1;
    invoice.attempted = true;
    if (fail) {
      invoice.next_payment_attempt = this.clock.unix() + 3 * 86400;
      return false;
    }
    invoice.status = 'paid';
    invoice.amount_paid = invoice.amount_due;
    invoice.amount_remaining = 0;
    invoice.next_payment_attempt = null;
    (invoice.status_transitions as Record<string, unknown>).paid_at = this.clock.unix();
    return true;
  }

  // ---- subscriptions ----

  getSubscription(id: string): StripeObject {
    const sub = this.subscriptions.get(id);
    if (!sub) throw missing('subscription', id);
    return sub;
  }

  updateSubscription(id: string, params: FormObject): StripeObject {
    const sub = this.getSubscription(id);
    if (sub.status === 'canceled') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'A canceled subscription can only update its cancellation_details and metadata.',
      );
    }
    const previous: Record<string, unknown> = {};
    const cape = str(params, 'cancel_at_period_end');
    if (cape !== undefined) {
      previous.cancel_at_period_end = sub.cancel_at_period_end;
      sub.cancel_at_period_end = cape === 'true';
      const item = this.firstItem(sub);
      previous.cancel_at = sub.cancel_at;
      sub.cancel_at = sub.cancel_at_period_end ? item.current_period_end : null;
      previous.canceled_at = sub.canceled_at;
      sub.canceled_at = sub.cancel_at_period_end ? this.clock.unix() : null;
    }
    const details = obj(params, 'cancellation_details');
    if (details) {
      previous.cancellation_details = clone(sub.cancellation_details);
      sub.cancellation_details = {
        ...(sub.cancellation_details as Record<string, unknown>),
        ...(str(details, 'comment') !== undefined ? { comment: str(details, 'comment') || null } : {}),
        ...(str(details, 'feedback') !== undefined ? { feedback: str(details, 'feedback') || null } : {}),
      };
    }
    if (obj(params, 'metadata')) {
      previous.metadata = clone(sub.metadata);
      sub.metadata = { ...(sub.metadata as Record<string, string>), ...stringMap(params, 'metadata') };
    }
    const items = arr(params, 'items');
    if (items.length) {
      const proration = str(params, 'proration_behavior') ?? 'create_prorations';
      if (!['none', 'create_prorations', 'always_invoice'].includes(proration)) {
        throw invalid('Invalid proration_behavior', 'proration_behavior', 'parameter_invalid');
      }
      // The simulator never prorates: a new price is billed from the next period on, which is what
      // `proration_behavior: 'none'` asks of Stripe.
      previous.items = clone(sub.items);
      items.forEach((raw, index) => this.updateItem(sub, raw as FormObject, index));
      const internal = this.subInternals.get(sub.id)!;
      const data = (sub.items as { data: Array<{ price: StripeObject; quantity: number }> }).data;
      internal.amount = data.reduce((sum, item) => sum + Number(item.price.unit_amount) * item.quantity, 0);
      const recurring = data[0]!.price.recurring as { interval: IntervalUnit; interval_count: number };
      internal.unit = recurring.interval;
      internal.count = recurring.interval_count;
    }
    if (Object.keys(previous).length) this.emit(this.event('customer.subscription.updated', sub, previous));
    return sub;
  }

  /** `items[n]` of a subscription update: a new price (or price_data) and quantity for an item. */
  private updateItem(sub: StripeObject, raw: FormObject, index: number): void {
    const param = `items[${index}]`;
    const itemId = str(raw, 'id');
    const data = (sub.items as { data: Array<Record<string, unknown>> }).data;
    const item = data.find((i) => i.id === itemId);
    if (!item) {
      throw invalid(
        'The simulator updates existing subscription items only; pass items[][id].',
        `${param}[id]`,
        'parameter_missing',
      );
    }
    const current = item.price as StripeObject;
    const priceId = str(raw, 'price');
    const pd = obj(raw, 'price_data');
    let price: StripeObject | undefined;
    if (priceId) {
      price = this.prices.get(priceId);
      if (!price) throw missing('price', priceId, `${param}[price]`);
    } else if (pd) {
      const product = str(pd, 'product');
      if (!product || !this.products.has(product)) {
        throw invalid(
          'Missing required param: product.',
          `${param}[price_data][product]`,
          'parameter_missing',
        );
      }
      const currency = str(pd, 'currency')?.toLowerCase();
      if (currency !== current.currency) {
        throw invalid(
          'The price must be in the currency of the subscription.',
          `${param}[price_data][currency]`,
          'parameter_invalid',
        );
      }
      const { unitAmount, recurring } = priceAmount(pd, param);
      if (!recurring) {
        throw invalid(
          'A subscription item needs a recurring price.',
          `${param}[price_data][recurring]`,
          'parameter_missing',
        );
      }
      price = {
        ...clone(current),
        id: stripeId('price'),
        created: this.clock.unix(),
        product,
        recurring: { ...recurring, meter: null, usage_type: 'licensed' },
        unit_amount: unitAmount,
        unit_amount_decimal: String(unitAmount),
      };
      this.prices.set(price.id, price);
    }
    if (price) item.price = clone(price);
    const quantity = int(raw, 'quantity');
    if (quantity !== undefined) {
      if (quantity < 1)
        throw invalid('Quantity must be at least 1.', `${param}[quantity]`, 'parameter_invalid_integer');
      item.quantity = quantity;
    }
  }

  createProduct(params: FormObject): StripeObject {
    const name = str(params, 'name');
    if (!name) throw invalid('Missing required param: name.', 'name', 'parameter_missing');
    const product: StripeObject = {
      id: stripeId('prod', 14),
      object: 'product',
      active: true,
      created: this.clock.unix(),
      description: str(params, 'description') ?? null,
      images: [],
      livemode: false,
      metadata: stringMap(params, 'metadata'),
      name,
      type: 'service',
      updated: this.clock.unix(),
    };
    this.products.set(product.id, product);
    return product;
  }

  updateProduct(id: string, params: FormObject): StripeObject {
    const product = this.products.get(id);
    if (!product) throw missing('product', id);
    const name = str(params, 'name');
    if (name !== undefined) {
      if (!name) throw invalid('The name of a product cannot be empty.', 'name', 'parameter_invalid_empty');
      product.name = name;
    }
    const description = str(params, 'description');
    if (description !== undefined) product.description = description || null;
    if (obj(params, 'metadata')) {
      product.metadata = {
        ...(product.metadata as Record<string, string>),
        ...stringMap(params, 'metadata'),
      };
    }
    product.updated = this.clock.unix();
    return product;
  }

  cancelSubscription(id: string, params: FormObject = {}): StripeObject {
    const sub = this.getSubscription(id);
    if (sub.status === 'canceled') {
      throw new StripeApiError(
        404,
        'invalid_request_error',
        `No such subscription: '${id}'`,
        'resource_missing',
        'id',
      );
    }
    const now = this.clock.unix();
    sub.status = 'canceled';
    sub.canceled_at = now;
    sub.ended_at = now;
    sub.cancellation_details = {
      comment: str(obj(params, 'cancellation_details'), 'comment') ?? null,
      feedback: str(obj(params, 'cancellation_details'), 'feedback') ?? null,
      reason: 'cancellation_requested',
    };
    this.emit(this.event('customer.subscription.deleted', sub));
    return sub;
  }

  private firstItem(sub: StripeObject): {
    id: string;
    current_period_start: number;
    current_period_end: number;
  } {
    return (
      sub.items as { data: Array<{ id: string; current_period_start: number; current_period_end: number }> }
    ).data[0]!;
  }

  failNextRenewal(id: string): void {
    this.getSubscription(id);
    this.subInternals.get(id)!.failNext = true;
  }

  /** Settles delayed payments and bills every period that has ended by the simulator's now. */
  renew(failAll: boolean): void {
    this.settleDelayedPayments();
    for (const sub of this.subscriptions.values()) {
      const internal = this.subInternals.get(sub.id)!;
      if (sub.status !== 'active' && sub.status !== 'past_due') continue;
      // Retry an open invoice first (Stripe's automatic retries).
      if (sub.status === 'past_due' && internal.openInvoice) {
        const invoice = this.invoices.get(internal.openInvoice)!;
        const fail = failAll || internal.failNext;
        internal.failNext = false;
        if (!this.settleRenewal(sub, internal, invoice, fail)) continue;
      }
      for (let guard = 0; guard < 1000; guard++) {
        const item = this.firstItem(sub);
        if (item.current_period_end > this.clock.unix()) break;
        if (sub.cancel_at_period_end) {
          sub.status = 'canceled';
          sub.ended_at = item.current_period_end;
          sub.cancellation_details = { comment: null, feedback: null, reason: 'cancellation_requested' };
          this.emit(this.event('customer.subscription.deleted', sub));
          break;
        }
        const previous = {
          items: clone(sub.items),
          latest_invoice: sub.latest_invoice,
        };
        const start = item.current_period_end;
        const end = Math.floor(addInterval(start * 1000, internal.unit, internal.count) / 1000);
        for (const it of (
          sub.items as { data: Array<{ current_period_start: number; current_period_end: number }> }
        ).data) {
          it.current_period_start = start;
          it.current_period_end = end;
        }
        const invoice = this.createInvoice(sub, 'subscription_cycle', start, end, null, null);
        sub.latest_invoice = invoice.id;
        const fail = failAll || internal.failNext;
        internal.failNext = false;
        this.emit(this.event('customer.subscription.updated', sub, previous));
        if (!this.settleRenewal(sub, internal, invoice, fail)) break;
      }
    }
  }

  /** Pays (or fails) a renewal invoice and moves the subscription's status; false when it did not end active. */
  private settleRenewal(
    sub: StripeObject,
    internal: SubscriptionInternal,
    invoice: StripeObject,
    fail: boolean,
  ): boolean {
    const paid = this.payInvoice(invoice, sub, null, null, null, fail);
    if (paid) {
      internal.failures = 0;
      internal.openInvoice = null;
      const events = [this.event('invoice.paid', invoice)];
      if (sub.status !== 'active') {
        const previous = { status: sub.status };
        sub.status = 'active';
        events.push(this.event('customer.subscription.updated', sub, previous));
      }
      this.emit(...events);
      return true;
    }
    internal.failures++;
    internal.openInvoice = invoice.id;
    const events = [this.event('invoice.payment_failed', invoice)];
    if (internal.failures >= 3) {
      sub.status = 'canceled';
      sub.canceled_at = this.clock.unix();
      sub.ended_at = this.clock.unix();
      sub.cancellation_details = { comment: null, feedback: null, reason: 'payment_failed' };
      invoice.status = 'void';
      events.push(this.event('customer.subscription.deleted', sub));
    } else if (sub.status !== 'past_due') {
      const previous = { status: sub.status };
      sub.status = 'past_due';
      events.push(this.event('customer.subscription.updated', sub, previous));
    }
    this.emit(...events);
    return false;
  }

  // ---- payments, refunds, disputes ----

  getPaymentIntent(id: string): StripeObject {
    const pi = this.paymentIntents.get(id);
    if (!pi) throw missing('payment_intent', id, 'intent');
    return pi;
  }

  listPaymentIntents(params: FormObject): StripeObject {
    const createdEq = int(params, 'created');
    const customer = str(params, 'customer');
    const data = [...this.paymentIntents.values()].filter(
      (pi) =>
        (createdEq === undefined || Number(pi.created) === createdEq) &&
        createdInRange(pi, params) &&
        (!customer || pi.customer === customer),
    );
    return this.page(data, params, '/v1/payment_intents', 'payment_intent');
  }

  getCharge(id: string): StripeObject {
    const charge = this.charges.get(id);
    if (!charge) throw missing('charge', id, 'charge');
    return charge;
  }

  getInvoice(id: string): StripeObject {
    const invoice = this.invoices.get(id);
    if (!invoice) throw missing('invoice', id, 'invoice');
    return invoice;
  }

  private chargeFor(params: FormObject): StripeObject {
    const piId = str(params, 'payment_intent');
    const chargeId = str(params, 'charge');
    if (chargeId) return this.getCharge(chargeId);
    if (piId) {
      const pi = this.getPaymentIntent(piId);
      if (pi.status !== 'succeeded') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `This PaymentIntent (${piId}) does not have a successful charge to refund.`,
          'charge_not_refundable',
        );
      }
      return this.getCharge(String(pi.latest_charge));
    }
    throw invalid(
      'One of the following params should be provided for this request: payment_intent or charge.',
      'charge',
      'parameter_missing',
    );
  }

  createRefund(params: FormObject): StripeObject {
    const charge = this.chargeFor(params);
    const remaining = Number(charge.amount) - Number(charge.amount_refunded);
    const amount = int(params, 'amount') ?? remaining;
    if (remaining <= 0) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Charge ${charge.id} has already been refunded.`,
        'charge_already_refunded',
      );
    }
    if (amount <= 0 || amount > remaining) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`,
        'amount_too_large',
        'amount',
      );
    }
    if (charge.disputed) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Charge ${charge.id} has been charged back; cannot issue a refund.`,
        'charge_disputed',
      );
    }
    const refund: StripeObject = {
      id: stripeId('re'),
      object: 'refund',
      amount,
      balance_transaction: null,
      charge: charge.id,
      created: this.clock.unix(),
      currency: charge.currency,
      destination_details: {
        card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
        type: 'card',
      },
      metadata: stringMap(params, 'metadata'),
      payment_intent: charge.payment_intent,
      reason: str(params, 'reason') ?? null,
      receipt_number: null,
      status: 'succeeded',
    };
    refund.balance_transaction = this.balanceTransaction(refund, 'refund', -amount).id;
    this.refunds.set(refund.id, refund);
    const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded };
    charge.amount_refunded = Number(charge.amount_refunded) + amount;
    charge.refunded = charge.amount_refunded === charge.amount;
    this.emit(this.event('charge.refunded', charge, previous), this.event('refund.created', refund));
    return refund;
  }

  getRefund(id: string): StripeObject {
    const refund = this.refunds.get(id);
    if (!refund) throw missing('refund', id, 'refund');
    return refund;
  }

  /**
   * Opens a dispute on a charge. A chargeback (`needs_response`) takes the disputed amount and the
   * dispute fee from the balance at once (charge.dispute.funds_withdrawn); an inquiry
   * (`warning_needs_response`, param `inquiry=true`) moves no money until it is escalated.
   */
  createDispute(params: FormObject): StripeObject {
    const charge = this.chargeFor(params);
    if (charge.disputed) {
      throw new StripeApiError(400, 'invalid_request_error', `Charge ${charge.id} is already disputed.`);
    }
    const inquiry = str(params, 'inquiry') === 'true';
    const dispute: StripeObject = {
      id: stripeId('dp'),
      object: 'dispute',
      amount: Number(charge.amount) - Number(charge.amount_refunded),
      balance_transactions: [],
      charge: charge.id,
      created: this.clock.unix(),
      currency: charge.currency,
      evidence_details: {
        due_by: this.clock.unix() + 7 * 86400,
        has_evidence: false,
        past_due: false,
        submission_count: 0,
      },
      is_charge_refundable: inquiry,
      livemode: false,
      metadata: {},
      payment_intent: charge.payment_intent,
      reason: str(params, 'reason') ?? (inquiry ? 'general' : 'fraudulent'),
      status: inquiry ? 'warning_needs_response' : 'needs_response',
    };
    this.disputes.set(dispute.id, dispute);
    charge.disputed = true;
    if (inquiry) {
      this.emit(this.event('charge.dispute.created', dispute));
      return dispute;
    }
    const withdrawal = this.balanceTransaction(
      dispute,
      'adjustment',
      -Number(dispute.amount),
      DISPUTE_FEE_MINOR,
    );
    dispute.balance_transactions = [clone(withdrawal)];
    this.emit(
      this.event('charge.dispute.created', dispute),
      this.event('charge.dispute.funds_withdrawn', dispute),
    );
    return dispute;
  }

  /**
   * Decides a dispute. A chargeback that is won gives the disputed amount back
   * (charge.dispute.funds_reinstated, the fee stays withdrawn); one that is lost keeps it withdrawn.
   * An inquiry that is closed ends as `warning_closed` whatever the outcome asked: no money moved.
   */
  closeDispute(id: string, outcome: 'won' | 'lost'): StripeObject {
    const dispute = this.disputes.get(id);
    if (!dispute) throw missing('dispute', id);
    if (['won', 'lost', 'warning_closed'].includes(String(dispute.status))) {
      throw new StripeApiError(400, 'invalid_request_error', `Dispute ${id} is already closed.`);
    }
    const previous = { status: dispute.status };
    const inquiry = String(dispute.status).startsWith('warning_');
    const events: StripeEvent[] = [];
    dispute.status = inquiry ? 'warning_closed' : outcome;
    if (inquiry || outcome === 'won') {
      const charge = this.charges.get(String(dispute.charge));
      if (charge) charge.disputed = false;
    }
    if (!inquiry && outcome === 'won') {
      const reinstated = this.balanceTransaction(dispute, 'adjustment', Number(dispute.amount), 0);
      dispute.balance_transactions = [...(dispute.balance_transactions as StripeObject[]), clone(reinstated)];
      events.push(this.event('charge.dispute.funds_reinstated', dispute));
    }
    events.push(this.event('charge.dispute.closed', dispute, previous));
    this.emit(...events);
    return dispute;
  }

  getDispute(id: string): StripeObject {
    const dispute = this.disputes.get(id);
    if (!dispute) throw missing('dispute', id, 'dispute');
    return dispute;
  }

  listDisputes(params: FormObject): StripeObject {
    const pi = str(params, 'payment_intent');
    const charge = str(params, 'charge');
    const data = [...this.disputes.values()].filter(
      (d) =>
        createdInRange(d, params) && (!pi || d.payment_intent === pi) && (!charge || d.charge === charge),
    );
    return this.page(data, params, '/v1/disputes', 'dispute');
  }

  listInvoices(params: FormObject): StripeObject {
    const subscription = str(params, 'subscription');
    const customer = str(params, 'customer');
    const data = [...this.invoices.values()].filter(
      (invoice) =>
        createdInRange(invoice, params) &&
        (!subscription ||
          (invoice.parent as { subscription_details?: { subscription?: string } } | null)
            ?.subscription_details?.subscription === subscription) &&
        (!customer || invoice.customer === customer),
    );
    return this.page(data, params, '/v1/invoices', 'invoice');
  }

  listInvoicePayments(params: FormObject): StripeObject {
    const invoice = str(params, 'invoice');
    const pi = str(obj(params, 'payment'), 'payment_intent');
    const status = str(params, 'status');
    const data = [...this.invoicePayments.values()].filter(
      (p) =>
        createdInRange(p, params) &&
        (!invoice || p.invoice === invoice) &&
        (!status || p.status === status) &&
        (!pi || (p.payment as { payment_intent: string }).payment_intent === pi),
    );
    return this.page(data, params, '/v1/invoice_payments', 'invoice_payment');
  }

  /** One page of a list, newest first, with Stripe's `limit` / `starting_after` / `ending_before`. */
  private page(data: StripeObject[], params: FormObject, url: string, kind: string): StripeObject {
    const limit = Math.min(Math.max(int(params, 'limit') ?? 10, 1), 100);
    let items = [...data].reverse().sort((a, b) => Number(b.created) - Number(a.created));
    const after = str(params, 'starting_after');
    const before = str(params, 'ending_before');
    if (after) {
      const index = items.findIndex((item) => item.id === after);
      if (index === -1) throw missing(kind, after, 'starting_after');
      items = items.slice(index + 1);
    } else if (before) {
      const index = items.findIndex((item) => item.id === before);
      if (index === -1) throw missing(kind, before, 'ending_before');
      return this.listObject(items.slice(Math.max(0, index - limit), index), url, index - limit > 0);
    }
    return this.listObject(items.slice(0, limit), url, items.length > limit);
  }
}
