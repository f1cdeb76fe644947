import express, { Router, type ErrorRequestHandler } from 'express';
import type { ProviderId } from '../payments/types.js';
import type { ReceiveResult, WebhookService } from './service.js';

/** Enough for any real provider event (Stripe caps payloads well below this); more is refused. */
export const WEBHOOK_BODY_LIMIT = '256kb';

const providers = new Set<ProviderId>(['stripe', 'paypal']);

function reply(result: ReceiveResult): [number, Record<string, unknown>] {
  switch (result.outcome) {
    case 'unknown_provider':
      return [404, { error: 'Unknown webhook endpoint.' }];
    case 'rejected':
      // The reason stays in our log; a forger learns nothing from the answer.
      return [400, { error: 'The webhook could not be verified.' }];
    case 'accepted':
      return [200, { received: true, status: result.status }];
    case 'failed':
      // A non-2xx answer makes the provider deliver again; the event is also kept for the sweep.
      return [result.storeDown ? 503 : 500, { error: 'The event could not be processed; please retry.' }];
  }
}

/** How a delivery ended, for the metrics: what was done with it, or why it was refused. */
const outcomeOf = (result: ReceiveResult): string =>
  result.outcome === 'accepted' ? result.status : result.outcome;

/** Mounted before any body parser: the signature covers the exact bytes. */
export function createWebhookRoutes(
  service: WebhookService,
  onDelivery?: (provider: string, outcome: string) => void,
): Router {
  const router = Router();
  const rawBody = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });

  router.post('/webhooks/:provider', rawBody, async (req, res) => {
    const provider = req.params.provider as ProviderId;
    if (!providers.has(provider)) {
      onDelivery?.('unknown', 'unknown_provider');
      return void res.status(404).json({ error: 'Unknown webhook endpoint.' });
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = await service.receive(provider, body, req.headers);
    onDelivery?.(provider, outcomeOf(result));
    const [status, json] = reply(result);
    res.status(status).set('Cache-Control', 'no-store').json(json);
  });

  const bodyErrors: ErrorRequestHandler = (err: { type?: string; status?: number }, _req, res, next) => {
    if (err?.type === 'entity.too.large')
      return void res.status(413).json({ error: 'Webhook body too large.' });
    if (err?.status && err.status < 500)
      return void res.status(err.status).json({ error: 'Bad webhook request.' });
    next(err);
  };
  router.use('/webhooks', bodyErrors);
  return router;
}
