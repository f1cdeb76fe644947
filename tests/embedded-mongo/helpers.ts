/**
 * Where the conformance suite runs: against MONGODB_URI when it is set (a real server, one
 * database per test file), otherwise against an in-memory embedded store.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { startEmbeddedMongo } from '../../src/embedded-mongo/index.js';

export const realServerUri = process.env.MONGODB_URI;
export const againstRealServer = realServerUri !== undefined && realServerUri !== '';

export interface TestTarget {
  uri: string;
  dbName: string;
  /** `uri` with the database name, for mongoose.connect */
  dbUri: string;
  client: MongoClient;
  close(): Promise<void>;
}

function withDb(uri: string, dbName: string): string {
  const u = new URL(uri);
  u.pathname = `/${dbName}`;
  return u.toString();
}

export async function openTarget(label: string): Promise<TestTarget> {
  const dbName = `conformance_${label}_${randomBytes(4).toString('hex')}`;
  if (againstRealServer) {
    const uri = realServerUri as string;
    const client = await MongoClient.connect(uri);
    return {
      uri,
      dbName,
      dbUri: withDb(uri, dbName),
      client,
      async close() {
        await client.db(dbName).dropDatabase();
        await client.close();
      },
    };
  }
  const store = await startEmbeddedMongo();
  const client = await MongoClient.connect(store.uri);
  return {
    uri: store.uri,
    dbName,
    dbUri: withDb(store.uri, dbName),
    client,
    async close() {
      await client.close();
      await store.stop();
    },
  };
}

/** Runs the store through its CLI in a child process, as `npm run db:embedded` does. */
export async function spawnStore(
  dbPath: string,
): Promise<{ uri: string; child: ChildProcess; stderr: () => string }> {
  const cli = fileURLToPath(new URL('../../src/embedded-mongo/cli.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--dbpath', dbPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'test' },
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    const m = /mongodb:\/\/\S+/.exec(out);
    if (m) return { uri: m[0], child, stderr: () => err };
  }
  if (child.exitCode === null) await once(child, 'exit');
  throw new Error(`store exited (${child.exitCode}) before printing its URI: ${err}`);
}

export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  stepMs = 200,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}
