/**
 * The catalog (databases, collections, indexes) and the document storage. Every mutation goes
 * through this module, is applied synchronously (so it is atomic with respect to other requests)
 * and is reported to the journal as a physical, idempotent record.
 */
import { ObjectId } from 'bson';
import { Query } from 'mingo';
import { MongoCommandError } from './errors.js';
import { queryOptions } from './query.js';
import { formatValue, isPlainObject, keyOf, pathValues, type Doc } from './values.js';

export interface IndexSpec {
  v: number;
  key: Record<string, unknown>;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Doc;
  expireAfterSeconds?: number;
  [option: string]: unknown;
}

/** A journal record. Puts and removes carry whole documents, so replaying them twice is harmless. */
export type JournalRecord =
  | { op: 'c'; ns: string; options?: Doc }
  | { op: 'd'; ns: string }
  | { op: 'D'; db: string }
  | { op: 'i'; ns: string; spec: IndexSpec }
  | { op: 'x'; ns: string; name: string }
  | { op: 'p'; ns: string; doc: Doc }
  | { op: 'r'; ns: string; id: unknown };

const SEP = '\u0000';

export class Index {
  readonly spec: IndexSpec;
  readonly fields: string[];
  readonly unique: boolean;
  readonly sparse: boolean;
  readonly partial: Query | undefined;
  /** canonical key → id key (one document) or set of id keys */
  readonly map = new Map<string, string | Set<string>>();

  constructor(spec: IndexSpec) {
    this.spec = spec;
    this.fields = Object.keys(spec.key);
    this.unique = spec.unique === true || spec.name === '_id_';
    this.sparse = spec.sparse === true;
    this.partial = spec.partialFilterExpression
      ? new Query(spec.partialFilterExpression, queryOptions)
      : undefined;
    this.usableForLookup =
      !this.partial &&
      this.fields.every((f) => {
        const dir = spec.key[f];
        return dir === 1 || dir === -1;
      });
  }

  /** Whether equality lookups may be answered from this index (plain ascending/descending keys). */
  readonly usableForLookup: boolean;

  /** The index entries of a document: canonical key and the field values behind it. */
  entries(doc: Doc): { key: string; values: unknown[] }[] {
    if (this.partial && !this.partial.test(doc)) return [];
    if (this.fields.length === 1) {
      const vals = pathValues(doc, this.fields[0] as string);
      if (this.sparse && vals.length === 1 && vals[0] === undefined) return [];
      if (vals.length === 1) return [{ key: keyOf(vals[0]), values: vals }];
      const seen = new Map<string, { key: string; values: unknown[] }>();
      for (const v of vals) {
        const k = keyOf(v);
        if (!seen.has(k)) seen.set(k, { key: k, values: [v] });
      }
      return [...seen.values()];
    }
    const perField = this.fields.map((f) => pathValues(doc, f));
    if (this.sparse && perField.every((v) => v.length === 1 && v[0] === undefined)) return [];
    let combos: { key: string; values: unknown[] }[] = [{ key: '', values: [] }];
    for (const vals of perField) {
      const next: { key: string; values: unknown[] }[] = [];
      for (const c of combos)
        for (const v of vals) next.push({ key: c.key + SEP + keyOf(v), values: [...c.values, v] });
      combos = next;
    }
    const seen = new Map<string, { key: string; values: unknown[] }>();
    for (const c of combos) if (!seen.has(c.key)) seen.set(c.key, c);
    return [...seen.values()];
  }

  keyFromValues(values: unknown[]): string {
    if (values.length === 1) return keyOf(values[0]);
    return values.map((v) => SEP + keyOf(v)).join('');
  }

  add(idk: string, entries: { key: string }[]): void {
    for (const { key } of entries) {
      const cur = this.map.get(key);
      if (cur === undefined) this.map.set(key, idk);
      else if (typeof cur === 'string') {
        if (cur !== idk) this.map.set(key, new Set([cur, idk]));
      } else cur.add(idk);
    }
  }

  remove(idk: string, entries: { key: string }[]): void {
    for (const { key } of entries) {
      const cur = this.map.get(key);
      if (cur === undefined) continue;
      if (typeof cur === 'string') {
        if (cur === idk) this.map.delete(key);
      } else {
        cur.delete(idk);
        if (cur.size === 1) this.map.set(key, cur.values().next().value as string);
        else if (cur.size === 0) this.map.delete(key);
      }
    }
  }

  /** Returns the entry of `entries` already held by a different document, if any. */
  conflict(idk: string, entries: { key: string; values: unknown[] }[]): { values: unknown[] } | undefined {
    if (!this.unique) return undefined;
    for (const e of entries) {
      const cur = this.map.get(e.key);
      if (cur === undefined) continue;
      if (typeof cur === 'string') {
        if (cur !== idk) return e;
      } else {
        for (const other of cur) if (other !== idk) return e;
      }
    }
    return undefined;
  }

  lookup(key: string): Iterable<string> {
    const cur = this.map.get(key);
    if (cur === undefined) return [];
    return typeof cur === 'string' ? [cur] : cur;
  }
}

export function defaultIndexName(key: Record<string, unknown>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}_${String(v)}`)
    .join('_');
}

export class Collection {
  readonly db: string;
  readonly name: string;
  readonly ns: string;
  readonly docs = new Map<string, Doc>();
  indexes: Index[];
  options: Doc;
  private readonly log: (rec: JournalRecord) => void;

  constructor(db: string, name: string, options: Doc, log: (rec: JournalRecord) => void) {
    this.db = db;
    this.name = name;
    this.ns = `${db}.${name}`;
    this.options = options;
    this.log = log;
    this.indexes = [new Index({ v: 2, key: { _id: 1 }, name: '_id_' })];
  }

  private duplicateError(index: Index, values: unknown[]): MongoCommandError {
    const keyPattern: Doc = {};
    const keyValue: Doc = {};
    index.fields.forEach((f, i) => {
      keyPattern[f] = index.spec.key[f];
      keyValue[f] = values[i] === undefined ? null : values[i];
    });
    const dup = index.fields.map((f, i) => `${f}: ${formatValue(values[i])}`).join(', ');
    return new MongoCommandError(
      11000,
      `E11000 duplicate key error collection: ${this.ns} index: ${index.spec.name} dup key: { ${dup} }`,
      { keyPattern, keyValue },
    );
  }

  /** Inserts a new document (which must carry an _id), enforcing every unique index. */
  insert(doc: Doc, journal = true): void {
    if (doc._id === undefined) doc._id = new ObjectId();
    if (Array.isArray(doc._id)) throw new MongoCommandError(2, "can't use an array for _id");
    const idk = keyOf(doc._id);
    const all = this.indexes.map((ix) => ix.entries(doc));
    if (journal) {
      if (this.docs.has(idk)) throw this.duplicateError(this.indexes[0] as Index, [doc._id]);
      for (let i = 0; i < this.indexes.length; i++) {
        const ix = this.indexes[i] as Index;
        const c = ix.conflict(idk, all[i] as { key: string; values: unknown[] }[]);
        if (c) throw this.duplicateError(ix, c.values);
      }
    } else {
      const old = this.docs.get(idk);
      if (old) this.unindex(idk, old);
    }
    this.docs.set(idk, doc);
    for (let i = 0; i < this.indexes.length; i++) (this.indexes[i] as Index).add(idk, all[i] ?? []);
    if (journal) this.log({ op: 'p', ns: this.ns, doc });
  }

  private unindex(idk: string, doc: Doc): void {
    for (const ix of this.indexes) ix.remove(idk, ix.entries(doc));
  }

  /** Replaces a stored document by a new version with the same _id, enforcing unique indexes. */
  replace(oldDoc: Doc, newDoc: Doc): void {
    const idk = keyOf(oldDoc._id);
    const newEntries = this.indexes.map((ix) => ix.entries(newDoc));
    for (let i = 0; i < this.indexes.length; i++) {
      const ix = this.indexes[i] as Index;
      const c = ix.conflict(idk, newEntries[i] as { key: string; values: unknown[] }[]);
      if (c) throw this.duplicateError(ix, c.values);
    }
    for (let i = 0; i < this.indexes.length; i++) {
      const ix = this.indexes[i] as Index;
      ix.remove(idk, ix.entries(oldDoc));
      ix.add(idk, newEntries[i] ?? []);
    }
    this.docs.set(idk, newDoc);
    this.log({ op: 'p', ns: this.ns, doc: newDoc });
  }

  remove(doc: Doc, journal = true): void {
    const idk = keyOf(doc._id);
    const stored = this.docs.get(idk);
    if (!stored) return;
    this.unindex(idk, stored);
    this.docs.delete(idk);
    if (journal) this.log({ op: 'r', ns: this.ns, id: doc._id });
  }

  removeById(id: unknown): void {
    const stored = this.docs.get(keyOf(id));
    if (stored) this.remove(stored, false);
  }

  findIndex(nameOrKey: unknown): Index | undefined {
    if (typeof nameOrKey === 'string') return this.indexes.find((ix) => ix.spec.name === nameOrKey);
    if (isPlainObject(nameOrKey)) {
      const k = keyOf(nameOrKey);
      return this.indexes.find((ix) => keyOf(ix.spec.key) === k);
    }
    return undefined;
  }

  /** Adds an index; returns false if an identical one exists. Fails on conflicting specs or duplicates. */
  createIndex(spec: IndexSpec, journal = true): boolean {
    const sameName = this.findIndex(spec.name);
    const sameKey = this.findIndex(spec.key);
    const opts = (s: IndexSpec): string =>
      keyOf({
        unique: s.unique === true,
        sparse: s.sparse === true,
        p: s.partialFilterExpression ?? null,
        ttl: s.expireAfterSeconds ?? null,
      });
    if (sameName) {
      if (keyOf(sameName.spec.key) !== keyOf(spec.key))
        throw new MongoCommandError(
          86,
          `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${formatValue(spec)}, existing index: ${formatValue(sameName.spec)}`,
        );
      if (opts(sameName.spec) !== opts(spec) && spec.name !== '_id_')
        throw new MongoCommandError(
          85,
          `An equivalent index already exists with the same name but different options. Requested index: ${formatValue(spec)}, existing index: ${formatValue(sameName.spec)}`,
        );
      return false;
    }
    if (sameKey && opts(sameKey.spec) === opts(spec) && !spec.partialFilterExpression)
      throw new MongoCommandError(85, `Index already exists with a different name: ${sameKey.spec.name}`);
    const ix = new Index(spec);
    for (const [idk, doc] of this.docs) {
      const entries = ix.entries(doc);
      if (journal) {
        const c = ix.conflict(idk, entries);
        if (c) throw this.duplicateError(ix, c.values);
      }
      ix.add(idk, entries);
    }
    this.indexes.push(ix);
    if (journal) this.log({ op: 'i', ns: this.ns, spec });
    return true;
  }

  dropIndex(name: string, journal = true): void {
    this.indexes = this.indexes.filter((ix) => ix.spec.name !== name);
    if (journal) this.log({ op: 'x', ns: this.ns, name });
  }
}

export class Catalog {
  readonly dbs = new Map<string, Map<string, Collection>>();
  /** Receives every mutation; the journal installs itself here. */
  onRecord: (rec: JournalRecord) => void = () => {};
  private readonly log = (rec: JournalRecord): void => this.onRecord(rec);

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  /** Returns the collection, creating it (and journaling the creation) if needed. */
  ensure(
    db: string,
    name: string,
    options: Doc = {},
    journal = true,
  ): { coll: Collection; created: boolean } {
    if (!name || name.includes('$') || name.includes('\u0000') || !db)
      throw new MongoCommandError(73, `Invalid namespace specified '${db}.${name}'`);
    let colls = this.dbs.get(db);
    if (!colls) {
      colls = new Map();
      this.dbs.set(db, colls);
    }
    const existing = colls.get(name);
    if (existing) return { coll: existing, created: false };
    const coll = new Collection(db, name, options, this.log);
    colls.set(name, coll);
    if (journal) this.log({ op: 'c', ns: coll.ns, options });
    return { coll, created: true };
  }

  drop(db: string, name: string, journal = true): boolean {
    const colls = this.dbs.get(db);
    if (!colls?.has(name)) return false;
    colls.delete(name);
    if (journal) this.log({ op: 'd', ns: `${db}.${name}` });
    return true;
  }

  dropDatabase(db: string, journal = true): void {
    this.dbs.delete(db);
    if (journal) this.log({ op: 'D', db });
  }

  /** Applies a journal or snapshot record during recovery. */
  apply(rec: JournalRecord): void {
    if (rec.op === 'D') {
      this.dropDatabase(rec.db, false);
      return;
    }
    const dot = rec.ns.indexOf('.');
    const db = rec.ns.slice(0, dot);
    const name = rec.ns.slice(dot + 1);
    switch (rec.op) {
      case 'c':
        this.ensure(db, name, rec.options ?? {}, false);
        break;
      case 'd':
        this.drop(db, name, false);
        break;
      case 'i': {
        const { coll } = this.ensure(db, name, {}, false);
        if (!coll.findIndex(rec.spec.name)) coll.createIndex(rec.spec, false);
        break;
      }
      case 'x':
        this.get(db, name)?.dropIndex(rec.name, false);
        break;
      case 'p':
        this.ensure(db, name, {}, false).coll.insert(rec.doc, false);
        break;
      case 'r':
        this.get(db, name)?.removeById(rec.id);
        break;
    }
  }
}
