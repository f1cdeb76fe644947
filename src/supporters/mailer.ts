import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html?: string;
  attachments?: Array<{ filename: string; content: string; contentType: string }>;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  /** Where mail goes: "smtp" or the outbox folder. */
  describe(): string;
  /**
   * The outbox keeps a copy of every message; erasure rewrites the copies that `rewrite` changes
   * (it answers null for a message it leaves as it is). SMTP keeps no copy, so it has none.
   * Returns how many messages were rewritten.
   */
  rewriteStored?(rewrite: (message: Buffer) => Promise<Buffer | null>): Promise<number>;
}

/**
 * SMTP when SMTP_URL is set; otherwise each message is written as an .eml file under the outbox
 * folder, so a newcomer can open what readers would receive.
 */
export function createMailer(options: { smtpUrl: string; from: string; outboxDir: string }): Mailer {
  if (options.smtpUrl) {
    const transport = nodemailer.createTransport(options.smtpUrl);
    return {
      async send(mail) {
        await transport.sendMail({ from: options.from, ...mail });
      },
      describe: () => 'smtp',
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(mail) {
      const info = await transport.sendMail({ from: options.from, ...mail });
      await mkdir(options.outboxDir, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${String(info.messageId)
        .replace(/[^A-Za-z0-9]/g, '')
        .slice(0, 24)}.eml`;
      await writeFile(path.join(options.outboxDir, name), info.message as Buffer);
    },
    describe: () => `outbox ${path.resolve(options.outboxDir)}`,
    async rewriteStored(rewrite) {
      let names: string[];
      try {
        names = (await readdir(options.outboxDir)).filter((name) => name.endsWith('.eml'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw err;
      }
      let rewritten = 0;
      for (const name of names) {
        const file = path.join(options.outboxDir, name);
        const next = await rewrite(await readFile(file));
        if (!next) continue;
        // Written beside and renamed over: a crash leaves the old copy or the new one, never half.
        await writeFile(`${file}.tmp`, next);
        await rename(`${file}.tmp`, file);
        rewritten += 1;
      }
      return rewritten;
    },
  };
}
