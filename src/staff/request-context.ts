import type { Request } from 'express';
import Bowser from 'bowser';

/** Where a staff action came from, as the audit log records it. */
export interface RequestContext {
  ip?: string;
  /** "Chrome on Linux": enough to recognise a device, without keeping the whole user-agent string. */
  userAgentFamily?: string;
  requestId?: string;
}

export function userAgentFamily(userAgent: string | undefined): string | undefined {
  if (!userAgent) return undefined;
  const parsed = Bowser.parse(userAgent.slice(0, 512));
  const browser = parsed.browser.name;
  const os = parsed.os.name;
  if (!browser && !os) return 'other';
  return [browser ?? 'unknown browser', os ? `on ${os}` : ''].join(' ').trim().slice(0, 60);
}

export function requestContext(req: Request): RequestContext {
  const context: RequestContext = {};
  if (req.ip) context.ip = req.ip;
  const family = userAgentFamily(req.get('user-agent'));
  if (family) context.userAgentFamily = family;
  if (req.id) context.requestId = String(req.id);
  return context;
}
