import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { getPage } from '../helpers/hosted-pages.js';

const SITE_NAME = 'The Harbour Gazette';
let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime({ site: { name: SITE_NAME } });
});
after(() => runtime.stop());

function checkout(interval: 'once' | 'month') {
  return {
    checkoutId: new mongoose.Types.ObjectId().toHexString(),
    plan: { id: interval === 'once' ? 'contributor' : 'monthly-supporter', name: 'Support', interval },
    amount: { amountMinor: 500, currency: 'USD' },
    email: 'reader@example.com',
    description: `Monthly support of $5.00 for ${SITE_NAME}`,
    returnUrl: 'http://localhost:3000/donate/return/stripe',
    cancelUrl: 'http://localhost:3000/donate/cancelled',
  } as const;
}

describe('simulator hosted pages', () => {
  for (const provider of ['stripe', 'paypal'] as const) {
    for (const interval of ['once', 'month'] as const) {
      test(`name the publication from the configuration on ${provider}'s ${interval === 'once' ? 'one-off' : 'monthly'} page`, async () => {
        const start = await runtime.payments.providers[provider]!.startCheckout(checkout(interval));
        const page = await getPage(start.redirectUrl);
        assert.equal(page.status, 200);
        assert.match(page.html, new RegExp(SITE_NAME));
        assert.doesNotMatch(page.html, /Readerfund/);
        assert.match(page.html, /Monthly support of \$5\.00 for/, 'the line item says what the reader gives');
      });
    }
  }
});
