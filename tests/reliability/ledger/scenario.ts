/**
 * The reliability run's scenario: payments, renewals, refunds, disputes and subscriptions from both
 * providers, planned first and then written as the webhook events each provider would send. The
 * plan is also the test's own model of the ledger: what the end state must be is computed here from
 * what is sent, by the rules finance expects (docs/webhooks.md, src/supporters/README.md), not by
 * the application's code.
 *
 * Providers deliver in any order, so the plan keeps to facts whose end state does not depend on the
 * order they are applied in, and says where a figure could legitimately depend on it:
 * - refunds and lost disputes of one payment together never exceed it (the caps are tested where
 *   their order cannot matter: two refunds of 60 % each on the same day in every reporting zone);
 * - a dispute is decided once (lost or won), so there is no loss-then-win reversal whose days
 *   would depend on which decision arrived first;
 * - Stripe running refund totals come as one event per payment (a second, larger total would split
 *   the refund over two movements or one, depending on the order);
 * - MRR movements are derived from a subscription's history as it arrived (a cancellation received
 *   before the activation leaves no `new` movement), so MRR is checked where it is order-free: its
 *   sum over all days, the MRR and active count at the end of today, and the churn still to come.
 */
import { randomUUID } from 'node:crypto';
import { addMonths } from 'date-fns';

export type ProviderId = 'stripe' | 'paypal';
export type Currency = 'USD' | 'EUR' | 'JPY';

export interface PlannedRefund {
  id: string;
  amountMinor: number;
  at: Date;
}

export interface PlannedDispute {
  id: string;
  /** PayPal: a customer dispute, or a reversal (a chargeback decided against us, always lost). */
  via: 'dispute' | 'reversal';
  amountMinor: number;
  openedAt: Date;
  decidedAt: Date;
  outcome: 'lost' | 'won';
  feeMinor: number;
}

export interface PlannedPayment {
  provider: ProviderId;
  paymentId: string;
  amountMinor: number;
  currency: Currency;
  at: Date;
  kind: 'one_off' | 'recurring';
  planId: string;
  /** The payer's email as the ledger will know it; undefined: the provider told us nobody. */
  email?: string;
  feeMinor: number;
  subscriptionId?: string;
  refunds: PlannedRefund[];
  /** Refunds of 60 % each, all on one day in every reporting zone: the total is capped at the amount. */
  capped: boolean;
  disputes: PlannedDispute[];
  /** PayPal one-off: the simulator order whose payer the capture's webhook points at. */
  order?: { email: string };
  orderId?: string;
}

export interface PlannedSubscription {
  provider: ProviderId;
  id: string;
  amountMinor: number;
  currency: Currency;
  planId: string;
  email: string;
  name: string;
  startedAt: Date;
  cancelledAt?: Date;
  /** When the support ends after a cancellation (PayPal: a month after the last payment, if later). */
  endsAt?: Date;
  /** PayPal: the billing plan at the simulator (its price is the subscription's amount). */
  paypalPlanKey?: string;
  /** PayPal cancellations: whether the event reports the last payment (then the paid month is kept). */
  reportsLastPayment?: boolean;
  customerId: string;
  invoiceIds: string[];
}

export interface ScenarioEvent {
  provider: ProviderId;
  eventId: string;
  type: string;
  body: string;
  /** When the provider sent it first: the order deliveries roughly follow. */
  at: Date;
  /** A type the app stores and ignores. */
  noise: boolean;
}

export interface Delivery {
  event: ScenarioEvent;
  kind: 'original' | 'duplicate' | 'resend';
}

/** PayPal billing plans the run needs at the simulator, by key; `id` is filled in once provisioned. */
export interface PayPalPlanNeed {
  key: string;
  amountMinor: number;
  currency: Currency;
}

export interface ScenarioOptions {
  seed: number;
  zones: readonly string[];
  now: Date;
  /** Deliveries in all, originals and extras; extras are duplicates and re-sends under new ids. */
  deliveries: number;
}

export interface Scenario {
  seed: number;
  payments: PlannedPayment[];
  subscriptions: PlannedSubscription[];
  paypalPlans: PayPalPlanNeed[];
  /** Builds the events once the simulator's plan and order ids are known. */
  events(ids: { planIds: Map<string, string>; orderIds: Map<string, string> }): ScenarioEvent[];
}

/** mulberry32: a small seeded generator, so a failing run can be repeated with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const dayFormats = new Map<string, Intl.DateTimeFormat>();
/** The calendar day of a moment in a time zone (the definition finance reads reports by). */
export function dayIn(zone: string, at: Date): string {
  let format = dayFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dayFormats.set(zone, format);
  }
  return format.format(at);
}

const digits = (currency: Currency) => (currency === 'JPY' ? 0 : 2);
/** Minor units as the decimal string PayPal puts on the wire. */
export function decimal(amountMinor: number, currency: Currency): string {
  const d = digits(currency);
  if (d === 0) return String(amountMinor);
  const raw = String(Math.abs(amountMinor)).padStart(d + 1, '0');
  return `${amountMinor < 0 ? '-' : ''}${raw.slice(0, -d)}.${raw.slice(-d)}`;
}

const iso = (at: Date) => at.toISOString().replace(/\.\d{3}Z$/, 'Z');
const unix = (at: Date) => Math.floor(at.getTime() / 1000);
const hex = (n: number) => randomUUID().replace(/-/g, '').slice(0, n);
const upper = (n: number) => hex(n).toUpperCase();

export function planScenario(options: ScenarioOptions): Scenario {
  const random = prng(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const chance = (p: number) => random() < p;
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const now = options.now.getTime();
  const { zones } = options;
  // The counts below make about 7,000 distinct events for 10,000 deliveries; smaller runs scale down.
  const scaled = (n: number) => Math.max(2, Math.round((n * options.deliveries) / 10_000));

  // Every planned moment is a distinct second: payments of one supporter never tie for "first".
  const used = new Set<number>();
  const moment = (lo: number, hi: number): Date => {
    for (;;) {
      const second = Math.floor(between(lo, hi) / 1000);
      if (!used.has(second)) {
        used.add(second);
        return new Date(second * 1000);
      }
    }
  };
  const sameDayEverywhere = (a: Date, b: Date) => zones.every((z) => dayIn(z, a) === dayIn(z, b));

  const currencyOf = (): Currency => {
    const r = random();
    return r < 0.6 ? 'USD' : r < 0.85 ? 'EUR' : 'JPY';
  };
  const amountIn = (currency: Currency) => (currency === 'JPY' ? between(300, 30_000) : between(100, 25_000));
  const paypalFee = (amount: number, currency: Currency) =>
    currency === 'JPY' ? Math.round(amount * 0.036) + 40 : Math.round(amount * 0.0349) + 49;
  const disputeFee = (currency: Currency) => (currency === 'JPY' ? 2_000 : 1_500);

  const emails = Array.from({ length: scaled(700) }, (_, i) => ({
    email: `reader${i}.${hex(6)}@example.com`,
    name: `Reader ${i}`,
  }));

  const payments: PlannedPayment[] = [];
  const subscriptions: PlannedSubscription[] = [];

  /** Refunds and disputes for a one-off payment, never more than the payment together. */
  const aftermath = (p: PlannedPayment, provider: ProviderId) => {
    const after = (from: Date) => moment(from.getTime() + HOUR_MS, now - HOUR_MS);
    const r = random();
    if (r < 0.12) {
      p.refunds.push({
        id: refundId(provider),
        amountMinor: Math.max(1, Math.floor(p.amountMinor * (0.1 + random() * 0.5))),
        at: after(p.at),
      });
    } else if (r < 0.2) {
      p.refunds.push({ id: refundId(provider), amountMinor: p.amountMinor, at: after(p.at) });
    } else if (provider === 'paypal' && r < 0.24) {
      p.refunds.push(
        {
          id: refundId(provider),
          amountMinor: Math.max(1, Math.floor(p.amountMinor * 0.2)),
          at: after(p.at),
        },
        {
          id: refundId(provider),
          amountMinor: Math.max(1, Math.floor(p.amountMinor * 0.3)),
          at: after(p.at),
        },
      );
    } else if (provider === 'paypal' && r < 0.27 && p.amountMinor >= 10) {
      // Two refunds of 60 % each: the second is capped at what is left. Both fall on one day in
      // every zone, so which of them is capped cannot change a day's figures.
      const day = Math.floor(between(p.at.getTime() + DAY_MS, now - DAY_MS) / DAY_MS) * DAY_MS;
      const first = moment(day + 12 * HOUR_MS, day + 13 * HOUR_MS);
      const second = moment(day + 14 * HOUR_MS, day + 15 * HOUR_MS);
      if (!sameDayEverywhere(first, second) || first <= p.at)
        throw new Error('the reporting zones changed: re-plan the capped refunds');
      const sixty = Math.ceil(p.amountMinor * 0.6);
      p.refunds.push(
        { id: refundId(provider), amountMinor: sixty, at: first },
        { id: refundId(provider), amountMinor: sixty, at: second },
      );
      p.capped = true;
    }
    const refunded = p.capped ? p.amountMinor : p.refunds.reduce((s, x) => s + x.amountMinor, 0);
    const left = p.amountMinor - refunded;
    if (left <= 0 || p.capped) return;
    const d = random();
    const disputed = d < 0.07 ? 'dispute' : provider === 'paypal' && d < 0.09 ? 'reversal' : null;
    if (!disputed) return;
    const openedAt = after(p.at);
    const decidedAt = moment(openedAt.getTime() + HOUR_MS, now - HOUR_MS / 2);
    const outcome = disputed === 'reversal' || chance(0.6) ? 'lost' : 'won';
    p.disputes.push({
      id: provider === 'stripe' ? `du_${hex(20)}` : `PP-D-${between(10_000, 99_999)}${upper(4)}`,
      via: disputed,
      amountMinor: chance(0.5) ? left : Math.max(1, Math.floor(left / 2)),
      openedAt,
      decidedAt,
      outcome,
      feeMinor: provider === 'stripe' && outcome === 'lost' ? disputeFee(p.currency) : 0,
    });
  };
  const refundId = (provider: ProviderId) => (provider === 'stripe' ? `re_${hex(20)}` : upper(17));

  // Stripe one-off gifts.
  for (let i = 0; i < scaled(1_700); i++) {
    const currency = currencyOf();
    const payer = chance(0.97) ? pick(emails) : undefined;
    const p: PlannedPayment = {
      provider: 'stripe',
      paymentId: `pi_${hex(24)}`,
      amountMinor: amountIn(currency),
      currency,
      at: moment(now - 20 * DAY_MS, now - 3 * DAY_MS),
      kind: 'one_off',
      planId: chance(0.85) ? 'contributor' : 'unknown',
      ...(payer ? { email: payer.email } : {}),
      feeMinor: 0,
      refunds: [],
      capped: false,
      disputes: [],
    };
    aftermath(p, 'stripe');
    payments.push(p);
  }

  // PayPal one-off gifts: most through an order whose payer the simulator knows.
  for (let i = 0; i < scaled(1_600); i++) {
    const currency = currencyOf();
    const amountMinor = amountIn(currency);
    const payer = chance(0.92) ? pick(emails) : undefined;
    const p: PlannedPayment = {
      provider: 'paypal',
      paymentId: upper(17),
      amountMinor,
      currency,
      at: moment(now - 20 * DAY_MS, now - 3 * DAY_MS),
      kind: 'one_off',
      planId: 'unknown',
      ...(payer ? { email: payer.email, order: { email: payer.email } } : {}),
      feeMinor: paypalFee(amountMinor, currency),
      refunds: [],
      capped: false,
      disputes: [],
    };
    aftermath(p, 'paypal');
    payments.push(p);
  }

  // Monthly support: renewals every day or two (the calendar is compressed), some cancelled.
  const paypalPlans: PayPalPlanNeed[] = [
    { key: 'usd-500', amountMinor: 500, currency: 'USD' },
    { key: 'usd-1000', amountMinor: 1_000, currency: 'USD' },
    { key: 'usd-2500', amountMinor: 2_500, currency: 'USD' },
    { key: 'eur-500', amountMinor: 500, currency: 'EUR' },
    { key: 'eur-1200', amountMinor: 1_200, currency: 'EUR' },
    { key: 'jpy-1000', amountMinor: 1_000, currency: 'JPY' },
  ];
  for (const provider of ['stripe', 'paypal'] as const) {
    for (let i = 0; i < scaled(180); i++) {
      const who = pick(emails);
      const plan = provider === 'paypal' ? pick(paypalPlans) : undefined;
      const currency = plan?.currency ?? currencyOf();
      const amountMinor =
        plan?.amountMinor ?? (currency === 'JPY' ? between(500, 3_000) : between(300, 5_000));
      const startedAt = moment(now - 20 * DAY_MS, now - 10 * DAY_MS);
      const sub: PlannedSubscription = {
        provider,
        id: provider === 'stripe' ? `sub_${hex(24)}` : `I-${upper(12)}`,
        amountMinor,
        currency,
        planId: provider === 'stripe' ? 'monthly-supporter' : 'unknown',
        email: who.email,
        name: who.name,
        startedAt,
        customerId: `cus_${hex(14)}`,
        invoiceIds: [],
        ...(plan ? { paypalPlanKey: plan.key } : {}),
      };
      const renewals = between(1, 4);
      let at = startedAt;
      for (let k = 0; k < renewals; k++) {
        if (k > 0) at = moment(at.getTime() + DAY_MS, at.getTime() + 2 * DAY_MS);
        const paymentId = provider === 'stripe' ? `in_${hex(24)}` : upper(17);
        if (provider === 'stripe') sub.invoiceIds.push(paymentId);
        const p: PlannedPayment = {
          provider,
          paymentId,
          amountMinor,
          currency,
          at,
          kind: 'recurring',
          planId: sub.planId,
          email: who.email,
          feeMinor: provider === 'paypal' ? paypalFee(amountMinor, currency) : 0,
          subscriptionId: sub.id,
          refunds: [],
          capped: false,
          disputes: [],
        };
        // PayPal names the sale a refund belongs to; Stripe's refunds name a PaymentIntent, which
        // only the provider can map back to an invoice, so renewals are refunded on PayPal only.
        if (provider === 'paypal' && chance(0.1)) {
          p.refunds.push({
            id: upper(17),
            amountMinor: Math.max(1, Math.floor(amountMinor / 2)),
            at: moment(at.getTime() + HOUR_MS, at.getTime() + 6 * HOUR_MS),
          });
        }
        payments.push(p);
      }
      if (chance(0.4)) {
        const cancelledAt = moment(
          at.getTime() + HOUR_MS,
          Math.min(at.getTime() + 3 * DAY_MS, now - HOUR_MS),
        );
        sub.cancelledAt = cancelledAt;
        if (provider === 'paypal') {
          sub.reportsLastPayment = chance(0.5);
          const paidUntil = addMonths(at, 1);
          sub.endsAt = sub.reportsLastPayment && paidUntil > cancelledAt ? paidUntil : cancelledAt;
        } else {
          sub.endsAt = cancelledAt;
        }
      }
      subscriptions.push(sub);
    }
  }

  // Give PayPal one-off orders an id now (the simulator's come later and replace them).
  payments.forEach((p, i) => {
    if (p.order) p.orderId = `order-${i}`;
  });

  return {
    seed: options.seed,
    payments,
    subscriptions,
    paypalPlans,
    events: (ids) => buildEvents(payments, subscriptions, ids, options, random),
  };
}

function stripeEnvelope(type: string, object: Record<string, unknown>, created: Date, id = `evt_${hex(24)}`) {
  return {
    id,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: unix(created),
    type,
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
  };
}

function paypalEnvelope(
  type: string,
  resourceType: string,
  resource: Record<string, unknown>,
  created: Date,
  id = `WH-${upper(8)}-${upper(17)}`,
) {
  return {
    id,
    event_version: '1.0',
    create_time: iso(created),
    resource_type: resourceType,
    event_type: type,
    summary: `${type} (reliability run)`,
    resource,
    links: [],
  };
}

/** The body as each provider writes it: Stripe pretty-prints its JSON, PayPal sends it compact. */
function serialise(provider: ProviderId, envelope: object): string {
  return provider === 'stripe' ? JSON.stringify(envelope, null, 2) : JSON.stringify(envelope);
}

/** The same event again under a new id, as a provider's dashboard re-send or a second notification. */
export function resend(event: ScenarioEvent): ScenarioEvent {
  const parsed = JSON.parse(event.body) as { id: string };
  const eventId = event.provider === 'stripe' ? `evt_${hex(24)}` : `WH-${upper(8)}-${upper(17)}`;
  return { ...event, eventId, body: serialise(event.provider, { ...parsed, id: eventId }) };
}

function buildEvents(
  payments: PlannedPayment[],
  subscriptions: PlannedSubscription[],
  ids: { planIds: Map<string, string>; orderIds: Map<string, string> },
  options: ScenarioOptions,
  random: () => number,
): ScenarioEvent[] {
  const events: ScenarioEvent[] = [];
  const sentAt = (envelope: { created?: number; create_time?: string }) =>
    envelope.created !== undefined ? new Date(envelope.created * 1000) : new Date(envelope.create_time!);
  const add = (
    provider: ProviderId,
    envelope: { id: string; created?: number; create_time?: string },
    type: string,
    noise = false,
  ) =>
    events.push({
      provider,
      eventId: envelope.id,
      type,
      body: serialise(provider, envelope),
      at: sentAt(envelope),
      noise,
    });
  const lower = (c: Currency) => c.toLowerCase();
  const v2 = (amountMinor: number, currency: Currency) => ({
    currency_code: currency,
    value: decimal(amountMinor, currency),
  });
  const subById = new Map(subscriptions.map((s) => [s.id, s]));

  for (const p of payments) {
    const sub = p.subscriptionId ? subById.get(p.subscriptionId) : undefined;
    if (p.provider === 'stripe' && p.kind === 'one_off') {
      const who = p.email ? { email: p.email, name: `Payer of ${p.paymentId.slice(3, 9)}` } : null;
      const session = {
        id: `cs_${hex(24)}`,
        object: 'checkout.session',
        mode: 'payment',
        status: 'complete',
        payment_status: 'paid',
        amount_total: p.amountMinor,
        currency: lower(p.currency),
        payment_intent: p.paymentId,
        subscription: null,
        invoice: null,
        customer: null,
        customer_details: who,
        client_reference_id: null,
        metadata: p.planId === 'unknown' ? {} : { planId: p.planId },
        created: unix(p.at),
      };
      const e = stripeEnvelope('checkout.session.completed', session, p.at);
      add('stripe', e, e.type);
      const charge = `ch_${hex(24)}`;
      for (const r of p.refunds) {
        const refunded = stripeEnvelope(
          'charge.refunded',
          {
            id: charge,
            object: 'charge',
            payment_intent: p.paymentId,
            amount: p.amountMinor,
            amount_refunded: r.amountMinor,
            currency: lower(p.currency),
            refunded: r.amountMinor >= p.amountMinor,
            created: unix(p.at),
          },
          r.at,
        );
        add('stripe', refunded, refunded.type);
      }
      for (const d of p.disputes) {
        const dispute = (status: string, transactions: unknown[]) => ({
          id: d.id,
          object: 'dispute',
          amount: d.amountMinor,
          currency: lower(p.currency),
          status,
          charge,
          payment_intent: p.paymentId,
          created: unix(d.openedAt),
          balance_transactions: transactions,
        });
        const opened = stripeEnvelope('charge.dispute.created', dispute('needs_response', []), d.openedAt);
        const closed = stripeEnvelope(
          'charge.dispute.closed',
          dispute(
            d.outcome,
            d.outcome === 'lost'
              ? [
                  {
                    id: `txn_${hex(20)}`,
                    amount: -d.amountMinor,
                    fee: d.feeMinor,
                    currency: lower(p.currency),
                  },
                ]
              : [],
          ),
          d.decidedAt,
        );
        add('stripe', opened, opened.type);
        add('stripe', closed, closed.type);
      }
    } else if (p.provider === 'stripe') {
      const s = sub!;
      const first = s.invoiceIds[0] === p.paymentId;
      const invoice = stripeEnvelope(
        'invoice.paid',
        {
          id: p.paymentId,
          object: 'invoice',
          amount_paid: p.amountMinor,
          currency: lower(p.currency),
          billing_reason: first ? 'subscription_create' : 'subscription_cycle',
          customer: s.customerId,
          customer_email: s.email,
          customer_name: s.name,
          status_transitions: { paid_at: unix(p.at) },
          parent: { subscription_details: { subscription: s.id, metadata: { planId: s.planId } } },
          created: unix(p.at),
        },
        p.at,
      );
      add('stripe', invoice, invoice.type);
    } else if (p.kind === 'one_off') {
      const orderId = p.orderId ? ids.orderIds.get(p.orderId) : undefined;
      if (p.orderId && !orderId) throw new Error(`no simulator order for ${p.orderId}`);
      const capture = paypalEnvelope(
        'PAYMENT.CAPTURE.COMPLETED',
        'capture',
        {
          id: p.paymentId,
          status: 'COMPLETED',
          amount: v2(p.amountMinor, p.currency),
          final_capture: true,
          seller_receivable_breakdown: {
            gross_amount: v2(p.amountMinor, p.currency),
            paypal_fee: v2(p.feeMinor, p.currency),
            net_amount: v2(p.amountMinor - p.feeMinor, p.currency),
          },
          ...(orderId ? { supplementary_data: { related_ids: { order_id: orderId } } } : {}),
          create_time: iso(p.at),
          update_time: iso(p.at),
        },
        p.at,
      );
      add('paypal', capture, capture.event_type);
      const up = [
        { rel: 'up', method: 'GET', href: `https://api-m.paypal.com/v2/payments/captures/${p.paymentId}` },
      ];
      for (const r of p.refunds) {
        const refund = paypalEnvelope(
          'PAYMENT.CAPTURE.REFUNDED',
          'refund',
          {
            id: r.id,
            status: 'COMPLETED',
            amount: v2(r.amountMinor, p.currency),
            create_time: iso(r.at),
            update_time: iso(r.at),
            links: up,
          },
          r.at,
        );
        add('paypal', refund, refund.event_type);
      }
      for (const d of p.disputes) {
        if (d.via === 'reversal') {
          const reversal = paypalEnvelope(
            'PAYMENT.CAPTURE.REVERSED',
            'refund',
            {
              id: upper(17),
              status: 'COMPLETED',
              amount: v2(-d.amountMinor, p.currency),
              create_time: iso(d.decidedAt),
              update_time: iso(d.decidedAt),
              links: up,
            },
            d.decidedAt,
          );
          add('paypal', reversal, reversal.event_type);
          continue;
        }
        const dispute = (status: string, at: Date, outcome?: string) => ({
          dispute_id: d.id,
          status,
          reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
          create_time: iso(d.openedAt),
          update_time: iso(at),
          dispute_amount: v2(d.amountMinor, p.currency),
          disputed_transactions: [{ seller_transaction_id: p.paymentId }],
          ...(outcome ? { dispute_outcome: { outcome_code: outcome } } : {}),
        });
        const opened = paypalEnvelope(
          'CUSTOMER.DISPUTE.CREATED',
          'dispute',
          dispute('OPEN', d.openedAt),
          d.openedAt,
        );
        const resolved = paypalEnvelope(
          'CUSTOMER.DISPUTE.RESOLVED',
          'dispute',
          dispute(
            'RESOLVED',
            d.decidedAt,
            d.outcome === 'lost' ? 'RESOLVED_BUYER_FAVOUR' : 'RESOLVED_SELLER_FAVOUR',
          ),
          d.decidedAt,
        );
        add('paypal', opened, opened.event_type);
        add('paypal', resolved, resolved.event_type);
      }
    } else {
      const sale = paypalEnvelope(
        'PAYMENT.SALE.COMPLETED',
        'sale',
        {
          id: p.paymentId,
          state: 'completed',
          amount: { total: decimal(p.amountMinor, p.currency), currency: p.currency },
          transaction_fee: { value: decimal(p.feeMinor, p.currency), currency: p.currency },
          billing_agreement_id: p.subscriptionId,
          create_time: iso(p.at),
          update_time: iso(p.at),
        },
        p.at,
      );
      add('paypal', sale, sale.event_type);
      for (const r of p.refunds) {
        const refund = paypalEnvelope(
          'PAYMENT.SALE.REFUNDED',
          'sale',
          {
            id: r.id,
            state: 'completed',
            amount: { total: decimal(r.amountMinor, p.currency), currency: p.currency },
            sale_id: p.paymentId,
            billing_agreement_id: p.subscriptionId,
            create_time: iso(r.at),
          },
          r.at,
        );
        add('paypal', refund, refund.event_type);
      }
    }
  }

  for (const s of subscriptions) {
    if (s.provider === 'stripe') {
      const items = {
        object: 'list',
        data: [
          {
            id: `si_${hex(14)}`,
            quantity: 1,
            current_period_end: unix(new Date(s.startedAt.getTime() + 30 * DAY_MS)),
            price: {
              id: `price_${hex(14)}`,
              currency: lower(s.currency),
              unit_amount: s.amountMinor,
              recurring: { interval: 'month', interval_count: 1 },
            },
          },
        ],
      };
      const subscription = (status: string, extra: Record<string, unknown>) => ({
        id: s.id,
        object: 'subscription',
        status,
        customer: s.customerId,
        metadata: { planId: s.planId },
        items,
        created: unix(s.startedAt),
        cancel_at_period_end: false,
        ...extra,
      });
      const session = stripeEnvelope(
        'checkout.session.completed',
        {
          id: `cs_${hex(24)}`,
          object: 'checkout.session',
          mode: 'subscription',
          status: 'complete',
          payment_status: 'paid',
          amount_total: s.amountMinor,
          currency: lower(s.currency),
          payment_intent: null,
          subscription: s.id,
          invoice: s.invoiceIds[0],
          customer: s.customerId,
          customer_details: { email: s.email, name: s.name },
          client_reference_id: null,
          metadata: { planId: s.planId },
          created: unix(s.startedAt),
        },
        s.startedAt,
      );
      const created = stripeEnvelope(
        'customer.subscription.created',
        subscription('active', {}),
        s.startedAt,
      );
      add('stripe', session, session.type);
      add('stripe', created, created.type);
      if (s.cancelledAt) {
        const deleted = stripeEnvelope(
          'customer.subscription.deleted',
          subscription('canceled', { canceled_at: unix(s.cancelledAt), ended_at: unix(s.cancelledAt) }),
          s.cancelledAt,
        );
        add('stripe', deleted, deleted.type);
      }
    } else {
      const planId = ids.planIds.get(s.paypalPlanKey!);
      if (!planId) throw new Error(`no simulator plan for ${s.paypalPlanKey}`);
      const [given, surname] = s.name.split(' ');
      const subscriber = {
        email_address: s.email,
        payer_id: upper(13),
        name: { given_name: given, surname },
      };
      const sales = payments.filter((p) => p.subscriptionId === s.id);
      const last = sales.at(-1)!;
      const activated = paypalEnvelope(
        'BILLING.SUBSCRIPTION.ACTIVATED',
        'subscription',
        {
          id: s.id,
          status: 'ACTIVE',
          plan_id: planId,
          subscriber,
          create_time: iso(s.startedAt),
          status_update_time: iso(s.startedAt),
          billing_info: {
            next_billing_time: iso(addMonths(s.startedAt, 1)),
            last_payment: { amount: v2(s.amountMinor, s.currency), time: iso(s.startedAt) },
          },
        },
        s.startedAt,
      );
      add('paypal', activated, activated.event_type);
      if (s.cancelledAt) {
        const cancelled = paypalEnvelope(
          'BILLING.SUBSCRIPTION.CANCELLED',
          'subscription',
          {
            id: s.id,
            status: 'CANCELLED',
            plan_id: planId,
            subscriber,
            create_time: iso(s.startedAt),
            status_update_time: iso(s.cancelledAt),
            ...(s.reportsLastPayment
              ? {
                  billing_info: {
                    last_payment: { amount: v2(s.amountMinor, s.currency), time: iso(last.at) },
                  },
                }
              : {}),
          },
          s.cancelledAt,
        );
        add('paypal', cancelled, cancelled.event_type);
      }
    }
  }

  // Types the app stores and ignores, as both providers send plenty of.
  const noise = Math.round(events.length * 0.04);
  for (let i = 0; i < noise; i++) {
    const at = new Date(options.now.getTime() - Math.floor(random() * 20 * DAY_MS));
    if (random() < 0.5) {
      const e = stripeEnvelope(
        'customer.updated',
        { id: `cus_${hex(14)}`, object: 'customer', email: `noise${i}@example.com` },
        at,
      );
      add('stripe', e, e.type, true);
    } else {
      const e = paypalEnvelope(
        'CATALOG.PRODUCT.UPDATED',
        'product',
        { id: `PROD-${upper(17)}`, name: 'Support' },
        at,
      );
      add('paypal', e, e.event_type, true);
    }
  }
  return events;
}

/**
 * Originals, exact duplicates (the same event id again) and re-sends under new ids, so that `total`
 * deliveries are made in all, shuffled as providers deliver: roughly in the order the events
 * happened, each original up to `window` places from its turn, and one in fifty anywhere at all
 * (a delivery that failed on the provider's side for hours); duplicates and re-sends anywhere. So
 * refunds, disputes and cancellations arrive before their payment or subscription, near it and
 * far from it, without most of the run being spent on deliveries that can only wait.
 */
export function deliveryPlan(events: ScenarioEvent[], total: number, seed: number): Delivery[] {
  const random = prng(seed ^ 0x5bd1e995);
  const extras = total - events.length;
  if (extras < 0) throw new Error(`the scenario has ${events.length} events, more than ${total} deliveries`);
  const window = Math.max(10, Math.round(total * 0.02));
  const anywhere = () => random() * total;
  const inTimeOrder = [...events].sort((a, b) => a.at.getTime() - b.at.getTime());
  const placed: Array<{ delivery: Delivery; at: number }> = inTimeOrder.map((event, i) => {
    const turn = (i / inTimeOrder.length) * total;
    return {
      delivery: { event, kind: 'original' },
      at: random() < 0.02 ? anywhere() : turn + (random() * 2 - 1) * window,
    };
  });
  const resends = Math.round(extras / 3);
  for (let i = 0; i < extras; i++) {
    const source = events[Math.floor(random() * events.length)]!;
    placed.push({
      delivery:
        i < resends ? { event: resend(source), kind: 'resend' } : { event: source, kind: 'duplicate' },
      at: anywhere(),
    });
  }
  return placed.sort((a, b) => a.at - b.at).map((p) => p.delivery);
}
