import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AppConfig } from './config.js';

export interface Secrets {
  session: string;
  links: string;
}

export const DEV_SECRETS_FILE = 'dev-secrets.json';

export interface DevSecretsOptions {
  /** The user the file must belong to; the process's own by default (tests pass another). */
  uid?: number;
}

/** The development secrets file cannot be trusted or used; the message says what to do. */
export class DevSecretsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevSecretsError';
  }
}

const fresh = (): Secrets => ({
  session: randomBytes(32).toString('base64url'),
  links: randomBytes(32).toString('base64url'),
});

function parse(text: string): Secrets | null {
  try {
    const stored = JSON.parse(text) as Partial<Secrets>;
    if (
      typeof stored.session === 'string' &&
      stored.session.length >= 32 &&
      typeof stored.links === 'string' &&
      stored.links.length >= 32
    ) {
      return { session: stored.session, links: stored.links };
    }
  } catch {
    // A file cut short by a crash while it was first written: made again below.
  }
  return null;
}

/**
 * Whoever can read these secrets can sign manage links and session cookies for this instance, so
 * the file must be this user's own, readable by nobody else, and not a link to somewhere else.
 */
async function checkOwnership(file: string, uid: number | undefined): Promise<void> {
  const stat = await lstat(file);
  const advice = 'Delete it to have a new one made, or set SESSION_SECRET and LINK_SIGNING_SECRET.';
  if (stat.isSymbolicLink() || !stat.isFile()) {
    throw new DevSecretsError(`${file} is not a regular file, so its secrets are not used. ${advice}`);
  }
  if (uid === undefined) return; // no POSIX owners here (Windows)
  if (stat.uid !== uid) {
    throw new DevSecretsError(
      `${file} belongs to another user (uid ${stat.uid}, not ${uid}), so its secrets are not used. ${advice}`,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new DevSecretsError(
      `${file} can be read or changed by other users (mode ${(stat.mode & 0o777).toString(8)}), so its secrets ` +
        `are not used. Run \`chmod 600 ${file}\`, or delete it to have a new one made.`,
    );
  }
}

/**
 * Production must configure its secrets (config validation enforces it). On a development machine
 * with none set, random ones are made once and kept in the embedded store's data folder (mode 0600),
 * so manage links and sessions survive restarts and two data folders never share them; without a
 * data folder (tests) they live in memory.
 */
export async function resolveDevSecrets(
  config: AppConfig,
  dataPath: string | null,
  options: DevSecretsOptions = {},
): Promise<Secrets> {
  if (config.secrets.session && config.secrets.links) return { ...config.secrets };
  const configured = (s: Secrets): Secrets => ({
    session: config.secrets.session || s.session,
    links: config.secrets.links || s.links,
  });
  if (!dataPath) return configured(fresh());
  const uid = options.uid ?? process.getuid?.();
  const dir = path.resolve(dataPath);
  const file = path.join(dir, DEV_SECRETS_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const made = fresh();
  try {
    // Exclusive create: two processes starting at once agree on whichever file was made first.
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(made));
      await handle.sync();
    } finally {
      await handle.close();
    }
    return configured(made);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await checkOwnership(file, uid);
  const stored = parse(await readFile(file, 'utf8'));
  if (stored) return configured(stored);
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, JSON.stringify(made), { mode: 0o600, flag: 'w' });
  await rename(partial, file);
  return configured(made);
}
