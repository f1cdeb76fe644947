/**
 * Finance reports over a large ledger: 1,000,000 payments over three years in two currencies,
 * with refunds, lost and won-back disputes, monthly subscriptions (plan changes, cancellations,
 * failed renewals, some recovered) and article attribution.
 *
 * The fixture is written straight into the store with insertMany, but every derived figure is
 * computed with the ledger's own functions (`rollupIncrement`, `mrrRollupIncrement`, `dayIn`,
 * `mrrMovements`), so the rollups, MRR movements and article months are what the ledger would have
 * written. As in production the store is a process of its own (the embedded store standalone, or
 * MONGODB_URI), and so is the app; the load comes from this process.
 *
 * Measured: the report page's p99 (sequential requests of a signed-in finance member) for a month,
 * a year and three years; the CSV export of all three years (rows/s) with the app's peak RSS
 * during it (VmHWM, reset just before); and the nightly re-derivation's time.
 * Targets: report p99 < 200 ms; CSV ≥ 50,000 rows/s with peak RSS < 150 MB.
 *
 *   npm run bench -- reports          BENCH_PAYMENTS=200000 for a smaller run
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient, ObjectId, type Document } from 'mongodb';
import { divideRoundHalfUp } from '../src/payments/money.js';
import { mrrMovements, type SubscriptionSnapshot } from '../src/supporters/ledger-rules.js';
import { dayIn, mrrRollupIncrement, rollupIncrement } from '../src/supporters/ledger.js';

const PAYMENTS = Number(process.env.BENCH_PAYMENTS ?? 1_000_000);
const REPORT_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 60);
const DB_NAME = 'readerfund_bench_reports';
const ZONES = ['UTC', 'America/New_York'];
const START = Date.UTC(2023, 11, 1);
const END = Date.UTC(2026, 11, 1);
const DAY = 86_400_000;
const GRACE_DAYS = 14;
const TARGET_P99_MS = 200;
const TARGET_ROWS_PER_S = 50_000;
const TARGET_RSS_MB = 150;
const ARTICLES = 300;

// ----------------------------------------------------------------------------------------------
// The app, in its own process
// ----------------------------------------------------------------------------------------------

interface Ready {
  port: number;
  email: string;
  password: string;
}

async function serve(): Promise<void> {
  const [{ getConfig }, { createLogger }, { startRuntime }] = await Promise.all([
    import('../src/config.js'),
    import('../src/log.js'),
    import('../src/runtime.js'),
  ]);
  const runtime = await startRuntime(getConfig(), {
    embeddedPath: null,
    logger: createLogger({ level: 'silent' }),
    dbName: DB_NAME,
    backgroundJobs: false,
    payments: { providers: {}, formActionOrigins: [], stop: async () => undefined },
  });
  const email = `bench-finance-${Date.now()}@staff.example`;
  const password = 'bench finance passphrase 2026';
  await runtime.staff.service.createAccount(
    { email, password, role: 'finance', name: 'Bench' },
    { kind: 'cli' },
  );
  const server = runtime.app.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as { port: number }).port, email, password } satisfies Ready);
  });
  process.once('SIGTERM', () => {
    server.close();
    void runtime.stop().finally(() => process.exit(0));
  });
  process.on('message', (message) => {
    if (message !== 'rederive') return;
    const started = performance.now();
    void runtime.reports.rederive({ trigger: 'command' }).then(
      (check) =>
        process.send?.({
          ms: performance.now() - started,
          entries: check.entries,
          mrrMovements: check.mrrMovements,
          bucketsChecked: check.bucketsChecked,
          articleBucketsChecked: check.articleBucketsChecked,
          drifted: check.drifted,
        }),
      (err: unknown) => process.send?.({ error: String(err) }),
    );
  });
}

// ----------------------------------------------------------------------------------------------
// The fixture
// ----------------------------------------------------------------------------------------------

/** A small seeded generator, so every run builds the same ledger. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = random(20261130);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

type Provider = 'stripe' | 'paypal';

/** Provider fee: percentage plus a fixed part, in integers (rounded half up). */
const feeOf = (provider: Provider, amount: number) =>
  provider === 'stripe'
    ? divideRoundHalfUp(amount * 29, 1000) + 30
    : divideRoundHalfUp(amount * 349, 10_000) + 49;

/** The articles live at a time: each is read (and given to) for about a month after it appears. */
function articleAt(t: number): string | undefined {
  if (rand() < 0.3) return undefined;
  const newest = Math.floor(((t - START) / (END - START)) * (ARTICLES - 1));
  const back = Math.min(newest, Math.floor(-Math.log(1 - rand()) * 6));
  return `bench-article-${newest - back}`;
}

interface Movement {
  key: string;
  type: 'payment' | 'refund' | 'dispute' | 'dispute_reversal';
  at: number;
  amountMinor: number;
  feeMinor: number;
  ref?: string;
  payment: Payment;
}

interface Payment {
  id: ObjectId;
  provider: Provider;
  paymentId: string;
  supporter: number;
  planId: 'contributor' | 'monthly-supporter';
  interval: 'once' | 'month';
  subscriptionId?: string;
  articleSlug?: string;
  amountMinor: number;
  currency: string;
  at: number;
  refundedMinor: number;
  lostMinor: number;
  disputed: boolean;
}

interface Subscription {
  id: ObjectId;
  provider: Provider;
  providerId: string;
  supporter: number;
  currency: string;
  articleSlug?: string;
  history: SubscriptionSnapshot[];
}

function generate(): { movements: Movement[]; subscriptions: Subscription[]; supporters: number } {
  const movements: Movement[] = [];
  const subscriptions: Subscription[] = [];
  let supporters = 0;
  let payments = 0;
  const newSupporter = () => supporters++;

  function addPayment(p: Omit<Payment, 'id' | 'refundedMinor' | 'lostMinor' | 'disputed'>, fee: number) {
    const payment: Payment = { ...p, id: new ObjectId(), refundedMinor: 0, lostMinor: 0, disputed: false };
    payments += 1;
    movements.push({
      key: `payment:${p.provider}:${p.paymentId}`,
      type: 'payment',
      at: p.at,
      amountMinor: p.amountMinor,
      feeMinor: fee,
      payment,
    });
    // About 2 % are refunded (in full or half), 0.3 % lost in a dispute, a third of those won back.
    const r = rand();
    if (r < 0.02) {
      const at = p.at + between(1, 20) * DAY;
      const amount = rand() < 0.6 ? p.amountMinor : Math.floor(p.amountMinor / 2);
      if (at < END && amount > 0) {
        const ref = `re_${p.paymentId}`;
        payment.refundedMinor = amount;
        movements.push({
          key: `refund:${p.provider}:${ref}`,
          type: 'refund',
          at,
          amountMinor: -amount,
          feeMinor: 0,
          ref,
          payment,
        });
      }
    } else if (r < 0.023) {
      const lostAt = p.at + between(20, 60) * DAY;
      if (lostAt < END) {
        const ref = `dp_${p.paymentId}`;
        payment.lostMinor = p.amountMinor;
        payment.disputed = true;
        movements.push({
          key: `dispute:${p.provider}:${ref}:1`,
          type: 'dispute',
          at: lostAt,
          amountMinor: -p.amountMinor,
          feeMinor: 1500,
          ref,
          payment,
        });
        const wonAt = lostAt + between(30, 90) * DAY;
        if (rand() < 0.33 && wonAt < END) {
          payment.lostMinor = 0;
          movements.push({
            key: `dispute:${p.provider}:${ref}:2`,
            type: 'dispute_reversal',
            at: wonAt,
            amountMinor: p.amountMinor,
            feeMinor: 0,
            ref,
            payment,
          });
        }
      }
    }
  }

  // Monthly subscriptions: about 40 % of the payments are their renewals.
  const recurringTarget = Math.round(PAYMENTS * 0.4);
  let recurring = 0;
  let s = 0;
  while (recurring < recurringTarget) {
    s += 1;
    const provider = rand() < 0.6 ? 'stripe' : 'paypal';
    const currency = rand() < 0.7 ? 'USD' : 'EUR';
    const start = START + Math.floor(rand() * (END - START - DAY));
    const supporter = newSupporter();
    const sub: Subscription = {
      id: new ObjectId(),
      provider,
      providerId: provider === 'stripe' ? `sub_bench_${s}` : `I-BENCH${s}`,
      supporter,
      currency,
      ...(rand() < 0.6 ? { articleSlug: articleAt(start) } : {}),
      history: [],
    };
    let amount = pick([300, 500, 500, 1000, 1500, 2500]);
    sub.history.push({ at: new Date(start), status: 'active', amountMinor: amount, currency });
    // Each month: 4 % stop (a fifth of them by failed payments), 1 % change their amount.
    let month = 0;
    for (;;) {
      const due = start + month * 30 * DAY;
      if (due >= END || recurring >= recurringTarget) break;
      if (month > 0 && rand() < 0.04) {
        if (rand() < 0.2) {
          // The renewal fails: past due; paid late after the grace days (recovered) or never.
          sub.history.push({
            at: new Date(due),
            status: 'past_due',
            amountMinor: amount,
            currency,
            pastDueSince: new Date(due),
          });
          const paidAt = due + between(GRACE_DAYS + 2, GRACE_DAYS + 12) * DAY;
          if (rand() < 0.4 && paidAt < END) {
            sub.history.push({ at: new Date(paidAt), status: 'active', amountMinor: amount, currency });
            addPayment(
              {
                provider,
                paymentId: `${sub.providerId}_late_${month}`,
                supporter,
                planId: 'monthly-supporter',
                interval: 'month',
                subscriptionId: sub.providerId,
                ...(sub.articleSlug ? { articleSlug: sub.articleSlug } : {}),
                amountMinor: amount,
                currency,
                at: paidAt,
              },
              feeOf(provider, amount),
            );
            recurring += 1;
            month += 1;
            continue;
          }
          const cancelAt = due + 30 * DAY;
          if (cancelAt < END)
            sub.history.push({
              at: new Date(cancelAt),
              status: 'cancelled',
              amountMinor: amount,
              currency,
              endsAt: new Date(cancelAt),
              pastDueSince: new Date(due),
            });
          break;
        }
        // Cancelled a few days before the renewal: churn when the paid month ends (some after END: pending).
        sub.history.push({
          at: new Date(due - between(1, 20) * DAY),
          status: 'cancelled',
          amountMinor: amount,
          currency,
          endsAt: new Date(due),
        });
        break;
      }
      if (month > 0 && rand() < 0.01) {
        amount = Math.max(200, amount + pick([-500, -200, 500, 1000]));
        sub.history.push({ at: new Date(due), status: 'active', amountMinor: amount, currency });
      }
      addPayment(
        {
          provider,
          paymentId: `${sub.providerId}_${month}`,
          supporter,
          planId: 'monthly-supporter',
          interval: 'month',
          subscriptionId: sub.providerId,
          ...(sub.articleSlug ? { articleSlug: sub.articleSlug } : {}),
          amountMinor: amount,
          currency,
          at: due + between(0, 3_600_000),
        },
        feeOf(provider, amount),
      );
      recurring += 1;
      month += 1;
    }
    subscriptions.push(sub);
  }

  // One-off donations for the rest, a third of them from people who gave before.
  while (payments < PAYMENTS) {
    const provider = rand() < 0.6 ? 'stripe' : 'paypal';
    const currency = rand() < 0.7 ? 'USD' : 'EUR';
    // Slowly growing: later days get more.
    const at = START + Math.floor(Math.sqrt(rand()) * (END - START - 1));
    const supporter = supporters > 100 && rand() < 0.33 ? Math.floor(rand() * supporters) : newSupporter();
    const amount = pick([300, 500, 500, 1000, 1000, 2000, 5000, 10_000]);
    addPayment(
      {
        provider,
        paymentId: provider === 'stripe' ? `pi_bench_${payments}` : `CAP-BENCH-${payments}`,
        supporter,
        planId: 'contributor',
        interval: 'once',
        ...(() => {
          const a = articleAt(at);
          return a ? { articleSlug: a } : {};
        })(),
        amountMinor: amount,
        currency,
        at,
      },
      feeOf(provider, amount),
    );
  }
  movements.sort((a, b) => a.at - b.at);
  return { movements, subscriptions, supporters };
}

type Figures = Record<string, number>;

class Buckets<T> {
  readonly map = new Map<string, T>();
  constructor(private readonly make: () => T) {}
  get(key: string): T {
    let value = this.map.get(key);
    if (!value) this.map.set(key, (value = this.make()));
    return value;
  }
}

async function buildFixture(uri: string): Promise<{ ms: number; counts: Record<string, number> }> {
  const started = performance.now();
  const { movements, subscriptions, supporters } = generate();
  const client = await MongoClient.connect(uri);
  const db = client.db(DB_NAME);
  await db.dropDatabase();
  const counts: Record<string, number> = {};
  const writer = (name: string) => {
    const collection = db.collection(name);
    let batch: Document[] = [];
    counts[name] = 0;
    const flush = async () => {
      if (!batch.length) return;
      const docs = batch;
      batch = [];
      counts[name] = (counts[name] ?? 0) + docs.length;
      await collection.insertMany(docs, { ordered: false });
    };
    return {
      async add(doc: Document) {
        batch.push(doc);
        if (batch.length >= 2000) await flush();
      },
      flush,
    };
  };

  // Supporters (emails are what the export shows).
  const supporterIds: ObjectId[] = [];
  const supporterWriter = writer('supporters');
  for (let i = 0; i < supporters; i++) {
    const id = new ObjectId();
    supporterIds.push(id);
    await supporterWriter.add({ _id: id, email: `reader${i}@bench.example`, totals: {}, donationCount: 0 });
  }
  await supporterWriter.flush();

  const rollups = new Buckets<{ figures: Figures; marks: string[] }>(() => ({ figures: {}, marks: [] }));
  const articles = new Buckets<{ figures: Figures; days: Record<string, Figures>; marks: string[] }>(() => ({
    figures: {},
    days: {},
    marks: [],
  }));
  const add = (target: Figures, inc: Record<string, number>) => {
    for (const [k, v] of Object.entries(inc)) target[k] = (target[k] ?? 0) + v;
  };
  const seen = new Set<number>();
  const entries = writer('ledgerentries');
  const donations = writer('donations');
  for (const m of movements) {
    const p = m.payment;
    const occurredAt = new Date(m.at);
    const newSupporter = m.type === 'payment' && !seen.has(p.supporter);
    if (newSupporter) seen.add(p.supporter);
    const entry = {
      key: m.key,
      type: m.type,
      donationId: p.id,
      provider: p.provider,
      providerPaymentId: p.paymentId,
      ...(m.ref ? { providerRef: m.ref } : {}),
      supporterId: supporterIds[p.supporter],
      planId: p.planId,
      interval: p.interval,
      ...(p.subscriptionId ? { subscriptionId: p.subscriptionId } : {}),
      ...(p.articleSlug ? { articleSlug: p.articleSlug } : {}),
      amountMinor: m.amountMinor,
      feeMinor: m.feeMinor,
      currency: p.currency,
      occurredAt,
      paymentOccurredAt: new Date(p.at),
      newSupporter,
      effects: { rollup: true, supporter: true },
    };
    await entries.add(entry);
    for (const zone of ZONES) {
      const day = dayIn(zone, occurredAt);
      const bucket = rollups.get(`${zone}\n${day}\n${p.currency}\n${p.provider}\n${p.planId}`);
      add(bucket.figures, rollupIncrement(entry));
      bucket.marks.push(m.key);
      if (newSupporter) {
        add(bucket.figures, { newSupporters: 1 });
        bucket.marks.push(`new:${String(entry.supporterId)}:${m.key}`);
      }
      if (m.type === 'payment' && p.articleSlug) {
        const article = articles.get(`${zone}\n${day.slice(0, 7)}\n${p.currency}\n${p.articleSlug}`);
        const inc = { payments: 1, grossMinor: m.amountMinor, newSupporters: newSupporter ? 1 : 0 };
        add(article.figures, inc);
        add((article.days[day.slice(8, 10)] ??= {}), inc);
        article.marks.push(m.key);
      }
    }
    if (m.type === 'payment') {
      await donations.add({
        _id: p.id,
        provider: p.provider,
        providerPaymentId: p.paymentId,
        supporterId: supporterIds[p.supporter],
        planId: p.planId,
        interval: p.interval,
        kind: p.interval === 'month' ? 'recurring' : 'one_off',
        ...(p.subscriptionId ? { subscriptionId: p.subscriptionId } : {}),
        ...(p.articleSlug ? { articleSlug: p.articleSlug } : {}),
        amountMinor: p.amountMinor,
        currency: p.currency,
        feeMinor: m.feeMinor,
        status:
          p.lostMinor > 0
            ? 'dispute_lost'
            : p.refundedMinor >= p.amountMinor
              ? 'refunded'
              : p.refundedMinor > 0 || p.disputed
                ? 'partially_refunded'
                : 'succeeded',
        refundedMinor: p.refundedMinor,
        lostMinor: p.lostMinor,
        occurredAt: new Date(p.at),
        settled: true,
        version: 1,
      });
    }
  }
  await entries.flush();
  await donations.flush();

  // MRR movements from each subscription's history, as the ledger derives them.
  const mrr = writer('mrrmovements');
  for (const sub of subscriptions) {
    for (const m of mrrMovements(sub.history, { pastDueGraceDays: GRACE_DAYS })) {
      const keyed = { ...m, key: `mrr:${sub.provider}:${sub.providerId}:v1:${m.base}` };
      await mrr.add({
        ...keyed,
        subscriptionId: sub.id,
        provider: sub.provider,
        planId: 'monthly-supporter',
        supporterId: supporterIds[sub.supporter],
        ...(sub.articleSlug ? { articleSlug: sub.articleSlug } : {}),
        applied: true,
      });
      for (const zone of ZONES) {
        const bucket = rollups.get(
          `${zone}\n${dayIn(zone, m.at)}\n${m.currency}\n${sub.provider}\nmonthly-supporter`,
        );
        add(bucket.figures, mrrRollupIncrement(keyed));
        bucket.marks.push(keyed.key);
      }
    }
  }
  await mrr.flush();

  const rollupWriter = writer('rollups');
  for (const [key, { figures, marks }] of rollups.map) {
    const [zone, day, currency, provider, planId] = key.split('\n');
    await rollupWriter.add({ zone, day, currency, provider, planId, ...figures, marks });
  }
  await rollupWriter.flush();

  const articleWriter = writer('articlerollups');
  const viewWriter = writer('articleviews');
  const viewed = new Set<string>();
  for (const [key, { figures, days, marks }] of articles.map) {
    const [zone, month, currency, articleSlug] = key.split('\n');
    await articleWriter.add({
      zone,
      month,
      currency,
      articleSlug,
      payments: 0,
      grossMinor: 0,
      newSupporters: 0,
      ...figures,
      days,
      marks,
    });
    // About 40 views per payment, counted per zone, month and article.
    const viewKey = `${zone}\n${month}\n${articleSlug}`;
    if (viewed.has(viewKey)) continue;
    viewed.add(viewKey);
    const viewDays = Object.fromEntries(
      Object.entries(days).map(([d, f]) => [d, (f.payments ?? 0) * between(20, 60)]),
    );
    await viewWriter.add({
      zone,
      month,
      articleSlug,
      views: Object.values(viewDays).reduce((a, b) => a + b, 0),
      days: viewDays,
    });
  }
  await articleWriter.flush();
  await viewWriter.flush();
  await client.close();
  return { ms: performance.now() - started, counts: { ...counts, subscriptions: subscriptions.length } };
}

// ----------------------------------------------------------------------------------------------
// Measuring
// ----------------------------------------------------------------------------------------------

/** Signs in as a finance member does, answering the session cookie. */
async function signIn(base: string, email: string, password: string): Promise<string> {
  const page = await fetch(`${base}/staff/login`);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  const res = await fetch(`${base}/staff/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
    body: new URLSearchParams({ _csrf: token ?? '', email, password, next: '/staff' }),
  });
  const signedIn = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  if (res.status !== 303 || !signedIn) throw new Error(`could not sign in: ${res.status}`);
  return signedIn;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function timeReport(
  base: string,
  cookie: string,
  query: string,
): Promise<{ p50: number; p99: number; max: number; bytes: number }> {
  const once = async () => {
    const started = performance.now();
    const res = await fetch(`${base}/staff/reports?${query}`, { headers: { Cookie: cookie } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`report answered ${res.status}: ${body.slice(0, 200)}`);
    return { ms: performance.now() - started, bytes: body.length };
  };
  for (let i = 0; i < 5; i++) await once();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < REPORT_REQUESTS; i++) {
    const r = await once();
    times.push(r.ms);
    bytes = r.bytes;
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: times.at(-1)!, bytes };
}

function memoryOf(pid: number): { rssMb: number; hwmMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** Resets the peak RSS the kernel keeps for a process (Linux: 5 → clear_refs). */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function exportCsv(
  base: string,
  cookie: string,
  query: string,
): Promise<{ rows: number; bytes: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${base}/staff/reports/donations.csv?${query}`, { headers: { Cookie: cookie } });
  if (res.status !== 200 || !res.body) throw new Error(`export answered ${res.status}`);
  let lines = 0;
  let bytes = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines += 1;
  }
  return { rows: lines - 1, bytes, ms: performance.now() - started };
}

async function main(): Promise<void> {
  const store = process.env.MONGODB_URI ? null : await startStandaloneStore();
  const uri = process.env.MONGODB_URI ?? store!.uri;
  let child: ChildProcess | undefined;
  try {
    console.log(
      `building the fixture: ${PAYMENTS.toLocaleString('en')} payments, ${new Date(START).toISOString().slice(0, 10)} to ${new Date(END - DAY).toISOString().slice(0, 10)}`,
    );
    const fixture = await buildFixture(uri);
    console.log(
      `fixture written in ${(fixture.ms / 1000).toFixed(0)} s: ${Object.entries(fixture.counts)
        .map(([k, v]) => `${v.toLocaleString('en')} ${k}`)
        .join(', ')}`,
    );

    const started = performance.now();
    child = fork(import.meta.filename, ['--serve'], {
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_SERVER_ARGS ? process.env.BENCH_SERVER_ARGS.split(' ') : []),
      ],
      env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'test', MONGODB_URI: uri },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<Ready>((resolve, reject) => {
      child!.once('message', (m) => resolve(m as Ready));
      child!.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    console.log(
      `app up in ${((performance.now() - started) / 1000).toFixed(0)} s (indexes built on the fixture)`,
    );
    const base = `http://127.0.0.1:${ready.port}`;
    const cookie = await signIn(base, ready.email, ready.password);
    const pid = child.pid!;
    console.log(`app idle: RSS ${memoryOf(pid).rssMb.toFixed(0)} MB`);

    let passed = true;
    const periods = [
      ['report, one month (by day)', 'from=2026-11-01&to=2026-11-30&tz=UTC&granularity=day', true],
      [
        'report, one year (by month)',
        'from=2025-12-01&to=2026-11-30&tz=America/New_York&granularity=month',
        false,
      ],
      ['report, three years (by month)', 'from=2023-12-01&to=2026-11-30&tz=UTC&granularity=month', false],
    ] as const;
    for (const [label, query, judged] of periods) {
      const r = await timeReport(base, cookie, query);
      const ok = r.p99 < TARGET_P99_MS;
      if (judged) passed &&= ok;
      console.log(
        `${label.padEnd(32)} p50 ${r.p50.toFixed(0).padStart(4)} ms  p99 ${r.p99.toFixed(0).padStart(4)} ms  max ${r.max.toFixed(0)} ms  (${REPORT_REQUESTS} sequential, ${(r.bytes / 1024).toFixed(0)} kB)  ${ok ? 'PASS' : 'FAIL'}${judged ? '' : ' (for information)'}`,
      );
    }

    const idle = memoryOf(pid);
    const reset = resetPeak(pid);
    const csv = await exportCsv(base, cookie, 'from=2023-12-01&to=2026-11-30&tz=UTC');
    const peak = memoryOf(pid);
    const rate = csv.rows / (csv.ms / 1000);
    const csvOk = rate >= TARGET_ROWS_PER_S && peak.hwmMb < TARGET_RSS_MB;
    passed &&= csvOk;
    console.log(
      `CSV export, three years: ${csv.rows.toLocaleString('en')} rows, ${(csv.bytes / 1e6).toFixed(0)} MB in ${(csv.ms / 1000).toFixed(1)} s = ${rate.toFixed(0)} rows/s; ` +
        `app RSS ${idle.rssMb.toFixed(0)} MB before, peak ${peak.hwmMb.toFixed(0)} MB during${reset ? '' : ' (peak since start: clear_refs refused)'} (+${(peak.hwmMb - idle.rssMb).toFixed(0)} MB)  ${csvOk ? 'PASS' : 'FAIL'}`,
    );

    resetPeak(pid);
    const check = await new Promise<Record<string, number | string>>((resolve) => {
      child!.once('message', (m) => resolve(m as Record<string, number | string>));
      child!.send('rederive');
    });
    if (check.error) throw new Error(`re-derivation failed: ${check.error}`);
    console.log(
      `nightly re-derivation: ${(Number(check.ms) / 1000).toFixed(1)} s for ${Number(check.entries).toLocaleString('en')} entries and ${Number(check.mrrMovements).toLocaleString('en')} MRR movements; ` +
        `${check.bucketsChecked} rollup buckets and ${check.articleBucketsChecked} article days compared, ${check.drifted} drifted; app peak RSS ${memoryOf(pid).hwmMb.toFixed(0)} MB (for information)`,
    );
    if (Number(check.drifted) !== 0) {
      passed = false;
      console.log('FAIL: the fixture is not what the ledger would have written');
    }
    console.log(`${passed ? 'PASS' : 'FAIL'}: finance reports over a million payments`);
    if (!passed) process.exitCode = 1;
  } finally {
    child?.kill('SIGTERM');
    if (child)
      await new Promise((resolve) =>
        child!.exitCode === null ? child!.once('exit', resolve) : resolve(null),
      );
    store?.process.kill('SIGTERM');
  }
}

/** The embedded store on its own, in memory, as `npm run db:embedded` runs it. */
async function startStandaloneStore(): Promise<{ uri: string; process: ChildProcess }> {
  const child = fork(
    path.join(import.meta.dirname, '..', 'src', 'embedded-mongo', 'cli.ts'),
    ['--port', '0', '--in-memory'],
    {
      execArgv: [
        '--import',
        'tsx',
        // A million payments, their donations and supporters: the store holds them all in its heap.
        '--max-old-space-size=16384',
        ...(process.env.BENCH_STORE_ARGS ? process.env.BENCH_STORE_ARGS.split(' ') : []),
      ],
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /mongodb:\/\/[^\s]+/.exec(out);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`embedded store exited with ${code}`)));
  });
  return { uri, process: child };
}

if (process.argv.includes('--serve')) {
  await serve();
} else if (process.argv.includes('--fixture-only')) {
  // Builds the fixture into MONGODB_URI and stops: for looking at the figures by hand.
  const built = await buildFixture(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017');
  console.log(`fixture written in ${(built.ms / 1000).toFixed(0)} s into ${DB_NAME}`, built.counts);
} else {
  await main();
}
