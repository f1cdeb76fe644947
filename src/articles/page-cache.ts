import { createHash } from 'node:crypto';
import type { ContentVersion } from './repository.js';

/** A response rendered once and sent many times. */
export interface CachedPage {
  /** Encoded once, so a hit costs no UTF-8 conversion. */
  body: Buffer;
  contentType: string;
  etag: string;
  /** Newest change among the articles shown; null when the page shows none. */
  lastModified: Date | null;
  /** lastModified as an HTTP date, formatted once. */
  lastModifiedHeader: string | null;
}

export function cachedPage(body: string, contentType: string, lastModified: Date | null): CachedPage {
  const bytes = Buffer.from(body, 'utf8');
  return {
    body: bytes,
    contentType,
    etag: strongEtagOf(bytes),
    lastModified,
    lastModifiedHeader: lastModified ? lastModified.toUTCString() : null,
  };
}

export interface PageCacheOptions {
  maxEntries: number;
  /** How often, at most, to ask the store whether another process changed the articles. */
  versionCheckIntervalMs: number;
  readVersion: () => Promise<ContentVersion>;
  onVersionCheckFailed?: (err: unknown) => void;
  now?: () => number;
}

export function strongEtagOf(body: Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

/**
 * Rendered pages by key, dropped when articles change. Local writes call invalidate(); changes
 * made by other processes sharing the store are noticed through a cheap content version, read at
 * most once per interval.
 */
export class PageCache {
  private readonly entries = new Map<string, CachedPage>();
  private readonly pending = new Map<string, Promise<CachedPage | null>>();
  private generation = 0;
  private version: ContentVersion | null = null;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private check: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: PageCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Increases on every invalidation; values derived from the articles can key on it. */
  get currentGeneration(): number {
    return this.generation;
  }

  get size(): number {
    return this.entries.size;
  }

  invalidate(): void {
    this.generation += 1;
    this.entries.clear();
    this.pending.clear();
  }

  /** The cached page for key when no content version check is due: the fast path of a hit. */
  peek(key: string): CachedPage | undefined {
    if (this.check || this.now() - this.lastCheck >= this.options.versionCheckIntervalMs) return undefined;
    return this.entries.get(key);
  }

  /** Resolves once the content version is known to be recent enough. */
  async ensureFresh(): Promise<void> {
    if (this.check) return this.check;
    if (this.now() - this.lastCheck < this.options.versionCheckIntervalMs) return;
    this.lastCheck = this.now();
    this.check = this.options
      .readVersion()
      .then((version) => {
        const previous = this.version;
        this.version = version;
        if (
          previous &&
          (previous.newestUpdate !== version.newestUpdate || previous.count !== version.count)
        ) {
          this.invalidate();
        }
      })
      .catch((err: unknown) => {
        // Keep serving what we have; the next check tries again.
        this.options.onVersionCheckFailed?.(err);
      })
      .finally(() => {
        this.check = null;
      });
    return this.check;
  }

  /**
   * The cached page for key, or the one build() produces (null: nothing to show, not cached).
   * Concurrent misses for one key share a single build.
   */
  async get(key: string, build: () => Promise<CachedPage | null>): Promise<CachedPage | null> {
    await this.ensureFresh();
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert so the Map's order doubles as least-recently-used order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const generation = this.generation;
    const promise = build().then(
      (page) => {
        if (this.pending.get(key) === promise) this.pending.delete(key);
        if (page && generation === this.generation) this.store(key, page);
        return page;
      },
      (err: unknown) => {
        if (this.pending.get(key) === promise) this.pending.delete(key);
        throw err;
      },
    );
    this.pending.set(key, promise);
    return promise;
  }

  private store(key: string, page: CachedPage): void {
    this.entries.set(key, page);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
