import mongoose, { Schema, type InferSchemaType } from 'mongoose';
import { providerIds } from '../payments/types.js';

export const webhookStatuses = ['received', 'processing', 'processed', 'ignored', 'failed'] as const;
export type WebhookStatus = (typeof webhookStatuses)[number];

/**
 * The inbox: one document per verified provider event, kept raw so any event can be replayed
 * exactly as it arrived. The unique (provider, eventId) index is what makes a delivery count once.
 */
const webhookEventSchema = new Schema(
  {
    provider: { type: String, required: true, enum: providerIds },
    eventId: { type: String, required: true },
    type: { type: String, required: true },
    /** When the provider says the event happened. */
    eventCreatedAt: { type: Date, required: true },
    /** The body exactly as delivered (UTF-8 text); signatures were computed over these bytes. */
    rawBody: { type: String, default: '' },
    /** When the raw body was dropped at the end of its retention period. */
    rawPrunedAt: { type: Date },
    status: { type: String, required: true, enum: webhookStatuses },
    attempts: { type: Number, default: 0 },
    lastError: { type: String },
    receivedAt: { type: Date, required: true },
    processedAt: { type: Date },
    /** While `processing`: the worker holding it and until when; an expired lease may be taken over. */
    lockedBy: { type: String },
    leaseUntil: { type: Date },
    /** While `failed`: when the sweep may try again; absent once retries are used up (dead letter). */
    nextAttemptAt: { type: Date },
    /** What each fact did to the ledger, for the operator looking at an event later. */
    outcomes: {
      type: [{ fact: String, ref: String, result: String, _id: false }],
      default: undefined,
    },
  },
  { versionKey: false },
);
webhookEventSchema.index({ provider: 1, eventId: 1 }, { unique: true });
webhookEventSchema.index({ status: 1, nextAttemptAt: 1 });
webhookEventSchema.index({ status: 1, receivedAt: -1 });

/** What a reconciliation run found, kept so finance can see when a gap appeared and was closed. */
const reconciliationSchema = new Schema(
  {
    startedAt: { type: Date, required: true },
    finishedAt: { type: Date, required: true },
    since: { type: Date, required: true },
    until: { type: Date, required: true },
    providers: {
      type: [{ provider: String, checked: Number, error: String, _id: false }],
      default: [],
    },
    missing: {
      type: [
        {
          provider: String,
          paymentId: String,
          amountMinor: Number,
          currency: String,
          occurredAt: Date,
          _id: false,
        },
      ],
      default: [],
    },
    mismatched: {
      type: [
        {
          provider: String,
          paymentId: String,
          field: String,
          providerValue: String,
          ledgerValue: String,
          _id: false,
        },
      ],
      default: [],
    },
    clean: { type: Boolean, required: true },
  },
  { versionKey: false },
);
reconciliationSchema.index({ startedAt: -1 });

export const WebhookEvent = mongoose.model('WebhookEvent', webhookEventSchema);
export const Reconciliation = mongoose.model('Reconciliation', reconciliationSchema);

export type WebhookEventDoc = InferSchemaType<typeof webhookEventSchema> & { _id: mongoose.Types.ObjectId };
export type ReconciliationDoc = InferSchemaType<typeof reconciliationSchema> & {
  _id: mongoose.Types.ObjectId;
};
