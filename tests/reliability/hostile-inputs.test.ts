/**
 * 5,000 generated hostile inputs across every form, page, JSON API and webhook route of the whole
 * product on a real port: no answer is a 5xx, no record is written, Object.prototype is untouched and
 * the service is still healthy afterwards. HOSTILE_SEED=<n> replays another run; the summary line
 * shows the seed of this one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { keepAliveAgent, pool, send, sendRaw, type Answer } from './hostile/client.js';
import { hostileRequest, rawRequest, type GeneratedInput } from './hostile/inputs.js';
import {
  browser,
  changedCounts,
  countDocuments,
  startHostileWorld,
  type HostileWorld,
} from './hostile/world.js';

const SEED = Number(process.env.HOSTILE_SEED ?? 20261202);
const TOTAL = 5000;
const RAW = 400;
const CONCURRENCY = 8;

/**
 * Collections a refused or harmless request may legitimately add to:
 * - sessions: every staff page shown to a visitor without a session (the sign-in form, a failed
 *   sign-in shown again) starts one to hold that form's token; nothing is signed in by it.
 * - ratelimits_*: a well-formed request is counted before it is served (an odd but valid address
 *   on /manage/link or /rights is one more key in the per-address budget): refusing later is
 *   the limiter's point, and a counter is not a record.
 */
const mayGrow = (name: string) => name === 'sessions' || name.startsWith('ratelimits_');

let world: HostileWorld;
const strays: unknown[] = [];
const onStray = (err: unknown) => strays.push(err);

before(async () => {
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);
  const generous = { points: 1_000_000, durationSeconds: 600 };
  world = await startHostileWorld({
    donations: { rateLimits: { perIp: generous, perEmail: generous } },
    staff: { rateLimits: { signInPerIp: generous } },
    consent: { rateLimit: generous },
    rights: { rateLimits: { perIp: generous, perEmail: generous } },
  });
});
after(async () => {
  process.off('uncaughtException', onStray);
  process.off('unhandledRejection', onStray);
  await world?.close();
});

const describeInput = (r: GeneratedInput | { family: string; bytes: Buffer }) =>
  'bytes' in r
    ? JSON.stringify(r.bytes.subarray(0, 300).toString('latin1'))
    : `${r.method} ${r.path.slice(0, 300)} [${r.auth}] ${JSON.stringify(r.headers).slice(0, 300)} ${String(r.body ?? '').slice(0, 300)}`;

describe('Hostile inputs', () => {
  test('5,000 generated hostile requests get no 5xx, write nothing, pollute nothing, and leave the service healthy', async () => {
    const started = performance.now();
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    await world.server.runtime.payments.simulator!.idle();
    const countsBefore = await countDocuments();
    const simulatorCallsBefore = world.server.runtime.payments.simulator!.requestCount();

    const httpInputs = fc.sample(hostileRequest(world), { numRuns: TOTAL - RAW, seed: SEED });
    const rawInputs = fc.sample(rawRequest(world), { numRuns: RAW, seed: SEED + 1 });
    const agent = keepAliveAgent(CONCURRENCY);
    const answers: Array<{ input: GeneratedInput | { family: string; bytes: Buffer }; answer: Answer }> = [];
    await Promise.all([
      pool(httpInputs, CONCURRENCY - 2, async (input) => {
        answers.push({ input, answer: await send(world.baseUrl, agent, input) });
      }),
      pool(rawInputs, 2, async (input) => {
        answers.push({ input, answer: await sendRaw(world.baseUrl, input.bytes) });
      }),
    ]);
    agent.destroy();
    await world.server.runtime.payments.simulator!.idle();
    const countsAfter = await countDocuments();
    const seconds = (performance.now() - started) / 1000;

    const byFamily: Record<string, number> = {};
    const byStatus: Record<string, number> = {};
    for (const { input, answer } of answers) {
      byFamily[input.family] = (byFamily[input.family] ?? 0) + 1;
      const key = answer.status > 0 ? String(answer.status) : answer.status === 0 ? 'no answer' : 'not sent';
      byStatus[key] = (byStatus[key] ?? 0) + 1;
    }
    const failures = answers.filter(({ answer }) => answer.status >= 500 || answer.status <= 0);
    const fiveHundreds = answers.filter(({ answer }) => answer.status >= 500).length;
    const grown = changedCounts(countsBefore, countsAfter, (name) => !mayGrow(name));
    if (process.env.HOSTILE_DEBUG) {
      const detail: Record<string, number> = {};
      for (const { input, answer } of answers) {
        const k =
          'bytes' in input
            ? `raw ${answer.status}`
            : `${input.method} ${input.path.split('?')[0]!.slice(0, 60)} ${answer.status}`;
        detail[k] = (detail[k] ?? 0) + 1;
      }
      console.log(JSON.stringify(detail, null, 1));
    }
    console.log(
      `hostile inputs: ${answers.length} sent (seed ${SEED}) in ${seconds.toFixed(1)} s; by family ${JSON.stringify(byFamily)}; ` +
        `status ${JSON.stringify(byStatus)}; >=500: ${fiveHundreds}; ` +
        `allowed to grow: ${JSON.stringify(grown)}`,
    );

    assert.equal(answers.length, TOTAL);
    assert.deepEqual(
      failures
        .slice(0, 5)
        .map(
          ({ input, answer }) =>
            `${answer.status} ${answer.error ?? /<title>([^<]*)/.exec(answer.body)?.[1] ?? answer.body.slice(0, 200)} ← ${describeInput(input)}`,
        ),
      [],
      `${failures.length} inputs got a 5xx or no answer`,
    );
    assert.deepEqual(changedCounts(countsBefore, countsAfter, mayGrow), {}, 'no record was written');
    assert.equal(
      world.server.runtime.payments.simulator!.requestCount(),
      simulatorCallsBefore,
      'no request reached a payment provider',
    );
    assert.deepEqual(
      Object.getOwnPropertyNames(Object.prototype).sort(),
      prototypeKeys,
      'Object.prototype has no new keys',
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted');
    assert.deepEqual(strays, [], 'no uncaught exception or unhandled rejection');

    const health = await fetch(`${world.baseUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    assert.equal((await fetch(`${world.baseUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${world.baseUrl}/`)).status, 200, 'the front page still renders');
    const admin = await fetch(`${world.baseUrl}/staff`, {
      headers: { cookie: world.admin.cookie },
      redirect: 'manual',
    });
    assert.equal(admin.status, 200, 'the admin is still signed in (no forged sign-out went through)');
    const manage = await browser(world.baseUrl).go(`/manage/${world.supporter.manageToken}`);
    assert.equal(manage.status, 200, "the supporter's manage link still works");
    assert.match(manage.html, /\/subscriptions\/[^/]+\/cancel/, 'the subscription was not cancelled');
  });
});
