/**
 * /staff/operations, for admins: the webhook inbox (failed, dead-lettered, ignored… with the raw
 * payload and a replay button — the same service as `npm run webhooks`), the latest reconciliation
 * findings and rollup checks, and the consent proof of a consent id (the consent feature's own
 * proof function). Reading a payload or a proof, and every replay, goes to the audit log.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { isConsentId } from '../consent/cookie.js';
import type { ConsentAudit } from '../consent/index.js';
import { notFound, validationError } from '../errors.js';
import { providerIds } from '../payments/types.js';
import type { StaffFeature } from '../staff/index.js';
import { parseForm } from '../staff/forms.js';
import type { WebhooksFeature } from '../webhooks/index.js';
import { webhookStatuses } from '../webhooks/index.js';
import type { ReportsRepository } from './repository.js';

export interface OperationsRoutesDeps {
  staff: Pick<StaffFeature, 'requireStaff' | 'audit'>;
  webhooks: Pick<
    WebhooksFeature,
    'inbox' | 'statusCounts' | 'show' | 'replay' | 'latestReconciliations' | 'reconciliation'
  >;
  consent: Pick<ConsentAudit, 'proof'>;
  reports: Pick<ReportsRepository, 'latestChecks'>;
  /**
   * Finds the consent ids linked to a supporter (by email or supporter id). The consent feature
   * adds these links (`consentlinks`); until it is wired in here, the page looks up consent ids only.
   */
  consentIdsOf?: (supporter: string) => Promise<string[]>;
}

const inboxStatuses = [...webhookStatuses, 'dead'] as const;
const inboxQuery = z.object({
  status: z.enum(inboxStatuses).optional(),
  provider: z.enum(providerIds).optional(),
});
const replayForm = z.object({ _csrf: z.string().max(512) }).strict();

const statusLabels: Record<(typeof inboxStatuses)[number], string> = {
  failed: 'failed (will be retried)',
  dead: 'dead letter (no retries left)',
  ignored: 'ignored (no payment facts)',
  processed: 'processed',
  received: 'received (not yet processed)',
  processing: 'processing now',
};

const eventIdOf = (req: Request): string => {
  const id = String(req.params.id);
  if (!/^[a-f0-9]{24}$/.test(id)) throw notFound('There is no such webhook event.');
  return id;
};

/** A raw payload as a person reads it: JSON indented when it parses, as received otherwise. */
function readablePayload(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

export function createOperationsRoutes(deps: OperationsRoutesDeps): Router {
  const { staff, webhooks } = deps;
  const admin = staff.requireStaff('admin');
  const router = Router();

  router.get('/operations', admin, async (_req, res) => {
    const [counts, reconciliations, checks] = await Promise.all([
      webhooks.statusCounts(),
      webhooks.latestReconciliations(1),
      deps.reports.latestChecks(1),
    ]);
    res.render('staff/operations/index', {
      title: 'Operations',
      counts,
      statusLabels,
      reconciliation: reconciliations[0],
      check: checks[0],
      supporterLookup: Boolean(deps.consentIdsOf),
    });
  });

  router.get('/operations/webhooks', admin, async (req, res) => {
    const parsed = inboxQuery.safeParse({
      status: req.query.status || undefined,
      provider: req.query.provider || undefined,
    });
    if (!parsed.success) {
      throw validationError(
        `Choose a status (${inboxStatuses.join(', ')}) and a provider (${providerIds.join(', ')}).`,
      );
    }
    const status = parsed.data.status ?? 'failed';
    const events = await webhooks.inbox({
      status,
      ...(parsed.data.provider ? { provider: parsed.data.provider } : {}),
      limit: 200,
    });
    res.render('staff/operations/webhooks', {
      title: 'Webhook inbox',
      events,
      status,
      provider: parsed.data.provider ?? '',
      statuses: inboxStatuses.map((s) => ({ value: s, label: statusLabels[s] })),
      providers: providerIds,
    });
  });

  router.get('/operations/webhooks/:id', admin, async (req, res) => {
    const event = await webhooks.show(eventIdOf(req));
    if (!event) throw notFound('There is no such webhook event.');
    // The payload carries payers' names and emails: reading it is recorded.
    await staff.audit.recordRequest(req, 'webhooks.payload_viewed', {
      target: { type: 'webhook', id: event.id, label: `${event.provider} ${event.eventId}` },
    });
    const replayed = typeof req.query.replayed === 'string' ? req.query.replayed.slice(0, 20) : undefined;
    res.render('staff/operations/webhook', {
      title: `Webhook ${event.eventId}`,
      event,
      dead: event.status === 'failed' && !event.nextAttemptAt,
      payload: event.rawBody ? readablePayload(event.rawBody) : '',
      replayed: replayed && /^[a-z_]+$/.test(replayed) ? replayed : undefined,
    });
  });

  router.post('/operations/webhooks/:id/replay', admin, async (req, res) => {
    parseForm(replayForm, req.body);
    const id = eventIdOf(req);
    const result = await webhooks.replay(id);
    if (!result) throw notFound('There is no such webhook event.');
    await staff.audit.recordRequest(req, 'webhooks.replayed', {
      target: { type: 'webhook', id, label: result.eventId },
      details: { status: result.status, ...(result.error ? { error: result.error.slice(0, 200) } : {}) },
    });
    res.redirect(303, `/staff/operations/webhooks/${id}?replayed=${result.status}`);
  });

  router.get('/operations/reconciliations', admin, async (_req, res) => {
    res.render('staff/operations/reconciliations', {
      title: 'Reconciliation',
      runs: await webhooks.latestReconciliations(20),
    });
  });

  router.get('/operations/rollup-checks', admin, async (_req, res) => {
    const checks = await deps.reports.latestChecks(10);
    res.render('staff/operations/rollup-checks', {
      title: 'Rollup checks',
      checks: checks.map((c) => ({
        ...c,
        seconds: c.finishedAt ? ((c.finishedAt.getTime() - c.startedAt.getTime()) / 1000).toFixed(1) : null,
      })),
    });
  });

  router.get('/operations/consent', admin, async (req, res) => {
    const raw = req.query.id;
    if (raw === undefined || raw === '') {
      return res.render('staff/operations/consent', {
        title: 'Consent proof',
        supporterLookup: Boolean(deps.consentIdsOf),
      });
    }
    const consentId = typeof raw === 'string' ? raw.trim() : '';
    if (!isConsentId(consentId)) {
      res.status(400).render('staff/operations/consent', {
        title: 'Consent proof',
        supporterLookup: Boolean(deps.consentIdsOf),
        id: typeof raw === 'string' ? raw.slice(0, 64) : '',
        error:
          'A consent id is 22 characters of A–Z, a–z, 0–9, - and _ (the value of the rf_consent cookie before the first dot).',
      });
      return;
    }
    const proof = await deps.consent.proof(consentId);
    await staff.audit.recordRequest(req, 'consent.proof_viewed', {
      target: { type: 'consent', id: consentId },
      details: { records: proof.records.length, verified: proof.check.verified },
    });
    res.render('staff/operations/consent', {
      title: 'Consent proof',
      supporterLookup: Boolean(deps.consentIdsOf),
      id: consentId,
      proof,
      recordOk: Object.fromEntries(proof.check.records.map((r) => [r.id, r.ok])),
    });
  });

  return router;
}
