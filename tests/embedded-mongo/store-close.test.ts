/**
 * Closing the app's store connection (src/db) while index builds are still running: the builds
 * finish instead of being interrupted, so nothing prints a stack trace at shutdown. Runs against
 * MONGODB_URI when it is set, like the rest of the suite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { connectStore } from '../../src/db/index.js';
import { createLogger } from '../../src/log.js';
import { againstRealServer, realServerUri } from './helpers.js';

describe('closing the store connection', () => {
  it('waits for index builds started in the background, one after another', async () => {
    const dbName = `conformance_close_${randomBytes(4).toString('hex')}`;
    const store = await connectStore({
      uri: againstRealServer ? (realServerUri as string) : '',
      embeddedPath: null,
      dbName,
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
    if (againstRealServer) {
      const client = await MongoClient.connect(realServerUri as string);
      await client.db(dbName).dropDatabase();
      await client.close();
    }
  });
});
