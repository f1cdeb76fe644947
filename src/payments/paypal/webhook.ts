/**
 * PayPal webhook verification, offline as PayPal recommends: the signed message is
 * `transmissionId|transmissionTime|webhookId|crc32(rawBody)` and PAYPAL-TRANSMISSION-SIG is its
 * RSA-SHA256 signature by the certificate at PAYPAL-CERT-URL. The certificate URL comes from the
 * request, so it is only ever fetched from PayPal's own hosts (or an origin we configured, the
 * simulator's); anything else is refused before any network call, otherwise an attacker could
 * point us at a certificate of their own, or at an internal address. A certificate from PayPal's
 * hosts must chain to a well-known root through the intermediates PayPal serves with it.
 */
import { X509Certificate, createVerify } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { rootCertificates } from 'node:tls';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../log.js';
import { WebhookVerificationError } from '../types.js';

export const PAYPAL_CERT_HOSTS = new Set([
  'api.paypal.com',
  'api-m.paypal.com',
  'api.sandbox.paypal.com',
  'api-m.sandbox.paypal.com',
]);
const PAYPAL_CERT_PATH = '/v1/notifications/certs/';
/**
 * The certificate addresses PayPal sends, e.g. `/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77`.
 * Only these may cost a call to PayPal's verification API when the certificate cannot be downloaded.
 */
const DOCUMENTED_CERT_PATH = /^\/v1\/notifications\/certs\/CERT-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;

/**
 * How old a transmission may be. PayPal signs every delivery attempt afresh (new transmission id
 * and time), so a short window would do for PayPal itself — but nothing in its documentation
 * promises that, and rejecting a genuine retry loses a payment fact while accepting a replayed one
 * costs nothing (the signature pins the body, and events are deduplicated by id). So the window
 * covers PayPal's whole retry schedule (3 days) plus an hour, and allows 15 minutes of clock skew
 * into the future.
 */
export const MAX_TRANSMISSION_AGE_MS = 3 * 86_400_000 + 3_600_000;
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;

const MAX_CERT_BYTES = 64 * 1024;
const MAX_CACHED_CERTS = 16;
const CERT_FETCH_TIMEOUT_MS = 10_000;
/** A certificate that could not be downloaded is not asked for again this soon. */
export const CERT_FAILURE_TTL_MS = 60_000;
const MAX_CACHED_FAILURES = 64;
/** Calls to PayPal's verification API with our credentials: a burst, then one every few seconds. */
export const ONLINE_VERIFICATION_BURST = 10;
export const ONLINE_VERIFICATION_REFILL_MS = 6_000;

export interface TransmissionHeaders {
  transmissionId: string;
  transmissionTime: string;
  transmissionSig: string;
  certUrl: string;
  authAlgo: string;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const single = Array.isArray(value) ? value[0] : value;
  return typeof single === 'string' && single.trim().length > 0 ? single.trim() : undefined;
}

export function readTransmissionHeaders(headers: IncomingHttpHeaders): TransmissionHeaders {
  const transmissionId = header(headers, 'paypal-transmission-id');
  const transmissionTime = header(headers, 'paypal-transmission-time');
  const transmissionSig = header(headers, 'paypal-transmission-sig');
  const certUrl = header(headers, 'paypal-cert-url');
  const authAlgo = header(headers, 'paypal-auth-algo');
  const missing = [
    ['PAYPAL-TRANSMISSION-ID', transmissionId],
    ['PAYPAL-TRANSMISSION-TIME', transmissionTime],
    ['PAYPAL-TRANSMISSION-SIG', transmissionSig],
    ['PAYPAL-CERT-URL', certUrl],
    ['PAYPAL-AUTH-ALGO', authAlgo],
  ]
    .filter(([, value]) => value === undefined)
    .map(([name]) => name);
  if (
    missing.length > 0 ||
    !transmissionId ||
    !transmissionTime ||
    !transmissionSig ||
    !certUrl ||
    !authAlgo
  ) {
    throw new WebhookVerificationError(`PayPal webhook is missing header(s): ${missing.join(', ')}`);
  }
  return { transmissionId, transmissionTime, transmissionSig, certUrl, authAlgo };
}

/** The message PayPal signs; the CRC32 is the unsigned decimal of the raw body's checksum. */
export function signedMessage(
  transmission: Pick<TransmissionHeaders, 'transmissionId' | 'transmissionTime'>,
  webhookId: string,
  rawBody: Buffer,
): string {
  return `${transmission.transmissionId}|${transmission.transmissionTime}|${webhookId}|${crc32(rawBody) >>> 0}`;
}

/** Returns the URL if it may be fetched; throws without any network activity otherwise. */
export function allowedCertUrl(certUrl: string, extraOrigins: ReadonlySet<string>): URL {
  let url: URL;
  try {
    url = new URL(certUrl);
  } catch {
    throw new WebhookVerificationError('PAYPAL-CERT-URL is not a URL');
  }
  if (url.username || url.password) {
    throw new WebhookVerificationError('PAYPAL-CERT-URL must not carry credentials');
  }
  if (extraOrigins.has(url.origin)) return url;
  const isPayPal =
    url.protocol === 'https:' &&
    url.port === '' &&
    PAYPAL_CERT_HOSTS.has(url.hostname.toLowerCase()) &&
    url.pathname.startsWith(PAYPAL_CERT_PATH) &&
    !url.pathname.includes('..');
  if (!isPayPal) {
    throw new WebhookVerificationError(
      `PAYPAL-CERT-URL ${url.origin}${url.pathname} is not a PayPal certificate address; refusing to fetch it`,
    );
  }
  return url;
}

/** Whether the URL has the form of the certificate addresses PayPal sends (see DOCUMENTED_CERT_PATH). */
export function isDocumentedCertUrl(url: URL): boolean {
  return DOCUMENTED_CERT_PATH.test(url.pathname) && url.search === '' && url.hash === '';
}

/** A small token bucket: `take()` answers whether a call may be made now. */
export function createTokenBucket(options: { capacity: number; refillEveryMs: number; now?: () => number }): {
  take(): boolean;
} {
  const now = options.now ?? Date.now;
  let tokens = options.capacity;
  let updated = now();
  return {
    take() {
      const at = now();
      const earned = Math.floor((at - updated) / options.refillEveryMs);
      if (earned > 0) {
        tokens = Math.min(options.capacity, tokens + earned);
        updated = tokens === options.capacity ? at : updated + earned * options.refillEveryMs;
      }
      if (tokens === 0) return false;
      tokens -= 1;
      return true;
    },
  };
}

let wellKnownRoots: X509Certificate[] | undefined;

/** Node's bundled Mozilla root store, parsed once. */
function nodeRoots(): X509Certificate[] {
  wellKnownRoots ??= rootCertificates.map((pem) => new X509Certificate(pem));
  return wellKnownRoots;
}

function validAt(cert: X509Certificate, at: number): boolean {
  return Date.parse(cert.validFrom) <= at && at <= Date.parse(cert.validTo);
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * Checks that `chain[0]` (the signing certificate) leads, through the CA certificates after it, to
 * one of `roots`: each is valid now, each is issued (named and signed) by the next, and the chain
 * ends at a root or at a certificate a root issued.
 */
export function verifyCertificateChain(chain: X509Certificate[], roots: X509Certificate[], at: number): void {
  const leaf = chain[0];
  if (!leaf) throw new WebhookVerificationError('PAYPAL-CERT-URL did not return a certificate');
  if (leaf.ca) throw new WebhookVerificationError('The PayPal signing certificate is a CA certificate');
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (!validAt(cert, at)) {
      throw new WebhookVerificationError(
        `A certificate in the PayPal chain is not valid now (${cert.subject.replace(/\n/g, ', ')}, valid ${cert.validFrom} to ${cert.validTo})`,
      );
    }
    if (roots.some((root) => root.fingerprint256 === cert.fingerprint256)) return;
    if (roots.some((root) => validAt(root, at) && issuedBy(cert, root))) return;
    const next = chain[i + 1];
    if (!next) break;
    if (!next.ca || !issuedBy(cert, next)) {
      throw new WebhookVerificationError(
        `The PayPal certificate chain is broken: "${cert.subject.replace(/\n/g, ', ')}" is not issued by the certificate after it`,
      );
    }
  }
  throw new WebhookVerificationError('The PayPal certificate does not chain to a trusted root certificate');
}

/** A certificate fetch that failed for reasons other than the certificate itself. */
export class CertificateUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateUnavailableError';
  }
}

export interface CertificateSource {
  get(url: URL): Promise<X509Certificate>;
}

export function createCertificateSource(options: {
  fetch: typeof fetch;
  logger: Logger;
  now?: () => number;
  /** Origins we configured (the simulator's): their certificates are ours, no chain is needed. */
  trustedOrigins?: ReadonlySet<string>;
  /** Roots a PayPal chain must lead to; Node's bundled root store by default (tests pass their own). */
  roots?: X509Certificate[];
}): CertificateSource {
  const now = options.now ?? Date.now;
  const trustedOrigins = options.trustedOrigins ?? new Set<string>();
  // A forged delivery can name a certificate URL that fails on purpose; without this, every one
  // would cost a download attempt (and the caller's fallback) again.
  const failures = new Map<string, { error: CertificateUnavailableError; until: number }>();
  // Insertion-ordered Map as a small LRU: PayPal rotates certificates rarely, so a handful of
  // entries is plenty, and a bound keeps a stream of forged URLs on an allowed origin from
  // growing memory.
  const cache = new Map<string, X509Certificate>();
  // Deliveries often arrive in bursts; concurrent first requests share one download.
  const downloads = new Map<string, Promise<X509Certificate>>();

  async function download(url: URL): Promise<string> {
    let response: Response;
    try {
      response = await options.fetch(url, {
        redirect: 'error',
        signal: AbortSignal.timeout(CERT_FETCH_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CertificateUnavailableError(`Could not download the PayPal certificate from ${url.origin}`, {
        cause: err,
      });
    }
    if (response.status >= 400 && response.status < 500) {
      // PayPal has no certificate there: a forged address, not an outage.
      throw new WebhookVerificationError(
        `PayPal has no certificate at PAYPAL-CERT-URL (HTTP ${response.status} from ${url.origin})`,
      );
    }
    if (!response.ok) {
      throw new CertificateUnavailableError(
        `Downloading the PayPal certificate from ${url.origin} answered HTTP ${response.status}`,
      );
    }
    const body = await response.text();
    if (body.length > MAX_CERT_BYTES) {
      throw new WebhookVerificationError('The PayPal certificate is implausibly large');
    }
    return body;
  }

  function check(cert: X509Certificate, chained: boolean): void {
    const at = now();
    if (Date.parse(cert.validFrom) > at || Date.parse(cert.validTo) < at) {
      throw new WebhookVerificationError(
        `The PayPal certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})`,
      );
    }
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
    // A public CA issues a *.paypal.com name to PayPal only; the simulator's own just says PayPal.
    const paypalName = chained ? /(^|\.)paypal\.com$/i.test(cn) : cn.toLowerCase().includes('paypal');
    if (!paypalName) {
      throw new WebhookVerificationError(
        `The certificate subject "${cn}" is not PayPal's webhook signing certificate`,
      );
    }
  }

  return {
    async get(url: URL): Promise<X509Certificate> {
      const key = url.href;
      const cached = cache.get(key);
      if (cached) {
        try {
          check(cached, !trustedOrigins.has(url.origin));
          cache.delete(key);
          cache.set(key, cached);
          return cached;
        } catch {
          cache.delete(key); // expired since we cached it: fetch again, PayPal may have renewed it
        }
      }
      const failed = failures.get(key);
      if (failed && failed.until > now()) throw failed.error;
      failures.delete(key);
      const pending = downloads.get(key);
      if (pending) return pending;
      const loading = load(url)
        .catch((err: unknown) => {
          if (err instanceof CertificateUnavailableError) {
            failures.set(key, { error: err, until: now() + CERT_FAILURE_TTL_MS });
            while (failures.size > MAX_CACHED_FAILURES) {
              const oldest = failures.keys().next().value;
              if (oldest === undefined) break;
              failures.delete(oldest);
            }
          }
          throw err;
        })
        .finally(() => downloads.delete(key));
      downloads.set(key, loading);
      return loading;
    },
  };

  async function load(url: URL): Promise<X509Certificate> {
    const key = url.href;
    const pem = await download(url);
    let chain: X509Certificate[];
    try {
      // PayPal serves a chain; the first certificate is the signing one, then its issuers.
      const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [pem];
      chain = blocks.map((block) => new X509Certificate(block));
    } catch (err) {
      throw new WebhookVerificationError(
        `PAYPAL-CERT-URL did not return a certificate (${err instanceof Error ? err.message : 'unreadable'})`,
      );
    }
    const cert = chain[0]!;
    const chained = !trustedOrigins.has(url.origin);
    check(cert, chained);
    if (chained) verifyCertificateChain(chain, options.roots ?? nodeRoots(), now());
    cache.set(key, cert);
    while (cache.size > MAX_CACHED_CERTS) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
    options.logger.info({ certOrigin: url.origin }, 'Cached a PayPal webhook certificate');
    return cert;
  }
}

export function checkTransmissionTime(transmissionTime: string, now: number): void {
  const at = Date.parse(transmissionTime);
  if (Number.isNaN(at)) {
    throw new WebhookVerificationError('PAYPAL-TRANSMISSION-TIME is not a timestamp');
  }
  if (at < now - MAX_TRANSMISSION_AGE_MS) {
    throw new WebhookVerificationError(
      `PayPal webhook transmission from ${transmissionTime} is too old to accept`,
    );
  }
  if (at > now + MAX_CLOCK_SKEW_MS) {
    throw new WebhookVerificationError(
      `PayPal webhook transmission time ${transmissionTime} is in the future`,
    );
  }
}

export function checkAuthAlgo(authAlgo: string): void {
  // The header value is informational for PayPal (always SHA256withRSA today); anything else is
  // refused rather than honoured, so a forger cannot downgrade us to a weaker algorithm.
  if (authAlgo.toUpperCase() !== 'SHA256WITHRSA') {
    throw new WebhookVerificationError(`Unsupported PAYPAL-AUTH-ALGO ${authAlgo}`);
  }
}

export function signatureMatches(message: string, signatureBase64: string, cert: X509Certificate): boolean {
  if (!/^[A-Za-z0-9+/=\s]+$/.test(signatureBase64)) return false;
  const verifier = createVerify('RSA-SHA256');
  verifier.update(message, 'utf8');
  try {
    return verifier.verify(cert.publicKey, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}
