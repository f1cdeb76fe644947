/**
 * Delivers webhook events the way providers do: signed afresh at every attempt, many at once, to
 * whichever app process the load balancer picks, and again later when the answer was not a 2xx (or
 * no answer came). Records every answer so the test can say what happened when.
 */
import { randomUUID } from 'node:crypto';
import type { AppProcess } from './processes.js';
import type { Delivery, ScenarioEvent } from './scenario.js';

export interface Signers {
  stripe(body: string): Record<string, string>;
  paypal(body: string): Record<string, string>;
}

export interface Answer {
  at: number;
  status: number | 'network';
  kind: Delivery['kind'];
}

export interface DeliveryStats {
  deliveries: number;
  attempts: number;
  /** Answers by status code ("network" when the connection failed or no answer came). */
  answers: Map<number | 'network', number>;
  /** The app's word on accepted deliveries: processed, duplicate, ignored, in_progress. */
  accepted: Map<string, number>;
  redelivered: number;
  /** 4xx answers: each one is a delivery the app refused, never expected here. */
  refused: Array<{ eventId: string; type: string; status: number; body: string }>;
  log: Answer[];
  /** Deliveries that were not answered 2xx at first: when that first happened, and when the 2xx came. */
  recovered: Array<{ failedAt: number; answeredAt: number; attempts: number }>;
}

interface Pending {
  delivery: Delivery;
  attempts: number;
  notBefore: number;
  failedAt?: number;
}

export interface DeliverOptions {
  targets: () => AppProcess[];
  signers: Signers;
  concurrency: number;
  /** Called after each first attempt has been started, with how many have been. */
  onProgress?: (started: number) => void;
  /** Every few seconds: how far the run is. */
  onTick?: (progress: { started: number; attempts: number; retrying: number; busy: number }) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function deliverAll(deliveries: Delivery[], options: DeliverOptions): Promise<DeliveryStats> {
  const stats: DeliveryStats = {
    deliveries: deliveries.length,
    attempts: 0,
    answers: new Map(),
    accepted: new Map(),
    redelivered: 0,
    refused: [],
    log: [],
    recovered: [],
  };
  const queue: Pending[] = deliveries.map((delivery) => ({ delivery, attempts: 0, notBefore: 0 }));
  const retries: Pending[] = [];
  let next = 0;
  let started = 0;
  let busy = 0;

  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

  function take(): Pending | null {
    const now = Date.now();
    const due = retries.findIndex((r) => r.notBefore <= now);
    if (due !== -1) return retries.splice(due, 1)[0]!;
    return next < queue.length ? queue[next++]! : null;
  }

  async function attempt(item: Pending): Promise<void> {
    const live = options.targets().filter((t) => t.alive);
    if (live.length === 0) {
      item.notBefore = Date.now() + 200;
      retries.push(item);
      return;
    }
    const target = live[Math.floor(Math.random() * live.length)]!;
    const { event } = item.delivery;
    item.attempts += 1;
    stats.attempts += 1;
    if (item.attempts === 1) {
      started += 1;
      options.onProgress?.(started);
    } else {
      stats.redelivered += 1;
    }
    target.inFlight += 1;
    let status: number | 'network';
    let text = '';
    try {
      const res = await fetch(`${target.origin}/webhooks/${event.provider}`, {
        method: 'POST',
        headers: options.signers[event.provider](event.body),
        body: event.body,
        signal: AbortSignal.timeout(30_000),
      });
      status = res.status;
      text = await res.text();
    } catch {
      status = 'network';
    } finally {
      target.inFlight -= 1;
    }
    const at = Date.now();
    count(stats.answers, status);
    stats.log.push({ at, status, kind: item.delivery.kind });
    if (typeof status === 'number' && status >= 200 && status < 300) {
      const word = (JSON.parse(text) as { status?: string }).status ?? 'ok';
      count(stats.accepted, word);
      if (item.failedAt)
        stats.recovered.push({ failedAt: item.failedAt, answeredAt: at, attempts: item.attempts });
      return;
    }
    item.failedAt ??= at;
    if (typeof status === 'number' && status < 500) {
      stats.refused.push({ eventId: event.eventId, type: event.type, status, body: text.slice(0, 300) });
      return;
    }
    // As a provider would: again later, backing off (compressed from hours into seconds: 1 s,
    // 2 s, 4 s ... at most 15 s, jittered).
    const wait = Math.min(1_000 * 2 ** Math.min(item.attempts - 1, 4), 15_000);
    item.notBefore = Date.now() + wait / 2 + Math.random() * wait;
    retries.push(item);
  }

  async function worker(): Promise<void> {
    for (;;) {
      const item = take();
      if (!item) {
        if (retries.length === 0 && busy === 0 && next >= queue.length) return;
        await sleep(20);
        continue;
      }
      busy += 1;
      try {
        await attempt(item);
      } finally {
        busy -= 1;
      }
    }
  }

  const ticker = options.onTick
    ? setInterval(
        () => options.onTick!({ started, attempts: stats.attempts, retrying: retries.length, busy }),
        5_000,
      )
    : undefined;
  try {
    await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  } finally {
    clearInterval(ticker);
  }
  return stats;
}

/** The headers each provider sends, signed the way the simulator signs its own deliveries. */
export function createSigners(deps: {
  stripeSecret: string;
  stripeSignature: (payload: string, secret: string) => string;
  paypal: {
    webhookId: string;
    certUrl: string;
    privateKeyPem: string;
    message: (id: string, time: string, webhookId: string, body: string) => string;
    sign: (message: string, privateKeyPem: string) => string;
  };
}): Signers {
  return {
    stripe: (body) => ({
      'Content-Type': 'application/json; charset=utf-8',
      'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'Stripe-Signature': deps.stripeSignature(body, deps.stripeSecret),
    }),
    paypal: (body) => {
      const id = randomUUID();
      const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const { paypal } = deps;
      return {
        'Content-Type': 'application/json',
        'User-Agent': 'PayPal/AUHD-214.0-58802614',
        'PAYPAL-TRANSMISSION-ID': id,
        'PAYPAL-TRANSMISSION-TIME': time,
        'PAYPAL-TRANSMISSION-SIG': paypal.sign(
          paypal.message(id, time, paypal.webhookId, body),
          paypal.privateKeyPem,
        ),
        'PAYPAL-CERT-URL': paypal.certUrl,
        'PAYPAL-AUTH-ALGO': 'SHA256withRSA',
      };
    },
  };
}

export type { ScenarioEvent };
