/**
 * The .eml files the app writes to its outbox (no SMTP in tests), decoded enough to read: headers,
 * and each text part with quoted-printable and soft line breaks undone.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface OutboxMail {
  file: string;
  to: string;
  subject: string;
  /** The decoded text of every part, joined. */
  text: string;
}

function decodeQuotedPrintable(body: string): string {
  const joined = body.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i += 1) {
    const hex = joined[i] === '=' ? /^[0-9A-F]{2}/i.exec(joined.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeHeader(value: string): string {
  return value.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, kind: string, text: string) =>
    kind.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : decodeQuotedPrintable(text.replace(/_/g, ' ')),
  );
}

export async function readOutbox(dir: string): Promise<OutboxMail[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.eml')).sort();
  return Promise.all(
    files.map(async (file) => {
      const raw = await readFile(path.join(dir, file), 'utf8');
      const header = (name: string) => {
        const match = new RegExp(`^${name}: ((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(raw);
        return match ? decodeHeader(match[1]!.replace(/\r?\n[ \t]+/g, ' ').trim()) : '';
      };
      const parts = raw.split(/\r?\n--[^\r\n]+\r?\n/);
      const text = parts
        .map((part) => {
          const [head = '', ...rest] = part.split(/\r?\n\r?\n/);
          const body = rest.join('\n\n');
          if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) return decodeQuotedPrintable(body);
          if (/content-transfer-encoding:\s*base64/i.test(head))
            return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
          return body;
        })
        .join('\n');
      return { file, to: header('To'), subject: header('Subject'), text };
    }),
  );
}

/** The manage link in the newest mail to `email`. */
export async function manageLinkFor(dir: string, email: string): Promise<string | undefined> {
  const mails = (await readOutbox(dir)).filter((m) => m.to.toLowerCase().includes(email.toLowerCase()));
  for (const mail of mails.reverse()) {
    const link = /https?:\/\/[^\s"<>]+\/manage\/[A-Za-z0-9._-]+/.exec(mail.text);
    if (link) return link[0];
  }
  return undefined;
}
