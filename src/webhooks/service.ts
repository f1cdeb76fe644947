/**
 * The webhook rules: verify, store once, apply to the ledger once, and keep whatever failed for a
 * retry. Providers deliver at least once, in any order, for days; the inbox's unique index and an
 * atomic claim make every event count once however many processes receive it.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log.js';
import {
  WebhookVerificationError,
  type PaymentFact,
  type PaymentProvider,
  type ProviderId,
  type VerifiedEvent,
} from '../payments/types.js';
import type { Ledger } from '../supporters/ledger.js';
import {
  StoreUnavailableError,
  type ListFilter,
  type StoredEvent,
  type WebhookRepository,
} from './repository.js';

export interface RetryPolicy {
  /** First wait after a failure; doubles per attempt. */
  baseMs: number;
  maxMs: number;
  /** After this many attempts the event stays `failed` without a next attempt: the dead letter. */
  maxAttempts: number;
}

export interface WebhookServiceDeps {
  logger: Logger;
  providers: Partial<Record<ProviderId, PaymentProvider>>;
  ledger: Ledger;
  repository: WebhookRepository;
  /**
   * How long a claim holds before another process may take the event over. The holder renews it
   * every third of that while it works, so a slow provider call never lets a second process in.
   */
  leaseMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Events left in `received` longer than this are picked up by the sweep. */
  receivedGraceMs?: number;
}

export type ReceiveResult =
  | { outcome: 'unknown_provider' }
  | { outcome: 'rejected'; reason: string }
  | { outcome: 'accepted'; eventId: string; status: 'processed' | 'ignored' | 'duplicate' | 'in_progress' }
  | { outcome: 'failed'; eventId?: string; storeDown: boolean };

export interface ProcessResult {
  id: string;
  eventId: string;
  status: 'processed' | 'ignored' | 'failed' | 'in_progress';
  outcomes?: StoredEvent['outcomes'];
  error?: string;
}

/** A refund or dispute whose payment is neither in the ledger nor at the provider (yet). */
export class PaymentNotYetKnownError extends Error {
  constructor(paymentId: string) {
    super(`payment ${paymentId} is not recorded yet and the provider did not return it`);
    this.name = 'PaymentNotYetKnownError';
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const refOf = (fact: PaymentFact) =>
  ('paymentId' in fact && fact.paymentId) ||
  ('subscriptionId' in fact && fact.subscriptionId) ||
  fact.checkoutId ||
  '';

export function createWebhookService(deps: WebhookServiceDeps) {
  const { repository: repo, ledger } = deps;
  const logger = deps.logger.child({ component: 'webhooks' });
  const leaseMs = deps.leaseMs ?? 60_000;
  const retry: RetryPolicy = { baseMs: 30_000, maxMs: 6 * 3_600_000, maxAttempts: 12, ...deps.retry };
  const receivedGraceMs = deps.receivedGraceMs ?? 60_000;
  const worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const lease = () => new Date(Date.now() + leaseMs);
  /** Events this process is working on now; a lease of ours not in here belongs to an attempt that died. */
  const inFlight = new Set<string>();
  const keyOf = (e: { provider: ProviderId; eventId: string }) => `${e.provider}:${e.eventId}`;
  const claim = (
    event: { id: string; provider: ProviderId; eventId: string },
    options: { includeFinished?: boolean; reclaimOwn?: boolean } = {},
  ) => repo.claim(event.id, worker, lease(), { reclaimOwn: !inFlight.has(keyOf(event)), ...options });

  function nextAttemptAfter(attempts: number): Date | null {
    if (attempts >= retry.maxAttempts) return null;
    return new Date(Date.now() + Math.min(retry.baseMs * 2 ** Math.max(attempts - 1, 0), retry.maxMs));
  }

  /**
   * A refund or dispute can arrive before its payment. The provider is asked for the payment first;
   * if it has none either, the event fails and is retried (by the provider and by the sweep) until
   * the payment is recorded — it is never dropped and never applied to nothing.
   */
  async function applyFact(provider: PaymentProvider, fact: PaymentFact) {
    let applied = await ledger.apply(fact);
    if (applied.result === 'waiting' && 'paymentId' in fact && fact.paymentId) {
      const payment = await provider.fetchPayment(fact.paymentId);
      if (payment) {
        await ledger.apply(payment);
        applied = await ledger.apply(fact);
      }
      if (applied.result === 'waiting') throw new PaymentNotYetKnownError(fact.paymentId);
    }
    return { fact: fact.type, ref: refOf(fact), result: applied.result };
  }

  /** Applies a claimed event. Never throws: a failure is written to the event for the sweep. */
  async function run(event: StoredEvent, verified?: VerifiedEvent): Promise<ProcessResult> {
    const key = keyOf(event);
    const ours = !inFlight.has(key);
    inFlight.add(key);
    // Keep the lease while working; if renewing fails the lease simply runs out, and whoever takes
    // the event over finds the ledger's work idempotent.
    const heartbeat = setInterval(
      () => {
        repo
          .renew(event.id, worker, lease())
          .catch((err: unknown) =>
            logger.warn({ err, eventId: event.eventId }, 'could not renew a webhook lease'),
          );
      },
      Math.max(Math.floor(leaseMs / 3), 10),
    );
    heartbeat.unref();
    try {
      return await attempt(event, verified);
    } finally {
      clearInterval(heartbeat);
      if (ours) inFlight.delete(key);
    }
  }

  async function attempt(event: StoredEvent, verified?: VerifiedEvent): Promise<ProcessResult> {
    const base = { id: event.id, eventId: event.eventId };
    try {
      const provider = deps.providers[event.provider];
      if (!provider) throw new Error(`provider ${event.provider} is not configured`);
      const payload = verified?.payload ?? (JSON.parse(event.rawBody) as Record<string, unknown>);
      const facts = await provider.factsFromEvent({
        provider: event.provider,
        eventId: event.eventId,
        type: event.type,
        createdAt: event.eventCreatedAt,
        payload,
      });
      if (facts.length === 0) {
        await repo.finish(event.id, worker, 'ignored', undefined);
        return { ...base, status: 'ignored' };
      }
      const outcomes = [];
      for (const fact of facts) outcomes.push(await applyFact(provider, fact));
      await repo.finish(event.id, worker, 'processed', outcomes);
      return { ...base, status: 'processed', outcomes };
    } catch (err) {
      const error = message(err);
      const nextAttemptAt = nextAttemptAfter(event.attempts);
      logger.warn(
        { err, provider: event.provider, eventId: event.eventId, attempts: event.attempts, nextAttemptAt },
        nextAttemptAt
          ? 'webhook event failed; will retry'
          : 'webhook event failed for the last time; left for an operator',
      );
      // If even this write fails (store down), the lease runs out and the sweep takes the event over.
      await repo
        .fail(event.id, worker, error, nextAttemptAt)
        .catch((e: unknown) =>
          logger.error({ err: e, eventId: event.eventId }, 'could not mark webhook event failed'),
        );
      return { ...base, status: 'failed', error };
    }
  }

  async function receive(
    providerId: ProviderId,
    rawBody: Buffer,
    headers: IncomingHttpHeaders,
  ): Promise<ReceiveResult> {
    const provider = deps.providers[providerId];
    if (!provider) return { outcome: 'unknown_provider' };
    let verified: VerifiedEvent;
    try {
      verified = await provider.verifyWebhook(rawBody, headers);
      if (!verified || typeof verified !== 'object') throw new WebhookVerificationError('no event');
    } catch (err) {
      if (err instanceof WebhookVerificationError) {
        logger.warn({ provider: providerId, reason: err.message }, 'webhook rejected');
        return { outcome: 'rejected', reason: err.message };
      }
      logger.error({ err, provider: providerId }, 'webhook verification could not run');
      return { outcome: 'failed', storeDown: false };
    }
    const { eventId } = verified;
    // Signed but without an id or type: nothing could deduplicate it, so it is refused like a forgery.
    if (
      typeof eventId !== 'string' ||
      eventId === '' ||
      typeof verified.type !== 'string' ||
      verified.type === ''
    ) {
      logger.warn({ provider: providerId }, 'webhook rejected: no event id or type');
      return { outcome: 'rejected', reason: 'no event id or type' };
    }
    const key = keyOf(verified);
    // Marked before the insert so a second delivery racing this one in the same process cannot
    // mistake our fresh lease for one left by a failed attempt.
    const ours = !inFlight.has(key);
    inFlight.add(key);
    // A type we never use is stored as `ignored` in one write; anything else is stored claimed by
    // this process, and only then are its facts read (which may call the provider): a duplicate
    // delivery never costs a provider call.
    const ignored = !provider.handlesEventType(verified.type);
    try {
      const stored = await repo.insert(
        {
          provider: providerId,
          eventId,
          type: verified.type,
          eventCreatedAt: verified.createdAt,
          rawBody: rawBody.toString('utf8'),
        },
        ignored ? { status: 'ignored' } : { status: 'processing', worker, leaseUntil: lease() },
      );
      if (stored.inserted && stored.event.status === 'ignored')
        return { outcome: 'accepted', eventId, status: 'ignored' };
      let claimed: StoredEvent | null;
      if (stored.inserted) {
        claimed = stored.event;
      } else {
        const existing = stored.existing;
        if (existing && (existing.status === 'processed' || existing.status === 'ignored')) {
          return { outcome: 'accepted', eventId, status: 'duplicate' };
        }
        // A redelivery of an event that failed (or was left behind) is its retry.
        claimed = existing ? await claim(existing, { reclaimOwn: ours }) : null;
        // Someone else is on it right now. It is stored and leased: if that attempt fails, the
        // event is marked failed (or its lease lapses) and the sweep finishes it.
        if (!claimed) return { outcome: 'accepted', eventId, status: 'in_progress' };
      }
      const result = await run(claimed, verified);
      if (result.status === 'failed') return { outcome: 'failed', eventId, storeDown: false };
      return { outcome: 'accepted', eventId, status: result.status === 'ignored' ? 'ignored' : 'processed' };
    } catch (err) {
      const storeDown = err instanceof StoreUnavailableError;
      logger.error({ err, provider: providerId, eventId }, 'webhook event could not be stored');
      return { outcome: 'failed', eventId, storeDown };
    } finally {
      if (ours) inFlight.delete(key);
    }
  }

  /** One pass over due events; returns how many it took on. */
  async function sweepOnce(limit = 100): Promise<number> {
    const now = new Date();
    const due = await repo.findDue(now, new Date(now.getTime() - receivedGraceMs), limit);
    let handled = 0;
    for (const event of due) {
      const claimed = await claim(event);
      if (!claimed) continue;
      handled += 1;
      await run(claimed);
    }
    if (handled > 0) logger.info({ handled }, 'webhook sweep retried events');
    return handled;
  }

  /** Runs one stored event again, whatever its status (the ledger makes repeats harmless). */
  async function replay(idOrEventId: string): Promise<ProcessResult | null> {
    const event = await repo.find(idOrEventId);
    if (!event) return null;
    if (event.rawBody === '') {
      return {
        id: event.id,
        eventId: event.eventId,
        status: 'failed',
        error: 'its raw payload was pruned after the retention period',
      };
    }
    const claimed = await claim(event, { includeFinished: true });
    if (!claimed) return { id: event.id, eventId: event.eventId, status: 'in_progress' };
    logger.info(
      { provider: event.provider, eventId: event.eventId, was: event.status },
      'replaying webhook event',
    );
    return run(claimed);
  }

  return {
    receive,
    sweepOnce,
    replay,
    list: (filter: ListFilter) => repo.list(filter),
    show: (idOrEventId: string) => repo.find(idOrEventId),
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
