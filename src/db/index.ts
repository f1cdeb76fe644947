import mongoose from 'mongoose';
import type { Logger } from '../log.js';
import type * as EmbeddedMongoModule from '../embedded-mongo/index.js';

export interface StoreOptions {
  /** A real MongoDB (production, or anyone who has one); empty → the embedded store. */
  uri: string;
  /** Where the embedded store keeps its journal and snapshots; null keeps it in memory (tests). */
  embeddedPath: string | null;
  /** Port for the embedded store; 0 picks a free one. */
  embeddedPort?: number;
  dbName?: string;
  logger: Logger;
}

export interface Store {
  connection: mongoose.Connection;
  /** The URI the app is connected to (embedded: the local one it started). */
  uri: string;
  embedded: boolean;
  /** Answers whether the store replies to a ping within the time limit. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

async function startEmbedded(options: StoreOptions): Promise<{ uri: string; stop(): Promise<void> }> {
  let embedded: typeof EmbeddedMongoModule;
  try {
    embedded = await import('../embedded-mongo/index.js');
  } catch (err) {
    throw new Error(
      'MONGODB_URI is not set and the embedded store could not be loaded; set MONGODB_URI to a MongoDB server.',
      { cause: err },
    );
  }
  const server = await embedded.startEmbeddedMongo({
    ...(options.embeddedPath ? { dbPath: options.embeddedPath } : {}),
    port: options.embeddedPort ?? 0,
    logger: options.logger.child({ component: 'embedded-mongo' }),
  });
  options.logger.info(
    { uri: server.uri, dbPath: options.embeddedPath ?? '(memory)' },
    'embedded store started',
  );
  return server;
}

/**
 * Starts the embedded store alone, for a process that hosts it for others (the cluster primary in
 * development: its workers connect over the wire).
 */
export function startEmbeddedStore(
  options: Pick<StoreOptions, 'embeddedPath' | 'embeddedPort' | 'logger'>,
): Promise<{ uri: string; stop(): Promise<void> }> {
  return startEmbedded({ ...options, uri: '' });
}

const QUIET_MS = 25;
const DRAIN_WAIT_MS = 5000;

/**
 * Follows the operations under way on a client through its connection pool. Some are started in
 * the background and awaited by nobody (mongoose's autoIndex, the rate limiter's index builds);
 * closing the client interrupts them and their owner prints a stack trace, so `close()` first
 * waits, for a few seconds at most, until no operation has been running for a moment (callers
 * often chain them one after another).
 */
function trackOperations(client: mongoose.mongo.MongoClient): () => Promise<void> {
  let running = 0;
  let lastChange = 0;
  const started = (): void => {
    running++;
    lastChange = Date.now();
  };
  const ended = (): void => {
    running = Math.max(0, running - 1);
    lastChange = Date.now();
  };
  client.on('connectionCheckOutStarted', started);
  client.on('connectionCheckOutFailed', ended);
  client.on('connectionCheckedIn', ended);
  return async () => {
    lastChange = Math.max(lastChange, Date.now());
    const deadline = Date.now() + DRAIN_WAIT_MS;
    while (Date.now() < deadline && (running > 0 || Date.now() - lastChange < QUIET_MS)) {
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    }
  };
}

/** Connects mongoose to MONGODB_URI, or starts the embedded store and connects to that. */
export async function connectStore(options: StoreOptions): Promise<Store> {
  const embedded = options.uri === '' ? await startEmbedded(options) : null;
  const uri = embedded?.uri ?? options.uri;
  try {
    await mongoose.connect(uri, {
      ...(options.dbName ? { dbName: options.dbName } : embedded ? { dbName: 'readerfund' } : {}),
      serverSelectionTimeoutMS: 10_000,
      autoIndex: true,
    });
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const connection = mongoose.connection;
  const operationsDone = trackOperations(connection.getClient());
  return {
    connection,
    uri,
    embedded: embedded !== null,
    async ping(timeoutMs = 1000) {
      const db = connection.db;
      if (!db || connection.readyState !== 1) return false;
      const timeout = new Promise<boolean>((resolve) => setTimeout(resolve, timeoutMs, false).unref());
      const ping = db
        .command({ ping: 1 })
        .then(() => true)
        .catch(() => false);
      return Promise.race([ping, timeout]);
    },
    async close() {
      await Promise.allSettled(Object.values(connection.models).map((model) => model.init()));
      await operationsDone();
      await mongoose.disconnect();
      await embedded?.stop();
    },
  };
}

/**
 * What an operator command should say when the embedded store's data folder is held by a running
 * app (one process at a time may open it); null for any other failure.
 */
export function lockedStoreAdvice(err: unknown): string | null {
  const text = err instanceof Error ? err.message : String(err);
  if (!/locked/i.test(text)) return null;
  return (
    `${text}\n\nThe app is running on the embedded store, which one process at a time may open. ` +
    'Run the store on its own (`npm run db:embedded`) and start both the app and this command with ' +
    'MONGODB_URI set to the address it prints, or stop the app first.'
  );
}
