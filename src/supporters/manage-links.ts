import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring links to a supporter's self-service page:
 * `<supporterId>.<issuedAt>.<expiresAt>.<signature>` (unix seconds). No account, no password:
 * whoever holds the emailed link manages that support until it expires, a newer link is mailed
 * (older ones are revoked through the supporter's `linksValidFrom`), or a destructive action
 * rotates it.
 */
export interface ManageLink {
  supporterId: string;
  issuedAt: Date;
}

export interface ManageLinks {
  readonly lifetimeDays: number;
  tokenFor(supporterId: string, now?: Date): string;
  /** The link's holder, or 'expired' for a genuine but outdated link, or null for a forged or altered one. */
  verify(token: string, now?: Date): ManageLink | 'expired' | null;
  /** A form token bound to the manage token, for cross-site request protection on its forms. */
  formTokenFor(token: string): string;
  checkFormToken(token: string, formToken: unknown): boolean;
  /** Signed, expiring links for the readers' rights pages (same mechanism, another purpose). */
  purposeToken(purpose: string, subject: string, lifetimeMinutes: number, now?: Date): string;
  verifyPurpose(
    purpose: string,
    token: string,
    now?: Date,
  ): { subject: string; issuedAt: Date } | 'expired' | null;
}

const TOKEN = /^([a-f0-9]{24})\.(\d{10})\.(\d{10})\.([A-Za-z0-9_-]{43})$/;

/**
 * The moment a newly issued link that replaces older ones carries: the next whole second (links
 * count in seconds), so a link issued a moment ago, in the same second, is already older.
 */
export function replacingIssueTime(now = Date.now()): Date {
  return new Date((Math.floor(now / 1000) + 1) * 1000);
}

export function createManageLinks(secret: string, lifetimeDays = 30): ManageLinks {
  const sign = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');
  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };
  const seconds = (at: Date) => Math.floor(at.getTime() / 1000);
  return {
    lifetimeDays,
    tokenFor(supporterId, now = new Date()) {
      const issued = seconds(now);
      const payload = `${supporterId}.${issued}.${issued + lifetimeDays * 86_400}`;
      return `${payload}.${sign(`manage:${payload}`)}`;
    },
    verify(token, now = new Date()) {
      const match = TOKEN.exec(token);
      if (!match) return null;
      const [, id, issued, expires, signature] = match;
      if (!same(signature!, sign(`manage:${id}.${issued}.${expires}`))) return null;
      if (Number(expires) * 1000 < now.getTime()) return 'expired';
      return { supporterId: id!, issuedAt: new Date(Number(issued) * 1000) };
    },
    formTokenFor(token) {
      return sign(`form:${token}`);
    },
    checkFormToken(token, formToken) {
      return typeof formToken === 'string' && same(formToken, sign(`form:${token}`));
    },
    purposeToken(purpose, subject, lifetimeMinutes, now = new Date()) {
      const issued = seconds(now);
      const payload = `${Buffer.from(subject).toString('base64url')}.${issued}.${issued + lifetimeMinutes * 60}`;
      return `${payload}.${sign(`${purpose}:${payload}`)}`;
    },
    verifyPurpose(purpose, token, now = new Date()) {
      const match = /^([A-Za-z0-9_-]{1,400})\.(\d{10})\.(\d{10})\.([A-Za-z0-9_-]{43})$/.exec(token);
      if (!match) return null;
      const [, subject, issued, expires, signature] = match;
      if (!same(signature!, sign(`${purpose}:${subject}.${issued}.${expires}`))) return null;
      if (Number(expires) * 1000 < now.getTime()) return 'expired';
      return {
        subject: Buffer.from(subject!, 'base64url').toString(),
        issuedAt: new Date(Number(issued) * 1000),
      };
    },
  };
}
