/**
 * What went wrong, in the domain's words. Features throw these without knowing about HTTP; only the
 * error middleware (src/http/error-handler.ts) maps a kind to a status code.
 */
export type ErrorKind =
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'upstream'
  | 'internal';

export class AppError extends Error {
  constructor(
    readonly kind: ErrorKind,
    /** Safe to show to the person who made the request. */
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

export const validationError = (message: string, details?: Record<string, unknown>) =>
  new AppError('validation', message, details);
export const notFound = (message = 'We could not find that page.') => new AppError('not_found', message);
export const forbidden = (message: string) => new AppError('forbidden', message);
export const conflict = (message: string) => new AppError('conflict', message);
export const upstreamError = (message: string, cause?: unknown) =>
  new AppError('upstream', message, undefined, { cause });

export const isAppError = (err: unknown): err is AppError => err instanceof AppError;
