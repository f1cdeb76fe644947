import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newSimulatorSecrets } from '../../src/payments/index.js';
import type { Runtime } from '../../src/runtime.js';
import { startPaymentSimulator } from '../../src/simulator/index.js';
import { Donation } from '../helpers/ledger.js';
import { startTestRuntime } from '../helpers/runtime.js';
import { deliverStripe, paidSession, stripeEvent, uid } from '../webhooks/helpers.js';

/** The Stripe webhook secret that was a constant in the source (and so known to anyone). */
const PUBLISHED_SECRET = 'whsec_readerfund_simulator';

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime();
});
after(() => runtime.stop());

describe('simulator secrets', () => {
  test('refuses a $1,000 paid checkout webhook signed with the secret once published in the source', async () => {
    const paymentIntent = `pi_${uid()}`;
    const forged = stripeEvent(
      'checkout.session.completed',
      paidSession({ paymentIntent, amountMinor: 100_000, email: 'victim@example.com' }),
    );
    const res = await deliverStripe(runtime.app, forged, PUBLISHED_SECRET);
    assert.equal(res.status, 400);
    assert.equal(await Donation.countDocuments({ providerPaymentId: paymentIntent }), 0);
  });

  test('the app and its own simulator share a secret made for this process only', async () => {
    const { secrets } = runtime.payments.simulator!;
    assert.notEqual(secrets.stripeWebhookSecret, PUBLISHED_SECRET);
    assert.match(secrets.stripeWebhookSecret, /^whsec_[0-9a-f]{48}$/);
    const another = newSimulatorSecrets();
    for (const key of Object.keys(secrets) as Array<keyof typeof secrets>) {
      assert.notEqual(secrets[key], another[key], key);
    }
    const paymentIntent = `pi_${uid()}`;
    const genuine = stripeEvent('checkout.session.completed', paidSession({ paymentIntent }));
    assert.equal((await deliverStripe(runtime.app, genuine, secrets.stripeWebhookSecret)).status, 200);
  });

  for (const env of ['staging', 'prod']) {
    test(`the simulator refuses to start with NODE_ENV=${env}`, async () => {
      const previous = process.env.NODE_ENV;
      process.env.NODE_ENV = env;
      try {
        await assert.rejects(
          startPaymentSimulator({ stripeWebhookSecret: 'whsec_x', paypalWebhookId: 'WH-X' }),
          new RegExp(`NODE_ENV=${env}: it runs only when NODE_ENV is development or test`),
        );
      } finally {
        if (previous === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = previous;
      }
    });
  }
});
