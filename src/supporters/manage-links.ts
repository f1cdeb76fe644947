import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring links to a supporter's self-service page: `<supporterId>.<expiresAt>.<signature>`.
 * No account, no password: whoever holds the emailed link manages that support until it expires.
 */
export interface ManageLinks {
  tokenFor(supporterId: string, now?: Date): string;
  /** The supporter id, or null for a forged, altered or expired token. */
  verify(token: string, now?: Date): string | null;
  /** A form token bound to the manage token, for cross-site request protection on its forms. */
  formTokenFor(token: string): string;
  checkFormToken(token: string, formToken: unknown): boolean;
}

const TOKEN = /^([a-f0-9]{24})\.(\d{10})\.([A-Za-z0-9_-]{43})$/;

export function createManageLinks(secret: string, lifetimeDays = 30): ManageLinks {
  const sign = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');
  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };
  return {
    tokenFor(supporterId, now = new Date()) {
      const expires = Math.floor(now.getTime() / 1000) + lifetimeDays * 86_400;
      const payload = `${supporterId}.${expires}`;
      return `${payload}.${sign(`manage:${payload}`)}`;
    },
    verify(token, now = new Date()) {
      const match = TOKEN.exec(token);
      if (!match) return null;
      const [, id, expires, signature] = match;
      if (!same(signature!, sign(`manage:${id}.${expires}`))) return null;
      if (Number(expires) * 1000 < now.getTime()) return null;
      return id!;
    },
    formTokenFor(token) {
      return sign(`form:${token}`);
    },
    checkFormToken(token, formToken) {
      return typeof formToken === 'string' && same(formToken, sign(`form:${token}`));
    },
  };
}
