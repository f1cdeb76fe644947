/**
 * What the run's PayPal events refer to must exist at the (simulated) provider, as it would at
 * PayPal: the billing plans whose price a subscription's activation is read from, and approved
 * orders whose payer a capture's webhook points at. Made through the simulator's public API and
 * hosted page, as the app and a reader would.
 */
import { decimal, type PayPalPlanNeed, type PlannedPayment } from './scenario.js';

async function token(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/oauth2/token`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from('reliability-run:secret').toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  if (!res.ok) throw new Error(`simulator token: ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function post(baseUrl: string, bearer: string, path: string, body: unknown): Promise<{ id: string }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string };
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function provisionPayPal(
  baseUrl: string,
  plans: PayPalPlanNeed[],
  payments: PlannedPayment[],
): Promise<{ planIds: Map<string, string>; orderIds: Map<string, string> }> {
  const bearer = await token(baseUrl);
  const product = await post(baseUrl, bearer, '/v1/catalogs/products', {
    name: 'Monthly support',
    type: 'SERVICE',
  });
  const planIds = new Map<string, string>();
  for (const plan of plans) {
    const created = await post(baseUrl, bearer, '/v1/billing/plans', {
      product_id: product.id,
      name: `Monthly support ${plan.key}`,
      billing_cycles: [
        {
          tenure_type: 'REGULAR',
          sequence: 1,
          total_cycles: 0,
          frequency: { interval_unit: 'MONTH', interval_count: 1 },
          pricing_scheme: {
            fixed_price: { currency_code: plan.currency, value: decimal(plan.amountMinor, plan.currency) },
          },
        },
      ],
    });
    planIds.set(plan.key, created.id);
  }
  const orderIds = new Map<string, string>();
  const withOrders = payments.filter((p) => p.order && p.orderId);
  await inParallel(withOrders, 8, async (p) => {
    const order = await post(baseUrl, bearer, '/v2/checkout/orders', {
      intent: 'CAPTURE',
      purchase_units: [{ amount: { currency_code: p.currency, value: decimal(p.amountMinor, p.currency) } }],
    });
    const approved = await fetch(`${baseUrl}/checkoutnow`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: order.id, email: p.order!.email }),
      redirect: 'manual',
    });
    await approved.arrayBuffer();
    if (approved.status >= 400) throw new Error(`simulator approval: ${approved.status}`);
    orderIds.set(p.orderId!, order.id);
  });
  return { planIds, orderIds };
}
