import type { Logger } from './log.js';

/**
 * A background job run every few seconds or hours: one pass at a time (a tick that finds the
 * previous pass still going is skipped), never keeping the process alive, a failed pass logged
 * rather than thrown (the next tick tries again). stop() waits for the pass in progress, so a
 * shutdown never cuts one off halfway.
 */
export interface RepeatingJob {
  start(everyMs: number): void;
  stop(): Promise<void>;
}

export function repeatingJob(
  what: string,
  pass: () => Promise<unknown>,
  logger: Logger,
  level: 'warn' | 'error' = 'warn',
): RepeatingJob {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  return {
    start(everyMs) {
      if (timer) return;
      timer = setInterval(() => {
        running ??= pass()
          .catch((err: unknown) => logger[level]({ err }, `${what} failed`))
          .finally(() => (running = undefined));
      }, everyMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
