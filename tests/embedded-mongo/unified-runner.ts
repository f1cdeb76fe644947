/**
 * A small runner for the MongoDB driver specifications' unified test format, covering what the
 * CRUD tests use: entities (client, database, collection), initialData, the collection and
 * database operations, expectResult / expectError with the unified matching rules, expectEvents
 * (commandStartedEvent) and outcome. It drives the project's own `mongodb` driver.
 */
import assert from 'node:assert/strict';
import { EJSON, type Binary, type Code, type DBRef, type Double, type Int32, type Long } from 'bson';
import {
  MongoBulkWriteError,
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  type AnyBulkWriteOperation,
  type Collection,
  type CommandStartedEvent,
  type Db,
  type Document,
  type MongoClientOptions,
} from 'mongodb';

export type Doc = Record<string, unknown>;

export interface UnifiedFile {
  description: string;
  schemaVersion: string;
  runOnRequirements?: Requirement[];
  createEntities?: Doc[];
  initialData?: CollectionData[];
  tests: UnifiedTest[];
}

export interface UnifiedTest {
  description: string;
  runOnRequirements?: Requirement[];
  skipReason?: string;
  operations: Operation[];
  expectEvents?: ExpectedEvents[];
  outcome?: CollectionData[];
}

interface Requirement {
  minServerVersion?: string;
  maxServerVersion?: string;
  topologies?: string[];
  serverless?: 'require' | 'forbid' | 'allow';
  auth?: boolean;
  csfle?: boolean;
  serverParameters?: Doc;
}

interface CollectionData {
  collectionName: string;
  databaseName: string;
  createOptions?: Doc;
  documents: Doc[];
}

interface Operation {
  name: string;
  object: string;
  arguments?: Doc;
  expectResult?: unknown;
  expectError?: ExpectedError;
  saveResultAsEntity?: string;
  ignoreResultAndError?: boolean;
}

interface ExpectedError {
  isError?: boolean;
  isClientError?: boolean;
  isTimeoutError?: boolean;
  errorContains?: string;
  errorCode?: number;
  errorCodeName?: string;
  errorLabelsContain?: string[];
  errorLabelsOmit?: string[];
  expectResult?: unknown;
  errorResponse?: Doc;
}

interface ExpectedEvents {
  client: string;
  eventType?: string;
  events: Doc[];
  ignoreExtraEvents?: boolean;
}

/** What the server under test is, for runOnRequirements. */
export interface ServerInfo {
  version: number[];
  topology: 'single' | 'replicaset' | 'sharded';
}

/** Parses a unified test file; extended JSON is read in relaxed mode (plain numbers stay numbers). */
export function parseUnifiedFile(text: string): UnifiedFile {
  return EJSON.parse(text, { relaxed: true }) as UnifiedFile;
}

function parseVersion(v: string): number[] {
  return v.split('.').map((p) => Number.parseInt(p, 10) || 0);
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function requirementMet(req: Requirement, server: ServerInfo): boolean {
  if (req.minServerVersion && compareVersions(server.version, parseVersion(req.minServerVersion)) < 0)
    return false;
  if (req.maxServerVersion) {
    // "4.4.99" style bounds compare on the parts given
    const max = parseVersion(req.maxServerVersion);
    if (compareVersions(server.version.slice(0, max.length), max) > 0) return false;
  }
  if (req.topologies && !req.topologies.includes(server.topology)) {
    // a sharded-replicaset requirement is met by no standalone either
    return false;
  }
  if (req.serverless === 'require') return false;
  if (req.auth === true || req.csfle === true) return false;
  return true;
}

/** A test runs when its file's and its own requirements are met (each list: any one entry). */
export function isApplicable(file: UnifiedFile, test: UnifiedTest, server: ServerInfo): boolean {
  const anyMet = (reqs?: Requirement[]) =>
    !reqs || reqs.length === 0 || reqs.some((r) => requirementMet(r, server));
  return anyMet(file.runOnRequirements) && anyMet(test.runOnRequirements);
}

export async function describeServer(uri: string): Promise<ServerInfo> {
  const client = new MongoClient(uri);
  try {
    const admin = client.db('admin');
    const build = await admin.command({ buildInfo: 1 });
    const hello = await admin.command({ hello: 1 });
    const topology = hello.msg === 'isdbgrid' ? 'sharded' : hello.setName ? 'replicaset' : 'single';
    return { version: parseVersion(String(build.version)), topology };
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Matching (the specification's "Evaluating Matches")

function isDocument(v: unknown): v is Doc {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** BSON values are told apart by `_bsontype` (a Timestamp is also a Long). */
function bsonKind(v: unknown): string | undefined {
  return v !== null && typeof v === 'object' ? (v as { _bsontype?: string })._bsontype : undefined;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const kind = bsonKind(v);
  if (kind === 'Int32' || kind === 'Double') return (v as Int32 | Double).valueOf();
  if (kind === 'Long') return (v as Long).toNumber();
  return undefined;
}

/** The unified format's type alias for an actual value. */
export function bsonTypeOf(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 2 ** 31 - 1 ? 'int' : 'double';
  if (typeof v === 'bigint') return 'long';
  if (v instanceof Date) return 'date';
  if (v instanceof RegExp) return 'regex';
  if (Array.isArray(v)) return 'array';
  const kinds: Record<string, string> = {
    Long: 'long',
    Int32: 'int',
    Double: 'double',
    Decimal128: 'decimal',
    ObjectId: 'objectId',
    Binary: 'binData',
    BSONRegExp: 'regex',
    Timestamp: 'timestamp',
    BSONSymbol: 'symbol',
    MinKey: 'minKey',
    MaxKey: 'maxKey',
    DBRef: 'object',
  };
  const kind = bsonKind(v);
  if (kind === 'Code') return (v as Code).scope ? 'javascriptWithScope' : 'javascript';
  return (kind && kinds[kind]) ?? 'object';
}

function typeMatches(expected: unknown, actual: unknown): boolean {
  const names = Array.isArray(expected) ? expected : [expected];
  const actualType = bsonTypeOf(actual);
  return names.some(
    (n) => n === actualType || (n === 'number' && ['int', 'long', 'double', 'decimal'].includes(actualType)),
  );
}

/** A special operator document: exactly one key, starting with "$$". */
function operatorOf(v: unknown): [string, unknown] | undefined {
  if (!isDocument(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0]!.startsWith('$$')) return [keys[0]!, v[keys[0]!]];
  return undefined;
}

function canonical(v: unknown): string {
  return EJSON.stringify({ v }, { relaxed: false });
}

export interface MatchContext {
  entities: Map<string, unknown>;
}

/**
 * Asserts that `actual` matches `expected`. Root-level documents may carry extra fields; nested
 * documents may not (the specification's rule). `path` names the place for the message.
 */
export function assertMatches(
  expected: unknown,
  actual: unknown,
  ctx: MatchContext,
  isRoot: boolean,
  path = '',
): void {
  const op = operatorOf(expected);
  if (op) {
    const [name, arg] = op;
    switch (name) {
      case '$$exists':
        // only meaningful for a field, handled by the parent; a present value satisfies true
        assert.equal(actual !== undefined, arg, `${path}: $$exists ${String(arg)}`);
        return;
      case '$$type':
        assert.ok(
          typeMatches(arg, actual),
          `${path}: expected type ${JSON.stringify(arg)}, got ${bsonTypeOf(actual)}`,
        );
        return;
      case '$$unsetOrMatches':
        if (actual === undefined) return;
        assertMatches(arg, actual, ctx, isRoot, path);
        return;
      case '$$matchesEntity': {
        const entity = ctx.entities.get(String(arg));
        assertMatches(entity, actual, ctx, isRoot, path);
        return;
      }
      case '$$matchesHexBytes':
        assert.ok(bsonKind(actual) === 'Binary' || actual instanceof Uint8Array, `${path}: expected bytes`);
        assert.equal(
          Buffer.from(actual instanceof Uint8Array ? actual : (actual as Binary).buffer).toString('hex'),
          String(arg).toLowerCase(),
        );
        return;
      case '$$lte': {
        const a = asNumber(actual);
        const e = asNumber(arg);
        assert.ok(
          a !== undefined && e !== undefined && a <= e,
          `${path}: expected <= ${String(e)}, got ${String(a)}`,
        );
        return;
      }
      case '$$sessionLsid':
        assert.ok(isDocument(actual), `${path}: expected an lsid`);
        return;
      default:
        break; // not an operator we know: compare as a document
    }
  }
  const expectedNumber = asNumber(expected);
  if (expectedNumber !== undefined) {
    const actualNumber = asNumber(actual);
    assert.ok(
      actualNumber !== undefined,
      `${path}: expected number ${expectedNumber}, got ${canonical(actual)}`,
    );
    if (Number.isNaN(expectedNumber)) assert.ok(Number.isNaN(actualNumber), `${path}: expected NaN`);
    else
      assert.equal(actualNumber, expectedNumber, `${path}: expected ${expectedNumber}, got ${actualNumber}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array, got ${canonical(actual)}`);
    assert.equal(
      actual.length,
      expected.length,
      `${path}: expected ${expected.length} elements, got ${actual.length}: ${canonical(actual)}`,
    );
    expected.forEach((e, i) => assertMatches(e, actual[i], ctx, isRoot, `${path}[${i}]`));
    return;
  }
  if (isDocument(expected)) {
    const actualDoc = toPlainDocument(actual);
    assert.ok(actualDoc, `${path}: expected a document, got ${canonical(actual)}`);
    for (const [key, value] of Object.entries(expected)) {
      const inner = operatorOf(value);
      const has: boolean =
        Object.prototype.hasOwnProperty.call(actualDoc, key) && actualDoc[key] !== undefined;
      if (inner?.[0] === '$$exists') {
        assert.equal(has, inner[1], `${path}.${key}: $$exists ${String(inner[1])}`);
        continue;
      }
      if (inner?.[0] === '$$unsetOrMatches' && !has) continue;
      assert.ok(has, `${path}.${key}: missing (actual ${canonical(actual)})`);
      assertMatches(value, actualDoc[key], ctx, false, `${path}.${key}`);
    }
    if (!isRoot) {
      const extra = Object.keys(actualDoc).filter((k) => !(k in expected) && actualDoc[k] !== undefined);
      assert.deepEqual(extra, [], `${path}: unexpected fields ${extra.join(', ')} in ${canonical(actual)}`);
    }
    return;
  }
  assert.equal(canonical(actual), canonical(expected), `${path}: values differ`);
}

/** Documents (and DBRefs, which the driver decodes into objects) as plain records. */
function toPlainDocument(v: unknown): Doc | undefined {
  if (isDocument(v)) return v;
  if (bsonKind(v) === 'DBRef') return (v as DBRef).toJSON();
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Entities and operations

interface ClientEntity {
  client: MongoClient;
  events: CommandStartedEvent[];
}

/** Commands the specification says to leave out of observed events. */
const IGNORED_COMMANDS = new Set([
  'configureFailPoint',
  'hello',
  'isMaster',
  'ismaster',
  'saslStart',
  'saslContinue',
  'authenticate',
  'getnonce',
  'createUser',
  'updateUser',
  'copydbgetnonce',
  'copydbsaslstart',
  'copydb',
]);

function clientOptions(spec: Doc): MongoClientOptions {
  const uriOptions = (spec.uriOptions ?? {}) as Doc;
  const options: MongoClientOptions = { monitorCommands: true };
  for (const [key, value] of Object.entries(uriOptions)) {
    if (key === 'readConcernLevel') options.readConcern = { level: value as 'local' };
    else if (key === 'w') options.writeConcern = { ...(options.writeConcern ?? {}), w: value as number };
    else (options as Doc)[key] = value;
  }
  return options;
}

export class UnifiedSession {
  readonly entities = new Map<string, unknown>();
  private readonly clients = new Map<string, ClientEntity>();

  constructor(private readonly uri: string) {}

  async createEntities(specs: Doc[]): Promise<void> {
    for (const spec of specs) {
      const [kind, body] = Object.entries(spec)[0] as [string, Doc];
      const id = String(body.id);
      if (kind === 'client') {
        const client = new MongoClient(this.uri, clientOptions(body));
        const observe = new Set((body.observeEvents as string[] | undefined) ?? []);
        const ignore = new Set((body.ignoreCommandMonitoringEvents as string[] | undefined) ?? []);
        const entity: ClientEntity = { client, events: [] };
        if (observe.has('commandStartedEvent')) {
          client.on('commandStarted', (ev: CommandStartedEvent) => {
            if (IGNORED_COMMANDS.has(ev.commandName) || ignore.has(ev.commandName)) return;
            entity.events.push(ev);
          });
        }
        await client.connect();
        this.clients.set(id, entity);
        this.entities.set(id, client);
      } else if (kind === 'database') {
        const client = this.clients.get(String(body.client));
        assert.ok(client, `unknown client ${String(body.client)}`);
        this.entities.set(id, client.client.db(String(body.databaseName), body.databaseOptions ?? {}));
      } else if (kind === 'collection') {
        const db = this.entities.get(String(body.database)) as Db;
        this.entities.set(id, db.collection(String(body.collectionName), body.collectionOptions ?? {}));
      } else {
        throw new Error(`entity kind ${kind} is not supported by this runner`);
      }
    }
  }

  eventsOf(clientId: string): CommandStartedEvent[] {
    const entity = this.clients.get(clientId);
    assert.ok(entity, `unknown client ${clientId}`);
    return entity.events;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.client.close()));
  }
}

/** The specification's result shape for a bulk write (the driver's getters as plain fields). */
function bulkResult(r: {
  insertedCount: number;
  matchedCount: number;
  modifiedCount: number;
  deletedCount: number;
  upsertedCount: number;
  insertedIds: Record<number, unknown>;
  upsertedIds: Record<number, unknown>;
}): Doc {
  return {
    deletedCount: r.deletedCount,
    insertedCount: r.insertedCount,
    insertedIds: { ...r.insertedIds },
    matchedCount: r.matchedCount,
    modifiedCount: r.modifiedCount,
    upsertedCount: r.upsertedCount,
    upsertedIds: { ...r.upsertedIds },
  };
}

function withoutKeys(args: Doc, ...keys: string[]): Doc {
  const out: Doc = {};
  for (const [k, v] of Object.entries(args)) if (!keys.includes(k) && k !== 'session') out[k] = v;
  if (typeof out.returnDocument === 'string') out.returnDocument = out.returnDocument.toLowerCase();
  return out;
}

async function runCollectionOperation(coll: Collection<Document>, name: string, args: Doc): Promise<unknown> {
  const filter = (args.filter ?? {}) as Document;
  switch (name) {
    case 'insertOne':
      return coll.insertOne(args.document as Document, withoutKeys(args, 'document'));
    case 'insertMany':
      return coll.insertMany(args.documents as Document[], withoutKeys(args, 'documents'));
    case 'updateOne':
      return coll.updateOne(filter, args.update as Document, withoutKeys(args, 'filter', 'update'));
    case 'updateMany':
      return coll.updateMany(filter, args.update as Document, withoutKeys(args, 'filter', 'update'));
    case 'replaceOne':
      return coll.replaceOne(
        filter,
        args.replacement as Document,
        withoutKeys(args, 'filter', 'replacement'),
      );
    case 'deleteOne':
      return coll.deleteOne(filter, withoutKeys(args, 'filter'));
    case 'deleteMany':
      return coll.deleteMany(filter, withoutKeys(args, 'filter'));
    case 'find':
      return coll.find(filter, withoutKeys(args, 'filter')).toArray();
    case 'findOne':
      return coll.findOne(filter, withoutKeys(args, 'filter'));
    case 'createFindCursor':
      return coll.find(filter, withoutKeys(args, 'filter'));
    case 'findOneAndDelete':
      return coll.findOneAndDelete(filter, withoutKeys(args, 'filter'));
    case 'findOneAndReplace':
      return coll.findOneAndReplace(
        filter,
        args.replacement as Document,
        withoutKeys(args, 'filter', 'replacement'),
      );
    case 'findOneAndUpdate':
      return coll.findOneAndUpdate(filter, args.update as Document, withoutKeys(args, 'filter', 'update'));
    case 'aggregate':
      return coll.aggregate(args.pipeline as Document[], withoutKeys(args, 'pipeline')).toArray();
    case 'countDocuments':
      return coll.countDocuments(filter, withoutKeys(args, 'filter'));
    case 'estimatedDocumentCount':
      return coll.estimatedDocumentCount(withoutKeys(args));
    case 'distinct':
      return coll.distinct(String(args.fieldName), filter, withoutKeys(args, 'fieldName', 'filter'));
    case 'bulkWrite': {
      const result = await coll.bulkWrite(
        args.requests as AnyBulkWriteOperation<Document>[],
        withoutKeys(args, 'requests'),
      );
      return result.isOk() && coll.writeConcern?.w === 0 ? { acknowledged: false } : bulkResult(result);
    }
    case 'drop':
      return coll.drop(withoutKeys(args));
    case 'createIndex':
      return coll.createIndex(args.keys as Document, withoutKeys(args, 'keys'));
    case 'listIndexes':
      return coll.listIndexes(withoutKeys(args)).toArray();
    default:
      throw new Error(`collection operation ${name} is not supported by this runner`);
  }
}

async function runDatabaseOperation(db: Db, name: string, args: Doc): Promise<unknown> {
  switch (name) {
    case 'aggregate':
      return db.aggregate(args.pipeline as Document[], withoutKeys(args, 'pipeline')).toArray();
    case 'createCollection':
      return db.createCollection(String(args.collection), withoutKeys(args, 'collection'));
    case 'dropCollection':
      return db.dropCollection(String(args.collection), withoutKeys(args, 'collection'));
    case 'runCommand':
      return db.command(args.command as Document, withoutKeys(args, 'command', 'commandName'));
    case 'listCollections':
      return db.listCollections(args.filter ?? {}, withoutKeys(args, 'filter')).toArray();
    case 'listCollectionNames':
      return (await db.listCollections((args.filter ?? {}) as Document, { nameOnly: true }).toArray()).map(
        (c) => c.name,
      );
    default:
      throw new Error(`database operation ${name} is not supported by this runner`);
  }
}

/** Results as the specification describes them (driver result objects as plain documents). */
function normaliseResult(name: string, result: unknown): unknown {
  if (result === null || result === undefined || typeof result !== 'object' || Array.isArray(result))
    return result;
  const r = result as Doc;
  if (r.acknowledged === false) return { acknowledged: false };
  if (name === 'insertMany' && isDocument(r.insertedIds))
    return { insertedIds: r.insertedIds, insertedCount: r.insertedCount };
  return result;
}

function checkError(err: unknown, expected: ExpectedError, ctx: MatchContext): void {
  const e = err as Error & {
    code?: unknown;
    codeName?: unknown;
    errorLabels?: string[];
    hasErrorLabel?: (l: string) => boolean;
  };
  const isServer = err instanceof MongoServerError;
  if (expected.isClientError !== undefined) {
    const isClient = !isServer && !(err instanceof MongoNetworkError);
    assert.equal(
      isClient,
      expected.isClientError,
      `isClientError ${String(expected.isClientError)}: ${String(e.message)}`,
    );
  }
  if (expected.errorContains !== undefined) {
    assert.ok(
      String(e.message).toLowerCase().includes(expected.errorContains.toLowerCase()),
      `error "${String(e.message)}" should contain "${expected.errorContains}"`,
    );
  }
  if (expected.errorCode !== undefined)
    assert.equal(e.code, expected.errorCode, `errorCode: ${String(e.message)}`);
  if (expected.errorCodeName !== undefined)
    assert.equal(e.codeName, expected.errorCodeName, `errorCodeName: ${String(e.message)}`);
  for (const label of expected.errorLabelsContain ?? [])
    assert.ok(e.hasErrorLabel?.(label), `error label ${label}`);
  for (const label of expected.errorLabelsOmit ?? [])
    assert.ok(!e.hasErrorLabel?.(label), `no error label ${label}`);
  if (expected.expectResult !== undefined) {
    assert.ok(err instanceof MongoBulkWriteError, `expected a bulk write error, got ${String(e.message)}`);
    assertMatches(expected.expectResult, bulkResult(err.result), ctx, true, 'error.result');
  }
  if (expected.errorResponse !== undefined) {
    assert.ok(isServer, 'errorResponse needs a server error');
    assertMatches(expected.errorResponse, err.errorResponse, ctx, true, 'errorResponse');
  }
}

async function runOperation(session: UnifiedSession, op: Operation): Promise<void> {
  const target = session.entities.get(op.object);
  const args = op.arguments ?? {};
  let result: unknown;
  let error: unknown;
  let failed = false;
  try {
    if (op.object === 'testRunner')
      throw new Error(`test runner operation ${op.name} is not supported by this runner`);
    if (target instanceof MongoClient)
      throw new Error(`client operation ${op.name} is not supported by this runner`);
    if (target && typeof (target as Collection).collectionName === 'string') {
      result = await runCollectionOperation(target as Collection<Document>, op.name, args);
    } else if (target && typeof (target as Db).databaseName === 'string') {
      result = await runDatabaseOperation(target as Db, op.name, args);
    } else {
      throw new Error(`unknown entity ${op.object}`);
    }
  } catch (err) {
    failed = true;
    error = err;
  }
  const ctx: MatchContext = { entities: session.entities };
  if (op.ignoreResultAndError) return;
  if (op.expectError) {
    assert.ok(failed, `${op.name} should have failed (result ${canonical(result)})`);
    checkError(error, op.expectError, ctx);
    return;
  }
  if (failed) throw error;
  if (op.saveResultAsEntity) session.entities.set(op.saveResultAsEntity, result);
  if (op.expectResult !== undefined) {
    assertMatches(op.expectResult, normaliseResult(op.name, result), ctx, true, op.name);
  }
}

async function loadCollectionData(uri: string, data: CollectionData[]): Promise<void> {
  const client = new MongoClient(uri);
  try {
    for (const d of data) {
      const db = client.db(d.databaseName);
      await db.dropCollection(d.collectionName, { writeConcern: { w: 'majority' } }).catch(() => false);
      if (d.documents.length > 0) {
        await db.collection(d.collectionName).insertMany(d.documents, { writeConcern: { w: 'majority' } });
      } else {
        await db.createCollection(d.collectionName, {
          ...(d.createOptions ?? {}),
          writeConcern: { w: 'majority' },
        });
      }
    }
  } finally {
    await client.close();
  }
}

async function checkOutcome(uri: string, outcome: CollectionData[]): Promise<void> {
  const client = new MongoClient(uri);
  try {
    for (const d of outcome) {
      const docs = await client
        .db(d.databaseName)
        .collection(d.collectionName)
        // promoteValues: false keeps each stored value's BSON type (a symbol stays a symbol)
        .find({}, { sort: { _id: 1 }, readConcern: { level: 'local' }, promoteValues: false })
        .toArray();
      assertMatches(
        d.documents,
        docs,
        { entities: new Map() },
        false,
        `outcome ${d.databaseName}.${d.collectionName}`,
      );
    }
  } finally {
    await client.close();
  }
}

function checkEvents(session: UnifiedSession, expected: ExpectedEvents[]): void {
  const ctx: MatchContext = { entities: session.entities };
  for (const group of expected) {
    if ((group.eventType ?? 'command') !== 'command')
      throw new Error(`eventType ${group.eventType} is not supported`);
    const actual = session.eventsOf(group.client);
    const summary = () => actual.map((e) => e.commandName).join(', ');
    if (group.ignoreExtraEvents)
      assert.ok(
        actual.length >= group.events.length,
        `events: expected at least ${group.events.length}, got [${summary()}]`,
      );
    else
      assert.equal(
        actual.length,
        group.events.length,
        `events: expected ${group.events.length}, got [${summary()}]`,
      );
    group.events.forEach((wanted, i) => {
      const [kind, body] = Object.entries(wanted)[0] as [string, Doc];
      assert.equal(kind, 'commandStartedEvent', `event kind ${kind} is not supported by this runner`);
      const ev = actual[i]!;
      if (body.command !== undefined)
        assertMatches(body.command, ev.command, ctx, true, `events[${i}].command`);
      if (body.commandName !== undefined)
        assert.equal(ev.commandName, body.commandName, `events[${i}].commandName`);
      if (body.databaseName !== undefined)
        assert.equal(ev.databaseName, body.databaseName, `events[${i}].databaseName`);
    });
  }
}

/** Runs one test of a unified file against the server at `uri`. */
export async function runUnifiedTest(uri: string, file: UnifiedFile, test: UnifiedTest): Promise<void> {
  if (file.initialData) await loadCollectionData(uri, file.initialData);
  const session = new UnifiedSession(uri);
  try {
    await session.createEntities(file.createEntities ?? []);
    for (const op of test.operations) await runOperation(session, op);
    if (test.expectEvents) checkEvents(session, test.expectEvents);
  } finally {
    await session.close();
  }
  if (test.outcome) await checkOutcome(uri, test.outcome);
}
