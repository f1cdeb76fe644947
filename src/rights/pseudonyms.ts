/**
 * Keyed pseudonyms and hashes for the readers' rights (pure apart from the key). A keyed hash
 * (HMAC-SHA-256 under a key derived from the links secret) lets the log and the erasure record
 * recognise an address again without holding it: nobody without the key can test guesses.
 */
import { createHmac, hkdfSync } from 'node:crypto';

/** What an erased person's personal data is replaced by, wherever it was. */
export const ERASED = 'erased';

const EMAIL_IN_TEXT = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;

export interface Pseudonyms {
  /** Keyed hash of an address (trimmed, lower case). */
  emailHash(email: string): string;
  /** Keyed hash of any other value (a name or a part of it, a customer id), trimmed, lower case. */
  valueHash(value: string): string;
  /** The erased supporter's address: `erased-<keyed hash of their id>@invalid` (RFC 2606 reserves .invalid). */
  emailFor(supporterId: string): string;
}

export function createPseudonyms(secret: string): Pseudonyms {
  const key = Buffer.from(hkdfSync('sha256', secret, 'readerfund-rights', 'pseudonyms', 32));
  const mac = (purpose: string, value: string) =>
    createHmac('sha256', key).update(`${purpose}\u0000${value}`).digest('hex');
  return {
    emailHash: (email) => mac('email', email.trim().toLowerCase()),
    valueHash: (value) => mac('value', value.trim().toLowerCase()),
    emailFor: (supporterId) => `erased-${mac('supporter', supporterId).slice(0, 20)}@invalid`,
  };
}

/** How to recognise one person's data without holding it: keyed hashes and the pseudonym to use. */
export interface PersonMatcher {
  emailHashes: ReadonlySet<string>;
  valueHashes: ReadonlySet<string>;
  pseudonymEmail: string;
}

/** The keyed hashes that recognise a person: their addresses, their name whole and in parts, their ids. */
export function matcherFor(
  pseudonyms: Pseudonyms,
  person: { emails: string[]; name?: string; ids: string[]; pseudonymEmail: string },
): PersonMatcher {
  const values = [...person.ids];
  if (person.name) {
    values.push(person.name);
    values.push(...person.name.split(/\s+/).filter((part) => part.length >= 2));
  }
  return {
    emailHashes: new Set(person.emails.map((e) => pseudonyms.emailHash(e))),
    valueHashes: new Set(values.filter((v) => v.trim() !== '').map((v) => pseudonyms.valueHash(v))),
    pseudonymEmail: person.pseudonymEmail,
  };
}

/** One text with the person's addresses replaced by the pseudonym, or ERASED when it is their name or id. */
export function scrubString(pseudonyms: Pseudonyms, matcher: PersonMatcher, text: string): string {
  if (matcher.valueHashes.has(pseudonyms.valueHash(text))) return ERASED;
  return text.replace(EMAIL_IN_TEXT, (email) =>
    matcher.emailHashes.has(pseudonyms.emailHash(email)) ? matcher.pseudonymEmail : email,
  );
}

function scrubValue(pseudonyms: Pseudonyms, matcher: PersonMatcher, value: unknown): unknown {
  if (typeof value === 'string') return scrubString(pseudonyms, matcher, value);
  if (Array.isArray(value)) return value.map((item) => scrubValue(pseudonyms, matcher, item));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, scrubValue(pseudonyms, matcher, item)]),
    );
  }
  return value;
}

/**
 * A raw JSON payload with the person taken out of every string in it (the structure, every other
 * value and the order of keys stay), or null when it does not mention them. A payload that is not
 * JSON has its addresses replaced as text.
 */
export function scrubPayload(pseudonyms: Pseudonyms, matcher: PersonMatcher, raw: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    const text = scrubString(pseudonyms, matcher, raw);
    return text === raw ? null : text;
  }
  const scrubbed = scrubValue(pseudonyms, matcher, parsed);
  const next = JSON.stringify(scrubbed);
  return next === JSON.stringify(parsed) ? null : next;
}
