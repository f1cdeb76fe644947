import type { IncomingMessage } from 'node:http';

/** A mount point made of one plain word (/staff); anything else could be part of a real path. */
const PLAIN_MOUNT = /^(\/[a-z]{1,20})?$/;
/** More distinct labels than any version of the app has routes: past it, something is wrong. */
const MAX_LABELS = 200;
const seen = new Set<string>();

interface RoutedRequest extends IncomingMessage {
  route?: { path?: unknown };
  baseUrl?: string;
  originalUrl?: string;
}

function pattern(req: RoutedRequest): string | null {
  const path = req.route?.path;
  if (typeof path !== 'string') return null;
  // A router mounted under a plain prefix (the staff area) adds it; a mount with parameters would add
  // the values themselves, tokens included, so it shows as a placeholder instead.
  const base = req.baseUrl ?? '';
  return `${PLAIN_MOUNT.test(base) ? base : '/[mount]'}${path === '/' && base ? '' : path}`;
}

/**
 * The route a request matched, as its Express pattern (`/manage/:token`), never the path it used:
 * manage and rights links carry their credential in the path, and raw paths would make a label per
 * visitor. Static files, unknown paths and answers given before routing get a few fixed labels.
 */
export function routeLabel(req: IncomingMessage): string {
  const routed = pattern(req);
  if (routed !== null) {
    if (seen.has(routed)) return routed;
    if (seen.size < MAX_LABELS) {
      seen.add(routed);
      return routed;
    }
    return '(other)';
  }
  const url = (req as RoutedRequest).originalUrl ?? req.url ?? '';
  if (url.startsWith('/static/')) return '/static/*';
  if (url.startsWith('/staff/static/')) return '/staff/static/*';
  return '(no route)';
}
