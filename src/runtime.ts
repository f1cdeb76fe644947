import type { Express } from 'express';
import type { AppConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { connectStore, type Store } from './db/index.js';
import { createApp } from './app.js';
import { createArticlesFeature } from './articles/index.js';

export interface RuntimeOptions {
  /** Overrides config.db.embeddedPath; null keeps the embedded store in memory (tests). */
  embeddedPath?: string | null;
  logger?: Logger;
  /** Database name; tests use one per run so they never share data. */
  dbName?: string;
}

export interface Runtime {
  config: AppConfig;
  logger: Logger;
  store: Store;
  app: Express;
  /** Stops background work and closes the store. The HTTP server is closed by its owner first. */
  stop(): Promise<void>;
}

/** The composition root: the one place where real dependencies are built and wired together. */
export async function startRuntime(config: AppConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger({ level: config.log.level, pretty: config.log.pretty });
  const store = await connectStore({
    uri: config.db.uri,
    embeddedPath: options.embeddedPath === undefined ? config.db.embeddedPath : options.embeddedPath,
    logger,
    ...(options.dbName ? { dbName: options.dbName } : {}),
  });
  const cleanups: Array<() => Promise<void>> = [() => store.close()];
  try {
    const articles = createArticlesFeature({ config, logger });
    await articles.seedDemoContentIfEmpty();
    const app = createApp({ config, logger, store, formActionOrigins: [], routers: [articles.router] });
    return {
      config,
      logger,
      store,
      app,
      async stop() {
        for (const cleanup of cleanups.reverse()) {
          await cleanup().catch((err: unknown) => logger.error({ err }, 'error during shutdown'));
        }
      },
    };
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    throw err;
  }
}
