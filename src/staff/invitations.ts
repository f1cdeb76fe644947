/**
 * Invitation links: `<accountId>.<expiresAt>.<nonce>.<signature>`. The signature (HMAC-SHA256)
 * makes an altered link worthless; the expiry is inside what is signed; the nonce's hash is kept on
 * the invited account and cleared when the link is used, so each link works once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface InvitationToken {
  accountId: string;
  expiresAt: Date;
  nonceHash: string;
}

const TOKEN = /^([a-f0-9]{24})\.(\d{10})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export const hashNonce = (nonce: string) =>
  createHash('sha256').update(`invite:${nonce}`).digest('base64url');

export function createInvitationSigner(secret: string) {
  const sign = (payload: string) =>
    createHmac('sha256', secret).update(`staff-invite:${payload}`).digest('base64url');
  return {
    issue(accountId: string, expiresAt: Date): { token: string; nonceHash: string } {
      const nonce = randomBytes(16).toString('base64url');
      const payload = `${accountId}.${Math.floor(expiresAt.getTime() / 1000)}.${nonce}`;
      return { token: `${payload}.${sign(payload)}`, nonceHash: hashNonce(nonce) };
    },
    /** The token's parts when it is well-formed and its signature holds; expiry is the caller's check. */
    read(token: string): InvitationToken | null {
      const match = TOKEN.exec(token);
      if (!match) return null;
      const [, accountId, expires, nonce, signature] = match;
      const expected = Buffer.from(sign(`${accountId}.${expires}.${nonce}`));
      const given = Buffer.from(signature!);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
      return {
        accountId: accountId!,
        expiresAt: new Date(Number(expires) * 1000),
        nonceHash: hashNonce(nonce!),
      };
    },
  };
}

export type InvitationSigner = ReturnType<typeof createInvitationSigner>;
