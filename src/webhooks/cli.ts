/**
 * Operator tools for the webhook inbox:
 *   npm run webhooks -- list [--status failed|ignored|processed|received|processing] [--provider stripe|paypal] [--limit 50]
 *   npm run webhooks -- show <id|eventId>      the stored event with its raw payload
 *   npm run webhooks -- replay <id|eventId>    process a stored event again (harmless if already applied)
 */
// First: fills process.env from .env before the configuration is read.
import '../load-env.js';
import { parseArgs } from 'node:util';
import { webhookStatuses, type WebhookStatus } from './models.js';
import { CliError, openCliContext, runCli } from './cli-support.js';
import type { StoredEvent } from './repository.js';

const usage = `Usage:
  npm run webhooks -- list [--status <${webhookStatuses.join('|')}>] [--provider stripe|paypal] [--type <type>] [--limit N] [--json]
  npm run webhooks -- show <id|eventId>
  npm run webhooks -- replay <id|eventId>`;

function line(e: StoredEvent): string {
  const when = e.receivedAt.toISOString().replace('T', ' ').slice(0, 19);
  const error = e.lastError ? `  ${e.lastError.slice(0, 80)}` : '';
  return `${e.id}  ${when}  ${e.provider.padEnd(6)}  ${e.status.padEnd(10)}  ${String(e.attempts).padStart(2)}  ${e.eventId}  ${e.type}${error}`;
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      provider: { type: 'string' },
      type: { type: 'string' },
      limit: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, target] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return command ? 0 : 1;
  }
  if (values.status && !webhookStatuses.includes(values.status as WebhookStatus)) {
    throw new CliError(`--status must be one of ${webhookStatuses.join(', ')}`);
  }
  if (values.provider && !['stripe', 'paypal'].includes(values.provider)) {
    throw new CliError('--provider must be stripe or paypal');
  }
  if (command !== 'list' && !target) throw new CliError(`${command} needs an event: ${usage}`);
  if (!['list', 'show', 'replay'].includes(command)) throw new CliError(usage);

  const ctx = await openCliContext({ providers: command === 'replay' });
  try {
    if (command === 'list') {
      const events = await ctx.webhooks.list({
        ...(values.status ? { status: values.status as WebhookStatus } : {}),
        ...(values.provider ? { provider: values.provider as 'stripe' | 'paypal' } : {}),
        ...(values.type ? { type: values.type } : {}),
        limit: Number(values.limit) || 50,
      });
      if (values.json)
        console.log(
          JSON.stringify(
            events.map(({ rawBody: _raw, ...e }) => e),
            null,
            2,
          ),
        );
      else if (events.length === 0) console.log('No webhook events match.');
      else for (const e of events) console.log(line(e));
      return 0;
    }
    if (command === 'show') {
      const event = await ctx.webhooks.show(target!);
      if (!event) throw new CliError(`No webhook event ${target}.`);
      const { rawBody, ...rest } = event;
      console.log(JSON.stringify(rest, null, 2));
      console.log('--- raw payload ---');
      console.log(rawBody);
      return 0;
    }
    const result = await ctx.webhooks.replay(target!);
    if (!result) throw new CliError(`No webhook event ${target}.`);
    console.log(JSON.stringify(result, null, 2));
    return result.status === 'failed' || result.status === 'in_progress' ? 2 : 0;
  } finally {
    await ctx.close();
  }
}

runCli(main);
