import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connectStore, type Store } from '../../src/db/index.js';
import { createLogger } from '../../src/log.js';
import { createMongoPayPalPlanStore, PayPalPlan } from '../../src/payments/paypal/plan-store.js';

// Only the store: the embedded one in memory, or MONGODB_URI with a database of its own.
let store: Store;

before(async () => {
  store = await connectStore({
    uri: process.env.MONGODB_URI ?? '',
    embeddedPath: null,
    dbName: `readerfund_test_${randomUUID().slice(0, 8)}`,
    logger: createLogger({ level: 'silent' }),
  });
  await PayPalPlan.init();
});

after(async () => {
  await store.close();
});

describe('PayPal plan store', () => {
  test('finds nothing for a key it has not seen', async () => {
    assert.equal(await createMongoPayPalPlanStore().find('700:EUR:month'), null);
  });

  test('remembers a saved plan with its product', async () => {
    const store = createMongoPayPalPlanStore();
    assert.equal(await store.save('500:USD:month', 'P-FIRST', 'PROD-1'), 'P-FIRST');
    assert.equal(await store.find('500:USD:month'), 'P-FIRST');
    const doc = await PayPalPlan.findOne({ key: '500:USD:month' }).lean();
    assert.equal(doc?.productId, 'PROD-1');
    assert.ok(doc?.createdAt instanceof Date);
  });

  test('keeps the first plan when another is saved later for the same key', async () => {
    const store = createMongoPayPalPlanStore();
    await store.save('1000:USD:month', 'P-EARLY');
    assert.equal(await store.save('1000:USD:month', 'P-LATE'), 'P-EARLY');
    assert.equal(await store.find('1000:USD:month'), 'P-EARLY');
  });

  test('two processes racing end with one plan that both use', async () => {
    const [a, b] = [createMongoPayPalPlanStore(), createMongoPayPalPlanStore()];
    const results = await Promise.all([
      a.save('300:GBP:month', 'P-A'),
      b.save('300:GBP:month', 'P-B'),
      a.save('300:GBP:month', 'P-C'),
    ]);
    assert.equal(new Set(results).size, 1);
    assert.ok(['P-A', 'P-B', 'P-C'].includes(results[0] ?? ''));
    assert.equal(await PayPalPlan.countDocuments({ key: '300:GBP:month' }), 1);
  });
});
