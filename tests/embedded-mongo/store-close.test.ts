/**
 * Closing the app's store connection (src/db) while index builds are still running: the builds
 * finish instead of being interrupted, so nothing prints a stack trace at shutdown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectStore } from '../../src/db/index.js';
import { createLogger } from '../../src/log.js';

describe('closing the store connection', () => {
  it('waits for index builds started in the background, one after another', async () => {
    const store = await connectStore({
      uri: '',
      embeddedPath: null,
      logger: createLogger({ level: 'silent' }),
    });
    const db = store.connection.db;
    assert.ok(db);
    const c = db.collection('background_indexes');
    // as rate-limiter-flexible does: two builds in sequence, nobody awaiting them
    const builds = (async () => {
      await c.createIndex({ expire: -1 }, { expireAfterSeconds: 0 });
      return c.createIndex({ key: 1 }, { unique: true });
    })();
    await store.close();
    assert.equal(await builds, 'key_1');
  });
});
