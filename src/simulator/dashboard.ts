import express from 'express';
import type { Request, Response } from 'express';
import { isCrossSiteWrite } from '../http/cross-site.js';
import { layout, PAGE_HEADERS } from './pages.js';
import type { PayPalState } from './paypal/state.js';
import type { StripeState } from './stripe/state.js';
import { StripeApiError } from './stripe/state.js';
import { PayPalApiError } from './paypal/state.js';
import type { SimClock } from './util.js';
import { escapeHtml, formatMoney, decimalToMinor } from './util.js';
import type { WebhookDispatcher } from './webhooks.js';

export interface DashboardDeps {
  stripe: StripeState;
  paypal: PayPalState;
  clock: SimClock;
  webhooks: WebhookDispatcher;
  advance(days: number, failRenewals: boolean): Promise<void>;
  /** The dashboard's own origins (known once the server listens); posts from elsewhere are refused. */
  ownOrigins(): string[];
}

type Action = (input: Record<string, unknown>) => unknown;

function wantsJson(req: Request): boolean {
  return (
    (req.header('content-type') ?? '').includes('application/json') ||
    (req.header('accept') ?? '').includes('application/json')
  );
}

/**
 * The simulator dashboard (`GET /_simulator`) and its control API (`POST /_simulator/...`). Forms post
 * URL-encoded and are redirected back; JSON requests get JSON answers.
 */
export function dashboardRouter(deps: DashboardDeps): express.Router {
  const router = express.Router();
  const { stripe, paypal } = deps;

  // Any page a developer visits could otherwise refund, dispute or move the clock with a hidden form.
  router.post('/_simulator/*path', (req, res, next) => {
    if (!isCrossSiteWrite(req, deps.ownOrigins())) return next();
    const message = 'The simulator dashboard only accepts forms sent from its own pages.';
    if (wantsJson(req)) res.status(403).json({ ok: false, error: message });
    else
      res
        .status(403)
        .set(PAGE_HEADERS)
        .type('html')
        .send(layout('Simulator', `<h1>Not allowed</h1><p class="error">${escapeHtml(message)}</p>`));
  });

  router.get('/_simulator', (_req, res) => {
    res.set(PAGE_HEADERS).type('html').send(dashboardPage(deps));
  });

  router.get('/_simulator/state', (_req, res) => {
    res.json({
      now: deps.clock.iso(),
      clockOffsetMs: deps.clock.offset,
      stripe: {
        checkoutSessions: [...stripe.sessions.values()],
        paymentIntents: [...stripe.paymentIntents.values()],
        subscriptions: [...stripe.subscriptions.values()],
        invoices: [...stripe.invoices.values()],
        disputes: [...stripe.disputes.values()],
      },
      paypal: {
        orders: [...paypal.orders.values()],
        subscriptions: [...paypal.subscriptions.values()],
        sales: [...paypal.sales.values()],
      },
      deliveries: deps.webhooks.log,
    });
  });

  const action = (path: string, fn: Action) => {
    router.post(
      path,
      express.json({ limit: '16kb' }),
      express.urlencoded({ extended: false, limit: '16kb' }),
      async (req: Request, res: Response) => {
        const input = (req.body ?? {}) as Record<string, unknown>;
        try {
          const result = await fn(input);
          if (wantsJson(req)) res.json({ ok: true, now: deps.clock.iso(), result: result ?? null });
          else res.redirect(303, '/_simulator');
        } catch (err) {
          const status = err instanceof StripeApiError || err instanceof PayPalApiError ? err.status : 400;
          const message = err instanceof Error ? err.message : String(err);
          if (wantsJson(req)) res.status(status).json({ ok: false, error: message });
          else
            res
              .status(status)
              .set(PAGE_HEADERS)
              .type('html')
              .send(
                layout(
                  'Simulator',
                  `<h1>That did not work</h1><p class="error">${escapeHtml(message)}</p><p><a href="/_simulator">Back to the dashboard</a></p>`,
                ),
              );
        }
      },
    );
  };

  const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
  const optInt = (v: unknown): number | undefined => {
    const s = str(v).trim();
    return s === '' ? undefined : Number(s);
  };
  const truthy = (v: unknown): boolean => v === true || v === 'true' || v === 'on' || v === '1';

  action('/_simulator/advance', async (input) => {
    const days = Number(str(input.days) || 31);
    if (!Number.isFinite(days) || days <= 0 || days > 3660) throw new Error('days must be a positive number');
    await deps.advance(days, truthy(input.failRenewals));
    return { now: deps.clock.iso() };
  });
  action('/_simulator/fail-next-renewal', (input) => {
    const id = str(input.subscription);
    if (id.startsWith('sub_')) stripe.failNextRenewal(id);
    else paypal.failNextRenewal(id);
    return { subscription: id };
  });
  action('/_simulator/stripe/refund', (input) => {
    const amount = optInt(input.amount);
    return stripe.createRefund({
      ...(str(input.payment_intent) ? { payment_intent: str(input.payment_intent) } : {}),
      ...(str(input.charge) ? { charge: str(input.charge) } : {}),
      ...(amount !== undefined ? { amount: String(amount) } : {}),
    });
  });
  action('/_simulator/stripe/dispute', (input) =>
    stripe.createDispute({
      ...(str(input.payment_intent) ? { payment_intent: str(input.payment_intent) } : {}),
      ...(str(input.charge) ? { charge: str(input.charge) } : {}),
      ...(str(input.reason) ? { reason: str(input.reason) } : {}),
    }),
  );
  action('/_simulator/stripe/dispute/close', (input) =>
    stripe.closeDispute(str(input.dispute), str(input.outcome) === 'won' ? 'won' : 'lost'),
  );
  action('/_simulator/stripe/cancel', (input) => stripe.cancelSubscription(str(input.subscription)));
  action('/_simulator/paypal/refund', (input) => {
    const amount = str(input.amount);
    if (str(input.sale))
      return paypal.refundSale(str(input.sale), amount ? { amount: { total: amount } } : {});
    const capture = paypal.getCapture(str(input.capture));
    const currency = (capture.amount as { currency_code: string }).currency_code;
    return paypal.refundCapture(
      str(input.capture),
      amount ? { amount: { currency_code: currency, value: amount } } : {},
    );
  });
  action('/_simulator/paypal/reverse', (input) => {
    if (str(input.sale)) return paypal.refundSale(str(input.sale), {}, true);
    return paypal.refundCapture(str(input.capture), {}, true);
  });
  action('/_simulator/paypal/cancel', (input) => {
    paypal.cancelSubscription(str(input.subscription), { reason: 'Cancelled from the simulator dashboard' });
    return { subscription: str(input.subscription) };
  });
  action('/_simulator/paypal/suspend', (input) => {
    paypal.suspendSubscription(str(input.subscription), { reason: 'Suspended from the simulator dashboard' });
    return { subscription: str(input.subscription) };
  });

  return router;
}

function button(action: string, label: string, fields: Record<string, string>): string {
  const hidden = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  return `<form method="post" action="${escapeHtml(action)}">${hidden}<button type="submit">${escapeHtml(label)}</button></form>`;
}

function dashboardPage(deps: DashboardDeps): string {
  const { stripe, paypal } = deps;
  const sessions = [...stripe.sessions.values()].reverse().slice(0, 50);
  const pis = [...stripe.paymentIntents.values()].reverse().slice(0, 50);
  const subs = [...stripe.subscriptions.values()].reverse().slice(0, 50);
  const disputes = [...stripe.disputes.values()].filter((d) => d.status === 'needs_response');
  const orders = [...paypal.orders.values()].reverse().slice(0, 50);
  const ppSubs = [...paypal.subscriptions.values()].reverse().slice(0, 50);
  const sales = [...paypal.sales.values()].reverse().slice(0, 50);
  const deliveries = [...deps.webhooks.log].reverse().slice(0, 50);
  const rows = (items: string[], cols: number) =>
    items.length ? items.join('\n') : `<tr><td colspan="${cols}">None yet.</td></tr>`;

  return layout(
    'Payment simulator',
    `<h1>Payment simulator</h1>
<p class="hint">Simulated time: <strong>${escapeHtml(deps.clock.iso())}</strong>${deps.clock.offset ? ` (${Math.round(deps.clock.offset / 86_400_000)} days ahead)` : ''}</p>
<form method="post" action="/_simulator/advance" class="inline">
<div><label for="days">Advance the clock by (days)</label><input type="number" id="days" name="days" value="31" min="1"></div>
<div><label><input type="checkbox" name="failRenewals" value="true"> Fail every renewal</label></div>
<button type="submit">Advance 31 days</button>
</form>

<h2>Stripe checkout sessions</h2>
<table><tr><th>Session</th><th>Mode</th><th>Amount</th><th>Status</th><th>Payment</th></tr>
${rows(
  sessions.map(
    (s) =>
      `<tr><td><code>${escapeHtml(s.id.slice(0, 24))}…</code></td><td>${escapeHtml(s.mode)}</td><td>${escapeHtml(formatMoney(Number(s.amount_total), String(s.currency)))}</td><td>${escapeHtml(s.status)} / ${escapeHtml(s.payment_status)}</td><td><code>${escapeHtml(s.payment_intent ?? s.subscription ?? '')}</code></td></tr>`,
  ),
  5,
)}
</table>

<h2>Stripe payments</h2>
<table><tr><th>PaymentIntent</th><th>Amount</th><th>Status</th><th>Refunded</th><th>Actions</th></tr>
${rows(
  pis.map((pi) => {
    const charge = stripe.charges.get(String(pi.latest_charge));
    const refundable = pi.status === 'succeeded' && charge && !charge.refunded && !charge.disputed;
    return `<tr><td><code>${escapeHtml(pi.id)}</code></td><td>${escapeHtml(formatMoney(Number(pi.amount), String(pi.currency)))}</td><td>${escapeHtml(pi.status)}${charge?.disputed ? ' (disputed)' : ''}</td><td>${escapeHtml(formatMoney(Number(charge?.amount_refunded ?? 0), String(pi.currency)))}</td><td>${
      refundable
        ? button('/_simulator/stripe/refund', 'Refund', { payment_intent: pi.id }) +
          button('/_simulator/stripe/dispute', 'Dispute', { payment_intent: pi.id })
        : ''
    }</td></tr>`;
  }),
  5,
)}
</table>
${
  disputes.length
    ? `<h2>Open Stripe disputes</h2><table><tr><th>Dispute</th><th>Amount</th><th>Actions</th></tr>${disputes
        .map(
          (d) =>
            `<tr><td><code>${escapeHtml(d.id)}</code></td><td>${escapeHtml(formatMoney(Number(d.amount), String(d.currency)))}</td><td>${button('/_simulator/stripe/dispute/close', 'Close as won', { dispute: d.id, outcome: 'won' })}${button('/_simulator/stripe/dispute/close', 'Close as lost', { dispute: d.id, outcome: 'lost' })}</td></tr>`,
        )
        .join('')}</table>`
    : ''
}

<h2>Stripe subscriptions</h2>
<table><tr><th>Subscription</th><th>Status</th><th>Period end</th><th>Actions</th></tr>
${rows(
  subs.map((s) => {
    const item = (s.items as { data: Array<{ current_period_end: number }> }).data[0];
    const live = s.status === 'active' || s.status === 'past_due';
    return `<tr><td><code>${escapeHtml(s.id)}</code></td><td>${escapeHtml(s.status)}${stripe.subInternals.get(s.id)?.failNext ? ' (next renewal fails)' : ''}</td><td>${item ? escapeHtml(new Date(item.current_period_end * 1000).toISOString().slice(0, 10)) : ''}</td><td>${
      live
        ? button('/_simulator/fail-next-renewal', 'Fail next renewal', { subscription: s.id }) +
          button('/_simulator/stripe/cancel', 'Cancel', { subscription: s.id })
        : ''
    }</td></tr>`;
  }),
  4,
)}
</table>

<h2>PayPal orders</h2>
<table><tr><th>Order</th><th>Amount</th><th>Status</th><th>Capture</th><th>Actions</th></tr>
${rows(
  orders.map((o) => {
    const unit = (
      o.purchase_units as Array<{
        amount: { currency_code: string; value: string };
        payments?: { captures: Array<{ id: string; status: string }> };
      }>
    )[0]!;
    const capture = unit.payments?.captures[0];
    return `<tr><td><code>${escapeHtml(o.id)}</code></td><td>${escapeHtml(formatMoney(decimalToMinor(unit.amount.value, unit.amount.currency_code), unit.amount.currency_code))}</td><td>${escapeHtml(o.status)}</td><td>${capture ? `<code>${escapeHtml(capture.id)}</code> ${escapeHtml(capture.status)}` : ''}</td><td>${
      capture && (capture.status === 'COMPLETED' || capture.status === 'PARTIALLY_REFUNDED')
        ? button('/_simulator/paypal/refund', 'Refund', { capture: capture.id }) +
          button('/_simulator/paypal/reverse', 'Reverse (chargeback)', { capture: capture.id })
        : ''
    }</td></tr>`;
  }),
  5,
)}
</table>

<h2>PayPal subscriptions</h2>
<table><tr><th>Subscription</th><th>Status</th><th>Next billing</th><th>Actions</th></tr>
${rows(
  ppSubs.map((s) => {
    const billing = s.billing_info as { next_billing_time?: string } | undefined;
    return `<tr><td><code>${escapeHtml(s.id)}</code></td><td>${escapeHtml(s.status)}${paypal.subInternals.get(String(s.id))?.failNext ? ' (next payment fails)' : ''}</td><td>${escapeHtml(billing?.next_billing_time ?? '')}</td><td>${
      s.status === 'ACTIVE'
        ? button('/_simulator/fail-next-renewal', 'Fail next payment', { subscription: String(s.id) }) +
          button('/_simulator/paypal/suspend', 'Suspend', { subscription: String(s.id) }) +
          button('/_simulator/paypal/cancel', 'Cancel', { subscription: String(s.id) })
        : ''
    }</td></tr>`;
  }),
  4,
)}
</table>

<h2>PayPal recurring payments (sales)</h2>
<table><tr><th>Sale</th><th>Subscription</th><th>Amount</th><th>State</th><th>Actions</th></tr>
${rows(
  sales.map((s) => {
    const amount = s.amount as { total: string; currency: string };
    return `<tr><td><code>${escapeHtml(s.id)}</code></td><td><code>${escapeHtml(s.billing_agreement_id)}</code></td><td>${escapeHtml(`${amount.total} ${amount.currency}`)}</td><td>${escapeHtml(s.state)}</td><td>${
      s.state === 'completed' || s.state === 'partially_refunded'
        ? button('/_simulator/paypal/refund', 'Refund', { sale: String(s.id) }) +
          button('/_simulator/paypal/reverse', 'Reverse (chargeback)', { sale: String(s.id) })
        : ''
    }</td></tr>`;
  }),
  5,
)}
</table>

<h2>Webhook deliveries</h2>
<table><tr><th>#</th><th>Provider</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last answer</th></tr>
${rows(
  deliveries.map(
    (d) =>
      `<tr><td>${d.id}</td><td>${escapeHtml(d.provider)}</td><td>${escapeHtml(d.eventType)}${d.duplicate ? ' (duplicate)' : ''}<br><code>${escapeHtml(d.eventId)}</code></td><td>${escapeHtml(d.status)}</td><td>${d.attempts}</td><td>${escapeHtml(d.lastStatusCode ?? d.lastError ?? '')}</td></tr>`,
  ),
  6,
)}
</table>`,
    { wide: true },
  );
}
