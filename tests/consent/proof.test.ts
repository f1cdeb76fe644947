import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { subYears } from 'date-fns';
import { formatProof, writeLog } from '../../src/consent/cli.js';
import type { ChoiceInput } from '../../src/consent/service.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { choose, consentCookieOf, consentIdOf, consentRecords, consentTexts, recordsOf } from './helpers.js';

const run = promisify(execFile);

/** The log's fields (ids, hashes, ISO times, words) hold no comma or quote, so a split reads it. */
function parse(csv: string, _options: { columns: true }): Array<Record<string, string>> {
  const [header, ...lines] = csv.trim().split('\n');
  assert.doesNotMatch(csv, /"/);
  const names = header!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((value, i) => [names[i]!, value])));
}
const root = path.resolve(import.meta.dirname, '..', '..');
const dbName = `readerfund_test_${randomUUID().slice(0, 8)}`;

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime({}, { backgroundJobs: false, dbName });
});
after(() => runtime.stop());

async function chainOf(...choices: string[]): Promise<string> {
  let cookie: string | undefined;
  for (const choice of choices) {
    cookie = consentCookieOf(await choose(runtime.app, choice, cookie ? { cookie } : {}));
  }
  return consentIdOf(cookie!);
}

function choiceAt(consentId: string | null, choice: ChoiceInput['choice']): ChoiceInput {
  const cookie = consentId
    ? {
        consentId,
        policyVersion: runtime.config.consent.policyVersion,
        decidedAt: new Date(),
        granted: [],
        seq: 1,
      }
    : null;
  return {
    choice,
    grant: [],
    textsHash: runtime.consent.service.texts.hash,
    cookie,
    current: null,
    gpc: false,
    ip: '203.0.113.9',
    userAgent: undefined,
  };
}

describe('proof of consent', () => {
  it('verifies an untouched chain and shows the texts it points to', async () => {
    const consentId = await chainOf('accept_all', 'reject_all');
    const proof = await runtime.consent.audit.proof(consentId);
    assert.equal(proof.check.verified, true, proof.check.problems.join('; '));
    assert.equal(proof.records.length, 2);
    assert.equal(proof.texts.length, 1);
    assert.equal(proof.texts[0]!.intact, true);
    const text = formatProof(proof);
    assert.match(text, /Chain: VERIFIED/);
    assert.match(text, /#1 cr_\S+ \[ok\] .* source=accept_all/);
    assert.match(text, /#2 cr_\S+ \[ok\] .* source=reject_all/);
    assert.match(text, /choices: necessary=granted comments=denied analytics=denied advertising=denied/);
    assert.match(text, /Banner as shown:\n {4}Your choice: cookies and content from other sites/);
    assert.match(text, /Policy:\n {4}Policy version 2026-11-01/);
  });

  it('fails the check when a stored record is edited', async () => {
    const consentId = await chainOf('reject_all', 'reject_all');
    await consentRecords().updateOne({ consentId, seq: 1 }, { $set: { 'choices.comments': 'granted' } });
    const proof = await runtime.consent.audit.proof(consentId);
    assert.equal(proof.check.verified, false);
    assert.match(proof.check.problems.join('\n'), /record #1 .*does not match its hash: it was changed/);
    assert.match(formatProof(proof), /Chain: DOES NOT VERIFY/);
  });

  it('fails the check when a record is removed from the middle or the start of a recent chain', async () => {
    const middle = await chainOf('accept_all', 'reject_all', 'accept_all');
    await consentRecords().deleteOne({ consentId: middle, seq: 2 });
    const gap = await runtime.consent.audit.proof(middle);
    assert.equal(gap.check.verified, false);
    assert.match(gap.check.problems.join('\n'), /record #2 is missing/);

    const start = await chainOf('accept_all', 'reject_all');
    await consentRecords().deleteOne({ consentId: start, seq: 1 });
    const headless = await runtime.consent.audit.proof(start);
    assert.equal(headless.check.verified, false);
    assert.match(headless.check.problems.join('\n'), /were not due for pruning/);
  });

  it('fails the check when the stored texts are edited', async () => {
    const consentId = await chainOf('accept_all');
    const hash = runtime.consent.service.texts.hash;
    const stored = await consentTexts().findOne({ hash });
    try {
      await consentTexts().updateOne({ hash }, { $set: { policy: 'We may do anything.' } });
      const proof = await runtime.consent.audit.proof(consentId);
      assert.equal(proof.check.verified, false);
      assert.match(proof.check.problems.join('\n'), /no longer hash to/);
    } finally {
      await consentTexts().updateOne({ hash }, { $set: { policy: stored!.policy } });
    }
  });

  it('prints the proof and streams the log as CSV from the command line, with no server running', async () => {
    const consentId = await chainOf('accept_all', 'reject_all');
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      MONGODB_URI: `${runtime.store.uri}/${dbName}`,
      LOG_LEVEL: 'silent',
    };
    const tsx = ['--import', 'tsx', 'src/consent/cli.ts'];
    const today = new Date().toISOString().slice(0, 10);
    const [proof, log, bad] = await Promise.all([
      run(process.execPath, [...tsx, 'proof', consentId], { cwd: root, env }),
      run(process.execPath, [...tsx, 'log', '--from', today, '--to', today], { cwd: root, env }),
      run(process.execPath, [...tsx, 'log', '--from', '2026-02-30', '--to', today], { cwd: root, env }).then(
        () => assert.fail('a date that does not exist must be refused'),
        (err: { code: number; stderr: string }) => err,
      ),
    ]);
    assert.match(proof.stdout, new RegExp(`Consent id ${consentId}: 2 record\\(s\\)\\nChain: VERIFIED`));
    assert.match(proof.stdout, /Texts of policy 2026-11-01, sha256 [0-9a-f]{64}: stored .*intact/);
    const rows = parse(log.stdout, { columns: true });
    const mine = rows.filter((r) => r.consent_id === consentId);
    assert.deepEqual(
      mine.map((r) => [r.seq, r.source, r.comments, r.analytics]),
      [
        ['1', 'accept_all', 'granted', 'granted'],
        ['2', 'reject_all', 'denied', 'denied'],
      ],
    );
    assert.ok(rows.length >= mine.length);
    assert.equal(Object.keys(rows[0]!).includes('ip_hash'), true);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--from 2026-02-30 is not a real date/);
  });

  it('writes only the records of the days asked for', async () => {
    const old = await runtime.consent.service.recordChoice(
      choiceAt(null, 'reject_all'),
      new Date('2025-03-04T10:00:00Z'),
    );
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const count = await writeLog(
      runtime.consent.audit,
      runtime.consent.policy,
      new Date('2025-03-04T00:00:00Z'),
      new Date('2025-03-04T00:00:00Z'),
      out,
    );
    assert.equal(count, 1);
    const rows = parse(text, { columns: true });
    assert.deepEqual(
      rows.map((r) => [r.consent_id, r.recorded_at]),
      [[old.cookie.consentId, '2025-03-04T10:00:00.000Z']],
    );
  });
});

describe('retention', () => {
  it('prunes records past the retention period once a day across processes; the rest still verifies', async () => {
    const years = runtime.config.consent.recordRetentionYears;
    const now = new Date();
    const long = subYears(now, years + 1);
    const first = await runtime.consent.service.recordChoice(choiceAt(null, 'accept_all'), long);
    const consentId = first.cookie.consentId;
    await runtime.consent.service.recordChoice(choiceAt(consentId, 'reject_all'), subYears(now, years - 1));
    await runtime.consent.service.recordChoice(choiceAt(consentId, 'withdraw'), now);

    assert.ok(((await runtime.consent.pruneIfDue(now)) ?? 0) >= 1);
    assert.equal(await runtime.consent.pruneIfDue(now), null, 'another process already ran it today');
    const left = await recordsOf(consentId);
    assert.deepEqual(
      left.map((r) => r.seq),
      [2, 3],
    );
    assert.equal(await consentRecords().countDocuments({ recordedAt: { $lt: subYears(now, years) } }), 0);
    const proof = await runtime.consent.audit.proof(consentId, now);
    assert.equal(proof.check.verified, true, proof.check.problems.join('; '));
    assert.equal(proof.check.prunedBefore, 2);
    assert.match(formatProof(proof), /records before #2 were pruned after the retention period/);
  });
});
