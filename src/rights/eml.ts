/**
 * Rewrites a stored message (.eml) with an edit applied to its header lines and to the decoded
 * text of every text part, re-encoding what changed (mailsplit splits and joins MIME losslessly).
 * Attachments that are not text stay byte for byte.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { Joiner, Rewriter, Splitter } from '@zone-eu/mailsplit';

interface SplitNode {
  type: string;
  headers?: { getList(): Array<{ key: string; line: string }>; changed: boolean };
}

/** The message with `edit` applied, or null when nothing in it changed. */
export async function rewriteMessage(raw: Buffer, edit: (text: string) => string): Promise<Buffer | null> {
  let changed = false;
  const headerEdit = new Transform({
    objectMode: true,
    transform(chunk: SplitNode, _encoding: BufferEncoding, done: TransformCallback) {
      if (chunk.type === 'node' && chunk.headers) {
        for (const line of chunk.headers.getList()) {
          const next = edit(line.line);
          if (next !== line.line) {
            line.line = next;
            chunk.headers.changed = true;
            changed = true;
          }
        }
      }
      done(null, chunk);
    },
  });
  const rewriter = new Rewriter((node) => String(node.contentType ?? 'text/plain').startsWith('text/'));
  rewriter.on('node', ({ node, decoder, encoder }) => {
    const parts: Buffer[] = [];
    decoder.on('data', (part: Buffer) => parts.push(part));
    decoder.on('end', () => {
      const charset = String(node.charset ?? 'utf-8').toLowerCase();
      const text = Buffer.concat(parts).toString(charset === 'us-ascii' ? 'ascii' : 'utf8');
      const next = edit(text);
      if (next !== text) changed = true;
      encoder.end(Buffer.from(next, 'utf8'));
    });
  });
  const splitter = new Splitter();
  const joiner = new Joiner();
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    for (const stream of [splitter, headerEdit, rewriter, joiner] as NodeJS.EventEmitter[]) {
      stream.on('error', reject);
    }
    joiner.on('data', (part: Buffer) => out.push(part));
    (joiner as NodeJS.EventEmitter).on('end', resolve);
    Readable.from([raw]).pipe(splitter).pipe(headerEdit).pipe(rewriter).pipe(joiner);
  });
  return changed ? Buffer.concat(out) : null;
}
