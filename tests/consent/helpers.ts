import mongoose from 'mongoose';
import request from 'supertest';
import type { Express } from 'express';
import type { Response } from 'supertest';

export const ARTICLE = '/articles/coastal-marsh-returns-after-sea-wall-is-opened';
export const CHROME_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** The texts hash a page's consent forms carry, read from the page as a browser would. */
export function textsHashIn(html: string): string {
  const hash = /name="texts" value="([0-9a-f]{64})"/.exec(html)?.[1];
  if (!hash) throw new Error('no consent form on this page');
  return hash;
}

/** "rf_consent=…" from a response, for the Cookie header of the next request. */
export function consentCookieOf(res: Response): string {
  const raw = ([] as string[])
    .concat(res.headers['set-cookie'] ?? [])
    .find((c) => c.startsWith('rf_consent='));
  if (!raw) throw new Error('no rf_consent cookie was set');
  return raw.split(';')[0]!;
}

export function consentIdOf(cookie: string): string {
  return cookie.slice('rf_consent='.length).split('.')[0]!;
}

export function setCookies(res: Response): string[] {
  return ([] as string[]).concat(res.headers['set-cookie'] ?? []);
}

export interface PostOptions {
  cookie?: string;
  gpc?: boolean;
  headers?: Record<string, string>;
}

/** Posts the consent form as the banner or the settings page would. */
export function postConsent(
  app: Express,
  fields: Record<string, string | string[]>,
  options: PostOptions = {},
): request.Test {
  let req = request(app).post('/consent').type('form').set('User-Agent', CHROME_UA);
  if (options.cookie) req = req.set('Cookie', options.cookie);
  if (options.gpc) req = req.set('Sec-GPC', '1');
  for (const [name, value] of Object.entries(options.headers ?? {})) req = req.set(name, value);
  return req.send(fields);
}

/** Reads the current texts hash from the article page, posts a choice with it, expects the 303. */
export async function choose(
  app: Express,
  choice: string,
  options: PostOptions & { grant?: string[]; return?: string } = {},
): Promise<Response> {
  const page = await request(app).get(ARTICLE).expect(200);
  const fields: Record<string, string | string[]> = { choice, texts: textsHashIn(page.text) };
  if (options.grant) fields.grant = options.grant;
  fields.return = options.return ?? ARTICLE;
  return postConsent(app, fields, options).expect(303);
}

export const consentRecords = () => mongoose.connection.collection('consentrecords');
export const consentTexts = () => mongoose.connection.collection('consenttexts');

export async function recordsOf(consentId: string) {
  return consentRecords().find({ consentId }).sort({ seq: 1 }).toArray();
}

export const hasBanner = (html: string) => /<section class="consent-banner"/.test(html);
export const hasIframe = (html: string) => /<iframe/.test(html);
export const hasScript = (html: string) => /<script/.test(html);
