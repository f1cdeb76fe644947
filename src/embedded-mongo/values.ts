/**
 * Value helpers shared by the store: BSON type ordering, canonical index keys, cloning and
 * dotted-path access. Documents are held as `bson.deserialize` output with default promotions.
 */
import {
  Binary,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  BSONRegExp,
} from 'bson';

export type Doc = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Doc {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Deep copy of the mutable parts of a document (plain objects and arrays); BSON values are shared. */
export function cloneDoc<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => cloneDoc(x)) as T;
  if (v instanceof Date) return new Date(v.getTime()) as T;
  if (isPlainObject(v)) {
    const out: Doc = {};
    for (const k of Object.keys(v)) out[k] = cloneDoc(v[k]);
    return out as T;
  }
  return v;
}

/** Order of BSON types in comparisons (MongoDB's canonical type order). */
export function typeRank(v: unknown): number {
  if (v === undefined || v === null) return 2;
  if (v instanceof MinKey) return 1;
  if (v instanceof MaxKey) return 100;
  switch (typeof v) {
    case 'number':
    case 'bigint':
      return 3;
    case 'string':
      return 4;
    case 'boolean':
      return 8;
  }
  if (v instanceof Long || v instanceof Decimal128 || v instanceof Int32 || v instanceof Double) return 3;
  if (Array.isArray(v)) return 6;
  if (v instanceof Binary) return 7;
  if (v instanceof ObjectId) return 7.5;
  if (v instanceof Date) return 9;
  if (v instanceof Timestamp) return 10;
  if (v instanceof RegExp || v instanceof BSONRegExp) return 11;
  if (typeof v === 'object' && (v as { _bsontype?: string })._bsontype === 'Symbol') return 4;
  return 5; // embedded document
}

export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return parseFloat(v.toString());
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  return NaN;
}

export function isNumeric(v: unknown): boolean {
  return typeRank(v) === 3;
}

function cmpPrim<T extends number | string>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two values in MongoDB's BSON order. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 2:
    case 1:
    case 100:
      return 0;
    case 3: {
      const x = toNumber(a);
      const y = toNumber(b);
      if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
      if (Number.isNaN(y)) return 1;
      return cmpPrim(x, y);
    }
    case 4:
      return cmpPrim(String(a), String(b));
    case 5: {
      const ka = Object.keys(a as Doc);
      const kb = Object.keys(b as Doc);
      for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
        const fa = ka[i] as string;
        const fb = kb[i] as string;
        const va = (a as Doc)[fa];
        const vb = (b as Doc)[fb];
        const t = cmpPrim(typeRank(va), typeRank(vb));
        if (t !== 0) return t;
        const n = cmpPrim(fa, fb);
        if (n !== 0) return n;
        const c = compareValues(va, vb);
        if (c !== 0) return c;
      }
      return cmpPrim(ka.length, kb.length);
    }
    case 6: {
      const xa = a as unknown[];
      const xb = b as unknown[];
      for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
        const c = compareValues(xa[i], xb[i]);
        if (c !== 0) return c;
      }
      return cmpPrim(xa.length, xb.length);
    }
    case 7: {
      const ba = (a as Binary).buffer;
      const bb = (b as Binary).buffer;
      if (ba.length !== bb.length) return cmpPrim(ba.length, bb.length);
      return Buffer.compare(Buffer.from(ba), Buffer.from(bb));
    }
    case 7.5:
      return cmpPrim((a as ObjectId).toHexString(), (b as ObjectId).toHexString());
    case 8:
      return cmpPrim(Number(a), Number(b));
    case 9:
      return cmpPrim((a as Date).getTime(), (b as Date).getTime());
    case 10:
      return (a as Timestamp).compare(b as Timestamp);
    default:
      return cmpPrim(String(a), String(b));
  }
}

/** Canonical string for a value, equal for values MongoDB considers equal (1 and 1.0, Long and number). */
export function keyOf(v: unknown): string {
  if (v === undefined || v === null) return 'n';
  switch (typeof v) {
    case 'string':
      return 's' + v;
    case 'number':
      return 'i' + (Object.is(v, -0) ? 0 : v);
    case 'boolean':
      return v ? 'bt' : 'bf';
    case 'bigint':
      return 'i' + Number(v);
  }
  if (v instanceof ObjectId) return 'o' + v.toHexString();
  if (v instanceof Date) return 'd' + v.getTime();
  if (typeRank(v) === 3) {
    if (v instanceof Decimal128) return 'i' + parseFloat(v.toString());
    return 'i' + toNumber(v);
  }
  if (Array.isArray(v)) return '[' + v.map(keyOf).join(',') + ']';
  if (v instanceof Binary) return 'x' + v.sub_type + ':' + Buffer.from(v.buffer).toString('base64');
  if (isPlainObject(v)) {
    let s = '{';
    for (const k of Object.keys(v)) s += JSON.stringify(k) + ':' + keyOf(v[k]) + ',';
    return s + '}';
  }
  if (v instanceof RegExp) return 'r' + v.toString();
  return 'z' + String(v);
}

/** Reads a dotted path; returns undefined if missing. Arrays along the way are not traversed. */
export function getPath(doc: unknown, path: string): unknown {
  if (!path.includes('.')) return isPlainObject(doc) ? doc[path] : undefined;
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (Array.isArray(cur)) {
      const idx = Number(part);
      if (!Number.isInteger(idx)) return undefined;
      cur = cur[idx];
    } else if (cur !== null && typeof cur === 'object') {
      cur = (cur as Doc)[part];
    } else return undefined;
  }
  return cur;
}

/**
 * All values a path reaches, descending into arrays as MongoDB's multikey indexes do.
 * A missing path yields [undefined]; an array value yields its elements (or [undefined] if empty).
 */
export function pathValues(doc: unknown, path: string): unknown[] {
  if (!path.includes('.')) {
    const v = doc !== null && typeof doc === 'object' ? (doc as Doc)[path] : undefined;
    if (!Array.isArray(v)) return [v];
    return v.length ? v : [undefined];
  }
  const parts = path.split('.');
  const out: unknown[] = [];
  const walk = (cur: unknown, i: number): void => {
    if (i === parts.length) {
      if (Array.isArray(cur)) {
        if (cur.length === 0) out.push(undefined);
        else for (const x of cur) out.push(x);
      } else out.push(cur);
      return;
    }
    const part = parts[i] as string;
    if (Array.isArray(cur)) {
      const idx = Number(part);
      if (Number.isInteger(idx) && idx >= 0) {
        walk(cur[idx], i + 1);
        return;
      }
      if (cur.length === 0) out.push(undefined);
      for (const el of cur) if (el !== null && typeof el === 'object') walk((el as Doc)[part], i + 1);
      return;
    }
    if (cur !== null && typeof cur === 'object') walk((cur as Doc)[part], i + 1);
    else out.push(undefined);
  };
  walk(doc, 0);
  return out.length ? out : [undefined];
}

export function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Doc = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i] as string;
    let next = cur[p];
    if (next === null || typeof next !== 'object') {
      next = {};
      cur[p] = next;
    }
    cur = next as Doc;
  }
  cur[parts[parts.length - 1] as string] = value;
}

/** Formats a value the way mongod prints it in error messages. */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof ObjectId) return `ObjectId('${v.toHexString()}')`;
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  if (Array.isArray(v)) return '[ ' + v.map(formatValue).join(', ') + ' ]';
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (!keys.length) return '{}';
    return '{ ' + keys.map((k) => `${k}: ${formatValue(v[k])}`).join(', ') + ' }';
  }
  return String(v);
}
