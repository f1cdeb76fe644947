// npm run build: compiles src/ to dist/ with tsc, then copies the files that are not TypeScript
// (the staff area's list of common passwords) beside the code that reads them. dist/ mirrors src/,
// so paths resolved from a module's own folder (views/, config/) lead to the same places.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const assets = readdirSync(src, { recursive: true, withFileTypes: true }).filter(
  (entry) => entry.isFile() && !entry.name.endsWith('.ts') && !entry.name.endsWith('.md'),
);
for (const entry of assets) {
  const from = path.join(entry.parentPath, entry.name);
  cpSync(from, path.join(dist, path.relative(src, from)));
}
process.stdout.write(`built dist/ (${assets.length} asset${assets.length === 1 ? '' : 's'} copied)\n`);
