/** An exclusive lock on a data directory, held through a pid file. */
import fs from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'mongod.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock or throws naming the path and the holder. A lock left by a dead process is taken over. */
export function acquireLock(dbPath: string): () => void {
  const file = path.join(dbPath, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: number;
    try {
      holder = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    } catch {
      continue; // removed in the meantime
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new Error(
        `The data directory ${dbPath} is locked: another process (pid ${holder}) holds ${file}. ` +
          'Stop that process, or connect to it through MONGODB_URI instead of starting a second store on the same path.',
      );
    }
    // stale lock from a process that is gone (e.g. killed with kill -9)
    fs.rmSync(file, { force: true });
  }
  throw new Error(`Could not acquire the lock ${file} on the data directory ${dbPath}`);
}
