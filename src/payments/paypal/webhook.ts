/**
 * PayPal webhook verification, offline as PayPal recommends: the signed message is
 * `transmissionId|transmissionTime|webhookId|crc32(rawBody)` and PAYPAL-TRANSMISSION-SIG is its
 * RSA-SHA256 signature by the certificate at PAYPAL-CERT-URL. The certificate URL comes from the
 * request, so it is only ever fetched from PayPal's own hosts (or an origin we configured, the
 * simulator's); anything else is refused before any network call, otherwise an attacker could
 * point us at a certificate of their own, or at an internal address.
 */
import { X509Certificate, createVerify } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
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
}): CertificateSource {
  const now = options.now ?? Date.now;
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

  function check(cert: X509Certificate): void {
    const at = now();
    if (Date.parse(cert.validFrom) > at || Date.parse(cert.validTo) < at) {
      throw new WebhookVerificationError(
        `The PayPal certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})`,
      );
    }
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
    if (!cn.toLowerCase().includes('paypal')) {
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
          check(cached);
          cache.delete(key);
          cache.set(key, cached);
          return cached;
        } catch {
          cache.delete(key); // expired since we cached it: fetch again, PayPal may have renewed it
        }
      }
      const pending = downloads.get(key);
      if (pending) return pending;
      const loading = load(url).finally(() => downloads.delete(key));
      downloads.set(key, loading);
      return loading;
    },
  };

  async function load(url: URL): Promise<X509Certificate> {
    const key = url.href;
    const pem = await download(url);
    let cert: X509Certificate;
    try {
      // PayPal serves a chain; the first certificate is the signing one.
      const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
      cert = new X509Certificate(first ? first[0] : pem);
    } catch (err) {
      throw new WebhookVerificationError(
        `PAYPAL-CERT-URL did not return a certificate (${err instanceof Error ? err.message : 'unreadable'})`,
      );
    }
    check(cert);
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
