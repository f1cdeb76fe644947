/**
 * A small MongoDB-wire-compatible server for development and tests, used by the unmodified
 * mongoose / mongodb driver over TCP. Production uses a real MongoDB through MONGODB_URI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Journal } from './journal.js';
import { acquireLock } from './lock.js';
import { WireServer } from './server.js';
import { Catalog } from './store.js';

export interface EmbeddedMongoOptions {
  /** undefined → purely in memory (no journal, no lock) */
  dbPath?: string;
  /** 0 → a free port */
  port?: number;
  /** default '127.0.0.1' */
  host?: string;
  logger?: {
    info(obj: object, msg?: string): void;
    warn(obj: object, msg?: string): void;
    error(obj: object, msg?: string): void;
  };
}

export interface EmbeddedMongo {
  /** like mongodb://127.0.0.1:PORT (no database name) */
  uri: string;
  port: number;
  /** Flushes and fsyncs the journal, closes sockets, releases the lock. */
  stop(): Promise<void>;
}

const silent = { info() {}, warn() {}, error() {} };

/** The same rule as the payment simulator's: never anywhere that could be production. */
const ALLOWED_ENVIRONMENTS = new Set(['', 'development', 'test']);

export async function startEmbeddedMongo(options: EmbeddedMongoOptions = {}): Promise<EmbeddedMongo> {
  const env = process.env.NODE_ENV ?? '';
  if (!ALLOWED_ENVIRONMENTS.has(env)) {
    throw new Error(
      `The embedded MongoDB-compatible store runs only when NODE_ENV is unset, development or test (it is "${env}"); set MONGODB_URI to a MongoDB server.`,
    );
  }
  const logger = options.logger ?? silent;
  const host = options.host ?? '127.0.0.1';
  const catalog = new Catalog();
  let journal: Journal | undefined;
  let release: (() => void) | undefined;
  if (options.dbPath !== undefined) {
    const dir = path.resolve(options.dbPath);
    fs.mkdirSync(dir, { recursive: true });
    release = await acquireLock(dir);
    try {
      journal = Journal.open(dir, catalog, logger);
    } catch (err) {
      release();
      throw err;
    }
  }
  const server = new WireServer(catalog, journal, logger);
  let port: number;
  try {
    port = await server.listen(options.port ?? 0, host);
  } catch (err) {
    await journal?.close();
    release?.();
    throw err;
  }
  const uriHost = host.includes(':') ? `[${host}]` : host;
  let stopping: Promise<void> | undefined;
  return {
    uri: `mongodb://${uriHost}:${port}`,
    port,
    stop() {
      stopping ??= (async () => {
        await server.close();
        await journal?.close();
        release?.();
        logger.info({ port }, 'embedded store stopped');
      })();
      return stopping;
    },
  };
}
