/** MongoDB wire protocol framing: parsing OP_MSG / OP_QUERY requests and encoding replies. */
import { deserialize, serialize } from 'bson';
import type { Doc } from './values.js';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;
export const HEADER_SIZE = 16;

const FLAG_CHECKSUM = 1;
const FLAG_MORE_TO_COME = 2;
const FLAG_EXHAUST_ALLOWED = 1 << 16;
const KNOWN_FLAGS = FLAG_CHECKSUM | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED;

export class ProtocolError extends Error {}

export interface Request {
  requestId: number;
  opCode: number;
  command: Doc;
  /** The client does not want a reply (OP_MSG moreToCome). */
  moreToCome: boolean;
}

function readCString(buf: Buffer, pos: number, end: number): { value: string; next: number } {
  const zero = buf.indexOf(0, pos);
  if (zero < 0 || zero >= end) throw new ProtocolError('unterminated cstring');
  return { value: buf.toString('utf8', pos, zero), next: zero + 1 };
}

function readDoc(buf: Buffer, pos: number, end: number): { doc: Doc; next: number } {
  if (pos + 5 > end) throw new ProtocolError('truncated BSON document');
  const size = buf.readInt32LE(pos);
  if (size < 5 || pos + size > end) throw new ProtocolError('invalid BSON document length');
  let doc: Doc;
  try {
    doc = deserialize(buf.subarray(pos, pos + size));
  } catch (err) {
    throw new ProtocolError(`invalid BSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { doc, next: pos + size };
}

/** Parses one complete message (header included). Throws ProtocolError on anything malformed. */
export function parseMessage(msg: Buffer): Request {
  const requestId = msg.readInt32LE(4);
  const opCode = msg.readInt32LE(12);
  if (opCode === OP_MSG) {
    if (msg.length < HEADER_SIZE + 5) throw new ProtocolError('OP_MSG too short');
    const flags = msg.readUInt32LE(16);
    if (flags & 0xffff & ~KNOWN_FLAGS) throw new ProtocolError(`unsupported OP_MSG flags ${flags}`);
    const end = flags & FLAG_CHECKSUM ? msg.length - 4 : msg.length;
    let pos = 20;
    let body: Doc | undefined;
    const sequences: [string, Doc[]][] = [];
    while (pos < end) {
      const kind = msg[pos++];
      if (kind === 0) {
        if (body) throw new ProtocolError('OP_MSG with more than one body section');
        const r = readDoc(msg, pos, end);
        body = r.doc;
        pos = r.next;
      } else if (kind === 1) {
        if (pos + 4 > end) throw new ProtocolError('truncated document sequence');
        const size = msg.readInt32LE(pos);
        const seqEnd = pos + size;
        if (size < 5 || seqEnd > end) throw new ProtocolError('invalid document sequence length');
        const id = readCString(msg, pos + 4, seqEnd);
        pos = id.next;
        const docs: Doc[] = [];
        while (pos < seqEnd) {
          const r = readDoc(msg, pos, seqEnd);
          docs.push(r.doc);
          pos = r.next;
        }
        sequences.push([id.value, docs]);
      } else throw new ProtocolError(`unknown OP_MSG section kind ${String(kind)}`);
    }
    if (!body) throw new ProtocolError('OP_MSG without a body section');
    for (const [id, docs] of sequences) body[id] = docs;
    return { requestId, opCode, command: body, moreToCome: (flags & FLAG_MORE_TO_COME) !== 0 };
  }
  if (opCode === OP_QUERY) {
    const end = msg.length;
    const ns = readCString(msg, 20, end);
    const pos = ns.next + 8; // numberToSkip, numberToReturn
    const { doc } = readDoc(msg, pos, end);
    let command = doc;
    if (doc.$query && typeof doc.$query === 'object') command = doc.$query as Doc;
    const dot = ns.value.indexOf('.');
    if (dot < 0 || ns.value.slice(dot + 1) !== '$cmd')
      throw new ProtocolError(`OP_QUERY is only supported for commands, not ${ns.value}`);
    command.$db = ns.value.slice(0, dot);
    return { requestId, opCode, command, moreToCome: false };
  }
  throw new ProtocolError(`unsupported opCode ${opCode}`);
}

let nextResponseId = 1;

function header(buf: Buffer, length: number, responseTo: number, opCode: number): void {
  buf.writeInt32LE(length, 0);
  buf.writeInt32LE(nextResponseId++ & 0x7fffffff, 4);
  buf.writeInt32LE(responseTo, 8);
  buf.writeInt32LE(opCode, 12);
}

export function encodeReply(req: Request, reply: Doc): Buffer {
  const body = serialize(reply);
  if (req.opCode === OP_QUERY) {
    const out = Buffer.allocUnsafe(HEADER_SIZE + 20 + body.length);
    header(out, out.length, req.requestId, OP_REPLY);
    out.writeInt32LE(0, 16); // responseFlags
    out.writeBigInt64LE(0n, 20); // cursorID
    out.writeInt32LE(0, 28); // startingFrom
    out.writeInt32LE(1, 32); // numberReturned
    out.set(body, 36);
    return out;
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + 5 + body.length);
  header(out, out.length, req.requestId, OP_MSG);
  out.writeUInt32LE(0, 16);
  out[20] = 0;
  out.set(body, 21);
  return out;
}
