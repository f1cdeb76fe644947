import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingMail } from '../../src/supporters/mailer.js';
import { Donation } from '../helpers/ledger.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';

let runtime: Runtime;
const sent: OutgoingMail[] = [];
let failuresLeft = 1;

before(async () => {
  runtime = await startTestRuntime(
    {},
    {
      backgroundJobs: false,
      mailer: {
        async send(mail) {
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('SMTP server said 421 try again later');
          }
          sent.push(mail);
        },
        describe: () => 'flaky test mailer',
      },
    },
  );
});
after(() => runtime.stop());

test('records the payment even when the receipt email fails, and sends it on a later attempt', async () => {
  const outcome = await runtime.ledger.apply({
    type: 'payment.succeeded',
    provider: 'paypal',
    paymentId: 'CAPTURE-RECEIPT-1',
    amount: { amountMinor: 1500, currency: 'USD' },
    kind: 'one_off',
    occurredAt: new Date(),
    payer: { email: 'receipt@example.com', name: 'Rosa' },
  });
  assert.equal(outcome.result, 'applied');

  assert.equal(await runtime.receipts.sweep(), 0);
  let donation = await Donation.findOne({ providerPaymentId: 'CAPTURE-RECEIPT-1' }).lean();
  assert.equal(donation?.status, 'succeeded');
  assert.equal(donation?.receipt?.status, 'pending');
  assert.match(donation?.receipt?.lastError ?? '', /421/);
  assert.ok(donation.receipt.nextAttemptAt! > new Date(), 'the retry waits for its backoff');

  // Time passes: the retry is due.
  await Donation.updateOne({ _id: donation._id }, { $set: { 'receipt.nextAttemptAt': new Date() } });
  assert.equal(await runtime.receipts.sweep(), 1);
  donation = await Donation.findById(donation._id).lean();
  assert.equal(donation?.receipt?.status, 'sent');
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.to, 'receipt@example.com');
  assert.match(sent[0]!.text, /Amount:\s+\$15\.00/);
  assert.equal(await runtime.receipts.sweep(), 0, 'a sent receipt is not sent again');
});

test('never pastes a payer-supplied name with a link or a line break into a receipt, and keeps a plain one', async () => {
  const pay = (paymentId: string, email: string, name: string) =>
    runtime.ledger.apply({
      type: 'payment.succeeded',
      provider: 'stripe',
      paymentId,
      amount: { amountMinor: 500, currency: 'USD' },
      kind: 'one_off',
      occurredAt: new Date(),
      payer: { email, name },
    });
  await pay(
    'pi_receipt_hostile_name',
    'victim@example.com',
    'Your account is locked\nVisit http://phish.example/login',
  );
  await pay('pi_receipt_plain', 'plain@example.com', 'Rosa Parks');
  await Donation.updateMany({}, { $set: { 'receipt.nextAttemptAt': new Date() } });
  await runtime.receipts.sweep();
  const toVictim = sent.find((m) => m.to === 'victim@example.com');
  assert.ok(toVictim, 'a receipt was sent');
  for (const body of [toVictim.text, toVictim.html ?? '']) {
    assert.doesNotMatch(body, /phish/);
    assert.doesNotMatch(body, /account is locked/);
  }
  const toRosa = sent.find((m) => m.to === 'plain@example.com');
  assert.match(toRosa!.text, /^Thank you, Rosa Parks\./);
});
