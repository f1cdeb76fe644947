/**
 * The one place that talks to `@paypal/checkout-server-sdk`. The SDK is CommonJS without types and
 * archived, so it is loaded through `createRequire` behind a small typed surface; everything it
 * lacks (subscriptions, catalog, reporting, webhook verification) goes through its generic
 * `execute({ path, verb, body, headers })`, which still gives us its OAuth token handling.
 */
import { createRequire } from 'node:module';
import type { z } from 'zod';
import type { Logger } from '../../log.js';
import { ProviderError } from '../types.js';

interface SdkRequest {
  path: string;
  verb: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  headers: Record<string, string>;
}

interface SdkResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  result?: unknown;
}

interface SdkHttpClient {
  execute(request: SdkRequest): Promise<SdkResponse>;
}

interface SdkModule {
  core: {
    PayPalEnvironment: new (
      clientId: string,
      clientSecret: string,
      baseUrl: string,
      webUrl: string,
    ) => object;
    PayPalHttpClient: new (environment: object) => SdkHttpClient;
  };
}

const sdk = createRequire(import.meta.url)('@paypal/checkout-server-sdk') as SdkModule;

/** PayPal's own API hosts; `api-m` is the host PayPal currently recommends for REST calls. */
const ENVIRONMENTS = {
  sandbox: { api: 'https://api-m.sandbox.paypal.com', web: 'https://www.sandbox.paypal.com' },
  live: { api: 'https://api-m.paypal.com', web: 'https://www.paypal.com' },
} as const;

export type PayPalEnvironmentOption = 'sandbox' | 'live' | { baseUrl: string };

/** A PayPal API error answer: `{ name, message, details: [{ issue, description }], debug_id }`. */
export interface PayPalErrorBody {
  name?: string;
  message?: string;
  details?: { issue?: string; description?: string; field?: string }[];
  debug_id?: string;
}

/** A ProviderError that keeps PayPal's status and issue so callers can treat known cases as outcomes. */
export class PayPalRequestError extends ProviderError {
  constructor(
    message: string,
    retryable: boolean,
    statusCode: number | undefined,
    readonly errorName: string | undefined,
    readonly issue: string | undefined,
    options?: { cause?: unknown },
  ) {
    super('paypal', message, retryable, {
      ...options,
      ...(statusCode !== undefined ? { statusCode } : {}),
    });
    this.name = 'PayPalRequestError';
  }

  /** True when PayPal named this issue (as `name` or as the first detail's `issue`). */
  is(issue: string): boolean {
    return this.issue === issue || this.errorName === issue;
  }
}

export interface PayPalCall<T> {
  method: SdkRequest['verb'];
  path: string;
  body?: unknown;
  requestId?: string;
  /** What we were doing, for error messages a person can read ("capture order 5O1…"). */
  action: string;
  /** Validates the reply; omitted for replies without a body (204). */
  schema?: z.ZodType<T>;
}

export interface PayPalClient {
  call<T>(request: PayPalCall<T>): Promise<T>;
  /** Base URL of the API, for diagnostics only. */
  readonly apiBase: string;
}

function parseErrorBody(text: unknown): PayPalErrorBody | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

interface SdkHttpError {
  statusCode?: number;
  message?: string;
  code?: string;
}

/** Turns whatever the SDK rejected with into a PayPalRequestError without leaking credentials. */
export function toPayPalError(err: unknown, action: string): PayPalRequestError {
  const e = (err ?? {}) as SdkHttpError;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined) {
    // Connection refused, reset, DNS, timeout: the request may or may not have arrived; retrying
    // is safe because every mutating call carries a PayPal-Request-Id.
    const reason = e.code ?? (err instanceof Error ? err.message : 'unknown network error');
    return new PayPalRequestError(
      `Could not reach PayPal to ${action} (${reason})`,
      true,
      undefined,
      undefined,
      undefined,
      { cause: err },
    );
  }
  const body = parseErrorBody(e.message);
  const detail = body?.details?.[0];
  const issue = detail?.issue;
  const explained = [body?.name, detail?.issue, detail?.description ?? body?.message]
    .filter((part): part is string => typeof part === 'string' && part.length > 0)
    .join(': ');
  const debug = body?.debug_id ? ` (debug id ${body.debug_id})` : '';
  const retryable = status >= 500 || status === 429 || status === 408;
  let message: string;
  if (status === 401 || status === 403) {
    message = `PayPal refused our credentials while trying to ${action} (HTTP ${status}); check the client id and secret`;
  } else if (retryable) {
    message = `PayPal failed to ${action} (HTTP ${status}), try again later${debug}`;
  } else {
    message = `PayPal declined to ${action} (HTTP ${status}${explained ? `, ${explained}` : ''})${debug}`;
  }
  return new PayPalRequestError(message, retryable, status, body?.name, issue, { cause: err });
}

export function createPayPalClient(options: {
  clientId: string;
  clientSecret: string;
  environment: PayPalEnvironmentOption;
  logger: Logger;
}): PayPalClient {
  const { api, web } =
    typeof options.environment === 'string'
      ? ENVIRONMENTS[options.environment]
      : { api: options.environment.baseUrl, web: options.environment.baseUrl };
  const environment = new sdk.core.PayPalEnvironment(options.clientId, options.clientSecret, api, web);
  const http = new sdk.core.PayPalHttpClient(environment);
  const log = options.logger.child({ provider: 'paypal' });

  return {
    apiBase: api,
    async call<T>(request: PayPalCall<T>): Promise<T> {
      // A fresh headers object per call: the SDK writes the Authorization header into it, and a
      // reused object would carry a stale token into the next request.
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        Accept: 'application/json',
      };
      if (request.requestId) headers['PayPal-Request-Id'] = request.requestId;
      if (request.method === 'POST') headers.Prefer = 'return=representation';
      const started = Date.now();
      let response: SdkResponse;
      try {
        response = await http.execute({
          path: request.path,
          verb: request.method,
          // The SDK only sends a body when it is truthy; POSTs always send at least `{}`.
          body: request.body ?? (request.method === 'POST' ? {} : undefined),
          headers,
        });
      } catch (err) {
        const mapped = toPayPalError(err, request.action);
        // 4xx answers are often expected outcomes (already captured, already cancelled) that the
        // caller turns into results; only outages deserve a warning.
        log[mapped.retryable ? 'warn' : 'info'](
          {
            method: request.method,
            path: request.path.split('?')[0],
            status: mapped.statusCode,
            issue: mapped.issue ?? mapped.errorName,
            ms: Date.now() - started,
          },
          'PayPal request failed',
        );
        throw mapped;
      }
      log.debug(
        {
          method: request.method,
          path: request.path.split('?')[0],
          status: response.statusCode,
          ms: Date.now() - started,
        },
        'PayPal request',
      );
      if (!request.schema) return undefined as T;
      const parsed = request.schema.safeParse(response.result);
      if (!parsed.success) {
        log.error(
          { path: request.path.split('?')[0], issues: parsed.error.issues.slice(0, 5) },
          'Unexpected PayPal reply',
        );
        throw new PayPalRequestError(
          `PayPal answered with something we could not use while trying to ${request.action}`,
          false,
          response.statusCode,
          undefined,
          undefined,
        );
      }
      return parsed.data;
    },
  };
}
