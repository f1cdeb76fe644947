import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request id, echoed in X-Request-Id and on every log line about the request. */
    id: string;
    /** A logger bound to this request's id. */
    log: Logger;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** Paths carry credentials in a few places (manage links); logs get the shape, never the token. */
export function loggablePath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(/^\/manage\/[^/]+/, '/manage/[token]');
}

/**
 * Request ids and request logging on pino. The per-request child logger is only built when
 * something logs, and a line is written for every request that is not a successful read (writes,
 * errors, slow answers) — reading pages is the hot path, and a CDN or proxy logs those anyway.
 * At debug level every request is logged.
 */
export function requestLogging(
  logger: Logger,
  options: {
    slowMs?: number;
    /** Told of every finished request (the metrics), before the logging decides to skip it. */
    observe?: (req: IncomingMessage, res: ServerResponse, ms: number) => void;
  } = {},
): RequestHandler {
  const slowMs = options.slowMs ?? 1000;
  const observe = options.observe;
  const children = new WeakMap<object, Logger>();
  let prototypeReady = false;
  return (req, res, next) => {
    if (!prototypeReady) {
      // One getter on the request prototype: the child logger is built only when something logs.
      Object.defineProperty(Object.getPrototypeOf(req), 'log', {
        configurable: true,
        get(this: typeof req) {
          let child = children.get(this);
          if (!child) children.set(this, (child = logger.child({ reqId: this.id })));
          return child;
        },
      });
      prototypeReady = true;
    }
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const status = res.statusCode;
      const read = req.method === 'GET' || req.method === 'HEAD';
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      observe?.(req, res, ms);
      if (read && status < 400 && ms < slowMs && !logger.isLevelEnabled('debug')) return;
      const line = {
        reqId: id,
        method: req.method,
        path: loggablePath(req.originalUrl),
        status,
        ms: Math.round(ms),
      };
      if (status >= 500) logger.error(line, 'request failed');
      else if (status >= 400) logger.warn(line, 'request refused');
      else logger.info(line, 'request');
    });
    next();
  };
}
