import { pino, type Logger } from 'pino';

/** Paths that must never reach a log line: credentials, signatures, session cookies, card-ish data. */
const sensitiveKeys = [
  'password',
  'secret',
  'secretKey',
  'clientSecret',
  'webhookSecret',
  'token',
  'card',
  'cardNumber',
  'cvc',
];

export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'req.headers["paypal-transmission-sig"]',
  'res.headers["set-cookie"]',
  // At the top of a log line and one level down.
  ...sensitiveKeys,
  ...sensitiveKeys.map((key) => `*.${key}`),
];

export function createLogger(options: { level: string; pretty?: boolean; name?: string }): Logger {
  return pino({
    name: options.name ?? 'readerfund',
    level: options.level,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}

export type { Logger };
