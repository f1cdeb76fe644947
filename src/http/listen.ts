import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppConfig } from '../config.js';

type ServerTimeouts = Pick<
  AppConfig['server'],
  'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs'
>;

/**
 * The HTTP server with our timeouts. Node's defaults would hold a connection that trickles a body
 * for five minutes; here a request must arrive whole within requestTimeoutMs (its headers within
 * headersTimeoutMs) or it is answered 408 and closed. Node checks those deadlines on an interval,
 * so the interval is kept short enough for them to mean what they say.
 */
export function createHttpServer(timeouts: ServerTimeouts, handler?: http.RequestListener): http.Server {
  const server = http.createServer({
    requestTimeout: timeouts.requestTimeoutMs,
    headersTimeout: timeouts.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, timeouts.headersTimeoutMs),
  });
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  if (handler) server.on('request', handler);
  return server;
}

/** A port we could not listen on, with what to change. */
export class ListenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListenError';
  }
}

/** Listens on host:port and resolves with the port bound; explains a taken or forbidden port. */
export function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new ListenError(
            `Port ${port} on ${host} is already in use, probably by another copy of Readerfund. ` +
              `Set PORT to a free port (e.g. PORT=${port + 1} npm start).`,
            { cause: err },
          ),
        );
      } else if (err.code === 'EACCES') {
        reject(
          new ListenError(
            `Listening on port ${port} needs privileges this process lacks; set PORT above 1024.`,
            {
              cause: err,
            },
          ),
        );
      } else if (err.code === 'EADDRNOTAVAIL') {
        reject(new ListenError(`HOST=${host} is not an address of this machine.`, { cause: err }));
      } else reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
