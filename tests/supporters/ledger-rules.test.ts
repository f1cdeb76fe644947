import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PaymentDisputed, PaymentRefunded } from '../../src/payments/types.js';
import {
  applyDispute,
  applyRefund,
  diffMrrMovements,
  moveSubscription,
  mrrMovements,
  nameIsSafeForMessages,
  normalisePayer,
  type PaymentState,
  type SubscriptionState,
} from '../../src/supporters/ledger-rules.js';

const at = (day: number) => new Date(Date.UTC(2026, 10, day, 12));

function payment(overrides: Partial<PaymentState> = {}): PaymentState {
  return {
    provider: 'stripe',
    paymentId: 'pi_1',
    amountMinor: 1000,
    currency: 'USD',
    refundedMinor: 0,
    lostMinor: 0,
    refunds: [],
    disputes: [],
    ...overrides,
  };
}

const refund = (overrides: Partial<PaymentRefunded>): PaymentRefunded => ({
  type: 'payment.refunded',
  provider: 'stripe',
  paymentId: 'pi_1',
  occurredAt: at(2),
  ...overrides,
});

const dispute = (
  status: PaymentDisputed['status'],
  day: number,
  overrides: Partial<PaymentDisputed> = {},
): PaymentDisputed => ({
  type: 'payment.disputed',
  provider: 'stripe',
  paymentId: 'pi_1',
  disputeId: 'dp_1',
  status,
  occurredAt: at(day),
  amount: { amountMinor: 1000, currency: 'USD' },
  ...overrides,
});

/** Applies facts in order, as the ledger would, and returns the final state and all movements. */
function replay(start: PaymentState, facts: Array<PaymentDisputed | PaymentRefunded>) {
  let state: PaymentState & { status?: string } = start;
  const movements = [];
  for (const fact of facts) {
    const change = fact.type === 'payment.refunded' ? applyRefund(state, fact) : applyDispute(state, fact);
    if (!change) continue;
    movements.push(...change.movements);
    state = { ...state, ...change };
  }
  return { state, movements, net: movements.reduce((sum, m) => sum + m.amountMinor, 0) };
}

describe('ledger rules: refunds', () => {
  test('a running refund total only ever grows, and each step is one movement of the difference', () => {
    const { state, movements } = replay(payment(), [
      refund({ refundedTotal: { amountMinor: 300, currency: 'USD' } }),
      refund({ refundedTotal: { amountMinor: 300, currency: 'USD' } }),
      refund({ refundedTotal: { amountMinor: 200, currency: 'USD' } }),
      refund({ refundedTotal: { amountMinor: 1000, currency: 'USD' } }),
    ]);
    assert.deepEqual(
      movements.map((m) => m.amountMinor),
      [-300, -700],
    );
    assert.equal(state.refundedMinor, 1000);
    assert.equal(state.status, 'refunded');
  });

  test('individual refunds count once each by id and never exceed what was paid', () => {
    const r = (id: string, amountMinor: number) =>
      refund({ refund: { id, amount: { amountMinor, currency: 'USD' } } });
    const { state, net } = replay(payment(), [r('R1', 600), r('R1', 600), r('R2', 600)]);
    assert.equal(net, -1000);
    assert.equal(state.refunds.length, 2);
  });

  test('nothing is refunded beyond what a lost dispute left', () => {
    const { state, net } = replay(payment(), [
      dispute('lost', 3, { amount: { amountMinor: 700, currency: 'USD' } }),
      refund({ refundedTotal: { amountMinor: 1000, currency: 'USD' } }),
    ]);
    assert.equal(net, -1000);
    assert.equal(state.refundedMinor, 300);
  });
});

describe('ledger rules: disputes (Stripe disputes docs; PayPal reversals)', () => {
  test('a lost dispute takes the money out, and a later win brings it back', () => {
    const lost = replay(payment(), [dispute('open', 1), dispute('lost', 5)]);
    assert.equal(lost.net, -1000);
    assert.equal(lost.state.status, 'dispute_lost');
    const reversed = replay(lost.state, [dispute('won', 9)]);
    assert.deepEqual(
      reversed.movements.map((m) => [m.type, m.amountMinor]),
      [['dispute_reversal', 1000]],
    );
    assert.equal(reversed.state.status, 'succeeded');
  });

  test('an inquiry that closes (warning_closed) moves no money', () => {
    const { state, movements } = replay(payment(), [dispute('open', 1), dispute('closed', 4)]);
    assert.deepEqual(movements, []);
    assert.equal(state.status, 'succeeded');
  });

  test('a decided dispute never reopens, whatever order the events come in', () => {
    const { state, net } = replay(payment(), [dispute('lost', 5), dispute('open', 1)]);
    assert.equal(net, -1000);
    assert.equal(state.disputes[0]!.status, 'lost');
  });

  test('of two decisions the later stands, in either order of arrival', () => {
    const inOrder = replay(payment(), [dispute('lost', 5), dispute('won', 9)]);
    const reversed = replay(payment(), [dispute('won', 9), dispute('lost', 5)]);
    assert.equal(inOrder.net, 0);
    assert.equal(reversed.net, 0);
    assert.equal(inOrder.state.disputes[0]!.status, 'won');
    assert.equal(reversed.state.disputes[0]!.status, 'won');
  });

  test('a won dispute with no loss recorded moves nothing', () => {
    assert.deepEqual(replay(payment(), [dispute('open', 1), dispute('won', 4)]).movements, []);
  });
});

describe('ledger rules: subscriptions only move forward', () => {
  const base = (): SubscriptionState =>
    moveSubscription(null, {
      status: 'active',
      at: at(1),
      amount: { amountMinor: 500, currency: 'USD' },
      planId: 'monthly-supporter',
      currentPeriodEnd: at(31),
    })!;

  test('an older event never moves the paid period back, unsets the plan or resurrects a cancelled subscription', () => {
    const cancelled = moveSubscription(base(), { status: 'cancelled', at: at(10) })!;
    const older = moveSubscription(cancelled, {
      status: 'active',
      at: at(5),
      planId: 'unknown',
      currentPeriodEnd: at(20),
    });
    assert.equal(older, null);
    assert.equal(cancelled.planId, 'monthly-supporter');
    assert.deepEqual(cancelled.currentPeriodEnd, at(31));
  });

  test('past due then paid again is active (status by time within the same rank)', () => {
    const pastDue = moveSubscription(base(), { status: 'past_due', at: at(31) })!;
    assert.equal(pastDue.status, 'past_due');
    const paid = moveSubscription(pastDue, { status: 'active', at: at(33) })!;
    assert.equal(paid.status, 'active');
    assert.equal(
      moveSubscription(paid, { status: 'past_due', at: at(32) }),
      null,
      'an older failure is ignored',
    );
  });

  test('a reactivated (suspended → active) subscription is active', () => {
    const suspended = moveSubscription(base(), { status: 'suspended', at: at(40) })!;
    assert.equal(moveSubscription(suspended, { status: 'active', at: at(41) })!.status, 'active');
  });
});

describe('ledger rules: MRR movements (ChartMogul definitions)', () => {
  const grace = { pastDueGraceDays: 14 };
  const start = () =>
    moveSubscription(null, { status: 'active', at: at(1), amount: { amountMinor: 500, currency: 'USD' } })!;

  test('new, expansion, contraction, then churn on the day a scheduled cancellation takes effect', () => {
    let s = start();
    s = moveSubscription(s, { status: 'active', at: at(3), amount: { amountMinor: 800, currency: 'USD' } })!;
    s = moveSubscription(s, { status: 'active', at: at(5), amount: { amountMinor: 600, currency: 'USD' } })!;
    s = moveSubscription(s, { status: 'active', at: at(7), endsAt: at(30) })!;
    const moves = mrrMovements(s.history, grace);
    assert.deepEqual(
      moves.map((m) => [m.type, m.deltaMinor, m.at.toISOString().slice(0, 10)]),
      [
        ['new', 500, '2026-11-01'],
        ['expansion', 300, '2026-11-03'],
        ['contraction', -200, '2026-11-05'],
        ['churn', -600, '2026-11-30'],
      ],
    );
  });

  test('an undone scheduled cancellation leaves no churn, and the diff takes the recorded one back', () => {
    let s = moveSubscription(start(), { status: 'active', at: at(7), endsAt: at(30) })!;
    const scheduled = diffMrrMovements([], mrrMovements(s.history, grace), 'v1');
    s = moveSubscription(s, { status: 'active', at: at(8), endsAt: null })!;
    const undone = diffMrrMovements(scheduled.active, mrrMovements(s.history, grace), 'v2');
    assert.deepEqual(
      undone.write.map((m) => [m.type, m.deltaMinor, !!m.undoes]),
      [['churn', 500, true]],
    );
    assert.deepEqual(
      undone.active.map((m) => m.type),
      ['new'],
    );
  });

  test('past due beyond the grace period is involuntary churn; paying later is a recovered reactivation', () => {
    let s = moveSubscription(start(), { status: 'past_due', at: at(2) })!;
    s = moveSubscription(s, { status: 'active', at: at(25) })!;
    const moves = mrrMovements(s.history, grace);
    assert.deepEqual(
      moves.map((m) => [m.type, m.deltaMinor, m.involuntary ?? false, m.at.toISOString().slice(0, 10)]),
      [
        ['new', 500, false, '2026-11-01'],
        ['churn', -500, true, '2026-11-16'],
        ['reactivation', 500, true, '2026-11-25'],
      ],
    );
  });

  test('past due and paid within the grace period moves no MRR', () => {
    let s = moveSubscription(start(), { status: 'past_due', at: at(2) })!;
    s = moveSubscription(s, { status: 'active', at: at(6) })!;
    assert.deepEqual(
      mrrMovements(s.history, grace).map((m) => m.type),
      ['new'],
    );
  });
});

describe('ledger rules: payer text from providers', () => {
  test('names become one bounded line and emails are validated', () => {
    const payer = normalisePayer({
      name: 'Eve\nVisit http://phish.example\r\n now' + 'x'.repeat(200),
      email: ' Not An Email ',
      customerId: 'cus_123',
    });
    assert.equal(payer.email, undefined);
    assert.ok(!payer.name!.includes('\n'));
    assert.ok(payer.name!.length <= 80);
    assert.equal(payer.customerId, 'cus_123');
    assert.equal(nameIsSafeForMessages(payer.name), false);
    assert.equal(nameIsSafeForMessages('Rosa Luxemburg'), true);
    assert.equal(normalisePayer({ email: 'Reader@Example.COM' }).email, 'reader@example.com');
  });
});
