/** connect-mongo, which keeps staff sessions, works unmodified against the store. */
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import MongoStore from 'connect-mongo';
import type { SessionData } from 'express-session';
import { openTarget, type TestTarget } from './helpers.js';

let target: TestTarget;
let store: MongoStore;

before(async () => {
  target = await openTarget('sessions');
  store = MongoStore.create({
    client: target.client,
    dbName: target.dbName,
    collectionName: 'sessions',
    ttl: 3600,
  });
});
// the store shares the target's client, which target.close() closes (store.close() would close it first)
after(async () => {
  await target.close();
});

const session = (user: string): SessionData =>
  ({
    cookie: { originalMaxAge: 3_600_000, expires: new Date(Date.now() + 3_600_000) },
    user,
  }) as unknown as SessionData;

describe('connect-mongo session store', () => {
  it('stores, reads, counts, touches and destroys sessions', async () => {
    const set = promisify(store.set.bind(store));
    const get = promisify(store.get.bind(store));
    const touch = promisify(store.touch.bind(store));
    const destroy = promisify(store.destroy.bind(store));
    const length = promisify(store.length.bind(store));
    await set('sid-1', session('ada'));
    await set('sid-2', session('grace'));
    await set('sid-1', session('ada-again'));
    assert.equal(((await get('sid-1')) as unknown as { user: string }).user, 'ada-again');
    assert.equal(await length(), 2);
    await touch('sid-2', session('grace'));
    await destroy('sid-1');
    assert.equal(await get('sid-1'), null);
    assert.equal(await length(), 1);
  });

  it('creates the TTL index on expires that removes stale sessions', async () => {
    const sessions = target.client.db(target.dbName).collection('sessions');
    let indexes: { key: Record<string, unknown>; expireAfterSeconds?: number }[] = [];
    for (let i = 0; i < 20 && !indexes.some((ix) => ix.key.expires === 1); i++) {
      indexes = (await sessions.listIndexes().toArray()) as typeof indexes;
      await new Promise((r) => setTimeout(r, 50));
    }
    const ttl = indexes.find((ix) => ix.key.expires === 1);
    assert.equal(ttl?.expireAfterSeconds, 0);
  });
});
