/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30 s — what every authenticator app reads from a QR code) and
 * one-time recovery codes. Secrets are encrypted at rest with AES-256-GCM; recovery codes carry
 * 80 random bits, so a SHA-256 of each is enough to store them (they cannot be guessed offline).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import QRCode from 'qrcode';

const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** One period either side, for clocks that drift a little. */
const WINDOW = 1;

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

/** AES-256-GCM under a key derived from `keyMaterial`; output `v1.<iv>.<tag>.<ciphertext>`. */
export function createSecretBox(keyMaterial: string): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', keyMaterial, 'readerfund-staff', 'totp-secret-v1', 32));
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), body]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    open(sealed) {
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unreadable sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    },
  };
}

export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32;
}

function totpFor(secret: string, label = 'staff', issuer = 'Readerfund'): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: DIGITS,
    period: PERIOD_SECONDS,
    secret: OTPAuth.Secret.fromBase32(secret),
  });
}

/**
 * The time step a code belongs to, or null when it is not valid now. Callers store the step of the
 * last code accepted and refuse any step not after it, so a code is never accepted twice.
 */
export function totpStep(secret: string, code: string, now: Date): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const timestamp = now.getTime();
  const delta = totpFor(secret).validate({ token, timestamp, window: WINDOW });
  if (delta === null) return null;
  return Math.floor(timestamp / 1000 / PERIOD_SECONDS) + delta;
}

/** The code an authenticator app shows at `now` (tests and the enrolment check use it). */
export function totpCode(secret: string, now: Date): string {
  return totpFor(secret).generate({ timestamp: now.getTime() });
}

export interface Enrolment {
  secret: string;
  /** Spaced in fours, for typing into an app by hand. */
  secretForHumans: string;
  uri: string;
  /** The otpauth:// URI as an SVG QR code, ready for an <img src>. */
  qrDataUri: string;
}

export async function enrolmentFor(secret: string, account: string, issuer: string): Promise<Enrolment> {
  const uri = totpFor(secret, account, issuer).toString();
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return {
    secret,
    secretForHumans: secret.replace(/(.{4})/g, '$1 ').trim(),
    uri,
    qrDataUri: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
  };
}

const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstvwxyz0123456789'; // 32 symbols, no i/l/o/u
export const RECOVERY_CODE_COUNT = 10;

/** Ten codes like `k7dm-2xq9-pt4h-w3ca` (16 symbols × 5 bits = 80 bits each). */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const bytes = randomBytes(16);
    const symbols = [...bytes].map((b) => RECOVERY_ALPHABET[b & 31]).join('');
    return symbols.match(/.{4}/g)!.join('-');
  });
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function normaliseRecoveryCode(input: string): string | null {
  const compact = input.toLowerCase().replace(/[\s-]+/g, '');
  if (compact.length !== 16 || [...compact].some((c) => !RECOVERY_ALPHABET.includes(c))) return null;
  return compact.match(/.{4}/g)!.join('-');
}

export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(`recovery:${code}`).digest('base64url');
}
