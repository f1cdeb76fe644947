/**
 * Creates a staff account from the command line (the first admin, typically):
 *   npm run staff:create -- --email E --password P --role finance|admin [--name N]
 * It opens only the store: no HTTP server, no payment simulator, no background jobs.
 */
import '../load-env.js';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, getConfig, type AppConfig } from '../config.js';
import { connectStore, type Store, lockedStoreAdvice } from '../db/index.js';
import { resolveDevSecrets } from '../dev-secrets.js';
import { isAppError } from '../errors.js';
import { createLogger } from '../log.js';
import { createStaffParts } from './index.js';

const usage = 'Usage: npm run staff:create -- --email E --password P --role finance|admin [--name N]';

class CliError extends Error {}

function options() {
  try {
    return parseArgs({
      options: {
        email: { type: 'string' },
        password: { type: 'string' },
        role: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${usage}`);
  }
}

async function openStore(config: AppConfig): Promise<Store> {
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'readerfund-cli' });
  try {
    return await connectStore({ uri: config.db.uri, embeddedPath: config.db.embeddedPath, logger });
  } catch (err) {
    const advice = lockedStoreAdvice(err);
    if (advice) throw new CliError(advice);
    throw err;
  }
}

async function main(): Promise<number> {
  const values = options();
  if (values.help) {
    console.log(usage);
    return 0;
  }
  for (const key of ['email', 'password', 'role'] as const) {
    if (!values[key]) throw new CliError(`--${key} is required.\n${usage}`);
  }
  let config: AppConfig;
  try {
    config = getConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'readerfund-cli' });
  const secrets = await resolveDevSecrets(config, config.db.embeddedPath);
  const { service } = createStaffParts({ config, logger, secrets });
  // Refuse bad input before touching the store.
  service.checkNewAccount({ email: values.email!, password: values.password!, role: values.role! });
  const store = await openStore(config);
  try {
    await service.ready();
    const account = await service.createAccount(
      {
        email: values.email!,
        password: values.password!,
        role: values.role!,
        ...(values.name ? { name: values.name } : {}),
      },
      { kind: 'cli', email: os.userInfo().username },
      { userAgentFamily: 'command line' },
    );
    console.log(
      `Created the ${account.role} account ${account.email}. Sign in at ${config.site.publicUrl}/staff/login`,
    );
    if (account.role === 'admin') console.log('Admins set up two-factor sign-in at their first sign-in.');
    return 0;
  } finally {
    await store.close();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    if (err instanceof CliError || isAppError(err)) console.error(err.message);
    else console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
