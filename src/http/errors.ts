/** What went wrong, independent of HTTP; one middleware maps kinds to status codes. */
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

export const statusByKind: Record<ErrorKind, number> = {
  validation: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  upstream: 502,
  internal: 500,
};

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
