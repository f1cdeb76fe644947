/**
 * Acts as a reader's browser on the providers' hosted pages: reads the page's first form, fills
 * in fields, submits it, and returns where the provider redirects — no JavaScript, like the pages.
 */

export interface HostedForm {
  action: string;
  fields: Record<string, string>;
}

const decode = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');

export function readFirstForm(html: string, pageUrl: string): HostedForm {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on ${pageUrl}`);
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/.exec(input[0])?.[1];
    if (name) fields[name] = decode(/\bvalue="([^"]*)"/.exec(input[0])?.[1] ?? '');
  }
  return { action: new URL(decode(form[1]!), pageUrl).toString(), fields };
}

export async function getPage(url: string): Promise<{ status: number; html: string }> {
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, html: await res.text() };
}

/** Submits the hosted page's form; resolves with the redirect target, or the page when it stays. */
export async function submitHostedPage(
  url: string,
  changes: Record<string, string> = {},
): Promise<{ status: number; location: string | null; html: string }> {
  const page = await getPage(url);
  if (page.status !== 200) throw new Error(`hosted page ${url} answered ${page.status}`);
  const form = readFirstForm(page.html, url);
  const res = await fetch(form.action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.fields, ...changes }).toString(),
  });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

export function cancelLink(html: string): string {
  const link = /<a[^>]*class="cancel"[^>]*href="([^"]*)"/.exec(html);
  if (!link) throw new Error('no cancel link on the hosted page');
  return decode(link[1]!);
}
