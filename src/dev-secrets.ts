import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AppConfig } from './config.js';

export interface Secrets {
  session: string;
  links: string;
}

/**
 * Production must configure its secrets (config validation enforces it). On a development machine
 * with none set, random ones are made once and kept beside the embedded store's data, so manage
 * links and sessions survive restarts; without a data folder (tests) they live in memory.
 */
export async function resolveDevSecrets(config: AppConfig, dataPath: string | null): Promise<Secrets> {
  if (config.secrets.session && config.secrets.links) return { ...config.secrets };
  const fresh = (): Secrets => ({
    session: config.secrets.session || randomBytes(32).toString('base64url'),
    links: config.secrets.links || randomBytes(32).toString('base64url'),
  });
  if (!dataPath) return fresh();
  const file = path.join(path.dirname(path.resolve(dataPath)), 'dev-secrets.json');
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as Partial<Secrets>;
    if (stored.session && stored.links) {
      return {
        session: config.secrets.session || stored.session,
        links: config.secrets.links || stored.links,
      };
    }
  } catch {
    // First start: nothing stored yet.
  }
  const secrets = fresh();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}
