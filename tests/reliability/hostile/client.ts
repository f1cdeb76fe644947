/**
 * Two ways of sending what a hostile client sends: node:http for anything HTTP can carry (any
 * bytes in a body, any header a browser would refuse to set), and a raw socket for what node:http
 * itself refuses to write (invalid UTF-8 in the request line or a header, oversized headers).
 */
import http from 'node:http';
import net from 'node:net';

export interface HostileRequest {
  /** The route family the request aims at, for the summary. */
  family: string;
  method: string;
  /** Path and query, already percent-encoded where node:http needs it. */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
}

export interface Answer {
  /** The status code, or 0 when no answer came (reset, timeout). */
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  error?: string;
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

export function send(
  baseUrl: string,
  agent: http.Agent,
  r: HostileRequest,
  timeoutMs = 15_000,
): Promise<Answer> {
  const base = new URL(baseUrl);
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: Answer) => {
      if (!settled) {
        settled = true;
        resolve(a);
      }
    };
    let req: http.ClientRequest;
    try {
      req = http.request(
        {
          host: base.hostname,
          port: base.port,
          method: r.method,
          path: r.path,
          agent,
          headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...r.headers },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            done({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err) => done({ status: 0, headers: {}, body: '', error: err.message }));
        },
      );
    } catch (err) {
      // node:http refused to write the request at all (a header it cannot carry): not the app's answer.
      done({ status: -1, headers: {}, body: '', error: (err as Error).message });
      return;
    }
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done({ status: 0, headers: {}, body: '', error: err.message }));
    req.end(body);
  });
}

/**
 * Writes `bytes` on a fresh connection (not half-closed: Node drops a request whose client has
 * ended its side) and reads the answer until the server closes it (the request
 * carries `Connection: close`, and Node closes after refusing a malformed request itself).
 */
export function sendRaw(baseUrl: string, bytes: Buffer, timeoutMs = 15_000): Promise<Answer> {
  const base = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const headers: http.IncomingHttpHeaders = {};
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({
        status: status ? Number(status[1]) : 0,
        headers,
        body: rest.join('\r\n\r\n'),
        ...(status ? {} : { error: error ?? 'no status line' }),
      });
    };
    socket.setTimeout(timeoutMs, () => finish('timeout'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    // The server may close as soon as it has answered a request it refused, before all was written.
    socket.on('error', (err) => finish(err.message));
    socket.on('connect', () => socket.write(bytes));
  });
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
export async function pool<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}
