/**
 * What the adapter tests share: a webhook receiver the simulator delivers to, a pass-through proxy
 * in front of the simulator's API that counts the calls an adapter makes, and the deliveries as facts.
 */
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PaymentFact, PaymentProvider } from '../../src/payments/types.js';

export interface Delivery {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Receives webhook deliveries and answers 200; `take()` hands over what arrived so far. */
export async function startReceiver(): Promise<{
  url: string;
  take(): Delivery[];
  stop(): Promise<void>;
}> {
  const deliveries: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      deliveries.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(200).end();
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    take: () => deliveries.splice(0),
    stop: () => close(server),
  };
}

/** Forwards every request to `target` and remembers it as "METHOD /path". */
export async function startCountingProxy(target: { host: string; port: number }): Promise<{
  host: string;
  port: number;
  calls: string[];
  /** The calls made while `work` ran. */
  during<T>(work: () => Promise<T>): Promise<{ result: T; calls: string[] }>;
  stop(): Promise<void>;
}> {
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    calls.push(`${req.method ?? 'GET'} ${(req.url ?? '').split('?')[0]}`);
    const upstream = http.request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  const port = await listen(server);
  return {
    host: '127.0.0.1',
    port,
    calls,
    async during(work) {
      const from = calls.length;
      const result = await work();
      return { result, calls: calls.slice(from) };
    },
    stop: () => close(server),
  };
}

export interface Delivered {
  type: string;
  facts: PaymentFact[];
  /** The API calls the adapter made to turn this event into facts. */
  calls: string[];
}

/**
 * Every delivery since the last call, verified and turned into facts one at a time as the webhook
 * service does, with the API calls each cost; events of types the adapter does not handle are left out.
 */
export async function deliveredFacts(
  adapter: PaymentProvider,
  from: {
    sim: { idle(): Promise<void> };
    receiver: { take(): Delivery[] };
    proxy: { during<T>(work: () => Promise<T>): Promise<{ result: T; calls: string[] }> };
  },
): Promise<Delivered[]> {
  await from.sim.idle();
  const out: Delivered[] = [];
  for (const delivery of from.receiver.take()) {
    const event = await adapter.verifyWebhook(delivery.body, delivery.headers);
    if (!adapter.handlesEventType(event.type)) continue;
    const { result, calls } = await from.proxy.during(() => adapter.factsFromEvent(event));
    out.push({ type: event.type, facts: result, calls });
  }
  return out;
}

/** The one delivery of a type (about a subscription or payment id, when given). */
export function eventOf(list: Delivered[], type: string, about?: string): Delivered {
  const found = list.filter(
    (e) =>
      e.type === type &&
      (!about ||
        e.facts.some(
          (f) =>
            ('subscriptionId' in f && f.subscriptionId === about) ||
            ('paymentId' in f && f.paymentId === about),
        )),
  );
  assert.equal(
    found.length,
    1,
    `one ${type}${about ? ` about ${about}` : ''} in ${list.map((e) => e.type).join(', ')}`,
  );
  return found[0]!;
}

/** The one fact of a type in a list. */
export function only<T extends PaymentFact['type']>(
  list: PaymentFact[],
  type: T,
): Extract<PaymentFact, { type: T }> {
  const found = list.filter((f): f is Extract<PaymentFact, { type: T }> => f.type === type);
  assert.equal(found.length, 1, `exactly one ${type} in ${JSON.stringify(list.map((f) => f.type))}`);
  return found[0]!;
}
