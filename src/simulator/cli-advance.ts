/**
 * Moves a running payment simulator's test clock forward, billing the next period of every active
 * subscription: `npm run simulator:advance -- --days 31 [--fail] [--url http://127.0.0.1:12111]`.
 */
// First: fills process.env from .env (SIMULATOR_STRIPE_PORT, say), as for the app.
import '../load-env.js';
import { parseArgs } from 'node:util';

const usage = `Usage: npm run simulator:advance -- [--days N] [--fail] [--url URL]

  --days N   days to move the simulator's clock forward (default 31)
  --fail     fail every renewal billed by this step
  --url URL  the simulator's Stripe-side base URL (default $STRIPE_API_BASE, or
             http://127.0.0.1:$SIMULATOR_STRIPE_PORT, or http://127.0.0.1:12111)`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        days: { type: 'string', default: '31' },
        fail: { type: 'boolean', default: false },
        url: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    console.error(usage);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const days = Number(values.days);
  if (!Number.isFinite(days) || days <= 0) {
    console.error(`--days must be a positive number, got "${values.days}"`);
    return 2;
  }
  const port = process.env.SIMULATOR_STRIPE_PORT || '12111';
  const base = (values.url ?? process.env.STRIPE_API_BASE ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}/_simulator/advance`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ days, failRenewals: values.fail }),
    });
  } catch (err) {
    console.error(
      `Could not reach the payment simulator at ${base}: ${err instanceof Error ? err.message : String(err)}`,
    );
    console.error('Is the app running with PAYMENTS_MODE=simulator?');
    return 1;
  }
  const body = (await res.json().catch(() => ({}))) as { ok?: boolean; now?: string; error?: string };
  if (!res.ok || !body.ok) {
    console.error(`The simulator refused: ${body.error ?? res.statusText}`);
    return 1;
  }
  console.log(
    `Simulator clock advanced by ${days} day(s)${values.fail ? ', renewals failed' : ''}; simulated now: ${body.now}`,
  );
  return 0;
}

process.exitCode = await main();
