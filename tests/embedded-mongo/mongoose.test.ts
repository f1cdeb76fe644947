/** Conformance through mongoose: duplicate keys, concurrency, aggregation, TTL, sessions store. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mongoose, { Schema, type Connection } from 'mongoose';
import { againstRealServer, openTarget, waitFor, type TestTarget } from './helpers.js';

let target: TestTarget;
let conn: Connection;

before(async () => {
  target = await openTarget('mongoose');
  conn = await mongoose.createConnection(target.dbUri).asPromise();
});
after(async () => {
  await conn.close();
  await target.close();
});

interface DupError {
  name: string;
  code: number;
  keyPattern: Record<string, unknown>;
  keyValue: Record<string, unknown>;
  message: string;
}

function isDuplicate(err: unknown): err is DupError {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

describe('unique indexes', () => {
  const supporterSchema = new Schema({ email: { type: String, required: true, unique: true }, name: String });
  const makeSupporter = () => conn.model('Supporter', supporterSchema);
  let supporter: ReturnType<typeof makeSupporter> | undefined;
  const Supporter = (): ReturnType<typeof makeSupporter> => (supporter ??= makeSupporter());

  it('maps a unique violation to a mongoose duplicate-key error naming the path and value', async () => {
    const M = Supporter();
    await M.init();
    await M.create({ email: 'a@x.io', name: 'A' });
    const err = await M.create({ email: 'a@x.io', name: 'B' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isDuplicate(err), 'expected a duplicate-key error');
    assert.equal(err.name, 'MongoServerError');
    assert.deepEqual(err.keyPattern, { email: 1 });
    assert.deepEqual(err.keyValue, { email: 'a@x.io' });
    assert.match(
      err.message,
      /^E11000 duplicate key error collection: \S+\.supporters index: email_1 dup key: \{ email: "a@x\.io" \}/,
    );
  });

  it('enforces unique indexes on updates and findOneAndUpdate as well as inserts', async () => {
    const M = Supporter();
    await M.create({ email: 'b@x.io' });
    await assert.rejects(M.updateOne({ email: 'b@x.io' }, { $set: { email: 'a@x.io' } }), isDuplicate);
    await assert.rejects(
      M.findOneAndUpdate({ email: 'b@x.io' }, { $set: { email: 'a@x.io' } }, { returnDocument: 'after' }),
      isDuplicate,
    );
    assert.equal(await M.countDocuments({ email: 'b@x.io' }), 1);
  });

  it('enforces a compound unique index on the combination only', async () => {
    const Donation = conn.model(
      'Donation',
      new Schema({ provider: String, providerPaymentId: String, amount: Number }).index(
        { provider: 1, providerPaymentId: 1 },
        { unique: true },
      ),
    );
    await Donation.init();
    await Donation.create({ provider: 'stripe', providerPaymentId: 'pi_1', amount: 500 });
    await Donation.create({ provider: 'paypal', providerPaymentId: 'pi_1', amount: 500 });
    const err = await Donation.create({ provider: 'stripe', providerPaymentId: 'pi_1', amount: 900 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isDuplicate(err));
    assert.deepEqual(err.keyPattern, { provider: 1, providerPaymentId: 1 });
    assert.deepEqual(err.keyValue, { provider: 'stripe', providerPaymentId: 'pi_1' });
  });

  it('enforces a partial unique index only on documents matching its filter', async () => {
    const Sub = conn.model(
      'Sub',
      new Schema({ email: String, status: String }).index(
        { email: 1 },
        { unique: true, partialFilterExpression: { status: 'active' } },
      ),
    );
    await Sub.init();
    await Sub.create({ email: 'p@x.io', status: 'cancelled' });
    await Sub.create({ email: 'p@x.io', status: 'cancelled' });
    await Sub.create({ email: 'p@x.io', status: 'active' });
    await assert.rejects(Sub.create({ email: 'p@x.io', status: 'active' }), isDuplicate);
    assert.equal(await Sub.countDocuments({ email: 'p@x.io' }), 3);
  });

  it('treats a missing field as null in a non-sparse unique index', async () => {
    const Nick = conn.model('Nick', new Schema({ nick: { type: String, unique: true }, other: String }));
    await Nick.init();
    await Nick.create({ other: 'first' });
    await assert.rejects(Nick.create({ other: 'second' }), isDuplicate);
  });

  it('reports the unique violations of insertMany as duplicate-key errors', async () => {
    const M = Supporter();
    const err = await M.insertMany([{ email: 'm1@x.io' }, { email: 'm1@x.io' }, { email: 'm2@x.io' }], {
      ordered: false,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isDuplicate(err));
    assert.equal(await M.countDocuments({ email: { $in: ['m1@x.io', 'm2@x.io'] } }), 2);
  });
});

describe('concurrency', () => {
  it('keeps 200 concurrent $inc updates exact', async () => {
    const Counter = conn.model('Counter', new Schema({ _id: String, n: Number }));
    await Counter.create({ _id: 'c', n: 0 });
    await Promise.all(Array.from({ length: 200 }, () => Counter.updateOne({ _id: 'c' }, { $inc: { n: 1 } })));
    assert.equal((await Counter.findById('c').lean())?.n, 200);
  });

  it('keeps 200 concurrent findOneAndUpdate $inc calls exact and hands out distinct values', async () => {
    const Seq = conn.model('Seq', new Schema({ _id: String, n: Number }));
    const values = await Promise.all(
      Array.from({ length: 200 }, () =>
        Seq.findOneAndUpdate(
          { _id: 'invoice' },
          { $inc: { n: 1 } },
          { upsert: true, returnDocument: 'after' },
        ).lean(),
      ),
    );
    const ns = values.map((v) => v?.n);
    assert.equal(new Set(ns).size, 200);
    assert.equal(Math.max(...(ns as number[])), 200);
  });
});

describe('aggregation', () => {
  const ledgerSchema = new Schema({
    plan: String,
    currency: String,
    amount: Number,
    occurredAt: Date,
    supporter: String,
  });
  const makeLedger = () => conn.model('Ledger', ledgerSchema);
  let ledger: ReturnType<typeof makeLedger> | undefined;
  const Ledger = (): ReturnType<typeof makeLedger> => (ledger ??= makeLedger());

  before(async () => {
    const L = Ledger();
    const People = conn.model('Person', new Schema({ _id: String, name: String }));
    await People.create([
      { _id: 's1', name: 'Ada' },
      { _id: 's2', name: 'Grace' },
    ]);
    await L.create([
      {
        plan: 'monthly',
        currency: 'EUR',
        amount: 500,
        occurredAt: new Date('2025-03-01T10:00:00Z'),
        supporter: 's1',
      },
      {
        plan: 'monthly',
        currency: 'EUR',
        amount: 500,
        occurredAt: new Date('2025-03-02T10:00:00Z'),
        supporter: 's2',
      },
      {
        plan: 'once',
        currency: 'EUR',
        amount: 2000,
        occurredAt: new Date('2025-03-02T23:00:00Z'),
        supporter: 's1',
      },
      {
        plan: 'once',
        currency: 'USD',
        amount: 1500,
        occurredAt: new Date('2025-03-03T08:00:00Z'),
        supporter: 's2',
      },
    ]);
  });

  it('groups, sums and sorts', async () => {
    const rows = await Ledger().aggregate<{ _id: string; total: number; n: number }>([
      { $match: { currency: 'EUR' } },
      { $group: { _id: '$plan', total: { $sum: '$amount' }, n: { $sum: 1 } } },
      { $sort: { total: -1 } },
    ]);
    assert.deepEqual(rows, [
      { _id: 'once', total: 2000, n: 1 },
      { _id: 'monthly', total: 1000, n: 2 },
    ]);
  });

  it('groups by day with $dateToString and projects fields', async () => {
    const rows = await Ledger().aggregate([
      {
        $group: {
          _id: { $dateToString: { format: '%Y-%m-%d', date: '$occurredAt' } },
          gross: { $sum: '$amount' },
        },
      },
      { $project: { _id: 0, day: '$_id', gross: 1 } },
      { $sort: { day: 1 } },
    ]);
    assert.deepEqual(rows, [
      { gross: 500, day: '2025-03-01' },
      { gross: 2500, day: '2025-03-02' },
      { gross: 1500, day: '2025-03-03' },
    ]);
  });

  it('joins with $lookup and splits with $facet', async () => {
    const rows = await Ledger().aggregate([
      { $match: { plan: 'once' } },
      { $lookup: { from: 'people', localField: 'supporter', foreignField: '_id', as: 'who' } },
      { $unwind: '$who' },
      { $sort: { amount: 1 } },
      { $project: { _id: 0, name: '$who.name', amount: 1 } },
    ]);
    assert.deepEqual(rows, [
      { amount: 1500, name: 'Grace' },
      { amount: 2000, name: 'Ada' },
    ]);
    const [facets] = await Ledger().aggregate([
      {
        $facet: {
          byCurrency: [{ $group: { _id: '$currency', n: { $sum: 1 } } }, { $sort: { _id: 1 } }],
          total: [{ $group: { _id: null, sum: { $sum: '$amount' } } }],
        },
      },
    ]);
    assert.deepEqual(facets.byCurrency, [
      { _id: 'EUR', n: 3 },
      { _id: 'USD', n: 1 },
    ]);
    assert.equal(facets.total[0].sum, 4500);
  });

  it('yields no document for $count and countDocuments over an empty input', async () => {
    const rows = await Ledger().aggregate([{ $match: { currency: 'JPY' } }, { $count: 'n' }]);
    assert.deepEqual(rows, []);
    assert.equal(await Ledger().countDocuments({ currency: 'JPY' }), 0);
    assert.equal(await Ledger().countDocuments({ currency: 'EUR' }), 3);
  });
});

describe('TTL indexes', () => {
  // a real server's TTL monitor runs once a minute
  const timeout = againstRealServer ? 130_000 : 15_000;
  it('removes documents once their expiry date has passed', { timeout }, async () => {
    const Session = conn.model(
      'Session',
      new Schema({ _id: String, expires: Date }).index({ expires: 1 }, { expireAfterSeconds: 0 }),
    );
    await Session.init();
    await Session.create([
      { _id: 'old', expires: new Date(Date.now() - 1000) },
      { _id: 'new', expires: new Date(Date.now() + 3_600_000) },
    ]);
    const gone = await waitFor(
      async () => (await Session.countDocuments({ _id: 'old' })) === 0,
      timeout - 5000,
      250,
    );
    assert.ok(gone, 'expired document was not removed');
    assert.equal(await Session.countDocuments({ _id: 'new' }), 1);
  });
});

describe('everyday mongoose features', () => {
  it('populates references, keeps timestamps and answers exists/distinct/lean queries', async () => {
    const Author = conn.model('Author', new Schema({ name: String }, { timestamps: true }));
    const Article = conn.model(
      'Article',
      new Schema(
        {
          slug: { type: String, unique: true },
          section: String,
          author: { type: Schema.Types.ObjectId, ref: 'Author' },
        },
        { timestamps: true },
      ),
    );
    await Article.init();
    const [ada, grace] = await Author.create([{ name: 'Ada' }, { name: 'Grace' }]);
    await Article.create([
      { slug: 'one', section: 'news', author: ada?._id },
      { slug: 'two', section: 'culture', author: grace?._id },
      { slug: 'three', section: 'news', author: ada?._id },
    ]);
    const withAuthors = await Article.find({ section: 'news' })
      .sort({ slug: 1 })
      .populate<{ author: { name: string } }>('author')
      .lean();
    assert.deepEqual(
      withAuthors.map((a) => [a.slug, a.author.name]),
      [
        ['one', 'Ada'],
        ['three', 'Ada'],
      ],
    );
    const one = await Article.findOne({ slug: 'one' }).lean();
    assert.ok(one?.createdAt instanceof Date);
    await new Promise((r) => setTimeout(r, 5));
    await Article.updateOne({ slug: 'one' }, { $set: { section: 'opinion' } });
    const updated = await Article.findOne({ slug: 'one' }).lean();
    assert.ok(updated?.updatedAt instanceof Date && one?.updatedAt instanceof Date);
    assert.ok(updated.updatedAt.getTime() > one.updatedAt.getTime());
    assert.ok(await Article.exists({ slug: 'two' }));
    assert.equal(await Article.exists({ slug: 'nope' }), null);
    assert.deepEqual((await Article.distinct('section')).sort(), ['culture', 'news', 'opinion']);
  });

  it('applies bulkWrite with inserts, updates, upserts and deletes', async () => {
    const Stock = conn.model('Stock', new Schema({ sku: { type: String, unique: true }, qty: Number }));
    await Stock.init();
    await Stock.create([
      { sku: 'a', qty: 1 },
      { sku: 'b', qty: 2 },
    ]);
    const res = await Stock.bulkWrite([
      { insertOne: { document: { sku: 'c', qty: 3 } } },
      { updateOne: { filter: { sku: 'a' }, update: { $inc: { qty: 10 } } } },
      { updateOne: { filter: { sku: 'd' }, update: { $set: { qty: 4 } }, upsert: true } },
      { deleteOne: { filter: { sku: 'b' } } },
    ]);
    assert.equal(res.insertedCount, 1);
    assert.equal(res.modifiedCount, 1);
    assert.equal(res.upsertedCount, 1);
    assert.equal(res.deletedCount, 1);
    const all = await Stock.find().sort({ sku: 1 }).lean();
    assert.deepEqual(
      all.map((s) => [s.sku, s.qty]),
      [
        ['a', 11],
        ['c', 3],
        ['d', 4],
      ],
    );
  });

  it('syncs indexes: creates new ones and drops those no longer declared', async () => {
    const v1 = new Schema({ code: String, region: String }).index({ region: 1 });
    const V1 = conn.model('Place', v1);
    await V1.init();
    await V1.create({ code: 'x', region: 'north' });
    conn.deleteModel('Place');
    const v2 = new Schema({ code: { type: String, unique: true }, region: String });
    const V2 = conn.model('Place', v2);
    const dropped = await V2.syncIndexes();
    assert.deepEqual(dropped, ['region_1']);
    const names = (await V2.listIndexes()).map((i) => i.name).sort();
    assert.deepEqual(names, ['_id_', 'code_1']);
  });

  it('streams a query cursor', async () => {
    const Tick = conn.model('Tick', new Schema({ i: Number }));
    await Tick.insertMany(Array.from({ length: 500 }, (_, i) => ({ i })));
    let sum = 0;
    for await (const t of Tick.find().sort({ i: 1 }).batchSize(37).cursor()) sum += t.i as number;
    assert.equal(sum, (499 * 500) / 2);
  });
});
