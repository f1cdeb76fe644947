/**
 * Reads `.env` from the working directory into process.env, for entry points to import before
 * anything else: node-config reads the environment when it is first imported. Variables already
 * set in the environment win over the file. Tests (NODE_ENV=test) never read it, so a developer's
 * keys cannot leak into them.
 */
import { existsSync } from 'node:fs';

const file = '.env';
if (process.env.NODE_ENV !== 'test' && existsSync(file)) {
  try {
    process.loadEnvFile(file);
  } catch (err) {
    console.error(`Could not read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
