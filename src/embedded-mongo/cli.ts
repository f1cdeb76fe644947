/**
 * Runs the embedded store in the foreground:
 *   npm run db:embedded -- --port 27017 --dbpath ./data/db
 * Prints the connection URI and stops cleanly on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { startEmbeddedMongo } from './index.js';

const log = (level: string) => (obj: object, msg?: string) =>
  console.error(JSON.stringify({ level, time: new Date().toISOString(), ...obj, msg }));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '27017' },
      dbpath: { type: 'string', default: './data/db' },
      host: { type: 'string', default: '127.0.0.1' },
      'in-memory': { type: 'boolean', default: false },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0..65535, got ${values.port}`);
  const store = await startEmbeddedMongo({
    port,
    host: values.host,
    dbPath: values['in-memory'] ? undefined : values.dbpath,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
  });
  console.log(store.uri);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log('info')({ signal }, 'stopping embedded store');
    store.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log('error')({ err: String(err) }, 'failed to stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
