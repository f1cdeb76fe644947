/**
 * Behaviours the MongoDB driver specifications' CRUD tests pin down, written from them and
 * checked through the plain driver. Everything here is what a standalone mongod answers, so the
 * file also runs against a real server (MONGODB_URI); where 7.0 and 8.0 differ, the test asks
 * the server which one it is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoServerError, type Db } from 'mongodb';
import { againstRealServer, openTarget, type TestTarget } from './helpers.js';

let target: TestTarget;
let db: Db;

before(async () => {
  target = await openTarget('rules');
  db = target.client.db(target.dbName);
});
after(async () => {
  await target.close();
});

/** Asserts a server (not driver) error with the given code. */
function serverError(code: number, message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof MongoServerError, `expected a server error, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const byId = { sort: { _id: 1 } } as const;

/** The specifications' documents use numbers, strings and documents as ids, and odd field names. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const coll = (name: string) => db.collection<any>(name);

describe('_id values', () => {
  it('stores _id: null from insertOne, insertMany and bulkWrite, finds it by $type and refuses a second', async () => {
    // the driver itself replaces a null _id by an ObjectId unless the server is to assign ids
    const serverIds = { forceServerObjectId: true };
    const one = coll('null_id_one');
    await one.insertOne({ _id: null, via: 'insertOne' }, serverIds);
    const many = coll('null_id_many');
    await many.insertMany([{ _id: null, via: 'insertMany' }], serverIds);
    const bulk = coll('null_id_bulk');
    await bulk.bulkWrite([{ insertOne: { document: { _id: null, via: 'bulkWrite' } } }], serverIds);
    for (const c of [one, many, bulk]) {
      const found = await c.find({ _id: { $type: 'null' } }).toArray();
      assert.equal(found.length, 1);
      assert.equal(found[0]?._id, null);
      assert.equal((await c.findOne({ _id: null }))?.via, found[0]?.via);
      await assert.rejects(c.insertOne({ _id: null }, serverIds), serverError(11000, /E11000/));
      assert.equal(await c.countDocuments(), 1);
    }
  });

  it('refuses a $-prefixed field inside _id and stores nothing', async () => {
    const c = coll('dollar_in_id');
    await assert.rejects(c.insertOne({ _id: { $a: 1 } }), serverError(52, /\$a is not valid for storage/));
    await assert.rejects(
      c.insertOne({ _id: { a: { $b: 1 } } }),
      serverError(52, /\$b is not valid for storage/),
    );
    assert.equal(await c.countDocuments(), 0);
  });

  it('accepts a dotted field name inside _id', async () => {
    const c = coll('dotted_in_id');
    await c.insertOne({ _id: { 'a.b': 1 } });
    assert.deepEqual(await c.find().toArray(), [{ _id: { 'a.b': 1 } }]);
  });
});

describe('$-prefixed and dotted field names (5.0+ rules)', () => {
  it('stores top-level and embedded $-prefixed and dotted names as sent', async () => {
    const c = coll('dots_dollars');
    await c.insertOne({ _id: 1, $a: 1 });
    await c.insertOne({ _id: 2, 'a.b': 1 });
    await c.insertOne({ _id: 3, a: { $b: 1, 'c.d': 2 } });
    await c.insertOne({ _id: 4, a: { $db: 'foo' } });
    assert.deepEqual(await c.find({}, byId).toArray(), [
      { _id: 1, $a: 1 },
      { _id: 2, 'a.b': 1 },
      { _id: 3, a: { $b: 1, 'c.d': 2 } },
      { _id: 4, a: { $db: 'foo' } },
    ]);
  });

  it('refuses a replacement with a top-level $-prefixed field and an update of a $-prefixed path', async () => {
    const c = coll('dollar_updates');
    await c.insertOne({ _id: 1, x: 1 });
    await assert.rejects(
      c.replaceOne({ _id: 1 }, { x: 2, $a: 1 }),
      serverError(52, /The dollar \(\$\) prefixed field '\$a' in '\$a'/),
    );
    await assert.rejects(c.updateOne({ _id: 1 }, { $set: { $a: 1 } }), serverError(52, /'\$a' in '\$a'/));
    await assert.rejects(
      c.updateOne({ _id: 1 }, { $set: { 'y.$b': 1 } }),
      serverError(52, /'\$b' in 'y\.\$b'/),
    );
    assert.deepEqual(await c.find().toArray(), [{ _id: 1, x: 1 }]);
  });

  it('still applies positional $ and $[] paths', async () => {
    const c = coll('positional');
    await c.insertOne({ _id: 1, xs: [1, 2, 3], ys: [{ v: 1 }, { v: 2 }] });
    await c.updateOne({ _id: 1, xs: 2 }, { $set: { 'xs.$': 20 } });
    await c.updateOne({ _id: 1 }, { $inc: { 'ys.$[].v': 10 } });
    assert.deepEqual(await c.findOne({ _id: 1 }), { _id: 1, xs: [1, 20, 3], ys: [{ v: 11 }, { v: 12 }] });
  });
});

describe('sort on updateOne and replaceOne', () => {
  it('answers as the server version it advertises (7.0 refuses it, 8.0 applies it)', async () => {
    const build = await db.admin().command({ buildInfo: 1 });
    const hello = await db.admin().command({ hello: 1 });
    const major = Number(String(build.version).split('.')[0]);
    // 8.0 is wire version 25; the two must tell the same story
    assert.equal(major >= 8, (hello.maxWireVersion as number) >= 25);
    const c = coll('update_sort');
    await c.insertMany([
      { _id: 1, x: 11 },
      { _id: 2, x: 22 },
      { _id: 3, x: 33 },
    ]);
    const update = c.updateOne({ _id: { $gt: 1 } }, { $inc: { x: 1 } }, { sort: { _id: -1 } });
    const replace = (): Promise<unknown> => c.replaceOne({ _id: { $gt: 1 } }, { x: 0 }, { sort: { _id: 1 } });
    const bulk = (): Promise<unknown> =>
      c.bulkWrite([{ updateOne: { filter: {}, update: { $set: { y: 1 } }, sort: { _id: -1 } } }]);
    if (major < 8) {
      const unknownField = serverError(40415, /BSON field 'update\.updates\.sort' is an unknown field/);
      await assert.rejects(update, unknownField);
      await assert.rejects(replace(), unknownField);
      await assert.rejects(bulk(), (err: unknown) => {
        assert.ok(err instanceof MongoServerError);
        assert.equal(err.code, 40415);
        return true;
      });
      assert.deepEqual(await c.find({}, byId).toArray(), [
        { _id: 1, x: 11 },
        { _id: 2, x: 22 },
        { _id: 3, x: 33 },
      ]);
    } else {
      assert.equal((await update).modifiedCount, 1);
      await replace();
      await bulk();
      assert.deepEqual(await c.find({}, byId).toArray(), [
        { _id: 1, x: 11 },
        { _id: 2, x: 0 },
        { _id: 3, x: 34, y: 1 },
      ]);
    }
  });
});

describe('$out', () => {
  it('replaces the target with the results and keeps its indexes', async () => {
    const src = coll('out_source');
    await src.insertMany([
      { _id: 1, x: 11 },
      { _id: 2, x: 22 },
      { _id: 3, x: 33 },
    ]);
    const dest = coll('out_target');
    await dest.insertOne({ _id: 99, x: 0 });
    await dest.createIndex({ x: 1 }, { unique: true });
    const cursor = await src.aggregate([{ $match: { _id: { $gt: 1 } } }, { $out: 'out_target' }]).toArray();
    assert.deepEqual(cursor, []);
    assert.deepEqual(await dest.find({}, byId).toArray(), [
      { _id: 2, x: 22 },
      { _id: 3, x: 33 },
    ]);
    assert.ok((await dest.indexes()).some((ix) => ix.name === 'x_1' && ix.unique === true));
    await assert.rejects(dest.insertOne({ x: 22 }), serverError(11000));
  });

  it('leaves the target as it was when the results break a unique index', async () => {
    const src = coll('out_dup_source');
    await src.insertMany([
      { _id: 1, k: 'a' },
      { _id: 2, k: 'a' },
    ]);
    const dest = coll('out_dup_target');
    await dest.insertOne({ _id: 'kept', k: 'z' });
    await dest.createIndex({ k: 1 }, { unique: true });
    await assert.rejects(src.aggregate([{ $out: 'out_dup_target' }]).toArray(), serverError(11000));
    assert.deepEqual(await dest.find().toArray(), [{ _id: 'kept', k: 'z' }]);
  });

  it('must be the last stage', async () => {
    await assert.rejects(
      db
        .collection('out_source')
        .aggregate([{ $out: 'somewhere' }, { $match: {} }])
        .toArray(),
      serverError(40601),
    );
  });
});

describe('$merge', () => {
  before(async () => {
    await coll('merge_source').insertMany([
      { _id: 1, x: 11 },
      { _id: 2, x: 22 },
      { _id: 3, x: 33 },
    ]);
  });

  it('inserts new documents and merges matched ones by _id by default', async () => {
    const dest = coll('merge_default');
    await dest.insertOne({ _id: 2, kept: true, x: 0 });
    await db
      .collection('merge_source')
      .aggregate([{ $merge: { into: 'merge_default' } }])
      .toArray();
    assert.deepEqual(await dest.find({}, byId).toArray(), [
      { _id: 1, x: 11 },
      { _id: 2, kept: true, x: 22 },
      { _id: 3, x: 33 },
    ]);
  });

  it('replaces, keeps existing, discards or runs a pipeline with $$new as asked', async () => {
    const src = coll('merge_source');
    const seed = async (name: string): Promise<void> => {
      await coll(name).insertOne({ _id: 1, kept: true, x: 1 });
    };
    await seed('merge_replace');
    await src.aggregate([{ $merge: { into: 'merge_replace', whenMatched: 'replace' } }]).toArray();
    assert.deepEqual(await coll('merge_replace').findOne({ _id: 1 }), { _id: 1, x: 11 });

    await seed('merge_keep');
    await src
      .aggregate([{ $merge: { into: 'merge_keep', whenMatched: 'keepExisting', whenNotMatched: 'discard' } }])
      .toArray();
    assert.deepEqual(await coll('merge_keep').find().toArray(), [{ _id: 1, kept: true, x: 1 }]);

    await seed('merge_pipeline');
    await src
      .aggregate([
        {
          $merge: {
            into: 'merge_pipeline',
            whenMatched: [{ $set: { x: { $add: ['$x', '$$new.x'] } } }],
            whenNotMatched: 'discard',
          },
        },
      ])
      .toArray();
    assert.deepEqual(await coll('merge_pipeline').find().toArray(), [{ _id: 1, kept: true, x: 12 }]);
  });

  it('fails on a match with whenMatched: fail (duplicate key, 11000) and on a miss with whenNotMatched: fail', async () => {
    const src = coll('merge_source');
    await coll('merge_fail').insertOne({ _id: 2, x: 0 });
    await assert.rejects(
      src
        .aggregate([{ $match: { _id: 2 } }, { $merge: { into: 'merge_fail', whenMatched: 'fail' } }])
        .toArray(),
      serverError(11000),
    );
    await assert.rejects(
      src
        .aggregate([{ $match: { _id: 3 } }, { $merge: { into: 'merge_fail', whenNotMatched: 'fail' } }])
        .toArray(),
      serverError(13113),
    );
    assert.deepEqual(await coll('merge_fail').find().toArray(), [{ _id: 2, x: 0 }]);
  });

  it("refuses a result whose 'on' field is null, as a $group by null gives (51132)", async () => {
    await assert.rejects(
      coll('merge_source')
        .aggregate([{ $group: { _id: null, n: { $sum: 1 } } }, { $merge: { into: 'merge_null' } }])
        .toArray(),
      serverError(51132),
    );
  });

  it('matches on other fields only through a unique index on them', async () => {
    const src = coll('merge_on_source');
    await src.insertMany([
      { _id: 'a', email: 'a@x.io', n: 1 },
      { _id: 'b', email: 'b@x.io', n: 2 },
    ]);
    const dest = coll('merge_on');
    await dest.insertOne({ _id: 'other', email: 'a@x.io', n: 0 });
    await assert.rejects(
      src.aggregate([{ $project: { _id: 0 } }, { $merge: { into: 'merge_on', on: 'email' } }]).toArray(),
      serverError(51183),
    );
    await dest.createIndex({ email: 1 }, { unique: true });
    await src.aggregate([{ $project: { _id: 0 } }, { $merge: { into: 'merge_on', on: 'email' } }]).toArray();
    const docs = await dest.find({}, { sort: { email: 1 }, projection: { _id: 0 } }).toArray();
    assert.deepEqual(docs, [
      { email: 'a@x.io', n: 1 },
      { email: 'b@x.io', n: 2 },
    ]);
    assert.equal((await dest.findOne({ email: 'a@x.io' }))?._id, 'other');
  });
});

describe('views', () => {
  before(async () => {
    await coll('view_base').insertMany([
      { _id: 1, kind: 'gift', amount: 500, tag: 'a' },
      { _id: 2, kind: 'gift', amount: 1500, tag: 'b' },
      { _id: 3, kind: 'refund', amount: 500, tag: 'a' },
    ]);
    await db.createCollection('gifts', {
      viewOn: 'view_base',
      pipeline: [{ $match: { kind: 'gift' } }, { $project: { kind: 0 } }],
    });
  });

  it('is listed as a view with its definition', async () => {
    const [info] = await db.listCollections({ name: 'gifts' }, { nameOnly: false }).toArray();
    assert.equal(info?.type, 'view');
    assert.deepEqual(info?.options, {
      viewOn: 'view_base',
      pipeline: [{ $match: { kind: 'gift' } }, { $project: { kind: 0 } }],
    });
  });

  it('answers find, aggregate, countDocuments, estimatedDocumentCount and distinct through its pipeline', async () => {
    const gifts = coll('gifts');
    assert.deepEqual(await gifts.find({}, byId).toArray(), [
      { _id: 1, amount: 500, tag: 'a' },
      { _id: 2, amount: 1500, tag: 'b' },
    ]);
    assert.deepEqual(await gifts.find({ amount: { $gt: 1000 } }).toArray(), [
      { _id: 2, amount: 1500, tag: 'b' },
    ]);
    assert.deepEqual(
      await gifts.aggregate([{ $group: { _id: null, total: { $sum: '$amount' } } }]).toArray(),
      [{ _id: null, total: 2000 }],
    );
    assert.equal(await gifts.countDocuments(), 2);
    assert.equal(await gifts.countDocuments({ tag: 'a' }), 1);
    assert.equal(await gifts.estimatedDocumentCount(), 2);
    assert.deepEqual((await gifts.distinct('tag')).sort(), ['a', 'b']);
  });

  it('refuses writes and index builds as a view (CommandNotSupportedOnView, 166)', async () => {
    const gifts = coll('gifts');
    const refused = serverError(166);
    await assert.rejects(gifts.insertOne({ amount: 1 }), refused);
    await assert.rejects(gifts.updateOne({ _id: 1 }, { $set: { amount: 2 } }), refused);
    await assert.rejects(gifts.deleteOne({ _id: 1 }), refused);
    await assert.rejects(gifts.findOneAndUpdate({ _id: 1 }, { $set: { amount: 2 } }), refused);
    await assert.rejects(gifts.createIndex({ amount: 1 }), refused);
    assert.equal(await coll('view_base').countDocuments({ amount: 500 }), 2);
  });
});

describe('database-level aggregate', () => {
  it('lists the session in use with $listLocalSessions', async () => {
    const admin = target.client.db('admin');
    const session = target.client.startSession();
    try {
      const docs = await admin
        .aggregate([{ $listLocalSessions: {} }, { $limit: 1 }, { $addFields: { dummy: 'dummy field' } }], {
          session,
        })
        .toArray();
      assert.equal(docs.length, 1);
      assert.equal(docs[0]?.dummy, 'dummy field');
      assert.ok(docs[0]?._id?.id, 'a session id');
      const mine = await admin
        .aggregate([{ $listLocalSessions: {} }, { $match: { '_id.id': session.id?.id } }], { session })
        .toArray();
      assert.equal(mine.length, 1);
    } finally {
      await session.endSession();
    }
  });

  it('starts from the documents $documents lists', async () => {
    const docs = await db.aggregate([{ $documents: [{ x: 1 }, { x: 2 }] }, { $match: { x: 2 } }]).toArray();
    assert.deepEqual(docs, [{ x: 2 }]);
  });

  it('refuses a stage that needs a collection (InvalidNamespace, 73)', async () => {
    await assert.rejects(db.aggregate([{ $match: {} }]).toArray(), serverError(73));
  });
});

describe('let variables', () => {
  it('are visible to $expr in find, update, delete and findOneAndUpdate', async () => {
    const c = coll('let_vars');
    await c.insertMany([
      { _id: 1, x: 11 },
      { _id: 2, x: 22 },
    ]);
    const byVar = { $expr: { $eq: ['$_id', '$$id'] } };
    assert.deepEqual(await c.find(byVar, { let: { id: 2 } }).toArray(), [{ _id: 2, x: 22 }]);
    await c.updateOne(byVar, [{ $set: { y: '$$v' } }], { let: { id: 1, v: 'set' } });
    assert.equal((await c.findOne({ _id: 1 }))?.y, 'set');
    const after = await c.findOneAndUpdate(
      byVar,
      { $inc: { x: 1 } },
      { let: { id: 2 }, returnDocument: 'after' },
    );
    assert.equal(after?.x, 23);
    assert.equal((await c.deleteOne(byVar, { let: { id: 1 } })).deletedCount, 1);
    assert.deepEqual(await c.find().toArray(), [{ _id: 2, x: 23 }]);
  });

  it('are expressions, evaluated once for the command', async () => {
    const c = coll('let_exprs');
    await c.insertOne({ _id: 1 });
    await c.updateOne({ _id: 1 }, [{ $set: { y: '$$y', r: '$$r', sum: '$$sum' } }], {
      let: { y: { $literal: '$bar' }, r: { $rand: {} }, sum: { $add: [1, 2] } },
    });
    const doc = await c.findOne({ _id: 1 });
    assert.equal(doc?.y, '$bar');
    assert.equal(typeof doc?.r, 'number');
    assert.equal(doc?.sum, 3);
  });
});

describe('hint', () => {
  const noIndex = serverError(2, /hint provided does not correspond to an existing index/);

  it('refuses a hint that names no index on find, count, aggregate, update, delete and findAndModify, changing nothing', async () => {
    const c = coll('hint_unknown');
    await c.insertMany([
      { _id: 1, x: 1 },
      { _id: 2, x: 2 },
    ]);
    await c.createIndex({ x: 1 });
    await assert.rejects(c.find({}, { hint: 'nope_1' }).toArray(), noIndex);
    await assert.rejects(c.find({}, { hint: { y: 1 } }).toArray(), noIndex);
    await assert.rejects(c.countDocuments({}, { hint: 'nope_1' }), noIndex);
    await assert.rejects(c.aggregate([{ $match: {} }], { hint: { x: -1 } }).toArray(), noIndex);
    await assert.rejects(c.updateOne({ _id: 1 }, { $set: { z: 1 } }, { hint: 'nope_1' }), noIndex);
    await assert.rejects(c.deleteOne({ _id: 1 }, { hint: { y: 1 } }), noIndex);
    await assert.rejects(c.findOneAndUpdate({ _id: 1 }, { $set: { z: 1 } }, { hint: { nope: 1 } }), noIndex);
    assert.deepEqual(await c.find({}, byId).toArray(), [
      { _id: 1, x: 1 },
      { _id: 2, x: 2 },
    ]);
  });

  it("accepts an index's name, its key pattern, or $natural", async () => {
    const c = coll('hint_known');
    await c.insertMany([
      { _id: 1, x: 1 },
      { _id: 2, x: 2 },
    ]);
    await c.createIndex({ x: 1 });
    assert.deepEqual(await c.find({ x: 2 }, { hint: 'x_1' }).toArray(), [{ _id: 2, x: 2 }]);
    assert.deepEqual(await c.find({ x: 2 }, { hint: { x: 1 } }).toArray(), [{ _id: 2, x: 2 }]);
    assert.equal((await c.find({}, { hint: { $natural: 1 } }).toArray()).length, 2);
    assert.equal((await c.updateOne({ _id: 1 }, { $set: { z: 1 } }, { hint: { _id: 1 } })).modifiedCount, 1);
    assert.equal((await c.deleteOne({ _id: 2 }, { hint: '_id_' })).deletedCount, 1);
    assert.equal(await c.countDocuments({}, { hint: 'x_1' }), 1);
  });
});

if (!againstRealServer) {
  describe('advertised server version', () => {
    it('is 7.0 everywhere: buildInfo, hello maxWireVersion, and no 8.0-only commands', async () => {
      const build = await db.admin().command({ buildInfo: 1 });
      assert.equal(build.version, '7.0.0');
      assert.deepEqual(build.versionArray, [7, 0, 0, 0]);
      const hello = await db.admin().command({ hello: 1 });
      assert.equal(hello.maxWireVersion, 21);
      // the client-level bulkWrite command is 8.0's: a 7.0 does not know it
      await assert.rejects(
        db.admin().command({ bulkWrite: 1, ops: [], nsInfo: [] }),
        serverError(59, /no such command: 'bulkWrite'/),
      );
    });
  });
}

describe('find projections', () => {
  it('keeps the stored field order, includes _id unless excluded, and refuses mixing inclusion and exclusion', async () => {
    const coll = db.collection('projections');
    await coll.insertOne({ _id: 1 as never, b: 2, a: 1, marks: ['x', 'y'], c: { d: 1 } });
    assert.deepEqual(await coll.findOne({ _id: 1 as never }, { projection: { marks: 0 } }), {
      _id: 1,
      b: 2,
      a: 1,
      c: { d: 1 },
    });
    assert.deepEqual(await coll.findOne({ _id: 1 as never }, { projection: { a: 1, b: true } }), {
      _id: 1,
      b: 2,
      a: 1,
    });
    assert.deepEqual(await coll.findOne({ _id: 1 as never }, { projection: { a: 1, _id: 0 } }), { a: 1 });
    assert.deepEqual(
      await coll.findOne({ _id: 1 as never }, { projection: { _id: 0, marks: false, c: 0 } }),
      {
        b: 2,
        a: 1,
      },
    );
    await assert.rejects(coll.findOne({ _id: 1 as never }, { projection: { a: 1, b: 0 } }), MongoServerError);
  });
});
