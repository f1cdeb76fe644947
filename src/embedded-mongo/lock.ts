/**
 * An exclusive lock on a data directory. mongod holds a kernel file lock on `mongod.lock`; Node has
 * no flock, so the lock here is a listening Unix-domain socket named after the directory: the
 * kernel frees it the moment its holder dies (a `kill -9`, a zombie not yet reaped), and no other
 * process can take it while the holder lives, whatever pid it has. `mongod.lock` holds the
 * holder's pid only so that the refusal can name it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const LOCK_FILE = 'mongod.lock';
const SOCKET_FILE = 'mongod.lock.sock';

/**
 * Linux has an abstract socket namespace (no file, no path-length limit, nothing left behind);
 * elsewhere the socket is a file in the data directory, or a named pipe on Windows.
 */
function lockAddress(dir: string): { address: string; file: string | null } {
  const id = crypto.createHash('sha256').update(dir).digest('hex').slice(0, 32);
  if (process.platform === 'linux') return { address: `\0readerfund-embedded-mongo-${id}`, file: null };
  if (process.platform === 'win32')
    return { address: `\\\\?\\pipe\\readerfund-embedded-mongo-${id}`, file: null };
  const file = path.join(dir, SOCKET_FILE);
  return { address: file, file };
}

function listen(server: net.Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(address, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Whether a live process answers on a socket file (a file left by a dead holder refuses). */
function answers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(address);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function recordedHolder(file: string): string {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? `pid ${pid}` : 'pid unknown';
  } catch {
    return 'pid unknown';
  }
}

/**
 * Takes the lock or throws naming the path and the holder. A lock whose holder has died, however
 * it died, is free.
 */
export async function acquireLock(dbPath: string): Promise<() => void> {
  const dir = fs.realpathSync(dbPath);
  const pidFile = path.join(dbPath, LOCK_FILE);
  const { address, file } = lockAddress(dir);
  const server = net.createServer((socket) => socket.destroy());
  for (let attempt = 0; ; attempt++) {
    try {
      await listen(server, address);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 2) throw err;
      if (file === null || (await answers(file))) {
        throw new Error(
          `The data directory ${dbPath} is locked: another process (${recordedHolder(pidFile)}) holds ${pidFile}. ` +
            'Stop that process, or connect to it through MONGODB_URI instead of starting a second store on the same path.',
          { cause: err },
        );
      }
      fs.rmSync(file, { force: true }); // left by a holder that died
    }
  }
  // the lock must not keep the process alive on its own
  server.unref();
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    fs.rmSync(pidFile, { force: true });
    server.close();
  };
}
