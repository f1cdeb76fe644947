/**
 * Command routing: turns one command document into one reply document. Everything here runs
 * synchronously, so each command observes and changes the store atomically.
 */
import { createHash } from 'node:crypto';
import { Binary, BSONRegExp, calculateObjectSize, Long, ObjectId } from 'bson';
import { asCommandError, MongoCommandError } from './errors.js';
import {
  applyUpdate,
  compileFilter,
  evaluateVariables,
  findMatching,
  isOperatorUpdate,
  project,
  runPipeline,
  sortDocs,
  upsertSeed,
} from './query.js';
import { Collection, defaultIndexName, type Catalog, type IndexSpec } from './store.js';
import { cloneDoc, getPath, isPlainObject, keyOf, pathValues, type Doc } from './values.js';

export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE = 48_000_000;
const MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024;
const CURSOR_IDLE_MS = 10 * 60 * 1000;
/** The server this store answers as. 7.0 (wire 21) suits drivers 6.x and 7.x alike. */
export const SERVER_VERSION = '7.0.0';
export const MAX_WIRE_VERSION = 21;
const MAX_VIEW_DEPTH = 20;
/** How many recent commands' sessions `$listLocalSessions` can see (a power of two). */
const SESSION_RING = 8192;
/** Without authentication every session belongs to the same, empty user name. */
const ANONYMOUS_UID = new Binary(createHash('sha256').update('').digest());

interface CursorState {
  id: Long;
  ns: string;
  docs: Doc[];
  pos: number;
  touched: number;
}

export interface CommandContext {
  connectionId: number;
}

export class CommandRouter {
  private readonly catalog: Catalog;
  private readonly cursors = new Map<string, CursorState>();
  private nextCursorId = BigInt(Date.now()) * 1000n;
  /** The logical session ids of recent commands and when they were used, for `$listLocalSessions`. */
  private readonly recentSessions: (Binary | undefined)[] = new Array<Binary | undefined>(SESSION_RING);
  private readonly recentUse = new Float64Array(SESSION_RING);
  private sessionPos = 0;

  constructor(catalog: Catalog) {
    this.catalog = catalog;
  }

  /** Runs a command and always returns a reply (errors become `ok: 0`). */
  run(cmd: Doc, ctx: CommandContext): Doc {
    try {
      return this.dispatch(cmd, ctx);
    } catch (err) {
      return asCommandError(err).toReply();
    }
  }

  private dispatch(cmd: Doc, ctx: CommandContext): Doc {
    const name = Object.keys(cmd)[0] ?? '';
    const db = typeof cmd.$db === 'string' ? cmd.$db : 'admin';
    if (cmd.lsid !== undefined) this.touchSession((cmd.lsid as Doc).id);
    if (cmd.txnNumber !== undefined || cmd.startTransaction !== undefined || cmd.autocommit !== undefined) {
      throw new MongoCommandError(
        20,
        'Transaction numbers are only allowed on a replica set member or mongos',
      );
    }
    switch (name) {
      case 'hello':
      case 'isMaster':
      case 'ismaster':
        return helloReply(ctx.connectionId);
      case 'ping':
        return { ok: 1 };
      case 'buildInfo':
      case 'buildinfo':
        return {
          version: SERVER_VERSION,
          gitVersion: 'embedded',
          versionArray: [...SERVER_VERSION.split('.').map(Number), 0],
          bits: 64,
          debug: false,
          maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
          storageEngines: ['embedded'],
          ok: 1,
        };
      case 'endSessions':
      case 'killAllSessions':
        return { ok: 1 };
      case 'insert':
        return this.insert(db, cmd);
      case 'update':
        return this.update(db, cmd);
      case 'delete':
        return this.delete(db, cmd);
      case 'findAndModify':
      case 'findandmodify':
        return this.findAndModify(db, cmd, name);
      case 'find':
        return this.find(db, cmd);
      case 'getMore':
        return this.getMore(db, cmd);
      case 'killCursors':
        return this.killCursors(cmd);
      case 'aggregate':
        return this.aggregate(db, cmd);
      case 'count':
        return this.count(db, cmd);
      case 'distinct':
        return this.distinct(db, cmd);
      case 'createIndexes':
        return this.createIndexes(db, cmd);
      case 'listIndexes':
        return this.listIndexes(db, cmd);
      case 'dropIndexes':
      case 'deleteIndexes':
        return this.dropIndexes(db, cmd, name);
      case 'listCollections':
        return this.listCollections(db, cmd);
      case 'listDatabases':
        return this.listDatabases(cmd);
      case 'create':
        return this.create(db, cmd);
      case 'drop':
        return this.drop(db, cmd);
      case 'dropDatabase':
        this.catalog.dropDatabase(db);
        return { dropped: db, ok: 1 };
      default:
        throw new MongoCommandError(59, `no such command: '${name}'`);
    }
  }

  // ---------- helpers ----------

  /** Runs on every command, so it only writes down the id; `localSessions` sorts them out. */
  private touchSession(id: unknown): void {
    if (!(id instanceof Binary)) return;
    const i = this.sessionPos;
    this.recentSessions[i] = id;
    this.recentUse[i] = Date.now();
    this.sessionPos = (i + 1) & (SESSION_RING - 1);
  }

  private localSessions(): Doc[] {
    const latest = new Map<string, { id: Binary; lastUse: number }>();
    for (let i = 0; i < SESSION_RING; i++) {
      const id = this.recentSessions[i];
      if (!id) continue;
      const key = Buffer.from(id.buffer).toString('hex');
      const use = this.recentUse[i] as number;
      const seen = latest.get(key);
      if (!seen || seen.lastUse < use) latest.set(key, { id, lastUse: use });
    }
    return [...latest.values()].map((s) => ({
      _id: { id: s.id, uid: ANONYMOUS_UID },
      lastUse: new Date(s.lastUse),
    }));
  }

  /**
   * What a read of `db.name` starts from: the collection's documents, or for a view the
   * documents of the collection at the bottom of its chain and the view pipelines to apply.
   */
  private source(db: string, name: string): { coll: Collection | undefined; view: Doc[] | undefined } {
    let coll = this.catalog.get(db, name);
    if (!coll || !isView(coll)) return { coll, view: undefined };
    let pipeline: Doc[] = [];
    for (let depth = 0; coll && isView(coll); depth++) {
      if (depth >= MAX_VIEW_DEPTH)
        throw new MongoCommandError(
          166,
          `View depth too deep or view cycle detected; maximum depth is ${MAX_VIEW_DEPTH}`,
        );
      pipeline = [...(coll.options.pipeline as Doc[]), ...pipeline];
      coll = this.catalog.get(db, coll.options.viewOn as string);
    }
    return { coll, view: pipeline };
  }

  /** Resolves `$lookup` and friends, through views too. */
  private resolver(db: string): (name: string) => Doc[] {
    return (other) => {
      const { coll, view } = this.source(db, other);
      const docs = coll ? [...coll.docs.values()] : [];
      return view ? runPipeline(docs, view, this.resolver(db)) : docs;
    };
  }

  /** Refuses a write to a view as mongod does. */
  private writable(db: string, name: string): void {
    const coll = this.catalog.get(db, name);
    if (coll && isView(coll))
      throw new MongoCommandError(166, `Namespace ${db}.${name} is a view, not a collection`);
  }

  private collName(cmd: Doc, field: string): string {
    const v = cmd[field];
    if (typeof v !== 'string' || v.length === 0)
      throw new MongoCommandError(73, `collection name has invalid type ${typeof v}`);
    return v;
  }

  private cursorReply(ns: string, docs: Doc[], batchSize: unknown, singleBatch: boolean, limit = 0): Doc {
    const requested = typeof batchSize === 'number' && batchSize > 0 ? batchSize : 101;
    const firstSize = singleBatch ? (limit > 0 ? limit : docs.length) : requested;
    const { batch, end } = takeBatch(docs, 0, firstSize);
    let id = Long.ZERO;
    if (!singleBatch && end < docs.length) {
      id = this.newCursor(ns, docs, end);
    }
    return { cursor: { firstBatch: batch, id, ns }, ok: 1 };
  }

  private newCursor(ns: string, docs: Doc[], pos: number): Long {
    this.sweepCursors();
    this.nextCursorId += 1n;
    const id = Long.fromBigInt(this.nextCursorId);
    this.cursors.set(id.toString(), { id, ns, docs, pos, touched: Date.now() });
    return id;
  }

  private sweepCursors(): void {
    const cutoff = Date.now() - CURSOR_IDLE_MS;
    for (const [k, c] of this.cursors) if (c.touched < cutoff) this.cursors.delete(k);
  }

  // ---------- reads ----------

  private find(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'find');
    const ns = `${db}.${name}`;
    const coll = this.catalog.get(db, name);
    checkHint(coll, cmd.hint);
    const filter = asDoc(cmd.filter, 'filter');
    const limit = Math.abs(num(cmd.limit));
    const skip = num(cmd.skip);
    const singleBatch = cmd.singleBatch === true || num(cmd.limit) < 0;
    const variables = letOf(cmd);
    if (coll && isView(coll)) {
      // mongod answers a find on a view as an aggregation over the view's pipeline
      const { coll: base, view } = this.source(db, name);
      const stages: Doc[] = [...(view as Doc[])];
      if (filter && Object.keys(filter).length) stages.push({ $match: filter });
      const sort = asDoc(cmd.sort, 'sort');
      if (sort && Object.keys(sort).length) stages.push({ $sort: sort });
      if (skip) stages.push({ $skip: skip });
      if (limit) stages.push({ $limit: limit });
      const projection = asDoc(cmd.projection, 'projection');
      if (projection && Object.keys(projection).length) stages.push({ $project: projection });
      const input = base ? [...base.docs.values()] : [];
      const docs = runPipeline(input, stages, this.resolver(db), variables);
      return this.cursorReply(ns, docs, cmd.batchSize, singleBatch, limit);
    }
    if (!coll) return { cursor: { firstBatch: [], id: Long.ZERO, ns }, ok: 1 };
    let docs: Doc[];
    if (cmd.sort && Object.keys(cmd.sort).length) {
      docs = sortDocs(findMatching(coll, filter, 0, variables), asDoc(cmd.sort, 'sort'));
      if (skip || limit) docs = docs.slice(skip, limit ? skip + limit : undefined);
    } else {
      docs = findMatching(coll, filter, limit ? skip + limit : 0, variables);
      if (skip) docs = docs.slice(skip);
    }
    docs = project(docs, asDoc(cmd.projection, 'projection'), filter);
    return this.cursorReply(ns, docs, cmd.batchSize, singleBatch, limit);
  }

  private getMore(db: string, cmd: Doc): Doc {
    const id = cmd.getMore;
    const key = id instanceof Long ? id.toString() : String(id);
    const cur = this.cursors.get(key);
    if (!cur) throw new MongoCommandError(43, `cursor id ${key} not found`);
    cur.touched = Date.now();
    const size = typeof cmd.batchSize === 'number' && cmd.batchSize > 0 ? cmd.batchSize : Infinity;
    const { batch, end } = takeBatch(cur.docs, cur.pos, size);
    cur.pos = end;
    let outId = cur.id;
    if (end >= cur.docs.length) {
      this.cursors.delete(key);
      outId = Long.ZERO;
    }
    return { cursor: { nextBatch: batch, id: outId, ns: cur.ns }, ok: 1 };
  }

  private killCursors(cmd: Doc): Doc {
    const ids = Array.isArray(cmd.cursors) ? cmd.cursors : [];
    const killed: unknown[] = [];
    const notFound: unknown[] = [];
    for (const id of ids) {
      const key = id instanceof Long ? id.toString() : String(id);
      if (this.cursors.delete(key)) killed.push(id);
      else notFound.push(id);
    }
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  }

  private aggregate(db: string, cmd: Doc): Doc {
    if (!Array.isArray(cmd.pipeline))
      throw new MongoCommandError(14, "'pipeline' option must be specified as an array");
    if (!isPlainObject(cmd.cursor) && cmd.explain !== true)
      throw new MongoCommandError(
        9,
        "The 'cursor' option is required, except for aggregate with the explain argument",
      );
    let pipeline = cmd.pipeline as Doc[];
    const variables = letOf(cmd);
    const last = pipeline[pipeline.length - 1];
    const output = isPlainObject(last) && ('$out' in last || '$merge' in last) ? last : undefined;
    if (output) pipeline = pipeline.slice(0, -1);
    let ns: string;
    let input: Doc[];
    if (cmd.aggregate === 1) {
      ns = `${db}.$cmd.aggregate`;
      input = this.databaseSource(db, pipeline[0]);
      pipeline = pipeline.slice(1);
    } else if (typeof cmd.aggregate === 'string') {
      ns = `${db}.${cmd.aggregate}`;
      const { coll, view } = this.source(db, cmd.aggregate);
      if (!view) checkHint(coll, cmd.hint);
      input = [];
      if (view) {
        if (coll) input = [...coll.docs.values()];
        pipeline = [...view, ...pipeline];
      } else if (coll) {
        const first = pipeline[0];
        if (first && isPlainObject(first.$match)) {
          input = findMatching(coll, first.$match, 0, variables);
          pipeline = pipeline.slice(1);
        } else input = [...coll.docs.values()];
      }
    } else {
      throw new MongoCommandError(
        73,
        "Invalid command format: the 'aggregate' field must specify a collection name or 1",
      );
    }
    const out = pipeline.length ? runPipeline(input, pipeline, this.resolver(db), variables) : input;
    const batchSize = isPlainObject(cmd.cursor) ? cmd.cursor.batchSize : undefined;
    if (output) {
      if ('$out' in output) this.writeOut(db, output.$out, out);
      else this.writeMerge(db, output.$merge, out, variables);
      return this.cursorReply(ns, [], batchSize, false);
    }
    return this.cursorReply(ns, out, batchSize, false);
  }

  /** The first stage of a database-level aggregation (`aggregate: 1`) produces its input. */
  private databaseSource(db: string, first: Doc | undefined): Doc[] {
    const stage = first ? Object.keys(first)[0] : undefined;
    if (first && stage === '$listLocalSessions') {
      const spec = first.$listLocalSessions;
      if (!isPlainObject(spec))
        throw new MongoCommandError(14, '$listLocalSessions must take an object as its argument');
      return this.localSessions();
    }
    if (first && stage === '$documents') {
      const docs = runPipeline([{}], [{ $project: { _id: 0, docs: first.$documents } }], () => [])[0]?.docs;
      if (!Array.isArray(docs) || !docs.every(isPlainObject))
        throw new MongoCommandError(5858203, 'an array is expected');
      return docs;
    }
    throw new MongoCommandError(
      73,
      `{aggregate: 1} is not valid for '${stage ?? ''}'; a collection is required.`,
    );
  }

  /** `$out`: replaces the target collection with the results, all or nothing, keeping its indexes. */
  private writeOut(db: string, spec: unknown, docs: Doc[]): void {
    let outDb = db;
    let outName: unknown = spec;
    if (isPlainObject(spec)) {
      outDb = typeof spec.db === 'string' ? spec.db : db;
      outName = spec.coll;
    }
    if (typeof outName !== 'string' || outName === '')
      throw new MongoCommandError(
        16990,
        "If an object is passed to $out it must have exactly 2 fields: 'db' and 'coll'",
      );
    this.writable(outDb, outName);
    const existing = this.catalog.get(outDb, outName);
    // build the new contents beside the old ones, so a duplicate leaves the target as it was
    const staged = new Collection(outDb, outName, existing?.options ?? {}, () => {});
    const specs = (existing?.indexes ?? []).filter((ix) => ix.spec.name !== '_id_').map((ix) => ix.spec);
    for (const spec of specs) staged.createIndex(spec);
    const rows: Doc[] = [];
    for (const doc of docs) {
      const row = withIdFirst(cloneDoc(doc));
      checkIdForStorage(row._id);
      staged.insert(row);
      rows.push(row);
    }
    this.catalog.drop(outDb, outName);
    const { coll } = this.catalog.ensure(outDb, outName, existing?.options ?? {});
    for (const spec of specs) coll.createIndex(spec);
    for (const row of rows) coll.insert(row);
  }

  /** `$merge`: writes each result into the target as `on`, `whenMatched` and `whenNotMatched` say. */
  private writeMerge(db: string, raw: unknown, docs: Doc[], variables: Doc | undefined): void {
    const spec: Doc = typeof raw === 'string' ? { into: raw } : isPlainObject(raw) ? raw : {};
    let intoDb = db;
    let into: unknown = spec.into;
    if (isPlainObject(into)) {
      intoDb = typeof into.db === 'string' ? into.db : db;
      into = into.coll;
    }
    if (typeof into !== 'string' || into === '')
      throw new MongoCommandError(
        51178,
        "$merge 'into' field must be either a string or an object, but found " + typeof spec.into,
      );
    this.writable(intoDb, into);
    const on =
      spec.on === undefined ? ['_id'] : typeof spec.on === 'string' ? [spec.on] : (spec.on as unknown[]);
    if (!Array.isArray(on) || on.length === 0 || !on.every((f) => typeof f === 'string'))
      throw new MongoCommandError(51186, "$merge 'on' field must be either a string or an array of strings");
    const onFields = on;
    const whenMatched = spec.whenMatched ?? 'merge';
    const whenNotMatched = spec.whenNotMatched ?? 'insert';
    const byId = onFields.length === 1 && onFields[0] === '_id';
    let coll = this.catalog.get(intoDb, into);
    // the matched document is found through the unique index behind 'on' (the _id index by default)
    const wanted = [...onFields].sort().join('\u0000');
    const index = byId
      ? undefined
      : coll?.indexes.find(
          (ix) => ix.unique && !ix.partial && [...ix.fields].sort().join('\u0000') === wanted,
        );
    if (!byId && !index)
      throw new MongoCommandError(51183, 'Cannot find index to verify that join fields will be unique');
    coll ??= this.catalog.ensure(intoDb, into).coll;
    for (const source of docs) {
      let doc = cloneDoc(source);
      // a result without an _id cannot match on _id: it is new
      if (byId && doc._id === undefined) doc = withIdFirst(doc);
      const values: Doc = {};
      for (const f of onFields) {
        const v = getPath(doc, f);
        if (v === undefined || v === null || Array.isArray(v))
          throw new MongoCommandError(
            51132,
            `$merge write error: 'on' field '${f}' cannot be missing, null, undefined or an array`,
          );
        values[f] = v;
      }
      let match: Doc | undefined;
      if (index) {
        const key = index.keyFromValues(index.fields.map((f) => values[f]));
        for (const idk of index.lookup(key)) match ??= coll.docs.get(idk);
      } else match = coll.docs.get(keyOf(doc._id));
      if (!match) {
        if (whenNotMatched === 'insert') {
          doc = withIdFirst(doc);
          checkIdForStorage(doc._id);
          coll.insert(doc);
        } else if (whenNotMatched === 'fail')
          throw new MongoCommandError(
            13113,
            '$merge could not find a matching document in the target collection for at least one document in the source collection',
          );
        continue;
      }
      if (whenMatched === 'keepExisting') continue;
      if (whenMatched === 'fail') {
        coll.insert(withIdFirst(doc)); // answers E11000 on the index behind 'on', as mongod does
        continue;
      }
      let next: Doc | undefined;
      if (Array.isArray(whenMatched)) {
        // the pipeline sees the result document as $$new, or as the names `let` binds
        const names = isPlainObject(spec.let) ? spec.let : { new: '$$ROOT' };
        const values = runPipeline([source], [{ $replaceWith: { v: names } }], () => [], variables)[0]
          ?.v as Doc;
        next = applyUpdate(match, whenMatched, { variables: { ...(variables ?? {}), ...values } });
      } else if (whenMatched === 'replace') {
        next = applyUpdate(match, stripId(doc, match), {});
      } else if (whenMatched === 'merge') {
        next = applyUpdate(match, { ...match, ...stripId(doc, match) }, {});
      } else
        throw new MongoCommandError(
          51191,
          "Enumeration value for $merge 'whenMatched' must be one of replace, keepExisting, merge, fail or a pipeline",
        );
      if (next) coll.replace(match, next);
    }
  }

  private count(db: string, cmd: Doc): Doc {
    const { coll, view } = this.source(db, this.collName(cmd, 'count'));
    if (!view) checkHint(coll, cmd.hint);
    const query = asDoc(cmd.query, 'query');
    let n: number;
    if (view) {
      const stages = query && Object.keys(query).length ? [...view, { $match: query }] : view;
      n = runPipeline(coll ? [...coll.docs.values()] : [], stages, this.resolver(db)).length;
    } else if (!coll) return { n: 0, ok: 1 };
    else n = !query || Object.keys(query).length === 0 ? coll.docs.size : findMatching(coll, query).length;
    const skip = num(cmd.skip);
    const limit = Math.abs(num(cmd.limit));
    n = Math.max(0, n - skip);
    if (limit) n = Math.min(n, limit);
    return { n, ok: 1 };
  }

  private distinct(db: string, cmd: Doc): Doc {
    const { coll, view } = this.source(db, this.collName(cmd, 'distinct'));
    if (typeof cmd.key !== 'string') throw new MongoCommandError(14, "'key' must be a string");
    if (!coll && !view) return { values: [], ok: 1 };
    const query = asDoc(cmd.query, 'query');
    const docs = view
      ? runPipeline(
          coll ? [...coll.docs.values()] : [],
          query && Object.keys(query).length ? [...view, { $match: query }] : view,
          this.resolver(db),
        )
      : findMatching(coll as Collection, query);
    const seen = new Map<string, unknown>();
    for (const d of docs) {
      for (const v of pathValues(d, cmd.key)) {
        if (v === undefined) continue;
        const k = keyOf(v);
        if (!seen.has(k)) seen.set(k, v);
      }
    }
    return { values: [...seen.values()], ok: 1 };
  }

  // ---------- writes ----------

  private insert(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'insert');
    const docs = cmd.documents;
    if (!Array.isArray(docs)) throw new MongoCommandError(14, "'documents' must be an array");
    const ordered = cmd.ordered !== false;
    this.writable(db, name);
    const { coll } = this.catalog.ensure(db, name);
    let n = 0;
    const writeErrors: Doc[] = [];
    for (let i = 0; i < docs.length; i++) {
      let doc = docs[i] as Doc;
      try {
        if (!isPlainObject(doc)) throw new MongoCommandError(2, 'document to insert must be an object');
        doc = withIdFirst(doc);
        checkIdForStorage(doc._id);
        coll.insert(doc);
        n++;
      } catch (err) {
        writeErrors.push(asCommandError(err).toWriteError(i));
        if (ordered) break;
      }
    }
    return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
  }

  private buildUpsert(
    filter: Doc | undefined,
    u: unknown,
    arrayFilters: Doc[] | undefined,
    variables: Doc | undefined,
  ): Doc {
    const seed = upsertSeed(filter);
    let doc: Doc;
    if (Array.isArray(u) || isOperatorUpdate(u)) {
      doc = applyUpdate(seed, u, { arrayFilters, inserting: true, variables }) ?? seed;
    } else {
      const replacement = asDoc(u, 'u') ?? {};
      for (const k in replacement) if (k.startsWith('$')) applyUpdate({}, replacement, {}); // refuses as for an update
      doc = cloneDoc(replacement);
      if (doc._id === undefined && seed._id !== undefined) doc._id = seed._id;
    }
    const id = doc._id === undefined ? new ObjectId() : doc._id;
    const { _id: _drop, ...rest } = doc;
    checkIdForStorage(id);
    return { _id: id, ...rest };
  }

  private update(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'update');
    const updates = cmd.updates;
    if (!Array.isArray(updates)) throw new MongoCommandError(14, "'updates' must be an array");
    for (const st of updates)
      if (isPlainObject(st) && st.sort !== undefined)
        // an 8.0 option; a 7.0 server refuses the whole command while parsing it
        throw new MongoCommandError(40415, "BSON field 'update.updates.sort' is an unknown field.");
    this.writable(db, name);
    const variables = letOf(cmd);
    const ordered = cmd.ordered !== false;
    let n = 0;
    let nModified = 0;
    const upserted: Doc[] = [];
    const writeErrors: Doc[] = [];
    for (let i = 0; i < updates.length; i++) {
      const st = updates[i] as Doc;
      try {
        const q = asDoc(st.q, 'q') ?? {};
        const u = st.u;
        const arrayFilters = Array.isArray(st.arrayFilters) ? (st.arrayFilters as Doc[]) : undefined;
        const multi = st.multi === true;
        if (multi && !Array.isArray(u) && !isOperatorUpdate(u))
          throw new MongoCommandError(9, 'multi update is not supported for replacement-style update');
        const coll = this.catalog.get(db, name);
        checkHint(coll, st.hint);
        const matches = coll ? findMatching(coll, q, multi ? 0 : 1, variables) : [];
        if (matches.length === 0) {
          if (st.upsert === true) {
            const doc = this.buildUpsert(q, u, arrayFilters, variables);
            this.catalog.ensure(db, name).coll.insert(doc);
            n++;
            upserted.push({ index: i, _id: doc._id });
          }
          continue;
        }
        const target = coll as Collection;
        for (const doc of matches) {
          n++;
          const next = applyUpdate(doc, u, { arrayFilters, filter: q, variables });
          if (next) {
            target.replace(doc, next);
            nModified++;
          }
        }
      } catch (err) {
        writeErrors.push(asCommandError(err).toWriteError(i));
        if (ordered) break;
      }
    }
    const reply: Doc = { n, nModified };
    if (upserted.length) reply.upserted = upserted;
    if (writeErrors.length) reply.writeErrors = writeErrors;
    reply.ok = 1;
    return reply;
  }

  private delete(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'delete');
    const deletes = cmd.deletes;
    if (!Array.isArray(deletes)) throw new MongoCommandError(14, "'deletes' must be an array");
    this.writable(db, name);
    const variables = letOf(cmd);
    const ordered = cmd.ordered !== false;
    let n = 0;
    const writeErrors: Doc[] = [];
    const coll = this.catalog.get(db, name);
    for (let i = 0; i < deletes.length; i++) {
      const st = deletes[i] as Doc;
      try {
        if (!coll) continue;
        checkHint(coll, st.hint);
        const q = asDoc(st.q, 'q') ?? {};
        const one = num(st.limit) === 1;
        const matches = findMatching(coll, q, one ? 1 : 0, variables);
        for (const d of matches) {
          coll.remove(d);
          n++;
        }
      } catch (err) {
        writeErrors.push(asCommandError(err).toWriteError(i));
        if (ordered) break;
      }
    }
    return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
  }

  private findAndModify(db: string, cmd: Doc, cmdName: string): Doc {
    const name = this.collName(cmd, cmdName);
    const q = asDoc(cmd.query, 'query') ?? {};
    const sort = asDoc(cmd.sort, 'sort');
    const fields = asDoc(cmd.fields, 'fields');
    const arrayFilters = Array.isArray(cmd.arrayFilters) ? (cmd.arrayFilters as Doc[]) : undefined;
    const remove = cmd.remove === true;
    if (!remove && cmd.update === undefined)
      throw new MongoCommandError(9, 'Either an update or remove=true must be specified');
    this.writable(db, name);
    const variables = letOf(cmd);
    const coll = this.catalog.get(db, name);
    checkHint(coll, cmd.hint);
    let doc: Doc | undefined;
    if (coll) {
      doc =
        sort && Object.keys(sort).length
          ? sortDocs(findMatching(coll, q, 0, variables), sort)[0]
          : findMatching(coll, q, 1, variables)[0];
    }
    const shape = (d: Doc | undefined): Doc | null => (d ? (project([d], fields, q)[0] ?? null) : null);
    if (remove) {
      if (!doc || !coll) return { lastErrorObject: { n: 0 }, value: null, ok: 1 };
      coll.remove(doc);
      return { lastErrorObject: { n: 1 }, value: shape(doc), ok: 1 };
    }
    if (!doc || !coll) {
      if (cmd.upsert !== true)
        return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
      const created = this.buildUpsert(q, cmd.update, arrayFilters, variables);
      this.catalog.ensure(db, name).coll.insert(created);
      return {
        lastErrorObject: { n: 1, updatedExisting: false, upserted: created._id },
        value: cmd.new === true ? shape(created) : null,
        ok: 1,
      };
    }
    const next = applyUpdate(doc, cmd.update, { arrayFilters, filter: q, variables });
    if (next) coll.replace(doc, next);
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: shape(cmd.new === true ? (next ?? doc) : doc),
      ok: 1,
    };
  }

  // ---------- catalog ----------

  private createIndexes(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'createIndexes');
    const specs = cmd.indexes;
    if (!Array.isArray(specs) || specs.length === 0)
      throw new MongoCommandError(2, 'Must specify at least one index to create');
    this.writable(db, name);
    const { coll, created } = this.catalog.ensure(db, name);
    const before = coll.indexes.length;
    for (const raw of specs) {
      if (!isPlainObject(raw) || !isPlainObject(raw.key) || Object.keys(raw.key).length === 0)
        throw new MongoCommandError(67, 'Index keys cannot be empty.');
      const { key, name: ixName, ...options } = raw;
      delete options.ns;
      const spec: IndexSpec = {
        v: 2,
        key,
        name: typeof ixName === 'string' ? ixName : defaultIndexName(key),
        ...options,
      };
      if (spec.partialFilterExpression !== undefined && !isPlainObject(spec.partialFilterExpression))
        throw new MongoCommandError(2, 'partialFilterExpression must be an object');
      if (spec.partialFilterExpression) compileFilter(spec.partialFilterExpression);
      coll.createIndex(spec);
    }
    const reply: Doc = {
      numIndexesBefore: before,
      numIndexesAfter: coll.indexes.length,
      createdCollectionAutomatically: created,
    };
    if (before === coll.indexes.length) reply.note = 'all indexes already exist';
    reply.ok = 1;
    return reply;
  }

  private listIndexes(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'listIndexes');
    const coll = this.catalog.get(db, name);
    if (!coll) throw new MongoCommandError(26, `ns does not exist: ${db}.${name}`);
    this.writable(db, name);
    const specs = coll.indexes.map((ix) => ({ ...ix.spec }));
    const batchSize = isPlainObject(cmd.cursor) ? cmd.cursor.batchSize : undefined;
    return this.cursorReply(`${db}.$cmd.listIndexes.${name}`, specs, batchSize, false);
  }

  private dropIndexes(db: string, cmd: Doc, cmdName: string): Doc {
    const name = this.collName(cmd, cmdName);
    const coll = this.catalog.get(db, name);
    if (!coll) throw new MongoCommandError(26, `ns not found ${db}.${name}`);
    this.writable(db, name);
    const was = coll.indexes.length;
    const which = cmd.index;
    const names: string[] = [];
    if (which === '*') {
      for (const ix of coll.indexes) if (ix.spec.name !== '_id_') names.push(ix.spec.name);
    } else if (Array.isArray(which)) {
      for (const w of which) names.push(String(w));
    } else {
      const ix = coll.findIndex(which);
      if (!ix)
        throw new MongoCommandError(
          27,
          typeof which === 'string'
            ? `index not found with name [${which}]`
            : `can't find index with key: ${JSON.stringify(which)}`,
        );
      names.push(ix.spec.name);
    }
    for (const n of names) {
      if (n === '_id_') throw new MongoCommandError(72, 'cannot drop _id index');
      if (!coll.findIndex(n)) throw new MongoCommandError(27, `index not found with name [${n}]`);
    }
    for (const n of names) coll.dropIndex(n);
    return { nIndexesWas: was, ok: 1 };
  }

  private listCollections(db: string, cmd: Doc): Doc {
    const colls = this.catalog.dbs.get(db);
    let infos: Doc[] = [...(colls?.values() ?? [])].map((c) =>
      isView(c)
        ? { name: c.name, type: 'view', options: c.options, info: { readOnly: true } }
        : {
            name: c.name,
            type: 'collection',
            options: c.options,
            info: { readOnly: false },
            idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
          },
    );
    const filter = asDoc(cmd.filter, 'filter');
    if (filter && Object.keys(filter).length) {
      const m = compileFilter(filter);
      infos = infos.filter(m);
    }
    if (cmd.nameOnly === true) infos = infos.map((i) => ({ name: i.name, type: i.type }));
    const batchSize = isPlainObject(cmd.cursor) ? cmd.cursor.batchSize : undefined;
    return this.cursorReply(`${db}.$cmd.listCollections`, infos, batchSize, false);
  }

  private listDatabases(cmd: Doc): Doc {
    const databases = [...this.catalog.dbs.entries()].map(([name, colls]) => ({
      name,
      sizeOnDisk: 0,
      empty: colls.size === 0,
    }));
    if (cmd.nameOnly === true) return { databases: databases.map((d) => ({ name: d.name })), ok: 1 };
    return { databases, totalSize: 0, ok: 1 };
  }

  private create(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'create');
    if (this.catalog.get(db, name))
      throw new MongoCommandError(48, `Collection ${db}.${name} already exists.`);
    const options: Doc = {};
    for (const [k, v] of Object.entries(cmd)) {
      if (
        k === 'create' ||
        k.startsWith('$') ||
        k === 'lsid' ||
        k === 'writeConcern' ||
        k === 'apiVersion' ||
        k === 'comment'
      )
        continue;
      options[k] = v;
    }
    if (options.viewOn !== undefined || options.pipeline !== undefined) {
      if (typeof options.viewOn !== 'string' || options.viewOn === '')
        throw new MongoCommandError(
          options.viewOn === undefined ? 9 : 14,
          options.viewOn === undefined
            ? "'pipeline' requires 'viewOn' to also be specified"
            : "'viewOn' option must be a string",
        );
      const pipeline = options.pipeline ?? [];
      if (!Array.isArray(pipeline) || !pipeline.every(isPlainObject))
        throw new MongoCommandError(14, "'pipeline' option must be specified as an array");
      for (const stage of pipeline)
        if ('$out' in stage || '$merge' in stage)
          throw new MongoCommandError(
            40600,
            `${'$out' in stage ? '$out' : '$merge'} cannot be used in a view definition`,
          );
      if (options.viewOn === name) throw new MongoCommandError(166, 'View cycle detected');
      options.pipeline = pipeline;
    }
    this.catalog.ensure(db, name, options);
    return { ok: 1 };
  }

  private drop(db: string, cmd: Doc): Doc {
    const name = this.collName(cmd, 'drop');
    const coll = this.catalog.get(db, name);
    if (!coll) throw new MongoCommandError(26, 'ns not found');
    const was = coll.indexes.length;
    this.catalog.drop(db, name);
    return { nIndexesWas: was, ns: `${db}.${name}`, ok: 1 };
  }

  /** Deletes documents whose TTL index date has passed. */
  sweepTtl(now = Date.now()): number {
    let removed = 0;
    for (const colls of this.catalog.dbs.values()) {
      for (const coll of colls.values()) {
        for (const ix of coll.indexes) {
          const ttl = ix.spec.expireAfterSeconds;
          if (typeof ttl !== 'number' || ix.fields.length !== 1) continue;
          const field = ix.fields[0] as string;
          const expired: Doc[] = [];
          for (const d of coll.docs.values()) {
            let min = Infinity;
            for (const v of pathValues(d, field)) if (v instanceof Date) min = Math.min(min, v.getTime());
            if (min + ttl * 1000 <= now) expired.push(d);
          }
          for (const d of expired) {
            coll.remove(d);
            removed++;
          }
        }
      }
    }
    return removed;
  }
}

export function helloReply(connectionId: number): Doc {
  const reply: Doc = {
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE,
    maxWriteBatchSize: 100000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  };
  return reply;
}

function takeBatch(docs: Doc[], start: number, size: number): { batch: Doc[]; end: number } {
  const end = Math.min(docs.length, start + size);
  if (end - start <= 1) return { batch: docs.slice(start, end), end };
  let bytes = 0;
  let i = start;
  for (; i < end; i++) {
    bytes += calculateObjectSize(docs[i] as Doc);
    if (bytes > MAX_BATCH_BYTES && i > start) break;
  }
  return { batch: docs.slice(start, i), end: i };
}

function idFirst(doc: Doc): boolean {
  for (const k in doc) return k === '_id';
  return false;
}

/** MongoDB stores `_id` as the first field, and gives a document without one an ObjectId. */
function withIdFirst(doc: Doc): Doc {
  if (doc._id === undefined) return { _id: new ObjectId(), ...doc };
  if (idFirst(doc)) return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

export function isView(coll: Collection): boolean {
  return typeof coll.options.viewOn === 'string';
}

/** The `let` variables of a command. */
/**
 * mongod's planner refuses a hint that names no index of the collection (code 2, BadValue):
 * an index name, or a key pattern equal to an index's. `$natural` and an empty hint name no
 * index and are accepted. A collection that does not exist (or a view) is not checked.
 */
function checkHint(coll: Collection | undefined, hint: unknown): void {
  if (hint === undefined || hint === null || !coll || isView(coll)) return;
  if (typeof hint !== 'string' && !isPlainObject(hint)) return;
  if (isPlainObject(hint) && (Object.keys(hint).length === 0 || '$natural' in hint)) return;
  if (!coll.findIndex(hint))
    throw new MongoCommandError(2, 'hint provided does not correspond to an existing index');
}

function letOf(cmd: Doc): Doc | undefined {
  if (cmd.let === undefined) return undefined;
  if (!isPlainObject(cmd.let)) throw new MongoCommandError(14, "'let' must be an object");
  return evaluateVariables(cmd.let);
}

/**
 * The values mongod refuses as an `_id` (insert.cpp): arrays, regular expressions, and documents
 * with a `$`-prefixed field anywhere inside (other than a DBRef's `$ref`, `$id`, `$db`).
 */
function checkIdForStorage(id: unknown): void {
  if (id === null || typeof id !== 'object') return;
  if (Array.isArray(id)) throw new MongoCommandError(2, "can't use an array for _id");
  if (id instanceof RegExp || id instanceof BSONRegExp)
    throw new MongoCommandError(2, "can't use a regex for _id");
  if (isPlainObject(id)) storableEmbedded(id);
}

const DBREF_FIELDS = new Set(['$ref', '$id', '$db']);

function storableEmbedded(doc: Doc): void {
  for (const [k, v] of Object.entries(doc)) {
    if (k.startsWith('$') && !('$ref' in doc && '$id' in doc && DBREF_FIELDS.has(k)))
      throw new MongoCommandError(52, `${k} is not valid for storage.`);
    if (isPlainObject(v)) storableEmbedded(v);
    else if (Array.isArray(v)) for (const x of v) if (isPlainObject(x)) storableEmbedded(x);
  }
}

/** A `$merge` result as it may replace the matched document: the target keeps its `_id`. */
function stripId(doc: Doc, target: Doc): Doc {
  const { _id, ...rest } = doc;
  if (_id !== undefined && keyOf(_id) !== keyOf(target._id))
    throw new MongoCommandError(
      66,
      '$merge failed to update the matching document, did you attempt to modify the _id or the shard key?',
    );
  return rest;
}

function num(v: unknown): number {
  if (typeof v === 'number') return Math.trunc(v);
  if (v instanceof Long) return v.toNumber();
  return 0;
}

function asDoc(v: unknown, field: string): Doc | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw new MongoCommandError(14, `'${field}' must be an object`);
  return v;
}
