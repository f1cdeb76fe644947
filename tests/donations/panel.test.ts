import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDonationPanel } from '../../src/donations/panel.js';
import { formatMoney, toMajorUnitsString } from '../../src/payments/money.js';
import { testConfig } from '../helpers/runtime.js';

describe('donation panel', () => {
  it('offers the default plans with their amounts, bounds and providers', () => {
    const panel = buildDonationPanel(testConfig());
    const [contributor, monthly] = panel.plans;
    assert.equal(contributor?.id, 'contributor');
    assert.equal(contributor?.display.defaultAmount, '$5');
    assert.equal(contributor?.display.min, '1.00');
    assert.equal(contributor?.display.max, '1000.00');
    assert.equal(contributor?.display.billing, 'Billed once');
    assert.deepEqual(contributor?.display.providers, [
      { id: 'stripe', label: 'Card' },
      { id: 'paypal', label: 'PayPal' },
    ]);
    assert.equal(monthly?.display.billing, 'Billed monthly');
    assert.deepEqual(monthly?.providers, ['paypal', 'stripe']);
  });

  it('leaves card out of monthly plans when Stripe subscriptions are disabled', () => {
    const panel = buildDonationPanel(testConfig({ payments: { stripe: { subscriptionsEnabled: false } } }));
    const monthly = panel.plans.find((p) => p.interval === 'month');
    assert.deepEqual(monthly?.providers, ['paypal']);
    assert.equal(monthly?.display.providerSummary, 'PayPal only');
    assert.deepEqual(panel.plans.find((p) => p.interval === 'once')?.providers, ['stripe', 'paypal']);
  });

  it('carries an error and the submitted values back to the plan they belong to', () => {
    const panel = buildDonationPanel(testConfig(), {
      error: 'Please enter an amount between $1 and $1,000.',
      values: { plan: 'contributor', provider: 'paypal', amount: '0.10', currency: 'USD' },
    });
    assert.equal(panel.error, 'Please enter an amount between $1 and $1,000.');
    assert.equal(panel.plans[0]?.display.amount, '0.10');
    assert.equal(panel.plans[0]?.display.provider, 'paypal');
    assert.equal(panel.plans[1]?.display.amount, '');
  });

  it('formats money from minor units, respecting zero-decimal currencies', () => {
    assert.equal(formatMoney(500, 'USD', 'en-US', { dropZeroDecimals: true }), '$5');
    assert.equal(formatMoney(550, 'USD', 'en-US', { dropZeroDecimals: true }), '$5.50');
    assert.equal(formatMoney(500, 'JPY', 'en-US', { dropZeroDecimals: true }), '¥500');
    assert.equal(toMajorUnitsString(100000, 'USD'), '1000.00');
    assert.equal(toMajorUnitsString(7, 'EUR'), '0.07');
    assert.equal(toMajorUnitsString(500, 'JPY'), '500');
  });
});
