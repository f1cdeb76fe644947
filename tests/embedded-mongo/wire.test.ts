/** Bad input at the protocol level only costs the offending connection. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { serialize } from 'bson';
import { openTarget, type TestTarget } from './helpers.js';

let target: TestTarget;
let host: string;
let port: number;

before(async () => {
  target = await openTarget('wire');
  const u = new URL(target.uri.split(',')[0] as string);
  host = u.hostname;
  port = Number(u.port || 27017);
});
after(async () => {
  await target.close();
});

function opMsg(body: object, requestId = 1, flags = 0): Buffer {
  const bson = Buffer.from(serialize(body));
  const out = Buffer.alloc(21 + bson.length);
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(0, 8);
  out.writeInt32LE(2013, 12);
  out.writeUInt32LE(flags, 16);
  out[20] = 0;
  bson.copy(out, 21);
  return out;
}

/** Sends raw bytes and collects what comes back until the server closes the socket or goes quiet. */
function exchange(bytes: Buffer, quietMs = 1500): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(finish, quietMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
      finish();
    });
  });
}

async function stillServing(): Promise<void> {
  const r = await target.client.db('admin').command({ ping: 1 });
  assert.equal(r.ok, 1);
}

describe('wire protocol robustness', () => {
  it('answers a well-formed OP_MSG ping with a reply to the same request id', async () => {
    const { data } = await exchange(opMsg({ ping: 1, $db: 'admin' }, 77), 500);
    assert.ok(data.length > 21);
    assert.equal(data.readInt32LE(0), data.length);
    assert.equal(data.readInt32LE(8), 77);
    assert.equal(data.readInt32LE(12), 2013);
  });

  it('closes a connection announcing an oversize message and keeps serving others', async () => {
    const header = Buffer.alloc(16);
    header.writeInt32LE(64 * 1024 * 1024, 0);
    header.writeInt32LE(1, 4);
    header.writeInt32LE(2013, 12);
    const { closed } = await exchange(header);
    assert.ok(closed);
    await stillServing();
  });

  it('closes a connection sending an unknown opcode and keeps serving others', async () => {
    const msg = Buffer.alloc(32);
    msg.writeInt32LE(32, 0);
    msg.writeInt32LE(1, 4);
    msg.writeInt32LE(4242, 12);
    const { closed } = await exchange(msg);
    assert.ok(closed);
    await stillServing();
  });

  it('closes a connection sending a malformed BSON body and keeps serving others', async () => {
    const msg = opMsg({ ping: 1, $db: 'admin' });
    msg.writeInt32LE(9999, 21); // corrupt the document length
    const { closed, data } = await exchange(msg);
    assert.ok(closed || data.length > 0);
    await stillServing();
  });

  it('does not reply to a moreToCome message', async () => {
    const { data } = await exchange(opMsg({ ping: 1, $db: 'admin' }, 5, 2), 700);
    assert.equal(data.length, 0);
    await stillServing();
  });
});
