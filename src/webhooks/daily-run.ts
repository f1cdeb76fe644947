import mongoose from 'mongoose';

/**
 * Claims one run of a periodic job for a period (a UTC day), across every app process sharing the
 * store: the first insert wins on the unique index, the others learn the run is taken.
 */
export async function claimDailyRun(job: string, at = new Date()): Promise<boolean> {
  const runs = mongoose.connection.collection<{ job: string; day: string; claimedAt: Date }>('jobruns');
  await runs.createIndex({ job: 1, day: 1 }, { unique: true });
  try {
    await runs.insertOne({ job, day: at.toISOString().slice(0, 10), claimedAt: at });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 11000) return false;
    throw err;
  }
}
