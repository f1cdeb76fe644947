/**
 * Proof of consent for an audit, straight from the store (no HTTP server, no payment simulator):
 *   npm run consent -- proof <consentId> [--json]
 *   npm run consent -- proof <email> [--json]     (every consent id linked to that supporter)
 *   npm run consent -- log --from YYYY-MM-DD --to YYYY-MM-DD      (CSV on stdout, both days included)
 * `proof` exits 0 when the chain and its texts verify, 2 when they do not or nothing is found.
 */
import '../load-env.js';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import sanitizeHtml from 'sanitize-html';
import { ConfigError, getConfig } from '../config.js';
import { connectStore, type Store, lockedStoreAdvice } from '../db/index.js';
import { createLogger } from '../log.js';
import { createConsentAudit, type ConsentAudit, type ConsentProof } from './audit.js';
import { isConsentId } from './cookie.js';
import { policyFromConfig, type ConsentPolicy } from './policy.js';
import { createConsentRepository } from './repository.js';
import { createConsentLinks } from './links.js';
import { createLedgerRepository } from '../supporters/repository.js';
import { validEmail } from '../supporters/ledger-rules.js';

export class UsageError extends Error {}

const usage = `Usage:
  npm run consent -- proof <consentId|email> [--json]
  npm run consent -- log --from YYYY-MM-DD --to YYYY-MM-DD`;

function plainText(html: string): string {
  return sanitizeHtml(html.replace(/<\/(p|li|dt|dd|h2|ul|dl)>/g, '$&\n'), {
    allowedTags: [],
    allowedAttributes: {},
  })
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join('\n');
}

const indent = (text: string, by = '    ') =>
  text
    .split('\n')
    .map((line) => by + line)
    .join('\n');

/** The proof as a person reads it. */
export function formatProof(proof: ConsentProof): string {
  const out: string[] = [];
  const { check } = proof;
  out.push(`Consent id ${proof.consentId}: ${proof.records.length} record(s)`);
  out.push(check.verified ? 'Chain: VERIFIED' : 'Chain: DOES NOT VERIFY');
  if (check.prunedBefore !== null) {
    out.push(`  (records before #${check.prunedBefore} were pruned after the retention period)`);
  }
  for (const problem of check.problems) out.push(`  problem: ${problem}`);
  for (const r of proof.records) {
    const ok = check.records.find((c) => c.id === r.id)?.ok ? 'ok' : 'FAILS';
    out.push('');
    out.push(`#${r.seq} ${r.id} [${ok}] ${r.recordedAt.toISOString()} source=${r.source}`);
    out.push(
      `  choices: ${Object.entries(r.choices)
        .map(([id, state]) => `${id}=${state}`)
        .join(' ')}`,
    );
    out.push(`  policy ${r.policyVersion}, texts sha256 ${r.textHash}, locale ${r.locale}`);
    out.push(`  gpc signal: ${r.gpc ? 'yes' : 'no'}, browser: ${r.browserFamily}, ip hash: ${r.ipHash}`);
    out.push(`  previous: ${r.previousId ? `${r.previousId} (${r.previousHash})` : 'none, first record'}`);
    out.push(`  hash: ${r.hash}`);
  }
  for (const t of proof.texts) {
    out.push('');
    out.push(
      `Texts of policy ${t.policyVersion}, sha256 ${t.hash}: ` +
        (t.stored
          ? `stored ${t.stored.firstServedAt.toISOString()}, ${t.intact ? 'intact (re-hashes to the same value)' : 'CHANGED (does not re-hash)'}`
          : 'NOT STORED'),
    );
    if (t.stored) {
      out.push('  Banner as shown:');
      out.push(indent(plainText(t.stored.banner)));
      out.push('  Banner as shown to a browser sending Global Privacy Control:');
      out.push(indent(plainText(t.stored.bannerWithGpc)));
      out.push('  Policy:');
      out.push(indent(plainText(t.stored.policy)));
    }
  }
  return out.join('\n');
}

function parseDay(value: string | undefined, flag: string): Date {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value))
    throw new UsageError(`${flag} must be a date like 2026-01-31`);
  const day = new Date(`${value}T00:00:00.000Z`);
  if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value) {
    throw new UsageError(`${flag} ${value} is not a real date`);
  }
  return day;
}

/** Writes the records made from `from` to `to` (both whole UTC days) as CSV. */
export async function writeLog(
  audit: ConsentAudit,
  policy: ConsentPolicy,
  from: Date,
  toDay: Date,
  out: Writable,
): Promise<number> {
  const categoryIds = policy.categories.map((c) => c.id);
  const csv = stringify({
    header: true,
    columns: [
      'recorded_at',
      'consent_id',
      'seq',
      'record_id',
      'source',
      'policy_version',
      'text_hash',
      'locale',
      ...categoryIds,
      'gpc',
      'browser_family',
      'ip_hash',
      'previous_hash',
      'hash',
    ],
  });
  const done = new Promise<void>((resolve, reject) => {
    csv.on('error', reject);
    csv.on('end', resolve);
  });
  csv.pipe(out, { end: false });
  let rows = 0;
  const until = new Date(toDay.getTime() + 86_400_000);
  for await (const r of audit.log(from, until)) {
    const row: Record<string, string | number> = {
      recorded_at: r.recordedAt.toISOString(),
      consent_id: r.consentId,
      seq: r.seq,
      record_id: r.id,
      source: r.source,
      policy_version: r.policyVersion,
      text_hash: r.textHash,
      locale: r.locale,
      gpc: r.gpc ? 'yes' : 'no',
      browser_family: r.browserFamily,
      ip_hash: r.ipHash,
      previous_hash: r.previousHash ?? '',
      hash: r.hash,
    };
    for (const id of categoryIds) row[id] = r.choices[id] ?? '';
    // Respect back-pressure so a long log streams instead of piling up in memory.
    if (!csv.write(row)) await new Promise((resolve) => csv.once('drain', resolve));
    rows += 1;
  }
  csv.end();
  await done;
  return rows;
}

async function openStore(): Promise<{ store: Store; policy: ConsentPolicy }> {
  let config;
  try {
    config = getConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'readerfund-consent' });
  try {
    const store = await connectStore({ uri: config.db.uri, embeddedPath: config.db.embeddedPath, logger });
    return { store, policy: policyFromConfig(config) };
  } catch (err) {
    const advice = lockedStoreAdvice(err);
    if (advice) throw new UsageError(advice);
    throw err;
  }
}

/**
 * The proofs of every consent id linked to the supporter with this address (a payment started with
 * the consent cookie links them). Exit 0 when there is at least one and all verify.
 */
async function proofsOfSupporter(input: string, json: boolean, out: Writable): Promise<number> {
  const email = validEmail(input);
  if (!email) throw new UsageError(`"${input}" is not an email address.`);
  const { store, policy } = await openStore();
  try {
    const supporter = await createLedgerRepository(store.connection).findSupporterByEmail(email);
    const links = supporter ? await createConsentLinks().of(supporter.id) : [];
    if (!supporter || supporter.erasedAt || links.length === 0) {
      out.write(
        json
          ? '[]\n'
          : `No consent ids are linked to ${email}: ${supporter && !supporter.erasedAt ? 'none of its payments was started with a consent cookie' : 'we hold no supporter with that address'}.\n`,
      );
      return 2;
    }
    const audit = createConsentAudit({ policy, repository: createConsentRepository() });
    const proofs: ConsentProof[] = [];
    for (const link of links) proofs.push(await audit.proof(link.consentId));
    if (json) {
      out.write(
        `${JSON.stringify(
          proofs.map((proof, i) => ({ link: links[i], ...proof })),
          null,
          2,
        )}\n`,
      );
    } else {
      out.write(`Supporter ${supporter.id} (${email}): ${links.length} linked consent id(s)\n`);
      proofs.forEach((proof, i) => {
        const link = links[i]!;
        out.write(
          `\nLinked ${link.linkedAt.toISOString()} through a ${link.how}${link.checkoutId ? ` (${link.checkoutId})` : ''}\n`,
        );
        out.write(`${formatProof(proof)}\n`);
      });
    }
    return proofs.every((proof) => proof.check.verified) ? 0 : 2;
  } finally {
    await store.close();
  }
}

export async function main(argv: string[], out: Writable = process.stdout): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      from: { type: 'string' },
      to: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (command === 'proof') {
    const consentId = rest[0];
    if (!consentId || rest.length > 1) throw new UsageError(usage);
    if (consentId.includes('@')) return proofsOfSupporter(consentId, values.json === true, out);
    if (!isConsentId(consentId)) {
      throw new UsageError(`"${consentId}" is not a consent id (22 characters of A-Z, a-z, 0-9, - and _).`);
    }
    const { store, policy } = await openStore();
    try {
      const proof = await createConsentAudit({ policy, repository: createConsentRepository() }).proof(
        consentId,
      );
      out.write(`${values.json ? JSON.stringify(proof, null, 2) : formatProof(proof)}\n`);
      return proof.check.verified ? 0 : 2;
    } finally {
      await store.close();
    }
  }
  if (command === 'log') {
    if (rest.length) throw new UsageError(usage);
    const from = parseDay(values.from, '--from');
    const to = parseDay(values.to, '--to');
    if (to < from) throw new UsageError('--to must not be before --from');
    const { store, policy } = await openStore();
    try {
      await writeLog(
        createConsentAudit({ policy, repository: createConsentRepository() }),
        policy,
        from,
        to,
        out,
      );
      return 0;
    } finally {
      await store.close();
    }
  }
  throw new UsageError(usage);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2))
    .then((code) => process.exit(code))
    .catch((err: unknown) => {
      console.error(
        err instanceof UsageError ? err.message : err instanceof Error ? (err.stack ?? err.message) : err,
      );
      process.exit(1);
    });
}
