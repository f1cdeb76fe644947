import mongoose from 'mongoose';

interface JobRun {
  job: string;
  day: string;
  status: 'running' | 'done' | 'failed';
  claimedAt: Date;
  leaseUntil: Date;
  finishedAt?: Date;
  attempts: number;
  lastError?: string;
}

const runs = () => mongoose.connection.collection<JobRun>('jobruns');
let indexed: Promise<unknown> | undefined;
const ensureIndex = () => (indexed ??= runs().createIndex({ job: 1, day: 1 }, { unique: true }));

/** How long a claimed run may take before another process may assume it died and take over. */
const DEFAULT_LEASE_MS = 30 * 60_000;
/** After a failed run, the next attempt on the same day waits this long. */
const RETRY_AFTER_MS = 15 * 60_000;

/**
 * Claims today's run of a daily job (a UTC day) across every app process sharing the store: the
 * first insert wins on the unique index. A run that failed, or whose process died (its lease ran
 * out), can be claimed again the same day; a run that finished is never repeated.
 */
export async function claimDailyRun(
  job: string,
  at = new Date(),
  leaseMs = DEFAULT_LEASE_MS,
): Promise<boolean> {
  await ensureIndex();
  const day = at.toISOString().slice(0, 10);
  const leaseUntil = new Date(at.getTime() + leaseMs);
  try {
    await runs().insertOne({ job, day, status: 'running', claimedAt: at, leaseUntil, attempts: 1 });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code !== 11000) throw err;
  }
  const retaken = await runs().updateOne(
    { job, day, status: { $ne: 'done' }, leaseUntil: { $lt: at } },
    { $set: { status: 'running', claimedAt: at, leaseUntil }, $inc: { attempts: 1 } },
  );
  return retaken.modifiedCount === 1;
}

/** Records how a claimed run ended: done for the day, or failed (retried later the same day). */
export async function finishDailyRun(
  job: string,
  day: string,
  now: Date,
  outcome: { error?: unknown } = {},
): Promise<void> {
  await runs().updateOne(
    { job, day },
    outcome.error === undefined
      ? { $set: { status: 'done', finishedAt: now }, $unset: { lastError: '' } }
      : {
          $set: {
            status: 'failed',
            finishedAt: now,
            leaseUntil: new Date(now.getTime() + RETRY_AFTER_MS),
            lastError:
              outcome.error instanceof Error ? outcome.error.message.slice(0, 500) : String(outcome.error),
          },
        },
  );
}

/** Runs `work` as today's run of `job` if this process wins the claim; failures are retried later today. */
export async function runDaily(
  job: string,
  work: () => Promise<unknown>,
  clock: () => Date = () => new Date(),
): Promise<boolean> {
  const at = clock();
  const day = at.toISOString().slice(0, 10);
  if (!(await claimDailyRun(job, at))) return false;
  try {
    await work();
  } catch (err) {
    await finishDailyRun(job, day, clock(), { error: err });
    throw err;
  }
  await finishDailyRun(job, day, clock());
  return true;
}
