/** What each staff form may send. Unknown fields, repeated fields and wrong types are a 400. */
import { z } from 'zod';
import { validationError } from '../errors.js';

const csrf = z.string().max(512);
const next = z.string().max(500).optional();
const password = z.string().max(1024);

export const loginForm = z.object({ _csrf: csrf, email: z.string().max(320), password, next }).strict();
export const codeForm = z.object({ _csrf: csrf, code: z.string().max(64), next }).strict();
export const enrolForm = z.object({ _csrf: csrf, code: z.string().max(64) }).strict();
export const logoutForm = z.object({ _csrf: csrf }).strict();
export const inviteForm = z
  .object({
    _csrf: csrf,
    email: z.string().max(320),
    role: z.enum(['admin', 'finance']),
    name: z.string().max(120).optional(),
  })
  .strict();
export const roleForm = z.object({ _csrf: csrf, role: z.enum(['admin', 'finance']) }).strict();
export const statusForm = z.object({ _csrf: csrf, status: z.enum(['active', 'disabled']) }).strict();
export const invitationForm = z
  .object({ _csrf: csrf, token: z.string().max(200), password, confirmation: password })
  .strict();

const fieldNames: Record<string, string> = {
  email: 'email address',
  password: 'password',
  confirmation: 'password confirmation',
  code: 'code',
  role: 'role',
  status: 'status',
  name: 'name',
  token: 'invitation link',
};

/** Parses a form body or throws a validation error naming the field that was wrong. */
export function parseForm<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw validationError('The form sent fields we do not expect. Please reload the page and try again.');
  }
  const field = String(issue.path[0] ?? '');
  throw validationError(
    `The ${fieldNames[field] ?? 'form'} was not sent as expected. Please reload the page and try again.`,
  );
}

/**
 * Where to go after signing in: a path inside the staff area of this site, never anywhere else
 * (no open redirect). Anything doubtful becomes the staff home.
 */
export function safeNext(value: unknown): string {
  const home = '/staff';
  if (typeof value !== 'string' || value.length === 0 || value.length > 500) return home;
  if (!value.startsWith('/staff') || value.startsWith('//') || /[\\\s]/.test(value)) return home;
  try {
    const base = 'http://staff.invalid';
    const url = new URL(value, base);
    if (url.origin !== base) return home;
    if (url.pathname !== '/staff' && !url.pathname.startsWith('/staff/')) return home;
    if (url.pathname.startsWith('/staff/login') || url.pathname === '/staff/logout') return home;
    return `${url.pathname}${url.search}`;
  } catch {
    return home;
  }
}
