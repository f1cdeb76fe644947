import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Request, Response, NextFunction } from 'express';
import type { FormObject } from '../form.js';
import { arr, canonical, parseStripeForm, str } from '../form.js';
import { layout, PAGE_HEADERS, STYLESHEET, STYLESHEET_PATH } from '../pages.js';
import type { SimLogger } from '../util.js';
import { escapeHtml, formatMoney } from '../util.js';
import type { StripeObject, StripeState } from './state.js';
import { missing, StripeApiError } from './state.js';

interface StoredResponse {
  method: string;
  path: string;
  params: string;
  status: number;
  body: unknown;
  requestId: string;
}

const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

function requestId(): string {
  return `req_${randomBytes(7).toString('hex')}`;
}

function rawBody(req: Request): string {
  return Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
}

function queryString(req: Request): string {
  const q = req.originalUrl.indexOf('?');
  return q === -1 ? '' : req.originalUrl.slice(q + 1);
}

function expandList(params: FormObject): string[] {
  return arr(params, 'expand').filter((v): v is string => typeof v === 'string');
}

export interface StripeRoutesOptions {
  state: StripeState;
  apiVersion: string;
  logger: SimLogger;
  /** The business name shown on the hosted checkout page (the publication's name). */
  merchantName: string;
}

/** The Stripe API subset (`/v1/...`) and the hosted checkout page (`/c/pay/...`). */
export function stripeRouter(opts: StripeRoutesOptions): express.Router {
  const { state, apiVersion, logger } = opts;
  const router = express.Router();
  const idempotency = new Map<string, StoredResponse & { at: number }>();
  let warnedVersion = false;

  router.get(STYLESHEET_PATH, (_req, res) => {
    res.type('text/css').send(STYLESHEET);
  });

  // ---- API plumbing: auth, version, parameters, idempotency ----
  const api = router;
  api.use('/v1', express.raw({ type: () => true, limit: '1mb' }));
  api.use('/v1', (req: Request, res: Response, next: NextFunction) => {
    const rid = requestId();
    res.locals.requestId = rid;
    res.setHeader('Request-Id', rid);
    const requested = req.header('stripe-version');
    res.setHeader('Stripe-Version', requested ?? apiVersion);
    if (requested && requested !== apiVersion && !warnedVersion) {
      warnedVersion = true;
      logger.warn(
        { requested, simulated: apiVersion },
        'Stripe-Version differs from the version the simulator shapes objects for',
      );
    }
    const auth = req.header('authorization') ?? '';
    const key = /^Bearer\s+(\S+)$/.exec(auth)?.[1];
    if (!key || !/^(sk|rk)_/.test(key)) {
      res.status(401).json({
        error: {
          message: key
            ? `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`
            : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
          type: 'invalid_request_error',
        },
      });
      return;
    }
    res.locals.apiKey = key;
    const source = req.method === 'GET' || req.method === 'DELETE' ? queryString(req) : rawBody(req);
    const params = parseStripeForm(source);
    if (req.method === 'DELETE' && rawBody(req)) Object.assign(params, parseStripeForm(rawBody(req)));
    res.locals.params = params;

    const idemKey = req.header('idempotency-key');
    if (idemKey && req.method === 'POST') {
      const scoped = `${key}:${idemKey}`;
      const path = req.originalUrl.split('?')[0]!;
      const stored = idempotency.get(scoped);
      const now = Date.now();
      if (stored && now - stored.at < IDEMPOTENCY_TTL_MS) {
        if (stored.method !== req.method || stored.path !== path || stored.params !== canonical(params)) {
          res.setHeader('Stripe-Should-Retry', 'false');
          res.status(400).json({
            error: {
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
              type: 'idempotency_error',
            },
          });
          return;
        }
        res.setHeader('Idempotent-Replayed', 'true');
        res.setHeader('Original-Request', stored.requestId);
        res.setHeader('Idempotency-Key', idemKey);
        res.status(stored.status).json(stored.body);
        return;
      }
      res.setHeader('Idempotency-Key', idemKey);
      const originalJson = res.json.bind(res);
      res.json = (body: unknown) => {
        if (res.statusCode < 500 && res.statusCode !== 401 && res.statusCode !== 429) {
          idempotency.set(scoped, {
            method: req.method,
            path,
            params: canonical(params),
            status: res.statusCode,
            body,
            requestId: rid,
            at: now,
          });
        }
        return originalJson(body);
      };
    }
    next();
  });

  const handle =
    (fn: (params: FormObject, req: Request) => StripeObject | { object: string }, status = 200) =>
    (req: Request, res: Response) => {
      const params = res.locals.params as FormObject;
      try {
        const result = fn(params, req);
        const expand = expandList(params);
        const body = expand.length ? state.expand(result, expand) : result;
        res.status(status).json(body);
      } catch (err) {
        sendError(res, err);
      }
    };

  const id = (req: Request): string => String(req.params.id);

  // Checkout Sessions
  api.post(
    '/v1/checkout/sessions',
    handle((p) => state.createCheckoutSession(p)),
  );
  api.get(
    '/v1/checkout/sessions/:id',
    handle((_p, req) => state.getSession(id(req))),
  );
  api.get(
    '/v1/checkout/sessions/:id/line_items',
    handle((_p, req) => {
      state.getSession(id(req));
      return state.sessionLineItems(id(req));
    }),
  );
  api.post(
    '/v1/checkout/sessions/:id/expire',
    handle((_p, req) => state.expireSession(id(req))),
  );
  api.get(
    '/v1/checkout/sessions',
    handle((p) => {
      const pi = str(p, 'payment_intent');
      const sub = str(p, 'subscription');
      const data = [...state.sessions.values()]
        .filter((s) => (!pi || s.payment_intent === pi) && (!sub || s.subscription === sub))
        .reverse();
      return state.listObject(data.slice(0, 100), '/v1/checkout/sessions');
    }),
  );

  // Customers
  api.post(
    '/v1/customers',
    handle((p) => state.createCustomer(p)),
  );
  api.get(
    '/v1/customers/:id',
    handle((_p, req) => {
      const customer = state.customers.get(id(req));
      if (!customer) throw missing('customer', id(req));
      return customer;
    }),
  );
  api.post(
    '/v1/customers/:id',
    handle((p, req) => state.updateCustomer(id(req), p)),
  );
  api.delete(
    '/v1/customers/:id',
    handle((_p, req) => state.deleteCustomer(id(req))),
  );
  api.get(
    '/v1/customers',
    handle((p) => {
      const email = str(p, 'email');
      const data = [...state.customers.values()].filter((c) => !email || c.email === email).reverse();
      return state.listObject(data.slice(0, 100), '/v1/customers');
    }),
  );

  // Subscriptions
  api.get(
    '/v1/subscriptions/:id',
    handle((_p, req) => state.getSubscription(id(req))),
  );
  api.post(
    '/v1/subscriptions/:id',
    handle((p, req) => state.updateSubscription(id(req), p)),
  );
  api.delete(
    '/v1/subscriptions/:id',
    handle((p, req) => state.cancelSubscription(id(req), p)),
  );

  // Payments
  api.get(
    '/v1/payment_intents',
    handle((p) => state.listPaymentIntents(p)),
  );
  api.get(
    '/v1/payment_intents/:id',
    handle((_p, req) => state.getPaymentIntent(id(req))),
  );
  api.get(
    '/v1/charges/:id',
    handle((_p, req) => state.getCharge(id(req))),
  );
  api.get(
    '/v1/invoices',
    handle((p) => state.listInvoices(p)),
  );
  api.get(
    '/v1/invoices/:id',
    handle((_p, req) => state.getInvoice(id(req))),
  );
  api.get(
    '/v1/invoice_payments',
    handle((p) => state.listInvoicePayments(p)),
  );
  api.post(
    '/v1/refunds',
    handle((p) => state.createRefund(p)),
  );
  api.get(
    '/v1/refunds/:id',
    handle((_p, req) => state.getRefund(id(req))),
  );
  api.get(
    '/v1/disputes',
    handle((p) => state.listDisputes(p)),
  );
  api.get(
    '/v1/disputes/:id',
    handle((_p, req) => state.getDispute(id(req))),
  );
  // Closing a dispute accepts it: Stripe records it as lost.
  api.post(
    '/v1/disputes/:id/close',
    handle((_p, req) => state.closeDispute(id(req), 'lost')),
  );
  api.get(
    '/v1/balance_transactions/:id',
    handle((_p, req) => {
      const txn = state.balanceTransactions.get(id(req));
      if (!txn) throw missing('balance_transaction', id(req));
      return txn;
    }),
  );

  // Products
  api.post(
    '/v1/products',
    handle((p) => state.createProduct(p)),
  );
  api.get(
    '/v1/products/:id',
    handle((_p, req) => {
      const product = state.products.get(id(req));
      if (!product) throw missing('product', id(req));
      return product;
    }),
  );
  api.post(
    '/v1/products/:id',
    handle((p, req) => state.updateProduct(id(req), p)),
  );
  api.get(
    '/v1/events/:id',
    handle((_p, req) => {
      const event = state.events.get(id(req));
      if (!event) throw missing('event', id(req));
      return event;
    }),
  );

  api.use('/v1', (req: Request, res: Response) => {
    res.status(404).json({
      error: {
        message: `Unrecognized request URL (${req.method}: ${req.originalUrl.split('?')[0]}). The payment simulator covers only the calls Readerfund makes; see docs/simulator.md.`,
        type: 'invalid_request_error',
      },
    });
  });

  // ---- hosted checkout page ----
  router.get('/c/pay/:id', (req, res) => {
    res.set(PAGE_HEADERS);
    const session = state.sessions.get(String(req.params.id));
    if (!session) {
      res
        .status(404)
        .type('html')
        .send(
          layout(
            'Checkout',
            '<h1>Something went wrong</h1><p>The page you were looking for could not be found.</p>',
          ),
        );
      return;
    }
    try {
      state.getSession(session.id);
    } catch {
      /* expiry is applied by getSession */
    }
    if (session.status === 'complete') {
      res.redirect(303, String(session.success_url).replaceAll('{CHECKOUT_SESSION_ID}', session.id));
      return;
    }
    if (session.status !== 'open') {
      res.status(410).type('html').send(layout('Checkout', '<h1>This checkout session has expired</h1>'));
      return;
    }
    res.type('html').send(checkoutPage(state, session, { merchantName: opts.merchantName }));
  });

  router.post('/c/pay/:id', express.urlencoded({ extended: false, limit: '16kb' }), (req, res) => {
    res.set(PAGE_HEADERS);
    const sessionId = String(req.params.id);
    const form = (req.body ?? {}) as Record<string, string>;
    const result = state.completeCheckout(sessionId, {
      email: form.email ?? '',
      name: form.name ?? '',
      cardNumber: form.cardNumber ?? '',
      expiry: form.expiry ?? '',
    });
    if (result.ok) {
      res.redirect(303, result.redirect);
      return;
    }
    const session = state.sessions.get(sessionId);
    if (!session || result.field === 'session') {
      res
        .status(410)
        .type('html')
        .send(layout('Checkout', `<h1>${escapeHtml(result.message)}</h1>`));
      return;
    }
    res
      .status(402)
      .type('html')
      .send(checkoutPage(state, session, { merchantName: opts.merchantName, error: result.message, form }));
  });

  return router;
}

function sendError(res: Response, err: unknown): void {
  if (err instanceof StripeApiError) {
    if (err.status === 400 || err.status === 404) res.setHeader('Stripe-Should-Retry', 'false');
    res.status(err.status).json({
      error: {
        ...(err.code
          ? {
              code: err.code,
              doc_url: `https://stripe.com/docs/error-codes/${err.code.replaceAll('_', '-')}`,
            }
          : {}),
        message: err.message,
        ...(err.param ? { param: err.param } : {}),
        request_log_url: null,
        type: err.type,
        ...err.extra,
      },
    });
    return;
  }
  res
    .status(500)
    .json({ error: { type: 'api_error', message: err instanceof Error ? err.message : 'Internal error' } });
}

function checkoutPage(
  state: StripeState,
  session: StripeObject,
  opts: { merchantName: string; error?: string; form?: Record<string, string> },
): string {
  const items = (
    state.sessionLineItems(session.id) as unknown as {
      data: Array<{
        description: string;
        quantity: number;
        amount_total: number;
        currency: string;
        price: { recurring: { interval: string } | null };
      }>;
    }
  ).data;
  const recurring = items.find((i) => i.price.recurring)?.price.recurring?.interval;
  const amount = formatMoney(Number(session.amount_total), String(session.currency));
  const presetEmail = typeof session.customer_email === 'string' ? session.customer_email : null;
  const form = opts.form ?? {};
  const cancel = typeof session.cancel_url === 'string' ? session.cancel_url : null;
  return layout(
    'Pay — Payment simulator (Stripe)',
    `<p class="merchant">${escapeHtml(opts.merchantName)} · test mode</p>
<h1>${escapeHtml(items.map((i) => i.description).join(', '))}</h1>
<p class="amount">${escapeHtml(amount)}${recurring ? ` <span class="hint">per ${escapeHtml(recurring)}</span>` : ''}</p>
${opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="/c/pay/${escapeHtml(session.id)}">
<label for="email">Email</label>
${
  presetEmail
    ? `<input type="email" id="email" name="email" value="${escapeHtml(presetEmail)}" readonly>`
    : `<input type="email" id="email" name="email" autocomplete="email" required value="${escapeHtml(form.email ?? 'reader@example.com')}">`
}
<label for="cardNumber">Card number</label>
<input type="text" id="cardNumber" name="cardNumber" inputmode="numeric" autocomplete="cc-number" required value="${escapeHtml(form.cardNumber ?? '4242 4242 4242 4242')}">
<label for="expiry">Expiry (MM / YY)</label>
<input type="text" id="expiry" name="expiry" autocomplete="cc-exp" required value="${escapeHtml(form.expiry ?? '12 / 34')}">
<label for="cvc">CVC</label>
<input type="text" id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" value="${escapeHtml(form.cvc ?? '123')}">
<label for="name">Cardholder name</label>
<input type="text" id="name" name="name" autocomplete="cc-name" value="${escapeHtml(form.name ?? '')}">
<button type="submit">${recurring ? 'Subscribe' : 'Pay'} ${escapeHtml(amount)}</button>
</form>
<p class="hint">Test cards: 4242 4242 4242 4242 succeeds · 4000 0000 0000 0002 is declined · 4000 0000 0000 9995 has insufficient funds.</p>
${cancel ? `<a class="cancel" href="${escapeHtml(cancel)}">Cancel and return</a>` : ''}`,
  );
}
