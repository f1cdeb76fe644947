import mongoose from 'mongoose';
import { RateLimiterMongo, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors.js';

export interface LimitRule {
  /** Collection-friendly name: "donate_ip". */
  name: string;
  points: number;
  durationSeconds: number;
}

/**
 * Counters kept in MongoDB, so every app process sharing the store shares the limits.
 * `hit` throws a rate_limited AppError once a key has used up its points.
 */
export class StoredRateLimiter {
  private readonly limiter: RateLimiterMongo;

  constructor(
    rule: LimitRule,
    private readonly message: string,
  ) {
    this.limiter = new RateLimiterMongo({
      storeClient: mongoose.connection,
      tableName: `ratelimits_${rule.name}`,
      keyPrefix: rule.name,
      points: rule.points,
      duration: rule.durationSeconds,
    });
  }

  async hit(key: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
        throw new AppError('rate_limited', this.message, { retryAfterSeconds: seconds });
      }
      throw err;
    }
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
}
