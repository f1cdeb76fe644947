import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import Stripe from 'stripe';
import type { PaymentSimulator, SimulatorOptions } from '../../src/simulator/index.js';
import { startPaymentSimulator, STRIPE_API_VERSION } from '../../src/simulator/index.js';

export const STRIPE_SECRET = 'whsec_test_simulator_secret';
export const PAYPAL_WEBHOOK_ID = 'WH-SIMULATOR-TEST-0001';

export interface ReceivedRequest {
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
}

/** A tiny webhook receiver on a free port. `respond` decides each answer's status code. */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  respond: (req: ReceivedRequest, index: number) => number = () => 200;
  private server!: http.Server;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const received = {
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          path: req.url ?? '',
        };
        this.requests.push(received);
        res.statusCode = this.respond(received, this.requests.length - 1);
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Parsed event bodies received on a path, in arrival order. */
  events(path: string): Array<{ id: string; type?: string; event_type?: string; [k: string]: unknown }> {
    return this.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Harness {
  sim: PaymentSimulator;
  receiver: Receiver;
  stripe: Stripe;
  paypal: PayPalClient;
  paypalSdk: PayPalSdk;
  stop(): Promise<void>;
}

// The PayPal SDK is CommonJS without types; these are the parts the tests use.
export interface PayPalRequest {
  path: string;
  verb: string;
  body?: unknown;
  headers: Record<string, string>;
}
export interface PayPalResponse<T = Record<string, unknown>> {
  statusCode: number;
  headers: Record<string, string>;
  result?: T;
}
export interface PayPalClient {
  execute<T = Record<string, unknown>>(request: PayPalRequest): Promise<PayPalResponse<T>>;
}
export interface PayPalSdk {
  core: {
    PayPalEnvironment: new (clientId: string, secret: string, baseUrl: string, webUrl: string) => unknown;
    PayPalHttpClient: new (environment: unknown) => PayPalClient;
  };
  orders: {
    OrdersCreateRequest: new () => PayPalRequest & {
      requestBody(b: unknown): void;
      prefer(p: string): void;
      payPalRequestId(id: string): void;
    };
    OrdersGetRequest: new (id: string) => PayPalRequest;
    OrdersCaptureRequest: new (
      id: string,
    ) => PayPalRequest & { requestBody(b: unknown): void; payPalRequestId(id: string): void };
  };
  payments: {
    CapturesGetRequest: new (id: string) => PayPalRequest;
    CapturesRefundRequest: new (id: string) => PayPalRequest & { requestBody(b: unknown): void };
  };
}

const require = createRequire(import.meta.url);
export const paypalSdk = require('@paypal/checkout-server-sdk') as PayPalSdk;

export async function startHarness(options: Partial<SimulatorOptions> = {}): Promise<Harness> {
  const receiver = await new Receiver().start();
  let sim: PaymentSimulator;
  try {
    sim = await startPaymentSimulator({
      stripeWebhookSecret: STRIPE_SECRET,
      paypalWebhookId: PAYPAL_WEBHOOK_ID,
      stripeWebhookUrl: `${receiver.url}/webhooks/stripe`,
      paypalWebhookUrl: `${receiver.url}/webhooks/paypal`,
      deliveryDelayMs: 5,
      ...options,
    });
  } catch (err) {
    await receiver.stop();
    throw err;
  }
  const stripe = new Stripe('sk_test_simulator', {
    apiVersion: STRIPE_API_VERSION,
    host: sim.stripe.host,
    port: sim.stripe.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
  // The SDK caches tokens by client id, so each simulator gets its own.
  const environment = new paypalSdk.core.PayPalEnvironment(
    `sim-client-${randomUUID()}`,
    'sim-secret',
    sim.paypal.baseUrl,
    sim.paypal.baseUrl,
  );
  const paypal = new paypalSdk.core.PayPalHttpClient(environment);
  return {
    sim,
    receiver,
    stripe,
    paypal,
    paypalSdk,
    async stop() {
      await sim.stop();
      await receiver.stop();
    },
  };
}

/** Submits a hosted page's form the way a browser without JavaScript does; returns status, location, html. */
export async function submitForm(
  url: string,
  fields: Record<string, string>,
): Promise<{ status: number; location: string | null; html: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

/** Reads the first form on a page: its action and the values of its inputs. */
export async function readForm(
  url: string,
): Promise<{ action: string; fields: Record<string, string>; html: string }> {
  const res = await fetch(url);
  const html = await res.text();
  const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no form on ${url}`);
  const fields: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input [^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    fields[m[1]!] = m[2]!
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  }
  return { action: new URL(form[1]!.replace(/&amp;/g, '&'), url).toString(), fields, html };
}

/** Completes a Stripe Checkout Session on the hosted page with a card number. */
export async function payStripeSession(
  sessionUrl: string,
  cardNumber = '4242 4242 4242 4242',
): Promise<{ status: number; location: string | null; html: string }> {
  const { action, fields } = await readForm(sessionUrl);
  return submitForm(action, { ...fields, cardNumber });
}

/** Approves a PayPal order or subscription on its hosted approval page. */
export async function approvePayPal(
  approveUrl: string,
): Promise<{ status: number; location: string | null; html: string }> {
  const { action, fields } = await readForm(approveUrl);
  return submitForm(action, fields);
}

export function link(links: unknown, rel: string): string {
  const found = (links as Array<{ rel: string; href: string }>).find((l) => l.rel === rel);
  if (!found) throw new Error(`no ${rel} link`);
  return found.href;
}
