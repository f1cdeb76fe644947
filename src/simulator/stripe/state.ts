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
  paymentIntentData: { metadata: Record<string, string>; description: string | null };
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

interface CardOutcome {
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

export const TEST_CARDS: Record<
  string,
  { ok: true; brand: string } | { ok: false; code: string; decline_code: string; message: string }
> = {
  '4242424242424242': { ok: true, brand: 'visa' },
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
  readonly events = new Map<string, StripeObject>();

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
      payment_method_types: ['card'],
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
      paymentIntentData: {
        metadata: stringMap(pid, 'metadata'),
        description: str(pid, 'description') ?? null,
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
    const unitAmount = int(pd, 'unit_amount');
    if (unitAmount === undefined || unitAmount < 0) {
      throw invalid('Invalid integer', `${param}[price_data][unit_amount]`, 'parameter_invalid_integer');
    }
    const recurringRaw = obj(pd, 'recurring');
    let recurring: LineItemInput['recurring'] = null;
    if (recurringRaw) {
      const interval = str(recurringRaw, 'interval');
      if (interval !== 'day' && interval !== 'week' && interval !== 'month' && interval !== 'year') {
        throw invalid(
          'Invalid recurring interval',
          `${param}[price_data][recurring][interval]`,
          'parameter_invalid',
        );
      }
      recurring = { interval, interval_count: int(recurringRaw, 'interval_count') ?? 1 };
    }
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
      const product: StripeObject = {
        id: stripeId('prod', 14),
        object: 'product',
        active: true,
        created: this.clock.unix(),
        description: str(productData, 'description') ?? null,
        images: [],
        livemode: false,
        metadata: stringMap(productData, 'metadata'),
        name,
        type: 'service',
        updated: this.clock.unix(),
      };
      this.products.set(product.id, product);
      productId = product.id;
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
    const digits = input.cardNumber.replace(/[\s-]/g, '');
    const known = TEST_CARDS[digits];
    if (!known) {
      if (!luhn(digits)) return { ok: false, message: 'Your card number is invalid.', field: 'card' };
      return {
        ok: false,
        message: 'Your card was declined. Your request was in test mode, but used a non test card.',
        field: 'card',
      };
    }
    const expiry = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(input.expiry);
    const month = expiry ? Number(expiry[1]) : 12;
    const year = expiry ? Number(expiry[2]!.length === 2 ? `20${expiry[2]}` : expiry[2]) : 2034;
    if (!expiry || month < 1 || month > 12 || Date.UTC(year, month, 1) <= this.clock.nowMs()) {
      return {
        ok: false,
        message: "Your card's expiration date is incomplete or in the past.",
        field: 'card',
      };
    }
    if (!known.ok) return { ok: false, message: known.message, field: 'card' };
    const card: CardOutcome = {
      brand: known.brand,
      last4: digits.slice(-4),
      exp_month: month,
      exp_year: year,
    };
    const name = input.name.trim() || null;
    const internal = this.sessionInternals.get(id)!;
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
    session.payment_status = session.amount_total === 0 ? 'no_payment_required' : 'paid';
    session.url = null;

    if (session.mode === 'payment') {
      const { paymentIntent } = this.createPayment({
        amount: Number(session.amount_total),
        currency: String(session.currency),
        customer: customerId,
        email,
        name,
        card,
        metadata: internal.paymentIntentData.metadata,
        description: internal.paymentIntentData.description,
      });
      session.payment_intent = paymentIntent.id;
      events.push(this.event('payment_intent.succeeded', paymentIntent));
    } else {
      const { subscription, invoice } = this.createSubscription(
        session,
        internal,
        customerId!,
        email,
        name,
        card,
      );
      session.subscription = subscription.id;
      session.invoice = invoice.id;
      events.push(this.event('customer.subscription.created', subscription));
      events.push(this.event('invoice.paid', invoice));
    }
    events.push(this.event('checkout.session.completed', session));
    this.emit(...events);
    return { ok: true, redirect: String(session.success_url).replaceAll('{CHECKOUT_SESSION_ID}', id) };
  }

  private createPayment(input: {
    amount: number;
    currency: string;
    customer: string | null;
    email: string | null;
    name: string | null;
    card: CardOutcome;
    metadata: Record<string, string>;
    description: string | null;
    failure?: { code: string; decline_code: string; message: string };
  }): { paymentIntent: StripeObject; charge: StripeObject } {
    const now = this.clock.unix();
    const piId = stripeId('pi');
    const chId = stripeId('ch');
    const pmId = stripeId('pm');
    const failed = Boolean(input.failure);
    const charge: StripeObject = {
      id: chId,
      object: 'charge',
      amount: input.amount,
      amount_captured: failed ? 0 : input.amount,
      amount_refunded: 0,
      balance_transaction: failed ? null : stripeId('txn'),
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
      paid: !failed,
      payment_intent: piId,
      payment_method: pmId,
      payment_method_details: {
        card: {
          brand: input.card.brand,
          country: 'US',
          exp_month: input.card.exp_month,
          exp_year: input.card.exp_year,
          funding: 'credit',
          last4: input.card.last4,
          network: input.card.brand,
        },
        type: 'card',
      },
      receipt_email: input.email,
      receipt_url: `${this.baseUrl()}/_simulator/receipts/${chId}`,
      refunded: false,
      status: failed ? 'failed' : 'succeeded',
    };
    const paymentIntent: StripeObject = {
      id: piId,
      object: 'payment_intent',
      amount: input.amount,
      amount_capturable: 0,
      amount_received: failed ? 0 : input.amount,
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
      payment_method_types: ['card'],
      receipt_email: input.email,
      status: failed ? 'requires_payment_method' : 'succeeded',
    };
    this.paymentIntents.set(piId, paymentIntent);
    this.charges.set(chId, charge);
    return { paymentIntent, charge };
  }

  private createSubscription(
    session: StripeObject,
    internal: SessionInternal,
    customerId: string,
    email: string,
    name: string | null,
    card: CardOutcome,
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
    card: CardOutcome | null,
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
      name: name ?? (customer?.name as string | null) ?? null,
      card: card ?? { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034 },
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
    if (obj(params, 'metadata')) {
      previous.metadata = clone(sub.metadata);
      sub.metadata = { ...(sub.metadata as Record<string, string>), ...stringMap(params, 'metadata') };
    }
    if (Object.keys(previous).length) this.emit(this.event('customer.subscription.updated', sub, previous));
    return sub;
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

  /** Bills every period that has ended by the simulator's now. */
  renew(failAll: boolean): void {
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
    const limit = Math.min(Math.max(int(params, 'limit') ?? 10, 1), 100);
    const created = obj(params, 'created');
    const createdEq = int(params, 'created');
    const customer = str(params, 'customer');
    let items = [...this.paymentIntents.values()]
      .filter((pi) => {
        const c = Number(pi.created);
        if (createdEq !== undefined && c !== createdEq) return false;
        const gte = int(created, 'gte');
        const gt = int(created, 'gt');
        const lte = int(created, 'lte');
        const lt = int(created, 'lt');
        if (gte !== undefined && c < gte) return false;
        if (gt !== undefined && c <= gt) return false;
        if (lte !== undefined && c > lte) return false;
        if (lt !== undefined && c >= lt) return false;
        if (customer && pi.customer !== customer) return false;
        return true;
      })
      .reverse(); // newest first, as Stripe lists
    items = items.sort((a, b) => Number(b.created) - Number(a.created));
    const after = str(params, 'starting_after');
    const before = str(params, 'ending_before');
    if (after) {
      const index = items.findIndex((pi) => pi.id === after);
      if (index === -1) throw missing('payment_intent', after, 'starting_after');
      items = items.slice(index + 1);
    } else if (before) {
      const index = items.findIndex((pi) => pi.id === before);
      if (index === -1) throw missing('payment_intent', before, 'ending_before');
      items = items.slice(Math.max(0, index - limit), index);
      return this.listObject(items, '/v1/payment_intents', index - limit > 0);
    }
    return this.listObject(items.slice(0, limit), '/v1/payment_intents', items.length > limit);
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
      balance_transaction: stripeId('txn'),
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

  createDispute(params: FormObject): StripeObject {
    const charge = this.chargeFor(params);
    if (charge.disputed) {
      throw new StripeApiError(400, 'invalid_request_error', `Charge ${charge.id} is already disputed.`);
    }
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
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      payment_intent: charge.payment_intent,
      reason: str(params, 'reason') ?? 'fraudulent',
      status: 'needs_response',
    };
    this.disputes.set(dispute.id, dispute);
    charge.disputed = true;
    this.emit(this.event('charge.dispute.created', dispute));
    return dispute;
  }

  closeDispute(id: string, outcome: 'won' | 'lost'): StripeObject {
    const dispute = this.disputes.get(id);
    if (!dispute) throw missing('dispute', id);
    if (dispute.status === 'won' || dispute.status === 'lost') {
      throw new StripeApiError(400, 'invalid_request_error', `Dispute ${id} is already closed.`);
    }
    const previous = { status: dispute.status };
    dispute.status = outcome;
    if (outcome === 'won') {
      const charge = this.charges.get(String(dispute.charge));
      if (charge) charge.disputed = false;
    }
    this.emit(this.event('charge.dispute.closed', dispute, previous));
    return dispute;
  }

  listInvoicePayments(params: FormObject): StripeObject {
    const invoice = str(params, 'invoice');
    const pi = str(obj(params, 'payment'), 'payment_intent');
    const data = [...this.invoicePayments.values()].filter(
      (p) =>
        (!invoice || p.invoice === invoice) &&
        (!pi || (p.payment as { payment_intent: string }).payment_intent === pi),
    );
    return this.listObject(data, '/v1/invoice_payments');
  }
}
