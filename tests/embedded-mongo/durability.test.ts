/**
 * Durability of the embedded store: restart, kill -9, journal recovery, snapshots and the data
 * directory lock. These properties belong to the embedded store itself, so they are only
 * registered when the suite runs against it (not when MONGODB_URI points at a real server).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import mongoose, { Schema } from 'mongoose';
import { startEmbeddedMongo } from '../../src/embedded-mongo/index.js';
import { Journal } from '../../src/embedded-mongo/journal.js';
import { Catalog } from '../../src/embedded-mongo/store.js';
import { againstRealServer, spawnStore } from './helpers.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-mongo-test-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const quiet = { info() {}, warn() {}, error() {} };

if (!againstRealServer) {
  describe('persistence', () => {
    it('keeps documents, updates, deletes and indexes across a clean restart', async () => {
      const dbPath = tempDir();
      let store = await startEmbeddedMongo({ dbPath });
      let conn = await mongoose.createConnection(`${store.uri}/persist`).asPromise();
      const schema = new Schema({ email: { type: String, unique: true }, n: Number });
      let M = conn.model('Member', schema);
      await M.init();
      await M.create([
        { email: 'a@x.io', n: 1 },
        { email: 'b@x.io', n: 2 },
        { email: 'c@x.io', n: 3 },
      ]);
      await M.updateOne({ email: 'a@x.io' }, { $inc: { n: 10 } });
      await M.deleteOne({ email: 'b@x.io' });
      await conn.close();
      await store.stop();

      store = await startEmbeddedMongo({ dbPath });
      conn = await mongoose.createConnection(`${store.uri}/persist`).asPromise();
      M = conn.model('Member', schema);
      const docs = await M.find().sort({ email: 1 }).lean();
      assert.deepEqual(
        docs.map((d) => [d.email, d.n]),
        [
          ['a@x.io', 11],
          ['c@x.io', 3],
        ],
      );
      await assert.rejects(M.create({ email: 'c@x.io' }), (e: { code?: number }) => e.code === 11000);
      await conn.close();
      await store.stop();
    });

    it(
      'recovers every acknowledged write after kill -9 of the store process',
      { timeout: 30_000 },
      async () => {
        const dbPath = tempDir();
        const first = await spawnStore(dbPath);
        const client = await MongoClient.connect(first.uri, { retryWrites: false });
        const c = client.db('crash').collection('events');
        await c.createIndex({ seq: 1 }, { unique: true });
        for (let i = 0; i < 300; i++) await c.insertOne({ seq: i });
        await c.updateOne({ seq: 0 }, { $set: { touched: true } });
        await c.deleteOne({ seq: 1 });
        // writes still in flight when the process dies: only the acknowledged ones must survive
        const acked: number[] = [];
        let stop = false;
        const writers = Array.from({ length: 8 }, async (_, w) => {
          for (let i = 0; !stop; i++) {
            const seq = 1000 + w * 100_000 + i;
            try {
              await c.insertOne({ seq });
              acked.push(seq);
            } catch {
              return;
            }
          }
        });
        await new Promise((r) => setTimeout(r, 400));
        first.child.kill('SIGKILL');
        await once(first.child, 'exit');
        stop = true;
        await Promise.all(writers);
        await client.close(true);
        assert.ok(acked.length > 0);

        const second = await spawnStore(dbPath);
        const client2 = await MongoClient.connect(second.uri);
        const c2 = client2.db('crash').collection('events');
        try {
          assert.equal(await c2.countDocuments({ seq: { $lt: 300 } }), 299);
          assert.equal((await c2.findOne({ seq: 0 }))?.touched, true);
          assert.equal(await c2.countDocuments({ seq: 1 }), 0);
          const found = await c2.countDocuments({ seq: { $in: acked } });
          assert.equal(found, acked.length);
          await assert.rejects(c2.insertOne({ seq: 5 }), (e: { code?: number }) => e.code === 11000);
        } finally {
          await client2.close();
          second.child.kill('SIGTERM');
          if (second.child.exitCode === null) await once(second.child, 'exit');
        }
        // SIGTERM stops the CLI cleanly: exit code 0 and the lock released
        assert.equal(second.child.exitCode, 0);
        assert.equal(fs.existsSync(path.join(dbPath, 'mongod.lock')), false);
      },
    );

    it('keeps a view and the output of $out and $merge across a restart', async () => {
      const dbPath = tempDir();
      let store = await startEmbeddedMongo({ dbPath });
      let client = await MongoClient.connect(store.uri);
      let db = client.db('derived');
      await db
        .collection('gifts')
        .insertMany([{ _id: 1, amount: 500 } as never, { _id: 2, amount: 1500 } as never]);
      await db.createCollection('large_gifts', {
        viewOn: 'gifts',
        pipeline: [{ $match: { amount: { $gt: 1000 } } }],
      });
      await db
        .collection('gifts')
        .aggregate([{ $out: 'gifts_copy' }])
        .toArray();
      await db
        .collection('gifts')
        .aggregate([{ $group: { _id: 'all', total: { $sum: '$amount' } } }, { $merge: { into: 'totals' } }])
        .toArray();
      await client.close();
      await store.stop();

      store = await startEmbeddedMongo({ dbPath });
      client = await MongoClient.connect(store.uri);
      db = client.db('derived');
      try {
        assert.deepEqual(await db.collection('large_gifts').find().toArray(), [{ _id: 2, amount: 1500 }]);
        assert.equal(await db.collection('gifts_copy').countDocuments(), 2);
        assert.deepEqual(await db.collection('totals').find().toArray(), [{ _id: 'all', total: 2000 }]);
      } finally {
        await client.close();
        await store.stop();
      }
    });

    it('acknowledges a j:true write only once it is on disk, and keeps it', async () => {
      const dbPath = tempDir();
      let store = await startEmbeddedMongo({ dbPath });
      let client = await MongoClient.connect(store.uri);
      const started = Date.now();
      await client
        .db('j')
        .collection('w')
        .insertOne({ k: 'journaled' }, { writeConcern: { w: 1, j: true } });
      assert.ok(Date.now() - started < 2000);
      await client.close();
      await store.stop();
      store = await startEmbeddedMongo({ dbPath });
      client = await MongoClient.connect(store.uri);
      assert.equal(await client.db('j').collection('w').countDocuments({ k: 'journaled' }), 1);
      await client.close();
      await store.stop();
    });

    it('ignores a torn last journal record at start-up', async () => {
      const dbPath = tempDir();
      let store = await startEmbeddedMongo({ dbPath });
      let client = await MongoClient.connect(store.uri);
      await client
        .db('t')
        .collection('c')
        .insertMany([{ i: 1 }, { i: 2 }]);
      await client.close();
      await store.stop();
      const journal = fs.readdirSync(dbPath).find((f) => f.startsWith('journal.')) as string;
      // half a record: a length prefix promising more bytes than follow
      fs.appendFileSync(path.join(dbPath, journal), Buffer.from([0x40, 0, 0, 0, 3, 0x6f]));
      store = await startEmbeddedMongo({ dbPath });
      client = await MongoClient.connect(store.uri);
      const c = client.db('t').collection('c');
      assert.equal(await c.countDocuments(), 2);
      await c.insertOne({ i: 3 });
      await client.close();
      await store.stop();
      store = await startEmbeddedMongo({ dbPath });
      client = await MongoClient.connect(store.uri);
      assert.equal(await client.db('t').collection('c').countDocuments(), 3);
      await client.close();
      await store.stop();
    });

    it('compacts the journal into a snapshot and restores from it', async () => {
      const dbPath = tempDir();
      const catalog = new Catalog();
      const journal = Journal.open(dbPath, catalog, quiet, 20_000);
      const { coll } = catalog.ensure('snap', 'items');
      coll.createIndex({ v: 2, key: { code: 1 }, name: 'code_1', unique: true });
      for (let i = 0; i < 2000; i++) {
        coll.insert({ _id: i, code: `c${i}`, n: i });
        journal.flush();
      }
      for (let i = 0; i < 100; i++) coll.remove({ _id: i });
      journal.flush();
      await journal.close();
      const files = fs.readdirSync(dbPath);
      assert.ok(files.includes('snapshot.bson'), `no snapshot in ${files.join(', ')}`);
      assert.ok(files.filter((f) => f.startsWith('journal.')).length <= 2);

      const restored = new Catalog();
      const j2 = Journal.open(dbPath, restored, quiet, 20_000);
      const items = restored.get('snap', 'items');
      assert.equal(items?.docs.size, 1900);
      assert.ok(items?.findIndex('code_1')?.unique);
      assert.throws(() => items?.insert({ _id: 'dup', code: 'c500' }), /E11000/);
      await j2.close();
    });
  });

  describe('data directory lock', () => {
    it('refuses a second store on the same path with a message naming it', async () => {
      const dbPath = tempDir();
      const store = await startEmbeddedMongo({ dbPath });
      try {
        await assert.rejects(startEmbeddedMongo({ dbPath }), (err: Error) => {
          assert.ok(err.message.includes(dbPath), err.message);
          assert.match(err.message, /another process/);
          return true;
        });
      } finally {
        await store.stop();
      }
      const again = await startEmbeddedMongo({ dbPath });
      await again.stop();
    });

    it(
      'starts 0.5 s after the holder was killed with SIGKILL, while it is still an unreaped zombie',
      { timeout: 30_000 },
      async () => {
        const dbPath = tempDir();
        // a parent that never reaps: the store runs in the background of a shell that then
        // becomes `sleep`, as under a container's PID 1 that does not reap
        const cli = fileURLToPath(new URL('../../src/embedded-mongo/cli.ts', import.meta.url));
        const parent = spawn(
          'sh',
          [
            '-c',
            '"$0" --import tsx "$1" --port 0 --dbpath "$2" & echo "pid $!" >&2; exec sleep 60',
            process.execPath,
            cli,
            dbPath,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } },
        );
        try {
          let err = '';
          parent.stderr.on('data', (c: Buffer) => (err += c.toString()));
          let out = '';
          for await (const chunk of parent.stdout as AsyncIterable<Buffer>) {
            out += chunk.toString();
            if (/mongodb:\/\/\S+/.test(out)) break;
          }
          const pid = Number(/pid (\d+)/.exec(err)?.[1]);
          assert.ok(pid > 0, `no pid in ${err}`);
          assert.ok(fs.existsSync(path.join(dbPath, 'mongod.lock')));
          process.kill(pid, 'SIGKILL');
          await new Promise((r) => setTimeout(r, 500));
          const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
          assert.equal(state, 'Z', 'the killed store is a zombie');
          const store = await startEmbeddedMongo({ dbPath });
          await store.stop();
        } finally {
          parent.kill('SIGKILL');
        }
      },
    );

    it('is not held by a live, unrelated process whose pid the lock file names', async () => {
      const dbPath = tempDir();
      // the pid of this very test process: alive, and not a store on this directory
      fs.writeFileSync(path.join(dbPath, 'mongod.lock'), `${process.pid}\n`);
      const store = await startEmbeddedMongo({ dbPath });
      await store.stop();
      assert.equal(fs.existsSync(path.join(dbPath, 'mongod.lock')), false);
    });

    it('makes a second CLI process on a locked path exit with an error', { timeout: 20_000 }, async () => {
      const dbPath = tempDir();
      const store = await startEmbeddedMongo({ dbPath });
      try {
        await assert.rejects(spawnStore(dbPath), /locked/);
      } finally {
        await store.stop();
      }
    });
  });

  describe('environment', () => {
    const withNodeEnv = async (value: string | undefined, fn: () => Promise<void>): Promise<void> => {
      const previous = process.env.NODE_ENV;
      if (value === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = value;
      try {
        await fn();
      } finally {
        if (previous === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = previous;
      }
    };

    it('refuses to start unless NODE_ENV is unset, development or test, in one line', async () => {
      for (const env of ['production', 'staging', 'prod']) {
        await withNodeEnv(env, async () => {
          await assert.rejects(startEmbeddedMongo(), (err: Error) => {
            assert.match(
              err.message,
              new RegExp(`NODE_ENV is unset, development or test \\(it is "${env}"\\)`),
            );
            assert.match(err.message, /MONGODB_URI/);
            assert.ok(!err.message.includes('\n'));
            return true;
          });
        });
      }
    });

    it('starts when NODE_ENV is unset, development or test', async () => {
      for (const env of [undefined, 'development', 'test']) {
        await withNodeEnv(env, async () => {
          const store = await startEmbeddedMongo();
          await store.stop();
        });
      }
    });
  });
}
