import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Request, Response, NextFunction } from 'express';
import { canonical } from '../form.js';
import { layout, PAGE_HEADERS, STYLESHEET, STYLESHEET_PATH } from '../pages.js';
import type { PayPalSigningKey } from '../signing.js';
import { paypalSignedMessage, paypalVerify } from '../signing.js';
import { escapeHtml, formatMoney, decimalToMinor } from '../util.js';
import type { Json, PayPalState } from './state.js';
import { notFound, PayPalApiError } from './state.js';

const TOKEN_TTL_S = 32_400;

export interface PayPalRoutesOptions {
  state: PayPalState;
  signingKey: PayPalSigningKey;
  certPath: string;
  webhookId: string;
  certUrl: () => string;
  /** Raw bodies of delivered events by event id. */
  payloads: Map<string, string>;
  /** The merchant named on the approval pages when an order gives no brand name. */
  merchantName: string;
}

function debugId(): string {
  return randomBytes(7).toString('hex');
}

/** PayPal answers `application/json` without a charset. */
function sendJson(res: Response, status: number, body?: unknown): void {
  res.status(status);
  if (body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

function sendError(res: Response, err: unknown): void {
  const id = String(res.locals.debugId ?? debugId());
  if (err instanceof PayPalApiError) {
    sendJson(res, err.status, {
      name: err.errorName,
      message: err.message,
      debug_id: id,
      details: err.details,
      links: [
        {
          href: `https://developer.paypal.com/docs/api/orders/v2/#error-${err.details[0]?.issue ?? err.errorName}`,
          rel: 'information_link',
          method: 'GET',
        },
      ],
    });
    return;
  }
  sendJson(res, 500, {
    name: 'INTERNAL_SERVER_ERROR',
    message: 'An internal server error has occurred.',
    debug_id: id,
  });
}

/** PayPal's REST API subset at the root of its own port, plus the buyer-facing approval pages. */
export function paypalRouter(opts: PayPalRoutesOptions): express.Router {
  const { state } = opts;
  const router = express.Router();
  const tokens = new Map<string, { clientId: string; expires: number }>();
  const idempotency = new Map<
    string,
    { path: string; body: string; status: number; response: unknown; at: number }
  >();

  router.get(STYLESHEET_PATH, (_req, res) => {
    res.type('text/css').send(STYLESHEET);
  });

  router.get(opts.certPath, (_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(opts.signingKey.certificatePem);
  });

  // The buyer's side of a dispute, which PayPal's API has no call for: simulator controls.
  const control = (fn: (body: Json, req: Request) => unknown) => [
    express.json({ limit: '16kb' }),
    (req: Request, res: Response) => {
      try {
        sendJson(res, 201, fn((req.body ?? {}) as Json, req));
      } catch (err) {
        sendError(res, err);
      }
    },
  ];
  router.post('/_simulator/paypal/disputes', ...control((body) => state.openDispute(body)));
  router.post(
    '/_simulator/paypal/disputes/:id/cancel',
    ...control((_body, req) => state.cancelDispute(String(req.params.id))),
  );

  const apiPrefixes = ['/v1', '/v2'];
  router.use(
    apiPrefixes,
    express.raw({ type: () => true, limit: '1mb' }),
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.debugId = debugId();
      res.setHeader('Paypal-Debug-Id', String(res.locals.debugId));
      next();
    },
  );

  // OAuth 2.0 client credentials.
  router.post('/v1/oauth2/token', (req, res) => {
    const auth = req.header('authorization') ?? '';
    const basic = /^Basic\s+(\S+)$/i.exec(auth)?.[1];
    const decoded = basic ? Buffer.from(basic, 'base64').toString('utf8') : '';
    const [clientId, secret] = decoded.split(':');
    if (!clientId || !secret) {
      sendJson(res, 401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
      return;
    }
    const form = new URLSearchParams(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials' && grant !== 'refresh_token') {
      sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'Grant Type is NULL' });
      return;
    }
    const token = `A21AA${randomBytes(40).toString('base64url')}`;
    tokens.set(token, { clientId, expires: Date.now() + TOKEN_TTL_S * 1000 });
    sendJson(res, 200, {
      scope:
        'https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/subscriptions https://uri.paypal.com/services/reporting/search/read https://uri.paypal.com/services/applications/webhooks',
      access_token: token,
      token_type: 'Bearer',
      app_id: 'APP-80W284485P519543T',
      expires_in: TOKEN_TTL_S,
      nonce: `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}${randomBytes(16).toString('hex')}`,
    });
  });

  // Bearer authentication, JSON body, PayPal-Request-Id idempotency.
  router.use(apiPrefixes, (req: Request, res: Response, next: NextFunction) => {
    const bearer = /^Bearer\s+(\S+)$/.exec(req.header('authorization') ?? '')?.[1];
    const token = bearer ? tokens.get(bearer) : undefined;
    if (!token || token.expires < Date.now()) {
      sendJson(res, 401, {
        name: 'AUTHENTICATION_FAILURE',
        message:
          'Authentication failed due to invalid authentication credentials or a missing Authorization header.',
        links: [{ href: 'https://developer.paypal.com/docs/api/overview/#error', rel: 'information_link' }],
      });
      return;
    }
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let body: Json = {};
    if (raw.trim()) {
      try {
        const parsed: unknown = JSON.parse(raw);
        body = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Json) : {};
      } catch {
        sendError(
          res,
          new PayPalApiError(
            400,
            'INVALID_REQUEST',
            'Request is not well-formed, syntactically incorrect, or violates schema.',
            [
              {
                issue: 'MALFORMED_REQUEST_JSON',
                description: 'The request JSON is not well formed.',
                location: 'body',
              },
            ],
          ),
        );
        return;
      }
    }
    res.locals.body = body;
    const requestId = req.header('paypal-request-id');
    if (requestId && req.method === 'POST') {
      const key = `${token.clientId}:${requestId}`;
      const stored = idempotency.get(key);
      const path = req.originalUrl.split('?')[0]!;
      if (stored && Date.now() - stored.at < 72 * 3600 * 1000) {
        if (stored.path !== path || stored.body !== canonical(body)) {
          sendError(
            res,
            new PayPalApiError(
              422,
              'UNPROCESSABLE_ENTITY',
              'The requested action could not be performed, semantically incorrect, or failed business validation.',
              [
                {
                  issue: 'PAYPAL_REQUEST_ID_PREVIOUSLY_USED',
                  description: 'The PayPal-Request-Id has already been used for another request.',
                },
              ],
            ),
          );
          return;
        }
        // A replayed capture answers 200 with the original result.
        const status = stored.status === 201 && path.endsWith('/capture') ? 200 : stored.status;
        sendJson(res, status, stored.response);
        return;
      }
      res.locals.remember = (status: number, response: unknown) => {
        if (status < 300)
          idempotency.set(key, { path, body: canonical(body), status, response, at: Date.now() });
      };
    }
    next();
  });

  type Handler = (body: Json, req: Request) => { status: number; body?: unknown };
  const handle = (fn: Handler) => (req: Request, res: Response) => {
    try {
      const result = fn(res.locals.body as Json, req);
      (res.locals.remember as ((s: number, r: unknown) => void) | undefined)?.(result.status, result.body);
      sendJson(res, result.status, result.body);
    } catch (err) {
      sendError(res, err);
    }
  };
  const id = (req: Request): string => String(req.params.id);
  const query = (req: Request): URLSearchParams => {
    const q = req.originalUrl.indexOf('?');
    return new URLSearchParams(q === -1 ? '' : req.originalUrl.slice(q + 1));
  };

  // Orders v2
  router.post(
    '/v2/checkout/orders',
    handle((body, req) => {
      const order = state.createOrder(body);
      const prefer = req.header('prefer') ?? '';
      if (prefer.includes('return=representation')) return { status: 201, body: order };
      return {
        status: 201,
        body: {
          id: order.id,
          status: order.status,
          ...(order.payment_source ? { payment_source: order.payment_source } : {}),
          links: order.links,
        },
      };
    }),
  );
  router.get(
    '/v2/checkout/orders/:id',
    handle((_b, req) => ({ status: 200, body: state.getOrder(id(req)) })),
  );
  router.post(
    '/v2/checkout/orders/:id/capture',
    handle((_b, req) => ({ status: 201, body: state.captureOrder(id(req)) })),
  );

  // Payments v2
  router.get(
    '/v2/payments/captures/:id',
    handle((_b, req) => ({ status: 200, body: state.getCapture(id(req)) })),
  );
  router.post(
    '/v2/payments/captures/:id/refund',
    handle((body, req) => ({ status: 201, body: state.refundCapture(id(req), body) })),
  );
  router.get(
    '/v2/payments/refunds/:id',
    handle((_b, req) => ({ status: 200, body: state.getRefund(id(req)) })),
  );

  // Catalog products, billing plans, subscriptions (v1)
  router.post(
    '/v1/catalogs/products',
    handle((body) => ({ status: 201, body: state.createProduct(body) })),
  );
  router.get(
    '/v1/catalogs/products/:id',
    handle((_b, req) => ({ status: 200, body: state.getProduct(id(req)) })),
  );
  router.post(
    '/v1/billing/plans',
    handle((body) => ({ status: 201, body: state.createPlan(body) })),
  );
  router.get(
    '/v1/billing/plans/:id',
    handle((_b, req) => ({ status: 200, body: state.getPlan(id(req)) })),
  );
  router.post(
    '/v1/billing/subscriptions',
    handle((body) => ({ status: 201, body: state.createSubscription(body) })),
  );
  router.get(
    '/v1/billing/subscriptions/:id',
    handle((_b, req) => ({ status: 200, body: state.getSubscription(id(req)) })),
  );
  router.post(
    '/v1/billing/subscriptions/:id/cancel',
    handle((body, req) => {
      state.cancelSubscription(id(req), body);
      return { status: 204 };
    }),
  );
  router.post(
    '/v1/billing/subscriptions/:id/suspend',
    handle((body, req) => {
      state.suspendSubscription(id(req), body);
      return { status: 204 };
    }),
  );
  router.post(
    '/v1/billing/subscriptions/:id/activate',
    handle((body, req) => {
      state.activateSubscription(id(req), body);
      return { status: 204 };
    }),
  );

  router.post(
    '/v1/billing/subscriptions/:id/revise',
    handle((body, req) => ({ status: 200, body: state.reviseSubscription(id(req), body) })),
  );

  // Customer disputes v1
  router.get(
    '/v1/customer/disputes',
    handle((_b, req) => ({ status: 200, body: state.listDisputes(query(req)) })),
  );
  router.get(
    '/v1/customer/disputes/:id',
    handle((_b, req) => ({ status: 200, body: state.getDispute(id(req)) })),
  );
  router.post(
    '/v1/customer/disputes/:id/escalate',
    handle((_b, req) => {
      state.escalateDispute(id(req));
      return { status: 200, body: { links: [] } };
    }),
  );
  // Sandbox-only at PayPal: settles a dispute under review for the buyer or the seller.
  router.post(
    '/v1/customer/disputes/:id/adjudicate',
    handle((body, req) => {
      state.adjudicateDispute(id(req), body);
      return { status: 200, body: { links: [] } };
    }),
  );

  // Payments v1 sales (recurring payments)
  router.get(
    '/v1/payments/sale/:id',
    handle((_b, req) => ({ status: 200, body: state.getSale(id(req)) })),
  );
  router.post(
    '/v1/payments/sale/:id/refund',
    handle((body, req) => ({ status: 201, body: state.refundSale(id(req), body) })),
  );
  router.get(
    '/v1/payments/refund/:id',
    handle((_b, req) => {
      const refund = state.saleRefunds.get(id(req));
      if (!refund) throw notFound();
      return { status: 200, body: refund };
    }),
  );

  // Transaction search
  router.get(
    '/v1/reporting/transactions',
    handle((_b, req) => ({ status: 200, body: state.searchTransactions(query(req)) })),
  );

  // Webhook signature verification
  router.post(
    '/v1/notifications/verify-webhook-signature',
    handle((body) => {
      const missing = [
        'auth_algo',
        'cert_url',
        'transmission_id',
        'transmission_sig',
        'transmission_time',
        'webhook_id',
      ].filter((k) => typeof body[k] !== 'string' || !body[k]);
      if (missing.length || typeof body.webhook_event !== 'object' || body.webhook_event === null) {
        throw new PayPalApiError(400, 'VALIDATION_ERROR', 'Invalid request - see details', [
          ...missing.map((field) => ({
            field,
            location: 'body',
            issue: 'MISSING_REQUIRED_PARAMETER',
            description: `${field} is required`,
          })),
          ...(typeof body.webhook_event === 'object' && body.webhook_event !== null
            ? []
            : [
                {
                  field: 'webhook_event',
                  location: 'body',
                  issue: 'MISSING_REQUIRED_PARAMETER',
                  description: 'webhook_event is required',
                },
              ]),
        ]);
      }
      const event = body.webhook_event as Json;
      const ok =
        body.webhook_id === opts.webhookId &&
        body.cert_url === opts.certUrl() &&
        String(body.auth_algo).toUpperCase() === 'SHA256WITHRSA' &&
        candidateBodies(event, opts.payloads).some((raw) =>
          paypalVerify(
            paypalSignedMessage(
              String(body.transmission_id),
              String(body.transmission_time),
              opts.webhookId,
              raw,
            ),
            String(body.transmission_sig),
            opts.signingKey.certificate,
          ),
        );
      return { status: 200, body: { verification_status: ok ? 'SUCCESS' : 'FAILURE' } };
    }),
  );

  router.use(apiPrefixes, (req: Request, res: Response) => {
    sendError(
      res,
      new PayPalApiError(
        404,
        'NOT_FOUND',
        `The payment simulator does not cover ${req.method} ${req.originalUrl.split('?')[0]}; see docs/simulator.md.`,
        [],
      ),
    );
  });

  // ---- hosted approval pages ----
  router.get('/checkoutnow', (req, res) => {
    res.set(PAGE_HEADERS);
    const token = String(req.query.token ?? '');
    const order = state.orders.get(token);
    if (!order) {
      res
        .status(404)
        .type('html')
        .send(
          layout('PayPal', "<h1>Things don't appear to be working at the moment.</h1>", { theme: 'paypal' }),
        );
      return;
    }
    res.type('html').send(orderPage(state, order, opts.merchantName));
  });

  router.post('/checkoutnow', express.urlencoded({ extended: false, limit: '16kb' }), (req, res) => {
    res.set(PAGE_HEADERS);
    const form = (req.body ?? {}) as Record<string, string>;
    const token = form.token ?? '';
    try {
      const order = state.getOrder(token);
      if (
        order.status === 'COMPLETED' ||
        order.status === 'APPROVED' ||
        order.status === 'CREATED' ||
        order.status === 'PAYER_ACTION_REQUIRED'
      ) {
        const redirect = state.approveOrder(token, form.email ?? '');
        if (redirect) {
          res.redirect(303, redirect);
          return;
        }
      }
      res
        .type('html')
        .send(
          layout('PayPal', '<h1>Payment approved</h1><p>You can close this window.</p>', { theme: 'paypal' }),
        );
    } catch {
      res
        .status(404)
        .type('html')
        .send(layout('PayPal', '<h1>This order does not exist.</h1>', { theme: 'paypal' }));
    }
  });

  router.get('/webapps/billing/subscriptions', (req, res) => {
    res.set(PAGE_HEADERS);
    const token = String(req.query.ba_token ?? '');
    const found = state.subscriptionByToken(token);
    if (!found) {
      res
        .status(404)
        .type('html')
        .send(layout('PayPal', '<h1>This subscription does not exist.</h1>', { theme: 'paypal' }));
      return;
    }
    res.type('html').send(subscriptionPage(state, token, opts.merchantName));
  });

  router.post(
    '/webapps/billing/subscriptions',
    express.urlencoded({ extended: false, limit: '16kb' }),
    (req, res) => {
      res.set(PAGE_HEADERS);
      const form = (req.body ?? {}) as Record<string, string>;
      const token = form.ba_token ?? '';
      if (!state.subscriptionByToken(token)) {
        res
          .status(404)
          .type('html')
          .send(layout('PayPal', '<h1>This subscription does not exist.</h1>', { theme: 'paypal' }));
        return;
      }
      const redirect = state.approveSubscription(token, form.email ?? '');
      if (redirect) {
        res.redirect(303, redirect);
        return;
      }
      res.type('html').send(layout('PayPal', '<h1>Subscription approved</h1>', { theme: 'paypal' }));
    },
  );

  return router;
}

function candidateBodies(event: Json, payloads: Map<string, string>): string[] {
  const bodies = [JSON.stringify(event)];
  const stored = typeof event.id === 'string' ? payloads.get(event.id) : undefined;
  if (stored && canonical(JSON.parse(stored)) === canonical(event)) bodies.push(stored);
  return bodies;
}

function orderPage(state: PayPalState, order: Json, defaultMerchant: string): string {
  const unit = (order.purchase_units as Json[])[0]!;
  const amount = unit.amount as { currency_code: string; value: string };
  const internal = state.orderReturnUrls(String(order.id));
  const cancel = internal?.cancelUrl ? withParams(internal.cancelUrl, { token: String(order.id) }) : null;
  const done = order.status === 'COMPLETED';
  const merchant = brandName(order) ?? defaultMerchant;
  return layout(
    'PayPal Checkout — Payment simulator',
    `<p class="merchant">PayPal (simulated) · ${escapeHtml(merchant)}</p>
<h1>${escapeHtml(typeof unit.description === 'string' ? unit.description : `Pay ${merchant}`)}</h1>
<p class="amount">${escapeHtml(formatMoney(decimalToMinor(amount.value, amount.currency_code), amount.currency_code))}</p>
${done ? '<p class="error">This order has already been paid.</p>' : ''}
<form method="post" action="/checkoutnow">
<input type="hidden" name="token" value="${escapeHtml(order.id)}">
<label for="email">Sandbox buyer email</label>
<input type="email" id="email" name="email" required value="sb-buyer@personal.example.com">
<button type="submit">Continue to review and pay</button>
</form>
${cancel ? `<a class="cancel" href="${escapeHtml(cancel)}">Cancel and return to ${escapeHtml(merchant)}</a>` : ''}`,
    { theme: 'paypal' },
  );
}

/** The brand name an order asked PayPal to show (Orders v2 `payment_source.paypal.experience_context` or `application_context`). */
function brandName(order: Json): string | undefined {
  const source = order.payment_source as
    { paypal?: { experience_context?: { brand_name?: unknown } } } | undefined;
  const context = order.application_context as { brand_name?: unknown } | undefined;
  const name = source?.paypal?.experience_context?.brand_name ?? context?.brand_name;
  return typeof name === 'string' && name.trim() ? name : undefined;
}

function subscriptionPage(state: PayPalState, token: string, merchant: string): string {
  const { subscription, internal } = state.subscriptionByToken(token)!;
  const plan = state.plans.get(String(subscription.plan_id));
  const cancel = state.cancelUrlForSubscription(token);
  const active = subscription.status !== 'APPROVAL_PENDING';
  return layout(
    'PayPal Subscription — Payment simulator',
    `<p class="merchant">PayPal (simulated) · ${escapeHtml(merchant)}</p>
<h1>${escapeHtml(plan?.name ?? 'Subscription')}</h1>
<p class="amount">${escapeHtml(formatMoney(internal.amountMinor, internal.currency))} <span class="hint">every ${internal.count > 1 ? `${internal.count} ` : ''}${escapeHtml(internal.unit)}${internal.count > 1 ? 's' : ''}</span></p>
${active ? '<p class="error">This subscription has already been approved.</p>' : ''}
<form method="post" action="/webapps/billing/subscriptions">
<input type="hidden" name="ba_token" value="${escapeHtml(token)}">
<label for="email">Sandbox buyer email</label>
<input type="email" id="email" name="email" required value="sb-buyer@personal.example.com">
<button type="submit">Agree &amp; Subscribe</button>
</form>
${cancel ? `<a class="cancel" href="${escapeHtml(cancel)}">Cancel and return to ${escapeHtml(merchant)}</a>` : ''}`,
    { theme: 'paypal' },
  );
}

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}
