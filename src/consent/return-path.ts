/**
 * Where to send a reader back after a choice: only a path on our own site. Anything else — another
 * origin, a protocol-relative `//host`, backslashes, control characters — is ignored.
 */
function hasUnsafeCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f || code === 0x5c /* backslash */) return true;
  }
  return false;
}

export function safeReturnPath(value: unknown, origin: string): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2000) return null;
  if (!value.startsWith('/') || value.startsWith('//') || hasUnsafeCharacter(value)) return null;
  let url: URL;
  try {
    url = new URL(value, origin);
  } catch {
    return null;
  }
  // Dot segments can resolve to `//host` (`/a/../..//evil.example`): a protocol-relative address.
  if (url.origin !== origin || url.pathname.startsWith('//')) return null;
  return `${url.pathname}${url.search}${url.hash}`;
}

/** The request's own URL, cheaply, when it can be used as a return path. */
export function ownPath(originalUrl: string): string {
  return originalUrl.length <= 2000 &&
    originalUrl.startsWith('/') &&
    !originalUrl.startsWith('//') &&
    !hasUnsafeCharacter(originalUrl)
    ? originalUrl
    : '/';
}
