/**
 * `consentlinks`: which consent ids belong to which supporter. Consent records are append-only and
 * carry no person, so the link lives here: written when a payment started with a consent cookie
 * reaches its supporter, read for a reader's export and for `proof <email>`, and deleted when the
 * supporter's data is erased — the records stay as evidence, no longer attributable to anyone.
 */
import mongoose, { Schema } from 'mongoose';

export const consentLinkSources = ['checkout'] as const;
export type ConsentLinkSource = (typeof consentLinkSources)[number];

const consentLinkSchema = new Schema(
  {
    consentId: { type: String, required: true },
    supporterId: { type: String, required: true },
    linkedAt: { type: Date, required: true },
    /** How the link was learnt: `checkout` — the reader's cookie was on the checkout they paid through. */
    how: { type: String, required: true, enum: consentLinkSources },
    checkoutId: { type: String },
  },
  { versionKey: false },
);
consentLinkSchema.index({ consentId: 1, supporterId: 1 }, { unique: true });
consentLinkSchema.index({ supporterId: 1 });

const ConsentLinkModel = mongoose.model('ConsentLink', consentLinkSchema, 'consentlinks');

export interface ConsentLink {
  consentId: string;
  supporterId: string;
  linkedAt: Date;
  how: ConsentLinkSource;
  checkoutId?: string;
}

export interface ConsentLinks {
  /** Links a consent id to a supporter once; a repeat keeps the first link. */
  link(link: ConsentLink): Promise<void>;
  /** The supporter's consent ids, oldest link first. */
  of(supporterId: string): Promise<ConsentLink[]>;
  /** Drops every link of a supporter (erasure); returns how many there were. */
  forget(supporterId: string): Promise<number>;
}

export function createConsentLinks(): ConsentLinks {
  let ready: Promise<unknown> | undefined;
  const indexes = () =>
    (ready ??= ConsentLinkModel.init().catch((err: unknown) => ((ready = undefined), Promise.reject(err))));
  return {
    async link(link) {
      await indexes();
      const { consentId, supporterId, ...rest } = link;
      try {
        await ConsentLinkModel.collection.updateOne(
          { consentId, supporterId },
          { $setOnInsert: rest },
          { upsert: true, ignoreUndefined: true },
        );
      } catch (err) {
        // Two credits of one payment at once: the other insert won, which is the same link.
        if ((err as { code?: number }).code !== 11000) throw err;
      }
    },
    async of(supporterId) {
      const docs = await ConsentLinkModel.find({ supporterId: String(supporterId) }, { _id: 0 })
        .sort({ linkedAt: 1 })
        .lean<ConsentLink[]>();
      return docs.map((d) => ({
        consentId: d.consentId,
        supporterId: d.supporterId,
        linkedAt: d.linkedAt,
        how: d.how,
        ...(d.checkoutId ? { checkoutId: d.checkoutId } : {}),
      }));
    },
    async forget(supporterId) {
      const result = await ConsentLinkModel.deleteMany({ supporterId: String(supporterId) });
      return result.deletedCount ?? 0;
    },
  };
}
