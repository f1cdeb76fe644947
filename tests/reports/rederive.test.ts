import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import type { Runtime } from '../../src/runtime.js';
import { createReportsCore, rederiveJobName } from '../../src/reports/index.js';
import { rederive } from '../../src/reports/rederive.js';
import { parsePeriod } from '../../src/reports/periods.js';
import { createReportsService } from '../../src/reports/service.js';
import { rollupFields } from '../../src/supporters/repository.js';
import { startLedgerRuntime } from '../helpers/runtime.js';
import { LedgerEntry, Rollup, type Stored } from '../helpers/ledger.js';
import { cleanEnv, runEntry } from '../foundation/server-process.js';
import { ARTICLE_A, NOVEMBER, TODAY, applyFixture } from './fixture.js';

let runtime: Runtime;
let core: ReturnType<typeof createReportsCore>;

before(async () => {
  runtime = await startLedgerRuntime();
  await applyFixture(runtime);
  core = createReportsCore({
    config: runtime.config,
    logger: runtime.logger,
    connection: runtime.store.connection,
    ledger: runtime.ledger.repository,
    now: () => TODAY,
  });
});
after(() => runtime.stop());

const articles = () => mongoose.connection.collection('articlerollups');
const novemberNet = async () => {
  const service = createReportsService({
    config: runtime.config,
    ledger: runtime.ledger.repository,
    reports: runtime.reports.repository,
    now: () => TODAY,
  });
  const r = await service.report(
    parsePeriod({ ...NOVEMBER, tz: 'UTC' }, { zones: runtime.config.reports.timeZones, today: TODAY }),
  );
  return {
    usd: r.currencies.find((c) => c.currency === 'USD')!,
    articleA: r.attribution.find((a) => a.articleSlug === ARTICLE_A),
  };
};
/** The stored figures of one bucket, for tampering with it as a bug or a bad restore would. */
const usdStripeMonthly = {
  zone: 'UTC',
  day: '2026-11-05',
  currency: 'USD',
  provider: 'stripe' as const,
  planId: 'monthly-supporter',
};

describe('the nightly re-derivation', () => {
  test('finds nothing to repair when the rollups were written by the ledger, and records the check', async () => {
    const check = await core.rederive();
    assert.equal(check.status, 'done');
    assert.equal(check.drifted, 0, JSON.stringify(check.drifts));
    assert.equal(check.entries, await LedgerEntry.countDocuments());
    assert.equal(check.mrrMovements, await mongoose.connection.collection('mrrmovements').countDocuments());
    assert.ok(check.bucketsChecked > 20, `${check.bucketsChecked} buckets checked`);
    assert.ok(check.articleBucketsChecked >= 8, `${check.articleBucketsChecked} article days checked`);
    assert.deepEqual(check.closedBefore, { UTC: '2026-12-09', 'America/New_York': '2026-12-09' });
    const [stored] = await runtime.reports.repository.latestChecks(1);
    assert.equal(stored?.id, check.id);
    assert.equal(stored?.status, 'done');
    assert.ok(stored?.finishedAt);
  });

  test('records drift of a closed day field by field, repairs it, and the report is right again', async () => {
    const before = await novemberNet();
    // A bug or a bad restore: the bucket says 7 cents more than the ledger behind it.
    await Rollup.updateOne(usdStripeMonthly, { $inc: { grossMinor: 7, count: 1 } });
    assert.equal((await novemberNet()).usd.grossMinor, before.usd.grossMinor + 7);

    const check = await core.rederive();
    assert.equal(check.drifted, 1);
    assert.equal(check.repaired, 1);
    assert.deepEqual(check.drifts[0], {
      kind: 'rollup',
      ...usdStripeMonthly,
      fields: [
        { field: 'grossMinor', rollup: 1007, derived: 1000 },
        { field: 'count', rollup: 2, derived: 1 },
      ],
      outcome: 'repaired',
    });
    assert.deepEqual((await novemberNet()).usd, before.usd);
    assert.equal((await core.rederive()).drifted, 0, 'the next check finds it in order');
  });

  test('repairs a bucket the ledger has nothing behind, and one that went missing', async () => {
    await Rollup.collection.insertOne({
      zone: 'UTC',
      day: '2026-11-07',
      currency: 'USD',
      provider: 'paypal',
      planId: 'contributor',
      grossMinor: 999,
      count: 1,
      marks: [],
    });
    const missing = {
      zone: 'UTC',
      day: '2026-11-14',
      currency: 'EUR',
      provider: 'stripe',
      planId: 'contributor',
    };
    const gone = (await Rollup.findOne(missing).lean()) as Stored;
    await Rollup.deleteOne(missing);

    const check = await core.rederive();
    assert.equal(check.drifted, 2);
    assert.equal(check.repaired, 2);
    const phantom = (await Rollup.findOne({
      zone: 'UTC',
      day: '2026-11-07',
      provider: 'paypal',
    }).lean()) as Stored;
    assert.equal(phantom.grossMinor, 0);
    const back = (await Rollup.findOne(missing).lean()) as Stored;
    for (const field of rollupFields) assert.equal(back[field] ?? 0, gone[field] ?? 0, field);
  });

  test('leaves a bucket alone while an entry in it is still being applied (the sweep finishes it)', async () => {
    const entry = (await LedgerEntry.findOne({ key: 'payment:stripe:in_S1_nov' }).lean()) as Stored;
    await LedgerEntry.updateOne({ key: entry.key as string }, { $set: { 'effects.rollup': false } });
    await Rollup.updateOne(usdStripeMonthly, { $inc: { grossMinor: 5 } });
    try {
      const check = await core.rederive();
      assert.equal(check.drifted, 0);
      assert.equal(check.inFlight, 2, 'the bucket in each zone');
    } finally {
      await LedgerEntry.updateOne({ key: entry.key as string }, { $set: { 'effects.rollup': true } });
      await Rollup.updateOne(usdStripeMonthly, { $inc: { grossMinor: -5 } });
    }
  });

  test('only records drift when asked not to repair, and never touches days that are not closed', async () => {
    await Rollup.updateOne(usdStripeMonthly, { $inc: { feeMinor: 3 } });
    const recorded = await core.rederive({ repair: false });
    assert.equal(recorded.drifted, 1);
    assert.equal(recorded.repaired, 0);
    assert.equal(recorded.drifts[0]?.outcome, 'open');
    assert.equal(((await Rollup.findOne(usdStripeMonthly).lean()) as Stored).feeMinor, 62);

    // A day that ended less than a day before the check may still receive late deliveries.
    const lateCore = createReportsCore({
      config: runtime.config,
      logger: runtime.logger,
      connection: runtime.store.connection,
      ledger: runtime.ledger.repository,
      now: () => new Date('2026-11-05T20:00:00Z'),
    });
    const early = await lateCore.rederive();
    assert.equal(early.drifted, 0, 'the 5th is not closed on the evening of the 5th');
    assert.equal(((await Rollup.findOne(usdStripeMonthly).lean()) as Stored).feeMinor, 62);
    await core.rederive();
    assert.equal(((await Rollup.findOne(usdStripeMonthly).lean()) as Stored).feeMinor, 59);
  });

  test('a repair loses to a live increment that came first: the guard holds, the next check looks again', async () => {
    const bucket = { ...usdStripeMonthly };
    const stored = (await Rollup.findOne(bucket).lean()) as Stored;
    const seen = Object.fromEntries(
      rollupFields.map((f) => [f, (stored[f] as number | undefined) ?? 0]),
    ) as Record<(typeof rollupFields)[number], number>;
    // A late refund lands between the comparison and the repair.
    await runtime.ledger.repository.incrementRollupOnce(bucket, ['refund:test:late'], {
      refundedMinor: 100,
      refundCount: 1,
    });
    const repaired = await runtime.ledger.repository.repairRollup(bucket, seen, { ...seen, grossMinor: 1 });
    assert.equal(repaired, false);
    const after = (await Rollup.findOne(bucket).lean()) as Stored;
    assert.equal(after.grossMinor, 1000, 'the repair did not land');
    assert.equal(after.refundedMinor, 100, 'the live increment stands');
    await runtime.ledger.repository.repairRollup(
      bucket,
      { ...seen, refundedMinor: 100, refundCount: 1 },
      seen,
    );
  });

  test('repairs article figures too, and a late attribution notice for a repaired payment counts nothing twice', async () => {
    const before = (await novemberNet()).articleA;
    // The attribution of S5's payment never landed (the process died before its notice was handled).
    await articles().updateMany(
      { month: '2026-11', articleSlug: ARTICLE_A, currency: 'USD' },
      {
        $inc: {
          payments: -1,
          grossMinor: -700,
          newSupporters: -1,
          'days.22.payments': -1,
          'days.22.grossMinor': -700,
          'days.22.newSupporters': -1,
        },
      },
    );
    await mongoose.connection
      .collection('articlemarks')
      .deleteOne({ _id: 'payment:paypal:SALE-S5-nov' as never });
    assert.equal((await novemberNet()).articleA?.payments, 1);

    const check = await core.rederive();
    assert.equal(check.drifted, 2, 'the article day in each zone');
    assert.equal(check.repaired, 2);
    assert.equal(check.drifts[0]?.kind, 'article');
    assert.deepEqual((await novemberNet()).articleA, before);

    // The notice arrives after all (a retry): the repair marked the payment as counted.
    const entry = await runtime.ledger.repository.paymentEntryOf(
      String(
        ((await LedgerEntry.findOne({ key: 'payment:paypal:SALE-S5-nov' }).lean()) as Stored).donationId,
      ),
    );
    await runtime.reports.attribution.record(entry!);
    assert.deepEqual((await novemberNet()).articleA, before);
  });

  test('runs once a day across processes when claimed as the nightly job', async () => {
    const at = new Date('2026-12-11T01:00:00Z');
    const [first, second] = await Promise.all([
      runtime.reports.rederiveIfDue(at),
      runtime.reports.rederiveIfDue(at),
    ]);
    assert.equal([first, second].filter(Boolean).length, 1);
    assert.equal((first ?? second)?.trigger, 'nightly');
    const run = await mongoose.connection
      .collection('jobruns')
      .findOne({ job: rederiveJobName, day: '2026-12-11' });
    assert.equal(run?.status, 'done');
    assert.equal(await runtime.reports.rederiveIfDue(new Date('2026-12-11T05:00:00Z')), null);
  });
});

describe('the check when something goes wrong', () => {
  test('records a check that could not finish as failed, with the reason', async () => {
    const repository = runtime.reports.repository;
    await assert.rejects(
      rederive(
        {
          ledger: {
            ...runtime.ledger.repository,
            // The store goes away in the middle of reading the entries.
            async *entriesForCheck() {
              yield [];
              throw new Error('connection closed');
            },
          },
          reports: repository,
          zones: runtime.config.reports.timeZones,
          logger: runtime.logger,
          now: () => TODAY,
        },
        { trigger: 'nightly' },
      ),
      /connection closed/,
    );
    const last = (await repository.latestChecks(50)).find((c) => c.status !== 'done');
    assert.equal(last?.status, 'failed');
    assert.equal(last?.error, 'connection closed');
    assert.ok(last?.finishedAt);
  });
});

describe('article attribution under races', () => {
  test('counts a payment once, however many notices for it arrive at the same moment', async () => {
    await runtime.ledger.apply({
      type: 'payment.succeeded',
      provider: 'stripe',
      paymentId: 'pi_race_august',
      amount: { amountMinor: 4200, currency: 'USD' },
      kind: 'one_off',
      occurredAt: new Date('2026-08-08T12:00:00Z'),
      payer: { email: 'racer@example.com' },
    });
    // The payment came from article A's panel (as its checkout would have said).
    await LedgerEntry.updateOne(
      { key: 'payment:stripe:pi_race_august' },
      { $set: { articleSlug: ARTICLE_A } },
    );
    const entry = await runtime.ledger.repository.findEntry('payment:stripe:pi_race_august');
    await Promise.all(Array.from({ length: 6 }, () => runtime.reports.attribution.record(entry!)));
    const docs = await articles().find({ month: '2026-08', articleSlug: ARTICLE_A }).toArray();
    assert.deepEqual(docs.map((d) => [d.zone, d.payments, d.grossMinor, d.newSupporters]).sort(), [
      ['America/New_York', 1, 4200, 1],
      ['UTC', 1, 4200, 1],
    ]);
  });
});

describe('npm run reports -- rederive', () => {
  test(
    're-derives beside a running app through the shared store and says what it found',
    { timeout: 60_000 },
    async () => {
      await Rollup.updateOne(usdStripeMonthly, { $inc: { newSupporters: 1 } });
      const env = cleanEnv({
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        MONGODB_URI: `${runtime.store.uri}/${mongoose.connection.db!.databaseName}`,
      });
      const repaired = await runEntry('src/reports/cli.ts', ['rederive'], { env });
      assert.equal(repaired.code, 0, repaired.stderr);
      assert.match(repaired.stdout, /1 drifted, 1 repaired/);
      assert.match(
        repaired.stdout,
        /UTC 2026-11-05 USD stripe monthly-supporter: newSupporters 1 → 0 \[repaired\]/,
      );
      const audit = await mongoose.connection
        .collection('auditlog')
        .findOne({ action: 'reports.rollups_repaired' });
      assert.equal(audit?.actor.kind, 'cli');

      const clean = await runEntry('src/reports/cli.ts', ['rederive', '--no-repair', '--json'], { env });
      assert.equal(clean.code, 0, clean.stderr);
      assert.equal((JSON.parse(clean.stdout) as { drifted: number }).drifted, 0);

      const wrong = await runEntry('src/reports/cli.ts', ['derive'], { env });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /npm run reports -- rederive/);
    },
  );
});
