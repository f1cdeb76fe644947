/**
 * The unified runner's matching rules, so that a lenient matcher cannot make the specification
 * tests pass by accident: extra fields only in root documents, the special operators, numbers
 * compared by value across BSON number types, and other BSON types by type and value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BSONSymbol, Int32, Long, Timestamp } from 'bson';
import { assertMatches } from './unified-runner.js';

const ctx = { entities: new Map<string, unknown>() };
const matches =
  (expected: unknown, actual: unknown, root = true) =>
  () =>
    assertMatches(expected, actual, ctx, root);

describe('unified matching rules', () => {
  it('allows extra fields in a root document and refuses them in a nested one', () => {
    assert.doesNotThrow(matches({ a: 1 }, { a: 1, b: 2 }));
    assert.throws(matches({ a: { b: 1 } }, { a: { b: 1, c: 2 } }), /unexpected fields c/);
    assert.throws(matches([{ a: 1 }], [{ a: 1, b: 2 }], false), /unexpected fields b/);
  });

  it('reads $$exists, $$unsetOrMatches and $$type', () => {
    assert.doesNotThrow(matches({ a: { $$exists: false } }, { b: 1 }));
    assert.throws(matches({ a: { $$exists: false } }, { a: 1 }));
    assert.doesNotThrow(matches({ a: { $$unsetOrMatches: 1 } }, {}));
    assert.throws(matches({ a: { $$unsetOrMatches: 1 } }, { a: 2 }));
    assert.doesNotThrow(matches({ id: { $$type: ['int', 'long'] } }, { id: Long.fromNumber(5) }));
    assert.throws(matches({ id: { $$type: 'string' } }, { id: 5 }));
  });

  it('compares numbers by value but keeps other BSON types apart', () => {
    assert.doesNotThrow(matches({ n: 1 }, { n: new Int32(1) }));
    assert.doesNotThrow(matches({ n: 1 }, { n: Long.fromNumber(1) }));
    assert.throws(matches({ n: 0 }, { n: new Timestamp({ t: 0, i: 0 }) }));
    assert.throws(matches({ s: new BSONSymbol('') }, { s: '' }));
    assert.throws(matches([1, 2], [1]), /expected 2 elements/);
  });
});
