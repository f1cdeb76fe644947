import nodeConfig from 'config';
import { z } from 'zod';

/** Environment strings arrive as text; JSON files give real types. Accept both. */
const booleanish = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no|)$/i.test(value)) return false;
  return value;
}, z.boolean());

const port = z.coerce.number().int().min(0).max(65535);
const minorAmount = z.number().int().positive();
const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'must be a three-letter ISO 4217 code such as "USD"');
const providerId = z.enum(['stripe', 'paypal']);

const planSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]{2,40}$/, 'must be lowercase letters, digits and dashes'),
    name: z.string().min(1),
    description: z.string().default(''),
    interval: z.enum(['once', 'month']),
    currencies: z.array(currencyCode).min(1),
    defaultAmountMinor: minorAmount,
    minAmountMinor: minorAmount,
    maxAmountMinor: minorAmount,
    providers: z.array(providerId).min(1),
    /** The amounts the panel offers as one-tap choices (besides "Other"); empty: the default alone. */
    presetAmountsMinor: z.array(minorAmount).max(6).default([]),
  })
  .strict()
  .refine((p) => p.minAmountMinor <= p.defaultAmountMinor && p.defaultAmountMinor <= p.maxAmountMinor, {
    message: 'defaultAmountMinor must lie between minAmountMinor and maxAmountMinor',
    path: ['defaultAmountMinor'],
  })
  .refine((p) => p.presetAmountsMinor.every((a) => a >= p.minAmountMinor && a <= p.maxAmountMinor), {
    message: 'every preset must lie between minAmountMinor and maxAmountMinor',
    path: ['presetAmountsMinor'],
  })
  .refine((p) => new Set(p.presetAmountsMinor).size === p.presetAmountsMinor.length, {
    message: 'must not offer the same amount twice',
    path: ['presetAmountsMinor'],
  })
  .refine((p) => p.presetAmountsMinor.length === 0 || p.presetAmountsMinor.includes(p.defaultAmountMinor), {
    // The panel selects the default preset; a default that is not offered could not be selected.
    message: 'must include defaultAmountMinor',
    path: ['presetAmountsMinor'],
  });

const rateLimitSchema = z
  .object({ points: z.number().int().positive(), durationSeconds: z.number().int().positive() })
  .strict();

const trustProxy = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    if (/^\d+$/.test(value)) return Number(value);
    if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
    return value;
  },
  z.union([z.boolean(), z.number().int().min(0), z.string().min(1)]),
);

export const configSchema = z
  .object({
    env: z.string(),
    site: z
      .object({
        name: z.string().min(1),
        tagline: z.string(),
        // Empty: derived from where the app listens (http://localhost:PORT).
        publicUrl: z
          .union([z.literal(''), z.url({ protocol: /^https?$/ })])
          .transform((u) => u.replace(/\/+$/, '')),
        locale: z.string().min(2),
        contactEmail: z.email(),
      })
      .strict(),
    server: z
      .object({
        port,
        // Empty: 127.0.0.1 while the payment simulator or the embedded store is in use, else 0.0.0.0.
        host: z.string(),
        trustProxy,
        bodyLimit: z.string().regex(/^\d+(b|kb|mb)$/i, 'must look like "100kb"'),
        shutdownTimeoutMs: z.coerce.number().int().min(100).max(60_000),
        // A whole request (headers and body) must arrive within requestTimeoutMs, its headers within
        // headersTimeoutMs; an idle keep-alive connection is closed after keepAliveTimeoutMs.
        requestTimeoutMs: z.coerce.number().int().min(1000).max(600_000),
        headersTimeoutMs: z.coerce.number().int().min(1000).max(600_000),
        keepAliveTimeoutMs: z.coerce.number().int().min(100).max(600_000),
        /** WEB_CONCURRENCY: worker processes behind the port (node:cluster); 1 serves from this process alone. */
        webConcurrency: z.coerce.number().int().min(1).max(64),
      })
      .strict()
      .refine((s) => s.headersTimeoutMs <= s.requestTimeoutMs, {
        message: 'must not be longer than server.requestTimeoutMs',
        path: ['headersTimeoutMs'],
      }),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
        pretty: booleanish,
      })
      .strict(),
    db: z
      .object({
        uri: z
          .string()
          .refine(
            (v) => v === '' || /^mongodb(\+srv)?:\/\//.test(v),
            'must start with mongodb:// or mongodb+srv://',
          ),
        embeddedPath: z.string().min(1),
      })
      .strict(),
    payments: z
      .object({
        mode: z.enum(['auto', 'simulator', 'live']),
        stripe: z
          .object({
            secretKey: z.string(),
            webhookSecret: z.string(),
            apiVersion: z
              .string()
              .regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/, 'must look like "2025-03-31.basil"'),
            subscriptionsEnabled: booleanish,
          })
          .strict(),
        paypal: z
          .object({
            clientId: z.string(),
            clientSecret: z.string(),
            webhookId: z.string(),
            environment: z.enum(['sandbox', 'live']),
          })
          .strict(),
        simulator: z.object({ stripePort: port, paypalPort: port }).strict(),
      })
      .strict(),
    donations: z
      .object({
        minimumAmountMinor: minorAmount,
        rateLimits: z.object({ perIp: rateLimitSchema, perEmail: rateLimitSchema }).strict(),
        plans: z.array(planSchema).min(1),
      })
      .strict(),
    consent: z
      .object({
        /** Changing it asks every reader again. */
        policyVersion: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/, 'must be letters, digits, dots or dashes'),
        /** A choice (a refusal exactly as an acceptance) is asked again after this many months. */
        askAgainAfterMonths: z.number().int().min(1).max(13),
        /** Consent records are kept this long after they were made, then pruned by a daily job. */
        recordRetentionYears: z.number().int().min(1).max(10),
        /** The third-party comments widget, framed only for readers who allowed `comments`. */
        commentsWidget: z
          .object({
            origin: z.url({ protocol: /^https?$/ }).transform((u) => new URL(u).origin),
            embedPath: z.string().regex(/^\/[^\s]*$/, 'must be a path starting with /'),
          })
          .strict(),
        rateLimit: rateLimitSchema,
        categories: z
          .array(
            z
              .object({
                id: z.string().regex(/^[a-z][a-z0-9_]{1,30}$/, 'must be lowercase letters, digits and _'),
                label: z.string().min(1),
                /** Plain language: what it does and who is involved. */
                description: z.string().min(1),
                required: z.boolean(),
                /** A Global Privacy Control signal (Sec-GPC: 1) counts as a refusal of this category. */
                optOutByGpc: z.boolean().default(false),
                /** First-party cookies of this category; expired whenever the category is refused. */
                cookies: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)).default([]),
                /** Scripts emitted (and allowed by CSP) only on pages of readers who granted it. */
                scripts: z.array(z.url({ protocol: /^https?$/ })).default([]),
              })
              .strict(),
          )
          .min(1),
      })
      .strict()
      .superRefine((c, ctx) => {
        const ids = new Set<string>();
        c.categories.forEach((category, i) => {
          if (ids.has(category.id)) {
            ctx.addIssue({ code: 'custom', path: ['categories', i, 'id'], message: 'is used twice' });
          }
          ids.add(category.id);
          if (category.required && (category.optOutByGpc || category.scripts.length)) {
            ctx.addIssue({
              code: 'custom',
              path: ['categories', i, 'required'],
              message: 'a required category cannot be refused by GPC or carry optional scripts',
            });
          }
        });
        if (!c.categories.some((category) => category.id === 'necessary' && category.required)) {
          ctx.addIssue({
            code: 'custom',
            path: ['categories'],
            message: 'must contain the required category "necessary"',
          });
        }
      }),
    reports: z
      .object({
        /** Rollups are kept per day in each of these zones, so reports in them are exact. */
        timeZones: z
          .array(
            z.string().refine((zone) => {
              try {
                new Intl.DateTimeFormat('en', { timeZone: zone });
                return true;
              } catch {
                return false;
              }
            }, 'must be IANA time zone names such as "UTC" or "Europe/Berlin"'),
          )
          .min(1),
        /** A past-due subscription counts in MRR for this many days, then as involuntary churn. */
        pastDueGraceDays: z.number().int().min(0).max(90),
        /** Count article page views (no cookie, no identifier) for the conversion rate per article. */
        articleViews: z.boolean().default(true),
        /** Optional: a converted net total, shown only beside the per-currency figures, naming its source and date. */
        conversion: z
          .object({
            currency: currencyCode,
            source: z.string().min(1),
            date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must look like "2026-11-30"'),
            /** Units of `currency` per one unit of each other currency, as exact decimal strings. */
            rates: z.record(
              currencyCode,
              z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal such as "1.0832"'),
            ),
          })
          .strict()
          .optional(),
      })
      .strict(),
    mail: z.object({ smtpUrl: z.string(), from: z.string().min(3), outboxDir: z.string().min(1) }).strict(),
    retention: z
      .object({
        /**
         * Raw webhook payloads are emptied this many days after they arrived (the event, its status
         * and what it did stay). Providers retry a delivery for at most 3 days; past that a payload
         * only serves an investigation or a replay after a bug.
         */
        webhookPayloadDays: z.number().int().min(7).max(3650),
        /** How long bookkeeping law makes the publisher keep payment records; told to readers who ask for erasure. */
        bookkeepingYears: z.number().int().min(1).max(30),
        /** The law behind bookkeepingYears, in words a reader understands. */
        bookkeepingBasis: z.string().min(10),
      })
      .strict(),
    rights: z
      .object({
        /** The emailed link to a reader's export and erasure page works this long. */
        linkLifetimeMinutes: z.number().int().min(10).max(10_080),
        rateLimits: z.object({ perIp: rateLimitSchema, perEmail: rateLimitSchema }).strict(),
      })
      .strict(),
    secrets: z.object({ session: z.string(), links: z.string() }).strict(),
    metrics: z
      .object({
        /** METRICS_TOKEN: /metrics on the app's port answers only this bearer token; empty, it is off there. */
        token: z
          .string()
          .refine((v) => v === '' || v.length >= 16, 'must be at least 16 characters when set'),
        /** METRICS_PORT: a port of its own for /metrics, no token asked (bind it where only Prometheus reaches); empty, none. */
        port: z
          .union([z.literal(''), port])
          .transform((v) => (v === '' ? null : v))
          .refine((v) => v !== 0, 'must be a fixed port (not 0) when set'),
        /** Where the metrics port listens: this machine only unless METRICS_HOST says otherwise. */
        host: z.string().min(1),
      })
      .strict(),
    staff: z
      .object({
        cookieName: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'must be letters, digits, "_" or "-"'),
        idleTimeoutMinutes: z.number().int().min(1).max(1440),
        absoluteLifetimeHours: z.number().int().min(1).max(168),
        invitationLifetimeHours: z.number().int().min(1).max(720),
        lockout: z
          .object({
            maxFailures: z.number().int().min(1),
            windowMinutes: z.number().int().min(1),
            lockMinutes: z.number().int().min(1),
          })
          .strict(),
        rateLimits: z.object({ signInPerIp: rateLimitSchema }).strict(),
        /** Encrypts TOTP secrets at rest; empty → derived from the session secret. */
        totpEncryptionKey: z
          .string()
          .refine((v) => v === '' || v.length >= 32, 'must be at least 32 characters when set'),
      })
      .strict(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    c.donations.plans.forEach((plan, i) => {
      if (ids.has(plan.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['donations', 'plans', i, 'id'],
          message: 'is used by two plans',
        });
      }
      ids.add(plan.id);
      if (plan.minAmountMinor < c.donations.minimumAmountMinor) {
        ctx.addIssue({
          code: 'custom',
          path: ['donations', 'plans', i, 'minAmountMinor'],
          message: 'is below donations.minimumAmountMinor',
        });
      }
    });
    if (!isDevelopmentEnv(c.env) && c.payments.mode === 'simulator') {
      ctx.addIssue({
        code: 'custom',
        path: ['payments', 'mode'],
        message: `is "simulator", but the payment simulator runs only when NODE_ENV is development or test (NODE_ENV=${c.env})`,
      });
    }
  });

/** A setting that must be set, by the environment variable an operator sets. */
interface MissingSetting {
  key: string;
  variable: string;
  why: string;
}

/**
 * What a deployment lacks, all of it at once: an operator should not fix one variable per restart.
 * A provider's keys come as a set (both of Stripe's, all three of PayPal's); outside development
 * and test there must be a real MongoDB, at least one payment provider (donations are the point,
 * and the simulator does not run there), the two secrets, and the public address links use.
 */
function missingSettings(c: RawConfig): MissingSetting[] {
  const missing: MissingSetting[] = [];
  const { stripe, paypal } = c.payments;
  const production = !isDevelopmentEnv(c.env);
  if (stripe.secretKey && !stripe.webhookSecret) {
    missing.push({
      key: 'payments.stripe.webhookSecret',
      variable: 'STRIPE_WEBHOOK_SECRET',
      why: 'STRIPE_SECRET_KEY is set',
    });
  }
  if (paypal.clientId && !paypal.clientSecret) {
    missing.push({
      key: 'payments.paypal.clientSecret',
      variable: 'PAYPAL_CLIENT_SECRET',
      why: 'PAYPAL_CLIENT_ID is set',
    });
  }
  if (paypal.clientId && !paypal.webhookId) {
    missing.push({
      key: 'payments.paypal.webhookId',
      variable: 'PAYPAL_WEBHOOK_ID',
      why: 'PAYPAL_CLIENT_ID is set',
    });
  }
  if (!production) return missing;
  if (c.db.uri === '') {
    missing.push({
      key: 'db.uri',
      variable: 'MONGODB_URI',
      why: 'a real MongoDB; the embedded store is for development and tests',
    });
  }
  if (!stripe.secretKey && !paypal.clientId) {
    missing.push({
      key: 'payments',
      variable:
        'STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_WEBHOOK_ID',
      why: 'at least one payment provider; the payment simulator is for development and tests',
    });
  }
  for (const [key, variable] of [
    ['session', 'SESSION_SECRET'],
    ['links', 'LINK_SIGNING_SECRET'],
  ] as const) {
    if (c.secrets[key].length < 32) {
      missing.push({
        key: `secrets.${key}`,
        variable,
        why: c.secrets[key] ? 'too short: at least 32 random characters' : 'at least 32 random characters',
      });
    }
  }
  if (c.site.publicUrl === '') {
    missing.push({
      key: 'site.publicUrl',
      variable: 'PUBLIC_URL',
      why: 'the address readers, links and webhooks use',
    });
  }
  return missing;
}

/**
 * The payment simulator, the embedded store and generated secrets are for development and tests
 * only; any other NODE_ENV (production, staging, prod...) is treated as production. Unset means
 * development.
 */
export function isDevelopmentEnv(env: string | undefined): boolean {
  return env === undefined || env === '' || env === 'development' || env === 'test';
}

export type RawConfig = z.infer<typeof configSchema>;
export type Plan = RawConfig['donations']['plans'][number];
export type ProviderId = z.infer<typeof providerId>;

export interface AppConfig extends Omit<RawConfig, 'payments' | 'server' | 'site'> {
  payments: RawConfig['payments'] & { resolvedMode: 'simulator' | 'live' };
  /** `hostFrom` says whether HOST was configured or chosen (127.0.0.1 for local-only setups). */
  server: RawConfig['server'] & { hostFrom: 'config' | 'local-default' | 'default' };
  /** `publicUrlFrom` says whether PUBLIC_URL was configured or derived from the listening address. */
  site: RawConfig['site'] & { publicUrlFrom: 'config' | 'listen-address' };
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    detail: string,
    /** Every setting found missing, by environment variable (empty for an invalid value). */
    readonly missing: string[] = [],
  ) {
    super(`Invalid configuration: ${key} ${detail}`);
    this.name = 'ConfigError';
  }
}

/** One error naming every missing setting, on one line. */
class MissingSettingsError extends ConfigError {
  constructor(env: string, missing: MissingSetting[]) {
    super(
      missing[0]!.key,
      '',
      missing.map((m) => m.variable),
    );
    const list = missing.map((m) => `${m.variable} (${m.why})`).join('; ');
    this.message = `Invalid configuration: NODE_ENV=${env || 'development'} needs settings that are not set: ${list}`;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Validates a raw configuration tree; throws a ConfigError naming the first bad key. */
export function parseConfig(raw: unknown): AppConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    throw new ConfigError(key, issue.message.replace(/^Invalid input: /, ''));
  }
  const c = result.data;
  const missing = missingSettings(c);
  if (missing.length) throw new MissingSettingsError(c.env, missing);
  const { stripe, paypal } = c.payments;
  const hasKeys = stripe.secretKey !== '' || paypal.clientId !== '';
  const resolvedMode = c.payments.mode === 'auto' ? (hasKeys ? 'live' : 'simulator') : c.payments.mode;
  // Nothing but this machine should reach the simulator's demo payments or the embedded store's
  // development data unless HOST says otherwise.
  const localOnly = resolvedMode === 'simulator' || c.db.uri === '';
  const host = c.server.host || (localOnly ? '127.0.0.1' : '0.0.0.0');
  const hostFrom = c.server.host ? 'config' : localOnly ? 'local-default' : 'default';
  const server = { ...c.server, host, hostFrom } as const;
  const site = c.site.publicUrl
    ? { ...c.site, publicUrlFrom: 'config' as const }
    : { ...c.site, publicUrl: listenUrl(host, c.server.port), publicUrlFrom: 'listen-address' as const };
  return deepFreeze({ ...c, server, site, payments: { ...c.payments, resolvedMode } });
}

/** The address a browser on this machine uses for an app listening on host:port. */
export function listenUrl(host: string, port: number): string {
  const anyOrLoopback = ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost', ''].includes(host);
  const name = anyOrLoopback ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

/**
 * The configuration once the server listens: a PUBLIC_URL derived from the configured port is
 * replaced by one with the port actually bound (port 0 picks one).
 */
export function withListenPort(config: AppConfig, port: number): AppConfig {
  if (config.site.publicUrlFrom !== 'listen-address') return config;
  const publicUrl = listenUrl(config.server.host, port);
  if (publicUrl === config.site.publicUrl) return config;
  return deepFreeze({ ...config, site: { ...config.site, publicUrl } });
}

let loaded: AppConfig | undefined;

/** The configuration from config/ and the environment, validated once per process. */
export function getConfig(): AppConfig {
  loaded ??= parseConfig({ env: process.env.NODE_ENV ?? 'development', ...nodeConfig.util.toObject() });
  return loaded;
}
