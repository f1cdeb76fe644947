/**
 * Query planning and document transformation on top of mingo: index-backed candidate selection,
 * matching, BSON-ordered sorting, projection, update application and upsert seeding.
 */
import { Aggregator, ProcessingMode, Query, update as mingoUpdate } from 'mingo';
import type { Options } from 'mingo/types';
import { MongoCommandError } from './errors.js';
import type { Collection, Index } from './store.js';
import {
  cloneDoc,
  compareValues,
  isNumeric,
  isPlainObject,
  keyOf,
  getPath,
  pathValues,
  setPath,
  typeRank,
  type Doc,
} from './values.js';

export const queryOptions: Partial<Options> = {
  idKey: '_id',
  scriptEnabled: false,
  useStrictMode: true,
  processingMode: ProcessingMode.CLONE_OFF,
};

/** A value that equality can be decided on by canonical key alone. */
function isSimpleScalar(v: unknown): boolean {
  const r = typeRank(v);
  return r === 3 || r === 4 || r === 7.5 || r === 8 || r === 9;
}

function isOperatorObject(v: unknown): v is Doc {
  if (!isPlainObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => k.startsWith('$'));
}

export type Matcher = (doc: Doc) => boolean;

/** Compiles a filter; plain equality filters on scalars are matched without mingo. */
export function compileFilter(filter: Doc | undefined, variables?: Doc): Matcher {
  if (!filter) return () => true;
  const keys = Object.keys(filter);
  if (keys.length === 0) return () => true;
  if ('$where' in filter) throw new MongoCommandError(2, '$where is not allowed in this context');
  if (keys.every((k) => !k.startsWith('$') && isSimpleScalar(filter[k]))) {
    const conds = keys.map((k) => ({ path: k, key: keyOf(filter[k]), simple: !k.includes('.') }));
    return (doc) => {
      for (const c of conds) {
        if (c.simple) {
          const v = doc[c.path];
          if (Array.isArray(v)) {
            if (!v.some((x) => keyOf(x) === c.key)) return false;
          } else if (keyOf(v) !== c.key) return false;
        } else if (!pathValues(doc, c.path).some((x) => keyOf(x) === c.key)) return false;
      }
      return true;
    };
  }
  let q: Query;
  try {
    q = new Query(filter, variables ? { ...queryOptions, variables } : queryOptions);
  } catch (err) {
    throw new MongoCommandError(2, err instanceof Error ? err.message : String(err));
  }
  return (doc) => q.test(doc);
}

/** Equality values a filter pins a top-level path to (scalar, $eq or $in of scalars). */
function equalityValues(filter: Doc, path: string): unknown[] | undefined {
  if (!(path in filter)) return undefined;
  const v = filter[path];
  if (isSimpleScalar(v)) return [v];
  if (isOperatorObject(v)) {
    if ('$eq' in v && isSimpleScalar(v.$eq)) return [v.$eq];
    if (Array.isArray(v.$in) && v.$in.length <= 1000 && v.$in.every(isSimpleScalar)) return v.$in;
  }
  return undefined;
}

/**
 * Documents that may match the filter, found through an index when every field of some index
 * is pinned by equality; otherwise every document of the collection.
 */
export function candidates(coll: Collection, filter: Doc | undefined): Iterable<Doc> {
  if (!filter) return coll.docs.values();
  let best: { ix: Index; keys: string[] } | undefined;
  for (const ix of coll.indexes) {
    if (!ix.usableForLookup) continue;
    if (ix.fields.length === 1) {
      const vals = equalityValues(filter, ix.fields[0] as string);
      if (!vals) continue;
      const keys = vals.map(keyOf);
      if (!best || keys.length < best.keys.length || (ix.unique && !best.ix.unique)) best = { ix, keys };
      if (ix.spec.name === '_id_') break;
      continue;
    }
    const perField: unknown[][] = [];
    for (const f of ix.fields) {
      const vals = equalityValues(filter, f);
      if (!vals) break;
      perField.push(vals);
    }
    if (perField.length !== ix.fields.length) continue;
    let combos: unknown[][] = [[]];
    for (const vals of perField) combos = combos.flatMap((c) => vals.map((v) => [...c, v]));
    if (combos.length > 1000) continue;
    const keys = combos.map((c) => ix.keyFromValues(c));
    if (!best || keys.length < best.keys.length || (ix.unique && !best.ix.unique)) best = { ix, keys };
    if (ix.spec.name === '_id_') break;
  }
  if (!best) return coll.docs.values();
  if (best.keys.length === 1) {
    const out: Doc[] = [];
    for (const idk of best.ix.lookup(best.keys[0] as string)) {
      const d = coll.docs.get(idk);
      if (d) out.push(d);
    }
    return out;
  }
  const out: Doc[] = [];
  const seen = new Set<string>();
  for (const key of best.keys) {
    for (const idk of best.ix.lookup(key)) {
      if (seen.has(idk)) continue;
      seen.add(idk);
      const d = coll.docs.get(idk);
      if (d) out.push(d);
    }
  }
  return out;
}

/** Matching documents in storage order (no sort), up to `limit` if given. */
export function findMatching(coll: Collection, filter: Doc | undefined, limit = 0, variables?: Doc): Doc[] {
  const match = compileFilter(filter, variables);
  const out: Doc[] = [];
  for (const d of candidates(coll, filter)) {
    if (match(d)) {
      out.push(d);
      if (limit && out.length >= limit) break;
    }
  }
  return out;
}

function sortValue(doc: Doc, path: string, dir: number): unknown {
  const v = getPath(doc, path);
  if (!Array.isArray(v) && !path.includes('.')) return v;
  const vals = pathValues(doc, path);
  if (vals.length === 1) return vals[0];
  let best = vals[0];
  for (const x of vals) {
    const c = compareValues(x, best);
    if ((dir > 0 && c < 0) || (dir < 0 && c > 0)) best = x;
  }
  return best;
}

export function sortDocs(docs: Doc[], sort: Doc | undefined): Doc[] {
  if (!sort) return docs;
  const spec = Object.entries(sort).map(([path, d]) => ({
    path,
    dir: d === -1 || d === '-1' || (isPlainObject(d) && d.$meta) ? -1 : 1,
  }));
  if (!spec.length) return docs;
  if (spec.length === 1) {
    const { path, dir } = spec[0] as { path: string; dir: number };
    const keyed = docs.map((d) => ({ d, k: sortValue(d, path, dir) }));
    keyed.sort((a, b) => dir * compareValues(a.k, b.k));
    return keyed.map((x) => x.d);
  }
  return docs.sort((a, b) => {
    for (const { path, dir } of spec) {
      const c = compareValues(sortValue(a, path, dir), sortValue(b, path, dir));
      if (c !== 0) return dir * c;
    }
    return 0;
  });
}

export function project(docs: Doc[], projection: Doc | undefined, filter?: Doc): Doc[] {
  if (!projection || Object.keys(projection).length === 0) return docs;
  const simple = simpleProjection(projection);
  if (simple) return docs.map(simple);
  const positional = Object.keys(projection).some((k) => k.endsWith('.$'));
  try {
    return new Query(positional && filter ? filter : {}, queryOptions).find(docs, projection).all() as Doc[];
  } catch (err) {
    throw new MongoCommandError(2, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Top-level fields only, each 1/true or 0/false: picked or dropped field by field, in the stored
 * document's order as mongod returns them, without the deep copy a general projection makes (a
 * rollup's long `marks` array excluded on every report read, say). Anything else goes to mingo.
 */
function simpleProjection(projection: Doc): ((doc: Doc) => Doc) | null {
  const included = new Set<string>();
  const excluded = new Set<string>();
  for (const [field, value] of Object.entries(projection)) {
    if (field.includes('.') || field.startsWith('$')) return null;
    if (value === 1 || value === true) included.add(field);
    else if (value === 0 || value === false) excluded.add(field);
    else return null;
  }
  if (included.size > 0) {
    // An inclusion may only exclude _id besides; mongod refuses other mixes, and so does mingo.
    if ([...excluded].some((field) => field !== '_id')) return null;
    const withId = !excluded.has('_id');
    return (doc) => {
      const out: Doc = {};
      for (const field of Object.keys(doc)) {
        if (included.has(field) || (withId && field === '_id')) out[field] = doc[field];
      }
      return out;
    };
  }
  return (doc) => {
    const out: Doc = {};
    for (const field of Object.keys(doc)) if (!excluded.has(field)) out[field] = doc[field];
    return out;
  };
}

export function runPipeline(
  input: Doc[],
  pipeline: Doc[],
  resolve: (name: string) => Doc[],
  variables?: Doc,
): Doc[] {
  const stages: Doc[] = [];
  for (const stage of pipeline) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1)
      throw new MongoCommandError(
        40323,
        'A pipeline stage specification object must contain exactly one field.',
      );
    const name = Object.keys(stage)[0];
    if (name === '$count') {
      // mingo yields {field: 0} on empty input; MongoDB yields nothing
      stages.push({ $group: { _id: null, [String(stage.$count)]: { $sum: 1 } } }, { $project: { _id: 0 } });
    } else if (name === '$out' || name === '$merge') {
      // the aggregate command writes these itself (see commands.ts); anywhere else they are misplaced
      throw new MongoCommandError(40601, `${name} can only be the final stage in the pipeline`);
    } else stages.push(stage);
  }
  try {
    return new Aggregator(stages, {
      ...queryOptions,
      collectionResolver: resolve,
      ...(variables ? { variables } : {}),
    }).run<Doc>(input);
  } catch (err) {
    if (err instanceof MongoCommandError) throw err;
    throw new MongoCommandError(2, err instanceof Error ? err.message : String(err));
  }
}

/** A command's `let`: each value is an expression, evaluated once, before the command runs. */
export function evaluateVariables(spec: Doc): Doc {
  const out = runPipeline([{}], [{ $replaceWith: { vars: spec } }], () => [])[0];
  return isPlainObject(out?.vars) ? out.vars : {};
}

const UPDATE_OPERATORS = new Set([
  '$set',
  '$unset',
  '$inc',
  '$mul',
  '$min',
  '$max',
  '$rename',
  '$push',
  '$addToSet',
  '$pull',
  '$pullAll',
  '$pop',
  '$currentDate',
  '$bit',
  '$setOnInsert',
]);

/** mongod tells a modifier document from a replacement by its first field alone. */
export function isOperatorUpdate(u: unknown): boolean {
  if (!isPlainObject(u)) return false;
  for (const k in u) return k.startsWith('$');
  return false;
}

function dollarFieldRefused(field: string, path: string): MongoCommandError {
  return new MongoCommandError(
    52,
    `The dollar ($) prefixed field '${field}' in '${path}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
  );
}

/** A positional element of an update path: `$`, `$[]` or `$[identifier]`. */
const POSITIONAL = /^\$(\[[A-Za-z0-9]*\])?$/;

function idOf(doc: Doc): string {
  return keyOf(doc._id);
}

function immutableId(): MongoCommandError {
  return new MongoCommandError(
    66,
    "Performing an update on the path '_id' would modify the immutable field '_id'",
  );
}

/**
 * Applies an update (operator document, replacement or pipeline) to a copy of `doc`.
 * Returns the new document, or undefined when nothing changed.
 */
export function applyUpdate(
  doc: Doc,
  u: unknown,
  opts: {
    arrayFilters?: Doc[] | undefined;
    filter?: Doc | undefined;
    inserting?: boolean;
    variables?: Doc | undefined;
  },
): Doc | undefined {
  if (Array.isArray(u)) {
    const out = runPipeline([cloneDoc(doc)], u as Doc[], () => [], opts.variables);
    const next = out[0];
    if (!next) return undefined;
    if (next._id === undefined) next._id = doc._id;
    if (idOf(next) !== idOf(doc)) throw immutableId();
    return keyOf(next) === keyOf(doc) ? undefined : next;
  }
  if (!isPlainObject(u)) throw new MongoCommandError(14, 'Update document must be an object or an array');
  if (!isOperatorUpdate(u)) {
    for (const k in u) if (k.startsWith('$')) throw dollarFieldRefused(k, k);
    if (u._id !== undefined && keyOf(u._id) !== idOf(doc)) {
      throw new MongoCommandError(
        66,
        "After applying the update, the (immutable) field '_id' was found to have been altered to _id: " +
          String(u._id),
      );
    }
    const next: Doc = { _id: doc._id };
    for (const k of Object.keys(u)) if (k !== '_id') next[k] = cloneDoc(u[k]);
    return keyOf(next) === keyOf(doc) ? undefined : next;
  }
  const mod: Doc = {};
  let newId: unknown;
  for (const [op, fields] of Object.entries(u)) {
    if (!op.startsWith('$'))
      throw new MongoCommandError(
        9,
        `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`,
      );
    if (!UPDATE_OPERATORS.has(op))
      throw new MongoCommandError(
        9,
        `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`,
      );
    if (!isPlainObject(fields))
      throw new MongoCommandError(
        9,
        `Modifiers operate on fields but we found type ${typeof fields} instead.`,
      );
    const target = op === '$setOnInsert' ? (opts.inserting ? '$set' : undefined) : op;
    if (!target) continue;
    for (const [path, value] of Object.entries(fields)) {
      for (const part of path.split('.'))
        if (part.startsWith('$') && !POSITIONAL.test(part)) throw dollarFieldRefused(part, path);
      if (path === '_id' || path.startsWith('_id.')) {
        // setting _id to its current value is a no-op; an upsert may give a new document its _id
        if (target === '$set' && path === '_id' && keyOf(value) === idOf(doc)) continue;
        if (opts.inserting && target === '$set' && path === '_id' && doc._id === undefined) {
          newId = value;
          continue;
        }
        throw immutableId();
      }
      if (target === '$inc' || target === '$mul') {
        if (!isNumeric(value))
          throw new MongoCommandError(
            14,
            `Cannot ${target === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${path}: ${JSON.stringify(value)}}`,
          );
        const cur = getPath(doc, path);
        if (cur !== undefined && cur !== null && !isNumeric(cur))
          throw new MongoCommandError(
            14,
            `Cannot apply ${target} to a value of non-numeric type. {_id: ${JSON.stringify(String(doc._id))}} has the field '${path}' of non-numeric type ${typeof cur === 'string' ? 'string' : typeof cur}`,
          );
        if (cur === null)
          throw new MongoCommandError(
            14,
            `Cannot apply ${target} to a value of non-numeric type. The field '${path}' is null`,
          );
      }
      const bucket = (mod[target] ??= {}) as Doc;
      bucket[path] = value;
    }
  }
  if (newId !== undefined) {
    const seeded: Doc = { _id: newId, ...cloneDoc(doc) };
    if (Object.keys(mod).length === 0) return seeded;
    doc = seeded;
  }
  if (Object.keys(mod).length === 0) return undefined;
  const next = cloneDoc(doc);
  const needsFilter = Object.values(mod).some((f) => Object.keys(f as Doc).some((p) => /\.\$(\.|$)/.test(p)));
  let changed: string[];
  try {
    changed = mingoUpdate(next, mod, opts.arrayFilters, needsFilter ? opts.filter : undefined, {
      queryOptions,
    });
  } catch (err) {
    throw err instanceof MongoCommandError
      ? err
      : new MongoCommandError(
          /immutable/.test(String(err)) ? 66 : 2,
          err instanceof Error ? err.message : String(err),
        );
  }
  if (changed.length === 0) return undefined;
  if (!opts.inserting && idOf(next) !== idOf(doc)) throw immutableId();
  return next;
}

/** The document an upsert starts from: the filter's equality fields. */
export function upsertSeed(filter: Doc | undefined): Doc {
  const seed: Doc = {};
  const visit = (f: Doc): void => {
    for (const [k, v] of Object.entries(f)) {
      if (k === '$and' && Array.isArray(v)) {
        for (const sub of v) if (isPlainObject(sub)) visit(sub);
        continue;
      }
      if (k.startsWith('$')) continue;
      if (isOperatorObject(v)) {
        if ('$eq' in v) setPath(seed, k, cloneDoc(v.$eq));
        continue;
      }
      setPath(seed, k, cloneDoc(v));
    }
  };
  if (filter) visit(filter);
  return seed;
}
