import { randomUUID } from 'node:crypto';
import type { SimLogger } from './util.js';
import { isoSeconds, sleep } from './util.js';
import { paypalSign, paypalSignedMessage, stripeSignatureHeader } from './signing.js';

export type Provider = 'stripe' | 'paypal';

/** Backoff between attempts, compressed from the providers' three days into a few seconds. */
export const COMPRESSED_SCHEDULES: Record<Provider, number[]> = {
  // Stripe: exponential backoff for up to three days.
  stripe: [100, 200, 400, 800, 1600, 3200],
  // PayPal: 25 retries over three days.
  paypal: Array.from({ length: 25 }, (_, i) => Math.min(25 * 2 ** i, 300)),
};

export interface DeliveryRecord {
  id: number;
  provider: Provider;
  eventId: string;
  eventType: string;
  target: string | null;
  attempts: number;
  status: 'pending' | 'delivered' | 'retrying' | 'failed' | 'dropped';
  lastStatusCode: number | null;
  lastError: string | null;
  duplicate: boolean;
}

interface Delivery {
  record: DeliveryRecord;
  payload: string;
}

export interface DispatcherOptions {
  logger: SimLogger;
  delayMs: number;
  schedule: Record<Provider, number[]>;
  chaos: { duplicate?: boolean; reorder?: boolean };
  stripeSecret: string;
  paypal: { webhookId: string; privateKeyPem: string; certUrl: () => string };
  targets: { stripe?: string | undefined; paypal?: string | undefined };
}

export class WebhookDispatcher {
  private readonly chains: Record<Provider, Promise<void>> = {
    stripe: Promise.resolve(),
    paypal: Promise.resolve(),
  };
  private pending = 0;
  private waiters: Array<() => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private nextId = 1;
  readonly log: DeliveryRecord[] = [];
  /** Raw bodies of PayPal events by event id, for the verification endpoint. */
  readonly paypalPayloads = new Map<string, string>();

  constructor(private readonly opts: DispatcherOptions) {}

  setTargets(targets: { stripe?: string | undefined; paypal?: string | undefined }): void {
    if (targets.stripe !== undefined) this.opts.targets.stripe = targets.stripe;
    if (targets.paypal !== undefined) this.opts.targets.paypal = targets.paypal;
  }

  /** Queues the events of one state change for delivery. */
  emit(provider: Provider, events: Array<{ id: string; type: string; body: object }>): void {
    if (this.stopped || events.length === 0) return;
    let batch: Array<{ id: string; type: string; payload: string; duplicate: boolean }> = events.map((e) => ({
      id: e.id,
      type: e.type,
      // Stripe sends pretty-printed JSON, PayPal compact JSON.
      payload: provider === 'stripe' ? JSON.stringify(e.body, null, 2) : JSON.stringify(e.body),
      duplicate: false,
    }));
    if (this.opts.chaos.reorder) batch = batch.reverse();
    if (this.opts.chaos.duplicate) batch = batch.flatMap((d) => [d, { ...d, duplicate: true }]);
    for (const item of batch) {
      if (provider === 'paypal') this.paypalPayloads.set(item.id, item.payload);
      const record: DeliveryRecord = {
        id: this.nextId++,
        provider,
        eventId: item.id,
        eventType: item.type,
        target: null,
        attempts: 0,
        status: 'pending',
        lastStatusCode: null,
        lastError: null,
        duplicate: item.duplicate,
      };
      this.log.push(record);
      if (this.log.length > 500) this.log.shift();
      const delivery: Delivery = { record, payload: item.payload };
      this.pending++;
      this.chains[provider] = this.chains[provider]
        .then(() => sleep(this.opts.delayMs))
        .then(() => this.attempt(delivery));
    }
  }

  /** Resolves once nothing is queued, in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending = 0;
    this.flushWaiters();
  }

  private done(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0) this.flushWaiters();
  }

  private flushWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private headersFor(provider: Provider, payload: string): Record<string, string> {
    if (provider === 'stripe') {
      return {
        'Content-Type': 'application/json; charset=utf-8',
        'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        'Stripe-Signature': stripeSignatureHeader(payload, this.opts.stripeSecret),
      };
    }
    const transmissionId = randomUUID();
    const transmissionTime = isoSeconds(Date.now());
    const message = paypalSignedMessage(
      transmissionId,
      transmissionTime,
      this.opts.paypal.webhookId,
      payload,
    );
    return {
      'Content-Type': 'application/json',
      'User-Agent': 'PayPal/AUHD-214.0-58802614',
      'PAYPAL-TRANSMISSION-ID': transmissionId,
      'PAYPAL-TRANSMISSION-TIME': transmissionTime,
      'PAYPAL-TRANSMISSION-SIG': paypalSign(message, this.opts.paypal.privateKeyPem),
      'PAYPAL-CERT-URL': this.opts.paypal.certUrl(),
      'PAYPAL-AUTH-ALGO': 'SHA256withRSA',
    };
  }

  private async attempt(delivery: Delivery): Promise<void> {
    if (this.stopped) return;
    const { record } = delivery;
    const target = this.opts.targets[record.provider];
    if (!target) {
      record.status = 'dropped';
      record.lastError = 'no webhook endpoint configured';
      this.opts.logger.warn(
        { provider: record.provider, eventId: record.eventId, type: record.eventType },
        'simulator webhook dropped: no endpoint configured',
      );
      this.done();
      return;
    }
    record.target = target;
    record.attempts++;
    let ok = false;
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: this.headersFor(record.provider, delivery.payload),
        body: delivery.payload,
        signal: AbortSignal.timeout(10_000),
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      record.lastStatusCode = res.status;
      record.lastError = null;
      ok = res.status >= 200 && res.status < 300;
    } catch (err) {
      record.lastStatusCode = null;
      record.lastError = err instanceof Error ? err.message : String(err);
    }
    if (this.stopped) return;
    if (ok) {
      record.status = 'delivered';
      this.opts.logger.info(
        {
          provider: record.provider,
          eventId: record.eventId,
          type: record.eventType,
          attempts: record.attempts,
        },
        'simulator webhook delivered',
      );
      this.done();
      return;
    }
    const schedule = this.opts.schedule[record.provider];
    const wait = schedule[record.attempts - 1];
    if (wait === undefined) {
      record.status = 'failed';
      this.opts.logger.error(
        {
          provider: record.provider,
          eventId: record.eventId,
          type: record.eventType,
          attempts: record.attempts,
        },
        'simulator webhook gave up after the last retry',
      );
      this.done();
      return;
    }
    record.status = 'retrying';
    this.opts.logger.warn(
      {
        provider: record.provider,
        eventId: record.eventId,
        type: record.eventType,
        attempts: record.attempts,
        status: record.lastStatusCode,
        error: record.lastError,
        retryInMs: wait,
      },
      'simulator webhook not accepted; will retry',
    );
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(delivery);
    }, wait);
    this.timers.add(timer);
  }
}
