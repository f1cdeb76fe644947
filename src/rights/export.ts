/**
 * The reader's data as one JSON document (GDPR art. 15, access, and art. 20, portability): what we
 * hold about them, in a structured, machine-readable form with its fields described in
 * src/rights/README.md and summarised in the document's own `about`. Pure: the service reads the
 * parts and hands them in.
 */
import type { AppConfig } from '../config.js';
import type { ConsentLink, ConsentProof } from '../consent/index.js';
import type { CheckoutRecord } from '../donations/repository.js';
import { toDecimalString } from '../payments/money.js';
import type {
  DonationRecord,
  LedgerEntryRecord,
  SubscriptionRecord,
  SupporterRecord,
} from '../supporters/repository.js';
import { receiptView } from '../supporters/receipts.js';
import type { RightsRequest } from './repository.js';

export const exportFormat = 'readerfund.personal-data';
export const exportFormatVersion = 1;

export interface ExportParts {
  supporter: SupporterRecord & { createdAt?: Date };
  donations: DonationRecord[];
  entries: LedgerEntryRecord[];
  subscriptions: SubscriptionRecord[];
  checkouts: CheckoutRecord[];
  consent: Array<{ link: ConsentLink; proof: ConsentProof }>;
  requests: RightsRequest[];
}

const iso = (at: Date | null | undefined) => (at ? at.toISOString() : null);
const money = (amountMinor: number, currency: string) => ({
  amountMinor,
  currency,
  amount: toDecimalString({ amountMinor, currency }),
});

const about = {
  format:
    'A copy of the personal data this publication holds about you. Amounts are integers in the currency\'s minor units (cents) with the ISO 4217 currency beside them; "amount" is the same as a decimal string. Times are ISO 8601 in UTC.',
  profile:
    "Your supporter record: the email and name you paid with, the payment providers' customer ids, totals per currency (net of refunds), first and last payment.",
  subscriptions: 'Monthly support: its provider and reference, amount, status and every change of it.',
  payments:
    'Every payment we recorded, with refunds and disputes, and the ledger entries it produced (one per movement of money).',
  receipts: 'The thank-you emails with receipts: whether and when each was sent, and for which amount.',
  checkouts: 'Donations you started on our site, paid or not: plan, amount, provider and how each ended.',
  consent:
    'Your cookie choices, where a consent id (the rf_consent cookie) was on a donation you made: every record of its chain, and whether the chain verifies.',
  requests: 'Your requests about your data: asked for a link, link sent, export downloaded, erasure.',
};

/** The export document. Provider references are kept as they are: they are yours to match with your statements. */
export function buildExport(config: AppConfig, parts: ExportParts, now: Date) {
  const { supporter } = parts;
  const entriesOf = new Map<string, LedgerEntryRecord[]>();
  for (const entry of parts.entries) {
    entriesOf.set(entry.donationId, [...(entriesOf.get(entry.donationId) ?? []), entry]);
  }
  const planName = (planId: string) => config.donations.plans.find((p) => p.id === planId)?.name ?? planId;
  return {
    format: exportFormat,
    formatVersion: exportFormatVersion,
    generatedAt: now.toISOString(),
    controller: {
      name: config.site.name,
      website: config.site.publicUrl,
      contact: config.site.contactEmail,
    },
    about,
    profile: {
      supporterId: supporter.id,
      email: supporter.email,
      name: supporter.name ?? null,
      providerCustomerIds: supporter.providerCustomerIds,
      firstSupportedAt: iso(supporter.firstSupportedAt),
      lastSupportedAt: iso(supporter.lastSupportedAt),
      recordCreatedAt: iso(supporter.createdAt),
      paymentCount: supporter.donationCount,
      totals: Object.entries(supporter.totals).map(([currency, amountMinor]) => money(amountMinor, currency)),
    },
    subscriptions: parts.subscriptions.map((s) => ({
      id: s.id,
      provider: s.provider,
      providerSubscriptionId: s.providerSubscriptionId,
      plan: { id: s.planId, name: planName(s.planId) },
      amount: s.amountMinor !== undefined && s.currency ? money(s.amountMinor, s.currency) : null,
      status: s.status,
      activatedAt: iso(s.activatedAt),
      currentPeriodEnd: iso(s.currentPeriodEnd),
      endsAt: iso(s.endsAt),
      cancelledAt: iso(s.cancelledAt),
      articleSlug: s.articleSlug ?? null,
      history: s.history.map((h) => ({
        at: iso(h.at),
        status: h.status,
        amount: h.amountMinor !== undefined && h.currency ? money(h.amountMinor, h.currency) : null,
        endsAt: iso(h.endsAt),
      })),
    })),
    payments: parts.donations.map((d) => ({
      id: d.id,
      provider: d.provider,
      providerPaymentId: d.providerPaymentId,
      kind: d.kind,
      plan: { id: d.planId, name: planName(d.planId) },
      subscriptionId: d.subscriptionId ?? null,
      articleSlug: d.articleSlug ?? null,
      occurredAt: iso(d.occurredAt),
      ...money(d.amountMinor, d.currency),
      status: d.status,
      refunded: money(d.refundedMinor, d.currency),
      refunds: d.refunds.map((r) => ({ at: iso(r.at), ...money(r.amountMinor, d.currency) })),
      disputes: d.disputes.map((x) => ({
        status: x.status,
        at: iso(x.at),
        ...money(x.amountMinor, d.currency),
      })),
      ledgerEntries: (entriesOf.get(d.id) ?? []).map((e) => ({
        key: e.key,
        type: e.type,
        occurredAt: iso(e.occurredAt),
        ...money(e.amountMinor, e.currency),
        fee: money(e.feeMinor, e.currency),
        providerRef: e.providerRef ?? null,
      })),
    })),
    receipts: parts.donations.map((d) => {
      const view = receiptView(config, d);
      return {
        paymentId: d.id,
        receiptNumber: view.number,
        status: d.receipt.status,
        sentAt: iso(d.receipt.sentAt),
        paymentDate: iso(d.occurredAt),
        ...money(d.amountMinor, d.currency),
      };
    }),
    checkouts: parts.checkouts.map((c) => ({
      id: c.id,
      startedAt: iso(c.createdAt),
      provider: c.provider,
      plan: { id: c.planId, name: planName(c.planId) },
      ...money(c.amount.amountMinor, c.amount.currency),
      email: c.email ?? null,
      state: c.state,
      completedAt: iso(c.completedAt),
      consentId: c.consentId ?? null,
    })),
    consent: parts.consent.map(({ link, proof }) => ({
      consentId: link.consentId,
      linkedAt: iso(link.linkedAt),
      linkedBy: link.how,
      chainVerifies: proof.check.verified,
      records: proof.records.map((r) => ({
        id: r.id,
        seq: r.seq,
        recordedAt: iso(r.recordedAt),
        source: r.source,
        policyVersion: r.policyVersion,
        choices: r.choices,
        globalPrivacyControl: r.gpc,
        browserFamily: r.browserFamily,
        ipHash: r.ipHash,
        textHash: r.textHash,
        previousHash: r.previousHash,
        hash: r.hash,
      })),
    })),
    requests: parts.requests.map((r) => ({ at: iso(r.at), type: r.type, via: r.via })),
  };
}

export type PersonalDataExport = ReturnType<typeof buildExport>;
