/**
 * Query planning of the embedded store itself (independent of any server): equality lookups on
 * indexed fields are answered from the index instead of scanning the collection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { candidates, findMatching } from '../../src/embedded-mongo/query.js';
import { Catalog } from '../../src/embedded-mongo/store.js';

function people(n: number) {
  const catalog = new Catalog();
  const { coll } = catalog.ensure('app', 'people');
  coll.createIndex({ v: 2, key: { email: 1 }, name: 'email_1', unique: true });
  coll.createIndex({ v: 2, key: { plan: 1, currency: 1 }, name: 'plan_1_currency_1' });
  for (let i = 0; i < n; i++)
    coll.insert({
      _id: i,
      email: `r${i}@x.io`,
      plan: `p${i % 10}`,
      currency: i % 2 ? 'EUR' : 'USD',
      tags: [`t${i % 3}`],
    });
  return coll;
}

describe('index-backed lookups', () => {
  const coll = people(5000);

  it('answers equality on a unique indexed field from the index', () => {
    assert.equal([...candidates(coll, { email: 'r42@x.io' })].length, 1);
    assert.deepEqual(
      findMatching(coll, { email: 'r42@x.io' }).map((d) => d._id),
      [42],
    );
  });

  it('answers _id equality and $in from the _id index', () => {
    assert.equal([...candidates(coll, { _id: 7 })].length, 1);
    assert.equal([...candidates(coll, { _id: { $in: [1, 2, 3] } })].length, 3);
  });

  it('uses a compound index when every key field is pinned', () => {
    const c = [...candidates(coll, { plan: 'p3', currency: 'EUR', name: { $exists: false } })];
    assert.equal(c.length, 500);
    assert.equal(findMatching(coll, { plan: 'p3', currency: 'EUR' }).length, 500);
  });

  it('scans only when no index covers the filter', () => {
    assert.equal([...candidates(coll, { tags: 't1' })].length, 5000);
    assert.equal(findMatching(coll, { tags: 't1' }).length, 1667);
  });

  it('keeps the index in step with updates and deletes', () => {
    const doc = findMatching(coll, { email: 'r10@x.io' })[0];
    assert.ok(doc);
    coll.replace(doc, { ...doc, email: 'renamed@x.io' });
    assert.equal([...candidates(coll, { email: 'r10@x.io' })].length, 0);
    assert.equal(findMatching(coll, { email: 'renamed@x.io' }).length, 1);
    coll.remove({ _id: 10 });
    assert.equal([...candidates(coll, { email: 'renamed@x.io' })].length, 0);
  });
});
