/**
 * A reader's way through the rights pages over HTTP, as a browser without JavaScript would go:
 * consent banner, donation at the simulator's hosted page, the link from the outbox, the export.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import mongoose from 'mongoose';
import { getPage, submitHostedPage } from '../helpers/hosted-pages.js';
import type { TestServer } from '../helpers/server.js';

export const ARTICLE = '/articles/coastal-marsh-returns-after-sea-wall-is-opened';

export const post = (
  url: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
) => {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) body.append(key, v);
  }
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: body.toString(),
  });
};

/** Accepts the consent banner on an article; returns the `rf_consent=…` cookie pair. */
export async function acceptCookies(server: TestServer): Promise<string> {
  const page = await (await fetch(`${server.baseUrl}${ARTICLE}`)).text();
  const texts = /name="texts" value="([0-9a-f]{64})"/.exec(page)?.[1];
  if (!texts) throw new Error('no consent banner on the article');
  const res = await post(`${server.baseUrl}/consent`, { choice: 'accept_all', texts, return: ARTICLE });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('rf_consent='));
  if (!cookie) throw new Error('no consent cookie was set');
  return cookie.split(';')[0]!;
}

export const consentIdOf = (cookie: string) => cookie.slice('rf_consent='.length).split('.')[0]!;

/** Gives through the donation form and the simulator's hosted page, then lets every webhook land. */
export async function give(
  server: TestServer,
  options: {
    email: string;
    name?: string;
    plan?: 'contributor' | 'monthly-supporter';
    provider?: 'stripe' | 'paypal';
    amount?: string;
    formEmail?: string;
    cookie?: string;
  },
): Promise<void> {
  const fields: Record<string, string> = {
    plan: options.plan ?? 'contributor',
    provider: options.provider ?? 'stripe',
    currency: 'USD',
  };
  if (options.amount) fields.amount = options.amount;
  if (options.formEmail) fields.email = options.formEmail;
  const start = await post(
    `${server.baseUrl}/donate`,
    fields,
    options.cookie ? { cookie: options.cookie } : {},
  );
  if (start.status !== 303) throw new Error(`POST /donate answered ${start.status}: ${await start.text()}`);
  const done = await submitHostedPage(start.headers.get('location')!, {
    email: options.email,
    ...(options.name ? { name: options.name } : {}),
  });
  if (!done.location) throw new Error(`the hosted page answered ${done.status}`);
  await getPage(done.location);
  await settle(server);
}

/** Lets the simulator's webhooks and the work started beside the answers finish. */
export async function settle(server: TestServer): Promise<void> {
  await server.runtime.payments.simulator?.idle();
  await server.runtime.rights.service.idle();
  await server.runtime.runJobsOnce();
}

export interface StoredMail {
  file: string;
  raw: string;
  to: string;
  subject: string;
}

export async function outbox(dir: string): Promise<StoredMail[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.eml')).sort();
  } catch {
    return [];
  }
  const mails: StoredMail[] = [];
  for (const name of names) {
    const raw = await readFile(path.join(dir, name), 'utf8');
    mails.push({
      file: name,
      raw,
      to: /^To: (.*)$/m.exec(raw)?.[1] ?? '',
      subject: /^Subject: (.*)$/m.exec(raw)?.[1] ?? '',
    });
  }
  return mails;
}

/** The rights link in the newest mail to `email`. */
export async function rightsLinkFor(dir: string, email: string): Promise<string> {
  const mails = (await outbox(dir)).filter((m) => m.to === email && /see or erase your data/.test(m.subject));
  const link = /(http:\/\/[^\s]+\/rights\/[A-Za-z0-9_.-]+)/.exec(mails.at(-1)?.raw.replace(/=\n/g, '') ?? '');
  if (!link) throw new Error(`no rights link was mailed to ${email}`);
  return link[1]!;
}

/** Asks for a rights link on /rights and returns the one that arrives in the outbox. */
export async function requestRightsLink(server: TestServer, email: string): Promise<string> {
  const res = await post(`${server.baseUrl}/rights`, { email });
  if (res.status !== 200) throw new Error(`POST /rights answered ${res.status}`);
  await server.runtime.rights.service.idle();
  return rightsLinkFor(server.outboxDir, email);
}

/** The erase form's action and token on a rights page. */
export async function eraseForm(url: string): Promise<{ action: string; formToken: string }> {
  const html = await (await fetch(url)).text();
  const action = /<form method="post" action="([^"]+\/erase)"/.exec(html)?.[1];
  const formToken = /name="formToken" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !formToken) throw new Error(`no erase form on ${url}`);
  return { action: new URL(action, url).toString(), formToken };
}

/** Every collection of the database whose documents mention `needle` (case-insensitive), with how often. */
export async function collectionsMentioning(needle: string): Promise<Record<string, number>> {
  const db = mongoose.connection.db!;
  const found: Record<string, number> = {};
  const lower = needle.toLowerCase();
  for (const { name } of await db.listCollections().toArray()) {
    const docs = await db.collection(name).find({}).toArray();
    const hits = docs.filter((d) => JSON.stringify(d).toLowerCase().includes(lower)).length;
    if (hits) found[name] = hits;
  }
  return found;
}

export async function outboxMentioning(dir: string, needle: string): Promise<string[]> {
  const lower = needle.toLowerCase();
  return (await outbox(dir)).filter((m) => m.raw.toLowerCase().includes(lower)).map((m) => m.file);
}
