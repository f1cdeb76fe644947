/**
 * Ten thousand signed webhook deliveries from Stripe and PayPal (payments, renewals, refunds,
 * disputes, subscriptions; 30 % duplicates and re-sends under new event ids; shuffled, see
 * deliveryPlan in ./ledger/scenario.ts) across two app processes that share one store over the
 * wire. A fifth of the way in the store is killed with SIGKILL and started again on its data
 * directory, and later one app process is killed with SIGKILL while it is working on events.
 * Deliveries that fail are delivered again, as providers do, and each process's sweep runs as its
 * timer would. The end state must be exactly the ledger the test computes from what it sent
 * (./ledger/model.ts). The figures of the run are printed at the end ("reliability figures").
 *
 * RELIABILITY_SEED repeats a run's scenario; RELIABILITY_DELIVERIES changes its size;
 * RELIABILITY_KEEP_DATA=1 keeps the store's data directory to look into after a failure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { newSimulatorSecrets } from '../../src/payments/index.js';
import { createReportsRepository } from '../../src/reports/repository.js';
import { createReportsService, type CurrencyReport, type Report } from '../../src/reports/service.js';
import { startPaymentSimulator, type PaymentSimulator } from '../../src/simulator/index.js';
import {
  paypalSign,
  paypalSignedMessage,
  processSigningKey,
  stripeSignatureHeader,
} from '../../src/simulator/signing.js';
import { createLedgerRepository } from '../../src/supporters/repository.js';
import { testConfig } from '../helpers/runtime.js';
import { createSigners, deliverAll, type DeliveryStats } from './ledger/deliver.js';
import {
  expectedLedger,
  moneyFields,
  rollupKey,
  type ExpectedLedger,
  type RollupFigures,
} from './ledger/model.js';
import {
  freePort,
  startAppProcess,
  startStoreProcess,
  type AppProcess,
  type StoreProcess,
} from './ledger/processes.js';
import { provisionPayPal } from './ledger/provision.js';
import { dayIn, deliveryPlan, planScenario, type Delivery, type Scenario } from './ledger/scenario.js';

const DELIVERIES = Number(process.env.RELIABILITY_DELIVERIES ?? 10_000);
const SEED = Number(process.env.RELIABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 24;

const config = testConfig();
const zones = config.reports.timeZones;
const dbName = `readerfund_reliability_${SEED}`;

let simulator: PaymentSimulator;
let store: StoreProcess;
let apps: AppProcess[] = [];
let connection: mongoose.Connection;
let scenario: Scenario;
let deliveries: Delivery[];
let stats: DeliveryStats;
let expected: ExpectedLedger;
const dirs: string[] = [];
const faults = {
  store: { killedAt: 0, backAt: 0 },
  app: { killedAt: 0, backAt: 0, pid: 0, inFlight: 0, leftProcessing: 0 },
  sweeps: { runs: 0, swept: 0, settled: 0, failed: 0 },
  drain: { seconds: 0, sweeps: 0, swept: 0, settled: 0 },
  runSeconds: 0,
};
/** The events the killed app process held when it died. */
let leftByVictim: unknown[] = [];
/** The run's figures, printed at the end for the closing note. */
let summary: Record<string, unknown> = {};

const runStarted = Date.now();
/** Progress on the console, so a slow CI run shows where it is. */
const note = (what: string) => console.log(`[${((Date.now() - runStarted) / 1000).toFixed(1)} s] ${what}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const db = () => connection.db!;

/** The end-state checks: how many passed, and how many figures they compared with the model. */
const endState = { checks: 9, passed: 0, figures: 0 };
const checked = (figures: number) => {
  endState.passed += 1;
  endState.figures += figures;
};

/** Differences found, as lines; the assertion shows the first few and how many there are. */
function noDifferences(what: string, differences: string[], figures: number): void {
  assert.equal(
    differences.length,
    0,
    `${what}: ${differences.length} differences, first ${Math.min(10, differences.length)}:\n${differences.slice(0, 10).join('\n')}`,
  );
  checked(figures);
}

before(
  async () => {
    const now = new Date();
    console.log(`reliability run: seed ${SEED}, ${DELIVERIES} deliveries, zones ${zones.join(', ')}`);
    const dbPath = mkdtempSync(path.join(os.tmpdir(), 'readerfund-reliability-db-'));
    const outbox = mkdtempSync(path.join(os.tmpdir(), 'readerfund-reliability-outbox-'));
    dirs.push(dbPath, outbox);

    // One provider for every process, as in production: the simulator runs here, and the app
    // processes' adapters are pointed at it with the secrets it signs with.
    const secrets = newSimulatorSecrets();
    simulator = await startPaymentSimulator({
      stripeWebhookSecret: secrets.stripeWebhookSecret,
      paypalWebhookId: secrets.paypalWebhookId,
    });
    const storePort = await freePort();
    store = await startStoreProcess(storePort, dbPath);
    const appEnv = {
      RELIABILITY_STORE_URI: store.uri,
      RELIABILITY_DB_NAME: dbName,
      RELIABILITY_OUTBOX: outbox,
      SIMULATOR_ENDPOINTS: JSON.stringify({ stripe: simulator.stripe, paypal: simulator.paypal, secrets }),
    };
    // The app processes start while the scenario is planned and provisioned at the simulator.
    scenario = planScenario({ seed: SEED, zones, now, deliveries: DELIVERIES });
    const [started2, ids] = await Promise.all([
      Promise.all([startAppProcess(appEnv), startAppProcess(appEnv)]),
      provisionPayPal(simulator.paypal.baseUrl, scenario.paypalPlans, scenario.payments),
    ]);
    apps = started2;
    connection = await mongoose.createConnection(`${store.uri}/${dbName}`).asPromise();
    const events = scenario.events(ids);
    deliveries = deliveryPlan(events, DELIVERIES, SEED);
    expected = expectedLedger(scenario, zones, now);

    const key = await processSigningKey();
    const signers = createSigners({
      stripeSecret: secrets.stripeWebhookSecret,
      stripeSignature: (payload, secret) => stripeSignatureHeader(payload, secret),
      paypal: {
        webhookId: secrets.paypalWebhookId,
        certUrl: simulator.paypal.certUrl,
        privateKeyPem: key.privateKeyPem,
        message: paypalSignedMessage,
        sign: paypalSign,
      },
    });

    // The store dies a fifth of the way in and comes back on the same data directory; later an
    // app process dies while it has deliveries in hand and a fresh one takes its place. Both come
    // early enough that the leases they leave behind run out while deliveries still go on.
    const pending: Array<Promise<void>> = [];
    const killStore = async () => {
      faults.store.killedAt = Date.now();
      note('killing the store with SIGKILL');
      await store.kill();
      await sleep(1_500);
      store = await startStoreProcess(storePort, dbPath);
      faults.store.backAt = Date.now();
      note('the store is back on its data directory');
    };
    const killApp = async () => {
      const victim = apps[1]!;
      // Mid-event: while it holds several deliveries that are being applied.
      for (let waited = 0; victim.inFlight < 4 && waited < 5_000; waited += 5) await sleep(5);
      faults.app.inFlight = victim.inFlight;
      faults.app.pid = victim.pid;
      faults.app.killedAt = Date.now();
      note(`killing app process ${victim.pid} with SIGKILL, ${victim.inFlight} deliveries in hand`);
      await victim.kill();
      const left = await db()
        .collection('webhookevents')
        .find({ status: 'processing', lockedBy: { $regex: `:${victim.pid}:` } }, { projection: { _id: 1 } })
        .toArray();
      faults.app.leftProcessing = left.length;
      leftByVictim = left.map((e) => e._id);
      await sleep(1_000);
      apps[1] = await startAppProcess(appEnv);
      faults.app.backAt = Date.now();
      note('a new app process took its place');
    };
    // The sweep and the settling of old unsettled records, as each process's timers run them.
    const sweeping = new Set<AppProcess>();
    const sweepTimer = setInterval(() => {
      for (const app of apps.filter((a) => a.alive && !sweeping.has(a))) {
        sweeping.add(app);
        app
          .sweep(30_000)
          .then(({ swept, settled }) => {
            faults.sweeps.runs += 1;
            faults.sweeps.swept += swept;
            faults.sweeps.settled += settled;
          })
          .catch(() => (faults.sweeps.failed += 1))
          .finally(() => sweeping.delete(app));
      }
    }, 5_000);
    const storeAt = Math.floor(DELIVERIES * 0.2);
    const appAt = Math.floor(DELIVERIES * 0.4);
    note(`${events.length} distinct events, ${deliveries.length} deliveries; sending`);
    const started = Date.now();
    try {
      stats = await deliverAll(deliveries, {
        targets: () => apps,
        signers,
        concurrency: CONCURRENCY,
        onTick: (p) =>
          note(
            `${p.started} of ${deliveries.length} sent, ${p.attempts} attempts, ${p.retrying} waiting to be sent again`,
          ),
        onProgress: (n) => {
          if (n === storeAt) pending.push(killStore());
          if (n === appAt) pending.push(killApp());
        },
      });
      note('every delivery answered 2xx');
      await Promise.all(pending);
    } finally {
      clearInterval(sweepTimer);
    }
    faults.runSeconds = (Date.now() - started) / 1000;

    // Every delivery got its 2xx. What a dead process or a dropped store left half done is taken
    // over by the sweep once its lease runs out; run it as the timers would until nothing is left.
    const drainStarted = Date.now();
    const events$ = db().collection('webhookevents');
    for (;;) {
      const open = await events$.countDocuments({ status: { $nin: ['processed', 'ignored'] } });
      const unsettled =
        (await db().collection('donations').countDocuments({ settled: false })) +
        (await db().collection('subscriptions').countDocuments({ settled: false }));
      if (open === 0 && unsettled === 0) break;
      note(`${open} events and ${unsettled} records still open; sweeping`);
      if (Date.now() - drainStarted > 240_000) {
        const left = await events$
          .find({ status: { $nin: ['processed', 'ignored'] } }, { projection: { rawBody: 0 } })
          .limit(5)
          .toArray();
        throw new Error(
          `${open} events and ${unsettled} records still open after 240 s: ${JSON.stringify(left)}`,
        );
      }
      // The run compresses the providers' hours into seconds, not the app's own back-off: an
      // event whose deliveries were all answered (one of them while another attempt held it,
      // which then found its payment not there yet) waits for a sweep up to hours away. Once
      // deliveries are over and leases have had their time, those are retried now.
      const failedNow = Date.now() - drainStarted > 5_000;
      for (const app of apps.filter((a) => a.alive)) {
        const { swept, settled } = await app.sweep(0, failedNow);
        faults.drain.sweeps += 1;
        faults.drain.swept += swept;
        faults.drain.settled += settled;
      }
      await sleep(1_000);
    }
    faults.drain.seconds = (Date.now() - drainStarted) / 1000;
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  console.log(
    `reliability figures: ${JSON.stringify(
      {
        ...summary,
        endStateChecks: `${endState.passed} of ${endState.checks} passed`,
        figuresCompared: endState.figures,
        runSeconds: Math.round((Date.now() - runStarted) / 100) / 10,
      },
      null,
      2,
    )}`,
  );
  await connection?.close();
  await Promise.all(apps.map((a) => a.stop()));
  await store?.stop();
  await simulator?.stop();
  // RELIABILITY_KEEP_DATA=1 keeps the store's data directory to look into after a failure.
  if (process.env.RELIABILITY_KEEP_DATA) console.log(`data kept in ${dirs.join(', ')} (database ${dbName})`);
  else for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('Ten thousand webhook deliveries through two app processes, a store crash and an app crash', () => {
  it('answers every delivery in the end; what failed while the store or a process was down was answered 5xx (or not at all) and delivered again', async () => {
    const failing = (a: { status: number | 'network' }) => a.status === 'network' || a.status >= 500;
    const storeWindow = [faults.store.killedAt, faults.store.backAt + 2_000] as const;
    const appWindow = [faults.app.killedAt, faults.app.killedAt + 1_000] as const;
    const within = (at: number, [from, to]: readonly [number, number]) => at >= from && at <= to;
    const storeAnswers = stats.log.filter((a) => within(a.at, storeWindow) && failing(a));
    const appAnswers = stats.log.filter((a) => within(a.at, appWindow) && failing(a));
    // Recovery: from the kill until every delivery that failed because of it had its 2xx.
    const lastRecovered = (window: readonly [number, number]) =>
      Math.max(0, ...stats.recovered.filter((r) => within(r.failedAt, window)).map((r) => r.answeredAt));
    const storeRecovered = lastRecovered(storeWindow);
    const firstAnswerAfterRestart =
      stats.log.find((a) => a.at >= faults.store.backAt && a.status === 200)?.at ?? 0;
    // The events the killed process held are finished by another one once their lease runs out.
    const victimsEvents = await db()
      .collection('webhookevents')
      .find({ _id: { $in: leftByVictim as never[] } }, { projection: { processedAt: 1, status: 1 } })
      .toArray();
    const victimsFinished = Math.max(0, ...victimsEvents.map((e) => (e.processedAt as Date).getTime()));
    const kinds = deliveries.reduce<Record<string, number>>(
      (m, d) => ((m[d.kind] = (m[d.kind] ?? 0) + 1), m),
      {},
    );
    const seconds = (ms: number) => Math.round(ms / 100) / 10;
    summary = {
      seed: SEED,
      deliveries: stats.deliveries,
      originals: kinds.original ?? 0,
      duplicates: kinds.duplicate ?? 0,
      resends: kinds.resend ?? 0,
      attempts: stats.attempts,
      redeliveries: stats.redelivered,
      answers: Object.fromEntries([...stats.answers].map(([k, v]) => [String(k), v])),
      answers5xx: [...stats.answers]
        .filter(([k]) => k !== 'network' && k >= 500)
        .reduce((n, [, v]) => n + v, 0),
      noAnswer: stats.answers.get('network') ?? 0,
      accepted: Object.fromEntries(stats.accepted),
      storeKill: {
        downSeconds: seconds(faults.store.backAt - faults.store.killedAt),
        failedAnswers: storeAnswers.length,
        answered5xx: storeAnswers.filter((a) => a.status !== 'network').length,
        answering2xxAfterSeconds: seconds(firstAnswerAfterRestart - faults.store.killedAt),
        allRedeliveredAfterSeconds: seconds(storeRecovered - faults.store.killedAt),
      },
      appKill: {
        pid: faults.app.pid,
        deliveriesInHand: faults.app.inFlight,
        eventsLeftProcessing: faults.app.leftProcessing,
        failedAnswers: appAnswers.length,
        replacedAfterSeconds: seconds(faults.app.backAt - faults.app.killedAt),
        eventsFinishedAfterSeconds: victimsEvents.length ? seconds(victimsFinished - faults.app.killedAt) : 0,
      },
      sweepsDuringRun: faults.sweeps,
      drain: { ...faults.drain, seconds: seconds(faults.drain.seconds * 1000) },
      sendingSeconds: seconds(faults.runSeconds * 1000),
    };
    assert.deepEqual(stats.refused, [], 'no delivery is refused: every one is signed as its provider signs');
    assert.equal(stats.deliveries, DELIVERIES);
    assert.ok(
      storeAnswers.some((a) => a.status !== 'network'),
      'deliveries made while the store was down were answered 5xx',
    );
    assert.ok(faults.app.inFlight > 0, 'the app process was killed with deliveries in hand');
    assert.ok(stats.redelivered > 0, 'what failed was delivered again');
    assert.ok(
      victimsEvents.every((e) => e.status === 'processed' || e.status === 'ignored'),
      'what the killed process held was finished by another',
    );
    for (const status of stats.answers.keys()) {
      assert.ok(status === 'network' || status === 200 || status >= 500, `unexpected answer ${status}`);
    }
    checked(stats.deliveries);
  });

  it('stores every event once, and finishes each of them', async () => {
    const unique = new Set(deliveries.map((d) => `${d.event.provider}:${d.event.eventId}`));
    const noise = new Set(deliveries.filter((d) => d.event.noise).map((d) => d.event.eventId));
    const events = db().collection('webhookevents');
    assert.equal(await events.countDocuments({}), unique.size);
    assert.equal(await events.countDocuments({ status: 'ignored' }), noise.size);
    assert.equal(await events.countDocuments({ status: 'processed' }), unique.size - noise.size);
    checked(3);
  });

  it('records every payment once, with exactly its refunds and disputes, and its supporter', async () => {
    const supporters = await db()
      .collection('supporters')
      .find({}, { projection: { email: 1 } })
      .toArray();
    const emailOf = new Map(supporters.map((s) => [String(s._id), s.email as string]));
    const stored = await db()
      .collection('donations')
      .find({}, { projection: { movements: 0, settledKeys: 0, receipt: 0 } })
      .toArray();
    assert.equal(stored.length, expected.payments.length, 'one donation per payment');
    const byKey = new Map(stored.map((d) => [`${d.provider}:${d.providerPaymentId}`, d]));
    const differences: string[] = [];
    for (const p of expected.payments) {
      const d = byKey.get(`${p.provider}:${p.paymentId}`);
      if (!d) {
        differences.push(`${p.provider} ${p.paymentId}: missing`);
        continue;
      }
      const actual = {
        amountMinor: d.amountMinor,
        currency: d.currency,
        kind: d.kind,
        planId: d.planId,
        interval: d.interval,
        refundedMinor: d.refundedMinor,
        lostMinor: d.lostMinor,
        status: d.status,
        email: d.supporterId ? emailOf.get(String(d.supporterId)) : undefined,
        subscriptionId: d.subscriptionId ?? undefined,
        disputes: ((d.disputes ?? []) as Array<{ status: string }>).map((x) => x.status).sort(),
      };
      const want = {
        amountMinor: p.amountMinor,
        currency: p.currency,
        kind: p.kind,
        planId: p.planId,
        interval: p.interval,
        refundedMinor: p.refundedMinor,
        lostMinor: p.lostMinor,
        status: p.status,
        email: p.email,
        subscriptionId: p.subscriptionId,
        disputes: p.disputes,
      };
      for (const field of Object.keys(want) as Array<keyof typeof want>) {
        if (JSON.stringify(actual[field]) !== JSON.stringify(want[field]))
          differences.push(
            `${p.provider} ${p.paymentId} ${field}: ${JSON.stringify(actual[field])}, expected ${JSON.stringify(want[field])}`,
          );
      }
    }
    noDifferences('donations', differences, expected.payments.length * 11);
  });

  it('writes one ledger entry per money movement, none twice', async () => {
    const entries = db().collection('ledgerentries');
    assert.equal(await entries.countDocuments({}), expected.entries.count);
    const byType = await entries
      .aggregate<{ _id: string; count: number; amountMinor: number }>([
        { $group: { _id: '$type', count: { $sum: 1 }, amountMinor: { $sum: '$amountMinor' } } },
      ])
      .toArray();
    const actual = Object.fromEntries(
      byType.map((t) => [t._id, { count: t.count, amountMinor: t.amountMinor }]),
    );
    const want = Object.fromEntries(Object.entries(expected.entries.byType).filter(([, v]) => v.count > 0));
    assert.deepEqual(actual, want);
    checked(1 + Object.keys(want).length * 2);
  });

  it('marks exactly one entry per supporter as the gift that made them new: their earliest', async () => {
    const supporters = await db()
      .collection('supporters')
      .find({}, { projection: { email: 1 } })
      .toArray();
    const emailOf = new Map(supporters.map((s) => [String(s._id), s.email as string]));
    const marked = await db()
      .collection('ledgerentries')
      .find({ newSupporter: true }, { projection: { supporterId: 1, occurredAt: 1 } })
      .toArray();
    const differences: string[] = [];
    const seen = new Set<string>();
    for (const e of marked) {
      const email = emailOf.get(String(e.supporterId)) ?? String(e.supporterId);
      if (seen.has(email)) differences.push(`${email}: a second entry marked new`);
      seen.add(email);
      const first = expected.supporters.get(email)?.first;
      if (first?.getTime() !== (e.occurredAt as Date).getTime())
        differences.push(
          `${email}: marked ${(e.occurredAt as Date).toISOString()}, earliest ${first?.toISOString()}`,
        );
    }
    for (const email of expected.supporters.keys())
      if (!seen.has(email)) differences.push(`${email}: no entry marked new`);
    noDifferences('new-supporter entries', differences, expected.supporters.size);
  });

  it("keeps each supporter's totals per currency, gift count and first and last gift", async () => {
    const stored = await db().collection('supporters').find({}).toArray();
    assert.equal(stored.length, expected.supporters.size, 'one supporter per email');
    const differences: string[] = [];
    for (const s of stored) {
      const want = expected.supporters.get(s.email as string);
      if (!want) {
        differences.push(`${s.email}: not expected`);
        continue;
      }
      const totals = Object.fromEntries(
        Object.entries((s.totals ?? {}) as Record<string, number>).filter(([, v]) => v !== 0),
      );
      const wantTotals = Object.fromEntries(Object.entries(want.totals).filter(([, v]) => v !== 0));
      if (JSON.stringify(Object.entries(totals).sort()) !== JSON.stringify(Object.entries(wantTotals).sort()))
        differences.push(
          `${s.email} totals ${JSON.stringify(totals)}, expected ${JSON.stringify(wantTotals)}`,
        );
      if (s.donationCount !== want.donationCount)
        differences.push(`${s.email} donationCount ${s.donationCount}, expected ${want.donationCount}`);
      if ((s.firstSupportedAt as Date)?.getTime() !== want.first.getTime())
        differences.push(
          `${s.email} firstSupportedAt ${(s.firstSupportedAt as Date)?.toISOString()}, expected ${want.first.toISOString()}`,
        );
      if ((s.lastSupportedAt as Date)?.getTime() !== want.last.getTime())
        differences.push(
          `${s.email} lastSupportedAt ${(s.lastSupportedAt as Date)?.toISOString()}, expected ${want.last.toISOString()}`,
        );
    }
    noDifferences('supporters', differences, stored.length * 4);
  });

  it("keeps every reporting zone's daily rollups exact, and MRR summed over all days", async () => {
    const rows = await db()
      .collection('rollups')
      .find({}, { projection: { marks: 0 } })
      .toArray();
    const differences: string[] = [];
    const seen = new Set<string>();
    const mrr = new Map<string, { mrrDeltaMinor: number; subscriptionsDelta: number }>();
    for (const r of rows) {
      const key = rollupKey(
        r.zone as string,
        r.day as string,
        r.currency as string,
        r.provider as string,
        r.planId as string,
      );
      const want = expected.rollups.get(key);
      const mrrKey = `${r.zone}|${r.currency}|${r.provider}|${r.planId}`;
      const m = mrr.get(mrrKey) ?? { mrrDeltaMinor: 0, subscriptionsDelta: 0 };
      m.mrrDeltaMinor += (r.mrrDeltaMinor as number) ?? 0;
      m.subscriptionsDelta += (r.subscriptionsDelta as number) ?? 0;
      mrr.set(mrrKey, m);
      seen.add(key);
      for (const field of moneyFields) {
        const actual = (r[field] as number | undefined) ?? 0;
        const wanted = want?.[field] ?? 0;
        if (actual !== wanted) differences.push(`${key} ${field}: ${actual}, expected ${wanted}`);
      }
    }
    for (const [key, figures] of expected.rollups) {
      if (!seen.has(key) && moneyFields.some((f) => figures[f] !== 0)) differences.push(`${key}: missing`);
    }
    for (const [key, want] of expected.mrrTotals) {
      const actual = mrr.get(key) ?? { mrrDeltaMinor: 0, subscriptionsDelta: 0 };
      if (
        actual.mrrDeltaMinor !== want.mrrDeltaMinor ||
        actual.subscriptionsDelta !== want.subscriptionsDelta
      )
        differences.push(
          `${key} MRR over all days ${JSON.stringify(actual)}, expected ${JSON.stringify(want)}`,
        );
    }
    noDifferences(
      'rollups',
      differences,
      (rows.length + expected.rollups.size) * moneyFields.length + expected.mrrTotals.size * 2,
    );
    assert.ok(
      zones.length >= 2 && zones.every((z) => rows.some((r) => r.zone === z)),
      'every zone has rollups',
    );
  });

  it('keeps every subscription with its status, amount, plan, supporter and end', async () => {
    const supporters = await db()
      .collection('supporters')
      .find({}, { projection: { email: 1 } })
      .toArray();
    const emailOf = new Map(supporters.map((s) => [String(s._id), s.email as string]));
    const stored = await db()
      .collection('subscriptions')
      .find({}, { projection: { history: 0, mrr: 0, movements: 0 } })
      .toArray();
    assert.equal(stored.length, expected.subscriptions.length);
    const byKey = new Map(stored.map((s) => [`${s.provider}:${s.providerSubscriptionId}`, s]));
    const differences: string[] = [];
    for (const s of expected.subscriptions) {
      const d = byKey.get(`${s.provider}:${s.id}`);
      if (!d) {
        differences.push(`${s.provider} ${s.id}: missing`);
        continue;
      }
      const actual = {
        status: d.status,
        amountMinor: d.amountMinor,
        currency: d.currency,
        planId: d.planId,
        email: d.supporterId ? emailOf.get(String(d.supporterId)) : undefined,
        endsAt: d.endsAt ? (d.endsAt as Date).toISOString() : undefined,
      };
      const want = {
        status: s.status,
        amountMinor: s.amountMinor,
        currency: s.currency,
        planId: s.planId,
        email: s.email,
        endsAt: s.endsAt?.toISOString(),
      };
      for (const field of Object.keys(want) as Array<keyof typeof want>) {
        if (actual[field] !== want[field])
          differences.push(
            `${s.provider} ${s.id} ${field}: ${String(actual[field])}, expected ${String(want[field])}`,
          );
      }
    }
    noDifferences('subscriptions', differences, expected.subscriptions.length * 6);
  });

  it("agrees with the finance report's figures in every zone", async () => {
    const reports = createReportsService({
      config,
      ledger: createLedgerRepository(connection),
      reports: createReportsRepository(connection),
    });
    const intervalOf = new Map(config.donations.plans.map((p) => [p.id, p.interval]));
    const now = new Date();
    const today = expectedLedger(scenario, zones, now).mrrToday;
    const differences: string[] = [];
    let figures = 0;
    for (const zone of zones) {
      const days = [...expected.rollups.keys()]
        .filter((k) => k.startsWith(`${zone}|`))
        .map((k) => k.split('|')[1]!);
      const from = days.sort()[0]!;
      const to = dayIn(zone, now);
      const report: Report = await reports.report({ from, to, zone, granularity: 'day' });
      const mine = [...expected.rollups].filter(([k]) => k.startsWith(`${zone}|`));
      const currencies = new Set(mine.map(([k]) => k.split('|')[2]!));
      for (const currency of currencies) {
        const rows = mine.filter(([k]) => k.split('|')[2] === currency);
        const sum = (field: keyof RollupFigures, list = rows) => list.reduce((s, [, f]) => s + f[field], 0);
        const net = (list: typeof rows) =>
          sum('grossMinor', list) -
          sum('refundedMinor', list) -
          sum('disputeLostMinor', list) -
          sum('feeMinor', list);
        const part = (test: (planId: string, provider: string) => boolean) =>
          rows.filter(([k]) => test(k.split('|')[4]!, k.split('|')[3]!));
        const breakdown = (list: typeof rows) => ({
          grossMinor: sum('grossMinor', list),
          count: sum('count', list),
          netMinor: net(list),
        });
        const mrrNow = today.get(zone)?.get(currency) ?? { mrrMinor: 0, active: 0, pendingChurnMinor: 0 };
        const want = {
          grossMinor: sum('grossMinor'),
          payments: sum('count'),
          refundsMinor: sum('refundedMinor'),
          refunds: sum('refundCount'),
          disputesLostMinor: sum('disputeLostMinor'),
          disputesReversedMinor: 0,
          disputesLost: sum('disputeLostCount'),
          feesMinor: sum('feeMinor'),
          netMinor: net(rows),
          newSupporters: sum('newSupporters'),
          oneOff: breakdown(part((plan) => intervalOf.get(plan) === 'once')),
          monthly: breakdown(part((plan) => intervalOf.get(plan) === 'month')),
          other: breakdown(part((plan) => !intervalOf.has(plan))),
          stripe: breakdown(part((_p, provider) => provider === 'stripe')),
          paypal: breakdown(part((_p, provider) => provider === 'paypal')),
          mrrStart: 0,
          mrrEnd: mrrNow.mrrMinor,
          activeEnd: mrrNow.active,
          pendingChurnMinor: mrrNow.pendingChurnMinor,
        };
        const r: CurrencyReport | undefined = report.currencies.find((c) => c.currency === currency);
        if (!r) {
          differences.push(`${zone} ${currency}: no report`);
          continue;
        }
        const provider = (id: string) => {
          const found = r.byProvider.find((b) => b.provider === id);
          return found
            ? { grossMinor: found.grossMinor, count: found.count, netMinor: found.netMinor }
            : { grossMinor: 0, count: 0, netMinor: 0 };
        };
        const actual = {
          grossMinor: r.grossMinor,
          payments: r.payments,
          refundsMinor: r.refundsMinor,
          refunds: r.refunds,
          disputesLostMinor: r.disputesLostMinor,
          disputesReversedMinor: r.disputesReversedMinor,
          disputesLost: r.disputesLost,
          feesMinor: r.feesMinor,
          netMinor: r.netMinor,
          newSupporters: r.newSupporters,
          oneOff: r.byKind.oneOff,
          monthly: r.byKind.monthly,
          other: r.byKind.other,
          stripe: provider('stripe'),
          paypal: provider('paypal'),
          mrrStart: r.mrr.startMinor,
          mrrEnd: r.mrr.endMinor,
          activeEnd: r.subscriptions.activeEnd,
          pendingChurnMinor: r.pending.churnMinor,
        };
        for (const field of Object.keys(want) as Array<keyof typeof want>) {
          figures += 1;
          if (JSON.stringify(actual[field]) !== JSON.stringify(want[field]))
            differences.push(
              `${zone} ${currency} ${field}: ${JSON.stringify(actual[field])}, expected ${JSON.stringify(want[field])}`,
            );
        }
        // The chart: each day's gross and net.
        for (const point of report.series.filter((s) => s.currency === currency)) {
          const day = rows.filter(([k]) => k.split('|')[1] === point.bucket);
          figures += 2;
          if (point.grossMinor !== sum('grossMinor', day) || point.netMinor !== net(day))
            differences.push(
              `${zone} ${currency} ${point.bucket}: series ${point.grossMinor}/${point.netMinor}, expected ${sum('grossMinor', day)}/${net(day)}`,
            );
        }
      }
    }
    noDifferences('report', differences, figures);
  });
});
