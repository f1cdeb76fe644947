/**
 * Durability: an append-only journal of physical records, written (handed to the OS) before a
 * write is acknowledged and fsync'd in groups at least every 100 ms, plus a snapshot written in
 * the background that lets old journal files be deleted. Start-up loads the snapshot, replays the
 * journal files after it and cuts off a torn last record.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deserialize, serialize } from 'bson';
import type { Catalog, JournalRecord } from './store.js';
import type { Doc } from './values.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const SNAPSHOT = 'snapshot.bson';
const SYNC_INTERVAL_MS = 100;
const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;
const journalName = (seq: number): string => `journal.${String(seq).padStart(8, '0')}.bson`;

function listJournals(dir: string): { seq: number; file: string }[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^journal\.(\d+)\.bson$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ seq: Number(m[1]), file: path.join(dir, m[0]) }))
    .sort((a, b) => a.seq - b.seq);
}

/** Reads the records of a file; returns them and the offset where valid data ends. */
function readRecords(file: string): { records: Doc[]; validBytes: number; size: number } {
  const buf = fs.readFileSync(file);
  const records: Doc[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    const len = buf.readInt32LE(pos);
    if (len < 5 || pos + len > buf.length) break;
    try {
      records.push(deserialize(buf.subarray(pos, pos + len)));
    } catch {
      break;
    }
    pos += len;
  }
  return { records, validBytes: pos, size: buf.length };
}

export class Journal {
  private readonly dir: string;
  private readonly catalog: Catalog;
  private readonly logger: Logger;
  private readonly compactBytes: number;
  private fd = -1;
  private seq = 0;
  private size = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private writtenGen = 0;
  private syncedGen = 0;
  private syncing: Promise<void> | null = null;
  private waiters: { gen: number; resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private compacting: Promise<void> | null = null;
  private closed = false;
  private commitCallbacks: ((err?: Error) => void)[] = [];
  private commitScheduled = false;

  private constructor(dir: string, catalog: Catalog, logger: Logger, compactBytes: number) {
    this.dir = dir;
    this.catalog = catalog;
    this.logger = logger;
    this.compactBytes = compactBytes;
  }

  /** Loads the data directory into the catalog and starts journaling its mutations. */
  static open(dir: string, catalog: Catalog, logger: Logger, compactBytes = DEFAULT_COMPACT_BYTES): Journal {
    const j = new Journal(dir, catalog, logger, compactBytes);
    j.recover();
    catalog.onRecord = (rec) => j.append(rec);
    j.timer = setInterval(() => j.syncNow(), SYNC_INTERVAL_MS);
    j.timer.unref();
    return j;
  }

  private recover(): void {
    const started = Date.now();
    let baseSeq = 0;
    let records = 0;
    const snapFile = path.join(this.dir, SNAPSHOT);
    // a snapshot that was being written when the process stopped is incomplete by definition
    fs.rmSync(`${snapFile}.tmp`, { force: true });
    if (fs.existsSync(snapFile)) {
      const snap = readRecords(snapFile);
      const head = snap.records[0];
      const tail = snap.records[snap.records.length - 1];
      if (!head || head.op !== 'S' || !tail || tail.op !== 'E')
        throw new Error(`Snapshot ${snapFile} is incomplete or corrupt`);
      baseSeq = Number(head.seq);
      for (let i = 1; i < snap.records.length - 1; i++) this.catalog.apply(snap.records[i] as JournalRecord);
      records += snap.records.length;
    }
    const journals = listJournals(this.dir);
    let replayedBytes = 0;
    for (const { seq, file } of journals) {
      if (seq < baseSeq) {
        fs.rmSync(file, { force: true });
        continue;
      }
      const r = readRecords(file);
      for (const rec of r.records) this.catalog.apply(rec as JournalRecord);
      records += r.records.length;
      replayedBytes += r.validBytes;
      if (r.validBytes < r.size) {
        this.logger.warn(
          { file, kept: r.validBytes, dropped: r.size - r.validBytes },
          'journal ends in a torn record; truncating it',
        );
        fs.truncateSync(file, r.validBytes);
      }
    }
    const last = journals.filter((j) => j.seq >= baseSeq).pop();
    this.seq = last ? last.seq : Math.max(baseSeq, 1);
    const file = path.join(this.dir, journalName(this.seq));
    this.fd = fs.openSync(file, 'a');
    this.size = fs.fstatSync(this.fd).size;
    this.logger.info({ dir: this.dir, records, ms: Date.now() - started }, 'embedded store recovered');
    if (replayedBytes > this.compactBytes) this.maybeCompact(true);
  }

  append(rec: JournalRecord): void {
    if (this.closed) return;
    const buf = serialize(rec);
    this.pending.push(buf);
    this.pendingBytes += buf.length;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Calls `done` once everything appended so far has been handed to the OS. Writes made while
   * handling the same round of I/O events share a single write.
   */
  whenWritten(done: (err?: Error) => void): void {
    this.commitCallbacks.push(done);
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      const callbacks = this.commitCallbacks;
      this.commitCallbacks = [];
      let error: Error | undefined;
      try {
        this.flush();
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
        this.logger.error({ err: error }, 'journal write failed');
      }
      for (const cb of callbacks) cb(error);
    });
  }

  /** Hands every pending record to the OS in a single write. Returns true if anything was written. */
  flush(): boolean {
    if (this.pending.length === 0 || this.closed) return false;
    const data =
      this.pending.length === 1
        ? (this.pending[0] as Uint8Array)
        : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
    this.size += data.length;
    this.writtenGen++;
    this.maybeCompact(false);
    return true;
  }

  /** Resolves once everything written so far is on stable storage (a `j: true` write). */
  waitForSync(): Promise<void> {
    this.flush();
    if (this.syncedGen >= this.writtenGen) return Promise.resolve();
    const gen = this.writtenGen;
    const p = new Promise<void>((resolve) => this.waiters.push({ gen, resolve }));
    this.syncNow();
    return p;
  }

  private syncNow(): void {
    if (this.syncing || this.closed || this.syncedGen >= this.writtenGen) return;
    const target = this.writtenGen;
    const fd = this.fd;
    this.syncing = new Promise<void>((resolve) => {
      fs.fsync(fd, (err) => {
        if (err) this.logger.error({ err }, 'journal fsync failed');
        this.syncing = null;
        this.markSynced(target);
        resolve();
        if (this.waiters.length) this.syncNow();
      });
    });
  }

  private markSynced(gen: number): void {
    this.syncedGen = Math.max(this.syncedGen, gen);
    const ready = this.waiters.filter((w) => w.gen <= this.syncedGen);
    this.waiters = this.waiters.filter((w) => w.gen > this.syncedGen);
    for (const w of ready) w.resolve();
  }

  private async drainSync(): Promise<void> {
    while (this.syncing) await this.syncing;
  }

  private maybeCompact(force: boolean): void {
    if (this.compacting || this.closed || (!force && this.size < this.compactBytes)) return;
    this.compacting = this.compact()
      .catch((err: unknown) => this.logger.error({ err }, 'journal compaction failed'))
      .finally(() => {
        this.compacting = null;
      });
  }

  /** Starts a new journal file and writes a snapshot that makes the older ones unnecessary. */
  async compact(): Promise<void> {
    await this.drainSync();
    if (this.closed) return;
    // switch files synchronously, so no record falls between the snapshot and the new journal
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.markSynced(this.writtenGen);
    const seq = this.seq + 1;
    this.seq = seq;
    this.fd = fs.openSync(path.join(this.dir, journalName(seq)), 'a');
    this.size = 0;
    const started = Date.now();
    const tmp = path.join(this.dir, `${SNAPSHOT}.tmp`);
    const fh = await fs.promises.open(tmp, 'w');
    let count = 0;
    try {
      const chunk: Uint8Array[] = [serialize({ op: 'S', seq })];
      const put = async (rec: Doc): Promise<void> => {
        chunk.push(serialize(rec));
        if (chunk.length >= 2000) {
          await fh.write(Buffer.concat(chunk));
          chunk.length = 0;
        }
      };
      const colls = [...this.catalog.dbs.values()].flatMap((m) => [...m.values()]);
      for (const coll of colls) {
        await put({ op: 'c', ns: coll.ns, options: coll.options });
        for (const ix of coll.indexes)
          if (ix.spec.name !== '_id_') await put({ op: 'i', ns: coll.ns, spec: ix.spec });
        // iterate the live map: records written meanwhile are also in the new journal
        for (const doc of coll.docs.values()) {
          await put({ op: 'p', ns: coll.ns, doc });
          count++;
        }
      }
      chunk.push(serialize({ op: 'E' }));
      await fh.write(Buffer.concat(chunk));
      await fh.sync();
    } finally {
      await fh.close();
    }
    fs.renameSync(tmp, path.join(this.dir, SNAPSHOT));
    this.syncDir();
    for (const j of listJournals(this.dir)) if (j.seq < seq) fs.rmSync(j.file, { force: true });
    this.logger.info({ docs: count, ms: Date.now() - started }, 'embedded store snapshot written');
  }

  private syncDir(): void {
    try {
      const dfd = fs.openSync(this.dir, 'r');
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
    } catch {
      // directories cannot be fsync'd on every platform
    }
  }

  /** Writes and fsyncs everything, waits for a running snapshot, and closes the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.flush();
    if (this.compacting) await this.compacting;
    await this.drainSync();
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.markSynced(this.writtenGen);
    this.closed = true;
  }
}
