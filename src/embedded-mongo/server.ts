/** TCP server: framing per connection, strict in-order handling, journaling before replies. */
import net from 'node:net';
import { CommandRouter, MAX_MESSAGE_SIZE } from './commands.js';
import type { Journal, Logger } from './journal.js';
import type { Catalog } from './store.js';
import { isPlainObject, type Doc } from './values.js';
import { encodeReply, HEADER_SIZE, parseMessage, ProtocolError, type Request } from './wire.js';

const TTL_SWEEP_MS = 1000;

class Connection {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private expected = 0;
  private readonly queue: Buffer[] = [];
  private waiting = false;
  readonly id: number;
  private readonly socket: net.Socket;
  private readonly server: WireServer;

  constructor(id: number, socket: net.Socket, server: WireServer) {
    this.id = id;
    this.socket = socket;
    this.server = server;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  private fail(reason: string): void {
    this.server.logger.warn({ connectionId: this.id, reason }, 'closing connection after a protocol error');
    this.queue.length = 0;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      this.receive(chunk);
    } catch (err) {
      // never let one connection take the server down
      this.server.logger.error({ err, connectionId: this.id }, 'unexpected error handling a request');
      this.socket.destroy();
    }
  }

  private reply(req: Request, reply: Doc): Buffer {
    try {
      return encodeReply(req, reply);
    } catch (err) {
      return encodeReply(req, {
        ok: 0,
        code: 10334,
        codeName: 'BSONObjectTooLarge',
        errmsg: `reply could not be encoded: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }

  private receive(chunk: Buffer): void {
    // chunks of an incomplete message are only joined once the whole message is there
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.expected) return;
      chunk = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let buf = chunk;
    while (buf.length >= 4) {
      const len = buf.readInt32LE(0);
      if (len < HEADER_SIZE || len > MAX_MESSAGE_SIZE) {
        this.fail(`message length ${len} outside 16..${MAX_MESSAGE_SIZE}`);
        return;
      }
      if (buf.length < len) break;
      this.queue.push(buf.subarray(0, len));
      buf = buf.subarray(len);
    }
    if (buf.length > 0) {
      this.pending = [buf];
      this.pendingBytes = buf.length;
      this.expected = buf.length >= 4 ? buf.readInt32LE(0) : 4;
    }
    this.pump();
  }

  private pump(): void {
    if (this.waiting || this.socket.destroyed) return;
    const replies: Buffer[] = [];
    while (this.queue.length && !this.waiting) {
      const msg = this.queue.shift() as Buffer;
      let req: Request;
      try {
        req = parseMessage(msg);
      } catch (err) {
        this.fail(err instanceof ProtocolError ? err.message : String(err));
        return;
      }
      const cmd = req.command;
      const reply = this.server.router.run(cmd, { connectionId: this.id });
      const journal = this.server.journal;
      const wc = isPlainObject(cmd.writeConcern) ? cmd.writeConcern : undefined;
      const wantSync = journal !== undefined && wc !== undefined && (wc.j === true || wc.fsync === true);
      if (journal && (journal.hasPending || wantSync)) {
        // acknowledge only once the journal holds the write (and, for j:true, once it is on disk)
        this.waiting = true;
        const r = req;
        const send = (): void => {
          this.waiting = false;
          if (!r.moreToCome && !this.socket.destroyed) this.socket.write(this.reply(r, reply));
          try {
            this.pump();
          } catch (err) {
            this.server.logger.error({ err, connectionId: this.id }, 'unexpected error handling a request');
            this.socket.destroy();
          }
        };
        journal.whenWritten((err) => {
          if (err) {
            this.socket.destroy();
            return;
          }
          if (wantSync) journal.waitForSync().then(send, () => this.socket.destroy());
          else send();
        });
        break;
      }
      if (!req.moreToCome) replies.push(this.reply(req, reply));
    }
    if (replies.length === 1) this.socket.write(replies[0] as Buffer);
    else if (replies.length > 1) this.socket.write(Buffer.concat(replies));
  }
}

export class WireServer {
  readonly router: CommandRouter;
  readonly journal: Journal | undefined;
  readonly logger: Logger;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private nextConnectionId = 1;
  private ttlTimer: NodeJS.Timeout | undefined;

  constructor(catalog: Catalog, journal: Journal | undefined, logger: Logger) {
    this.router = new CommandRouter(catalog);
    this.journal = journal;
    this.logger = logger;
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      try {
        new Connection(this.nextConnectionId++, socket, this);
      } catch (err) {
        logger.error({ err }, 'failed to set up a connection');
        socket.destroy();
      }
    });
    this.server.on('error', (err) => logger.error({ err }, 'embedded store server error'));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
      this.ttlTimer = setInterval(() => this.sweepTtl(), TTL_SWEEP_MS);
      this.ttlTimer.unref();
    });
  }

  private sweepTtl(): void {
    try {
      const removed = this.router.sweepTtl();
      if (removed) this.journal?.flush();
    } catch (err) {
      this.logger.error({ err }, 'TTL sweep failed');
    }
  }

  async close(): Promise<void> {
    if (this.ttlTimer) clearInterval(this.ttlTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
