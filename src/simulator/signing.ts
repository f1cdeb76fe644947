import {
  createHmac,
  createSign,
  createVerify,
  generateKeyPair,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import forge from 'node-forge';

/** `Stripe-Signature` header value: `t=<unix>,v1=<hex HMAC-SHA256 of "t.payload" keyed with the whsec_ secret>`. */
export function stripeSignatureHeader(
  payload: string,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

export interface PayPalSigningKey {
  privateKeyPem: string;
  certificatePem: string;
  certificate: X509Certificate;
}

/**
 * A certificate serial as hex: 16 random bytes read as a positive DER INTEGER in minimal form. The
 * top bit is cleared (no sign padding needed) and the next one set (never a leading zero byte),
 * since a leading 0x00 before a byte below 0x80 is invalid DER and OpenSSL refuses the certificate.
 */
export function certificateSerial(random: Buffer = randomBytes(16)): string {
  const bytes = Buffer.from(random.subarray(0, 16));
  if (bytes.length !== 16) throw new Error('a certificate serial needs 16 random bytes');
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/**
 * A fresh RSA key pair and a self-signed certificate whose subject resembles the one PayPal signs
 * webhooks with, valid from yesterday for a year.
 */
export async function createPayPalSigningKey(
  now = Date.now(),
  serial = certificateSerial(),
): Promise<PayPalSigningKey> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(now - 86_400_000);
  cert.validity.notAfter = new Date(now + 365 * 86_400_000);
  const subject = [
    { shortName: 'C', value: 'US' },
    { shortName: 'ST', value: 'California' },
    { shortName: 'L', value: 'San Jose' },
    { shortName: 'O', value: 'PayPal, Inc.' },
    { shortName: 'OU', value: 'Payment Simulator' },
    { shortName: 'CN', value: 'messageverificationcerts.paypal.com' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'messageverificationcerts.paypal.com' }] },
  ]);
  const forgeKey = forge.pki.privateKeyFromPem(privateKeyPem);
  cert.sign(forgeKey, forge.md.sha256.create());
  const certificatePem = forge.pki.certificateToPem(cert);
  return { privateKeyPem, certificatePem, certificate: new X509Certificate(certificatePem) };
}

/** PayPal's signed message: `transmissionId|transmissionTime|webhookId|crc32(body)` (unsigned decimal). */
export function paypalSignedMessage(
  transmissionId: string,
  transmissionTime: string,
  webhookId: string,
  body: string | Buffer,
): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(body) >>> 0}`;
}

export function paypalSign(message: string, privateKeyPem: string): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(privateKeyPem, 'base64');
}

export function paypalVerify(
  message: string,
  signatureBase64: string,
  certificate: X509Certificate,
): boolean {
  try {
    return createVerify('RSA-SHA256')
      .update(message, 'utf8')
      .verify(certificate.publicKey, signatureBase64, 'base64');
  } catch {
    return false;
  }
}

let processKey: Promise<PayPalSigningKey> | undefined;

/**
 * The signing key for simulators in this process. RSA key generation takes the better part of a second,
 * so simulators started by one process (a test file, say) share one key pair and certificate.
 */
export function processSigningKey(): Promise<PayPalSigningKey> {
  processKey ??= createPayPalSigningKey().catch((err: unknown) => {
    processKey = undefined;
    throw err;
  });
  return processKey;
}
