import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDonationPanel } from '../../src/donations/panel.js';
import { DonationInputError, presetAmounts, resolveDonation } from '../../src/donations/plans.js';
import { formatMoney, toMajorUnitsString } from '../../src/payments/money.js';
import { testConfig } from '../helpers/runtime.js';

const checkedLabels = (plan: { display: { presets: Array<{ label: string; checked: boolean }> } }) =>
  plan.display.presets.filter((p) => p.checked).map((p) => p.label);

/** The refusal resolveDonation gives for a form, or a failure when it accepts it. */
function refusal(body: Record<string, string>): DonationInputError {
  try {
    resolveDonation(testConfig(), body);
  } catch (err) {
    if (err instanceof DonationInputError) return err;
    throw err;
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

describe('donation panel', () => {
  it('offers each plan its configured presets, the default one selected, and "Other" not selected', () => {
    const [contributor, monthly] = buildDonationPanel(testConfig()).plans;
    assert.equal(contributor?.id, 'contributor');
    assert.deepEqual(
      contributor?.display.presets.map((p) => [p.label, p.value]),
      [
        ['$5', '5.00'],
        ['$10', '10.00'],
        ['$20', '20.00'],
      ],
    );
    assert.deepEqual(checkedLabels(contributor), ['$5']);
    assert.equal(contributor?.display.other.checked, false);
    assert.equal(contributor?.display.other.amount, '');
    assert.equal(contributor?.display.minFormatted, '$1');
    assert.equal(contributor?.display.maxFormatted, '$1,000');
    assert.equal(monthly?.display.minFormatted, '$2');
    assert.equal(monthly?.display.maxFormatted, '$500');
  });

  it('speaks of gifts, not invoices, and says plainly what monthly means', () => {
    const [contributor, monthly] = buildDonationPanel(testConfig()).plans;
    assert.equal(contributor?.display.cadence, 'once');
    assert.equal(monthly?.display.cadence, 'each month');
    assert.match(monthly.display.terms, /charged today and then on the same day each month/);
    assert.match(monthly.display.terms, /Cancel any time, from the link in every receipt/);
    for (const plan of [contributor, monthly]) {
      assert.doesNotMatch(JSON.stringify(plan.display), /Billed|invoice/i);
    }
  });

  it('lists the providers in the same order in every plan, each once', () => {
    const config = testConfig();
    assert.deepEqual(
      config.donations.plans.map((p) => p.providers),
      [
        ['stripe', 'paypal'],
        ['paypal', 'stripe'],
      ],
      'configured in different orders',
    );
    const [contributor, monthly] = buildDonationPanel(config).plans;
    assert.deepEqual(contributor?.display.providers, [
      { id: 'stripe', label: 'Card' },
      { id: 'paypal', label: 'PayPal' },
    ]);
    assert.deepEqual(monthly?.display.providers, contributor?.display.providers);
  });

  it('leaves card out of monthly plans when Stripe subscriptions are disabled', () => {
    const panel = buildDonationPanel(testConfig({ payments: { stripe: { subscriptionsEnabled: false } } }));
    const monthly = panel.plans.find((p) => p.interval === 'month');
    assert.deepEqual(monthly?.providers, ['paypal']);
    assert.deepEqual(panel.plans.find((p) => p.interval === 'once')?.providers, ['stripe', 'paypal']);
  });

  it('offers the default amount alone when a plan configures no presets', () => {
    const config = testConfig();
    const plans = config.donations.plans.map((p, i) =>
      i === 0 ? { ...p, presetAmountsMinor: [], defaultAmountMinor: 700 } : p,
    );
    const custom = testConfig({ donations: { plans } });
    assert.deepEqual(presetAmounts(custom.donations.plans[0]!), [700]);
    const [contributor] = buildDonationPanel(custom).plans;
    assert.deepEqual(
      contributor?.display.presets.map((p) => [p.label, p.checked]),
      [['$7', true]],
    );
  });

  it('keeps a refused "Other" amount, selected, with its message in that plan only', () => {
    const error = refusal({
      plan: 'monthly-supporter',
      provider: 'stripe',
      amount: 'other',
      otherAmount: '0.50',
    });
    assert.match(error.message, /from \$2\.00 to \$500\.00/);
    const panel = buildDonationPanel(testConfig(), { error: error.message, values: error.values });
    const [contributor, monthly] = panel.plans;
    assert.equal(monthly?.display.error, error.message);
    assert.equal(monthly?.display.other.checked, true);
    assert.equal(monthly?.display.other.amount, '0.50');
    assert.equal(monthly?.display.other.invalid, true);
    assert.deepEqual(checkedLabels(monthly), []);
    assert.equal(panel.errorAbovePlans, false);
    assert.equal(contributor?.display.error, '');
    assert.deepEqual(checkedLabels(contributor), ['$5'], 'the other plan is as it was');
  });

  it('keeps a chosen preset after a refusal for something else', () => {
    const panel = buildDonationPanel(testConfig(), {
      error: 'Contributor is offered in USD only.',
      values: { plan: 'contributor', provider: 'paypal', amount: '20.00', currency: 'EUR' },
    });
    const contributor = panel.plans[0]!;
    assert.deepEqual(checkedLabels(contributor), ['$20']);
    assert.equal(contributor.display.other.checked, false);
    assert.equal(contributor.display.other.invalid, false);
    assert.equal(contributor.display.currency, 'USD', 'a currency the plan does not offer is not shown');
  });

  it('shows an amount that matches no preset as the "Other" amount', () => {
    const panel = buildDonationPanel(testConfig(), {
      error: 'x',
      values: { plan: 'contributor', provider: 'stripe', amount: '7' },
    });
    assert.deepEqual(checkedLabels(panel.plans[0]!), []);
    assert.equal(panel.plans[0]?.display.other.checked, true);
    assert.equal(panel.plans[0]?.display.other.amount, '7');
  });

  it('puts an error that belongs to no plan above the plans', () => {
    const panel = buildDonationPanel(testConfig(), {
      error: 'Too many attempts in a short time.',
      values: {},
    });
    assert.equal(panel.errorAbovePlans, true);
    assert.ok(panel.plans.every((p) => p.display.error === ''));
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

describe('the amount a reader chose', () => {
  const config = testConfig();
  const amountOf = (body: Record<string, string>) => resolveDonation(config, body).amount;

  it('is the preset chosen', () => {
    assert.deepEqual(amountOf({ plan: 'contributor', provider: 'stripe', amount: '10.00' }), {
      amountMinor: 1000,
      currency: 'USD',
    });
  });

  it('is what was typed beside "Other", in the forms readers write amounts', () => {
    for (const typed of ['15', '15.00', '$15', ' 15 ']) {
      assert.equal(
        amountOf({ plan: 'contributor', provider: 'paypal', amount: 'other', otherAmount: typed })
          .amountMinor,
        1500,
        typed,
      );
    }
    assert.equal(
      amountOf({ plan: 'contributor', provider: 'paypal', amount: 'other', otherAmount: '1,000' })
        .amountMinor,
      100000,
    );
  });

  it('is the preset when a preset is chosen, whatever was left in the hidden "Other" input', () => {
    assert.equal(
      amountOf({ plan: 'contributor', provider: 'stripe', amount: '20.00', otherAmount: '15' }).amountMinor,
      2000,
    );
  });

  it('is the default when no amount was sent at all', () => {
    assert.equal(amountOf({ plan: 'contributor', provider: 'stripe' }).amountMinor, 500);
    assert.equal(amountOf({ plan: 'contributor', provider: 'stripe', amount: '' }).amountMinor, 500);
  });

  it('is refused, with the plan’s bounds, when "Other" is chosen and nothing typed', () => {
    const error = refusal({ plan: 'contributor', provider: 'stripe', amount: 'other', otherAmount: '' });
    assert.match(
      error.message,
      /Please enter the amount you would like to give, from \$1\.00 to \$1,000\.00/,
    );
    assert.equal(error.values.amount, 'other');
  });

  it('is refused outside the plan’s bounds and when it is not a number', () => {
    assert.match(
      refusal({ plan: 'monthly-supporter', provider: 'paypal', amount: 'other', otherAmount: '501' }).message,
      /from \$2\.00 to \$500\.00/,
    );
    assert.match(
      refusal({ plan: 'contributor', provider: 'paypal', amount: 'other', otherAmount: 'ten' }).message,
      /as a number/,
    );
    assert.match(
      refusal({ plan: 'contributor', provider: 'paypal', amount: 'other', otherAmount: '5.001' }).message,
      /as a number/,
    );
  });
});

describe('preset configuration', () => {
  const withPresets = (presetAmountsMinor: number[]) => {
    const plans = testConfig().donations.plans.map((p, i) => (i === 0 ? { ...p, presetAmountsMinor } : p));
    return () => testConfig({ donations: { plans } });
  };

  it('refuses a preset outside the plan’s bounds, naming the key', () => {
    assert.throws(withPresets([500, 200000]), /donations\.plans\.0\.presetAmountsMinor/);
  });

  it('refuses presets that leave out the default amount', () => {
    assert.throws(withPresets([1000, 2000]), /must include defaultAmountMinor/);
  });

  it('refuses the same preset twice', () => {
    assert.throws(withPresets([500, 500, 1000]), /same amount twice/);
  });
});
