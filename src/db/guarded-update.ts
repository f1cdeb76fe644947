/**
 * The one pattern for every read-modify-write of money or state: read, decide, then write with a
 * guard (a version field or a conditional filter) that only matches what was read. When another
 * process or a retry got there first the guard does not match, and the step runs again from a
 * fresh read. Two processes, a webhook retry and the sweep therefore always agree.
 */
export const CONFLICT = Symbol('conflict');

export class ConcurrentUpdateError extends Error {
  constructor(what: string, attempts: number) {
    super(`${what} kept changing under us (${attempts} attempts); try again`);
    this.name = 'ConcurrentUpdateError';
  }
}

export async function retryOnConflict<T>(
  what: string,
  step: () => Promise<T | typeof CONFLICT>,
  attempts = 10,
): Promise<T> {
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const result = await step();
    if (result !== CONFLICT) return result;
    // Spread competing writers apart a little so the next round is likely to be decided.
    if (attempt > 2) await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
  }
  throw new ConcurrentUpdateError(what, attempts);
}

export const isDuplicateKey = (err: unknown) => (err as { code?: number } | null)?.code === 11000;
