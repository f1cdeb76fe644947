import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { AppError, type ErrorKind } from '../errors.js';

/** The one mapping from domain error kinds to HTTP status codes. */
const statusByKind: Record<ErrorKind, number> = {
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

const titles: Record<ErrorKind, string> = {
  validation: 'Please check what you sent',
  unauthorized: 'Please sign in',
  forbidden: 'Not allowed',
  not_found: 'Page not found',
  conflict: 'That has changed meanwhile',
  payload_too_large: 'That was too large',
  rate_limited: 'Too many attempts',
  upstream: 'A payment provider did not answer',
  internal: 'Something went wrong',
};

/** API clients and providers get JSON; people with browsers get a page. */
export function wantsJson(req: Request): boolean {
  if (req.path.startsWith('/api/') || req.path.startsWith('/webhooks/')) return true;
  if (req.path === '/healthz' || req.path === '/readyz') return true;
  return req.accepts(['html', 'json']) === 'json';
}

/** Turns anything thrown into an AppError we can show; unknown errors become 'internal'. */
function toAppError(err: unknown): { error: AppError; unexpected: boolean } {
  if (err instanceof AppError) return { error: err, unexpected: false };
  const e = err as { type?: string; status?: number; statusCode?: number; expose?: boolean };
  // body-parser and http-errors carry a status and say whether their message is safe to show.
  if (e?.type === 'entity.too.large') {
    return {
      error: new AppError('payload_too_large', 'The request body is larger than we accept.'),
      unexpected: false,
    };
  }
  if (e?.type === 'entity.parse.failed') {
    return { error: new AppError('validation', 'The request body could not be read.'), unexpected: false };
  }
  const status = e?.status ?? e?.statusCode;
  if (status && status >= 400 && status < 500) {
    const kind = (Object.entries(statusByKind).find(([, s]) => s === status)?.[0] ??
      'validation') as ErrorKind;
    return { error: new AppError(kind, titles[kind]), unexpected: false };
  }
  return {
    error: new AppError('internal', 'Something went wrong. Please try again in a moment.'),
    unexpected: true,
  };
}

export const notFoundHandler: RequestHandler = (_req, _res, next) => {
  next(new AppError('not_found', 'We could not find that page.'));
};

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const { error, unexpected } = toAppError(err);
  const status = statusByKind[error.kind];
  const requestId = String(req.id ?? '');
  if (unexpected) req.log.error({ err, requestId }, 'unhandled error');
  else if (status >= 500) req.log.warn({ err, requestId }, error.message);

  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(status);
  if (status >= 500 || status === 429) res.set('Cache-Control', 'no-store');
  if (wantsJson(req)) {
    res.json({ error: { kind: error.kind, message: error.message, ...(error.details ?? {}), requestId } });
    return;
  }
  res.render(
    'error',
    { title: titles[error.kind], message: error.message, status, requestId },
    (renderErr, html) => {
      if (renderErr) {
        req.log.error({ err: renderErr }, 'error page failed to render');
        res.type('text/plain').send(`${titles[error.kind]}\n\n${error.message}\n\nReference: ${requestId}\n`);
        return;
      }
      res.type('html').send(html);
    },
  );
};
