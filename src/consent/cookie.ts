/**
 * The one consent cookie, `rf_consent`: the reader's random consent id plus a compact, signed
 * summary of their current choice (granted categories, policy version, time, position in the
 * record chain), so a page can be rendered without reading the database. The consent records stay
 * the proof; the cookie only lets each request know the state cheaply.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CategoryId } from './policy.js';

export const consentCookieName = 'rf_consent';

export interface ConsentCookie {
  consentId: string;
  policyVersion: string;
  decidedAt: Date;
  granted: CategoryId[];
  /** Sequence number of the record this summary reflects. */
  seq: number;
}

const consentIdPattern = /^[A-Za-z0-9_-]{22}$/;

/** 128 random bits, URL-safe: the reader's consent id. */
export function newConsentId(): string {
  return randomBytes(16).toString('base64url');
}

export function isConsentId(value: string): boolean {
  return consentIdPattern.test(value);
}

/** A key for one purpose, derived from a configured secret so one secret serves several uses. */
export function deriveKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'readerfund-consent', purpose, 32));
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(name, from);
    if (at === -1) return undefined;
    const startsPair = at === 0 || header[at - 1] === ' ' || header[at - 1] === ';';
    if (startsPair && header[at + name.length] === '=') {
      const valueStart = at + name.length + 1;
      const end = header.indexOf(';', valueStart);
      return header.slice(valueStart, end === -1 ? undefined : end).trim();
    }
    from = at + name.length;
  }
  return undefined;
}

interface Payload {
  v: string;
  t: number;
  g: string[];
  n: number;
}

export class ConsentCookieCodec {
  constructor(private readonly key: Buffer) {}

  private sign(data: string): Buffer {
    return createHmac('sha256', this.key).update(data).digest();
  }

  encode(cookie: ConsentCookie): string {
    const payload: Payload = {
      v: cookie.policyVersion,
      t: Math.floor(cookie.decidedAt.getTime() / 1000),
      g: [...cookie.granted].sort(),
      n: cookie.seq,
    };
    const data = `${cookie.consentId}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${data}.${this.sign(data).toString('base64url')}`;
  }

  /** The summary in a cookie value, or null when it is malformed or not signed by us. */
  decode(value: string | undefined): ConsentCookie | null {
    if (!value || value.length > 512) return null;
    const lastDot = value.lastIndexOf('.');
    const firstDot = value.indexOf('.');
    if (firstDot <= 0 || lastDot <= firstDot) return null;
    const data = value.slice(0, lastDot);
    // Compared as text: base64 decoding ignores the unused bits of the last character, so two
    // different strings can decode to the same bytes, and only the one we wrote is ours.
    const given = Buffer.from(value.slice(lastDot + 1));
    const expected = Buffer.from(this.sign(data).toString('base64url'));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const consentId = value.slice(0, firstDot);
    if (!isConsentId(consentId)) return null;
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(data.slice(firstDot + 1), 'base64url').toString('utf8')) as Payload;
    } catch {
      return null;
    }
    if (
      typeof payload?.v !== 'string' ||
      !Number.isSafeInteger(payload.t) ||
      !Number.isSafeInteger(payload.n) ||
      !Array.isArray(payload.g) ||
      !payload.g.every((g) => typeof g === 'string')
    ) {
      return null;
    }
    return {
      consentId,
      policyVersion: payload.v,
      decidedAt: new Date(payload.t * 1000),
      granted: payload.g,
      seq: payload.n,
    };
  }
}
