/**
 * Stripe's form encoding: `a[b][0][c]=v`, `expand[]=x`. Produces nested objects; objects whose keys
 * are all array indices become arrays (ordered by index).
 */
export type FormValue = string | FormObject | FormValue[];
export interface FormObject {
  [key: string]: FormValue;
}

export function parseStripeForm(body: string): FormObject {
  const root: FormObject = {};
  if (!body) return root;
  for (const pair of body.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    const key = decode(rawKey);
    const value = decode(rawValue);
    const path = splitKey(key);
    if (path.length === 0) continue;
    assign(root, path, value);
  }
  return normalise(root) as FormObject;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function splitKey(key: string): string[] {
  const first = key.indexOf('[');
  if (first === -1) return [key];
  const parts = [key.slice(0, first)];
  const re = /\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(key.slice(first))) !== null) parts.push(m[1] ?? '');
  return parts;
}

const PUSH = '\u0000push';

function assign(target: FormObject, path: string[], value: string): void {
  let node: FormObject = target;
  for (let i = 0; i < path.length; i++) {
    let segment = path[i]!;
    if (segment === '') segment = `${PUSH}${Object.keys(node).length}`;
    if (i === path.length - 1) {
      node[segment] = value;
      return;
    }
    const next = node[segment];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      node = next;
    } else {
      const created: FormObject = {};
      node[segment] = created;
      node = created;
    }
  }
}

function normalise(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const entries = keys.map((k) => [k, normalise(value[k]!)] as const);
  const isArray = keys.length > 0 && keys.every((k) => k.startsWith(PUSH) || /^(0|[1-9]\d*)$/.test(k));
  if (isArray) {
    return entries
      .map(([k, v]) => [k.startsWith(PUSH) ? Number(k.slice(PUSH.length)) : Number(k), v] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, v]) => v);
  }
  return Object.fromEntries(entries);
}

/** Stable string of parameters, for comparing idempotent requests. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

// Typed accessors for parsed parameters.
export function str(obj: FormObject | undefined, key: string): string | undefined {
  const v = obj?.[key];
  return typeof v === 'string' ? v : undefined;
}

export function obj(parent: FormObject | undefined, key: string): FormObject | undefined {
  const v = parent?.[key];
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

export function arr(parent: FormObject | undefined, key: string): FormValue[] {
  const v = parent?.[key];
  if (Array.isArray(v)) return v;
  if (v && typeof v === 'object') return Object.values(v);
  return [];
}

export function int(parent: FormObject | undefined, key: string): number | undefined {
  const v = str(parent, key);
  if (v === undefined || v === '' || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

export function stringMap(parent: FormObject | undefined, key: string): Record<string, string> {
  const o = obj(parent, key);
  const out: Record<string, string> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string' && v !== '') out[k] = v;
  }
  return out;
}
