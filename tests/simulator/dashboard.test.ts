import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(() => h.stop());

async function now(): Promise<string> {
  const state = (await (await fetch(`${h.sim.stripe.baseUrl}/_simulator/state`)).json()) as { now: string };
  return state.now;
}

function advance(headers: Record<string, string>) {
  return fetch(`${h.sim.stripe.baseUrl}/_simulator/advance`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: 'days=31',
  });
}

describe('simulator dashboard', () => {
  test('refuses a form posted from another site and leaves the clock where it was', async () => {
    const before = await now();
    const foreign: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:1' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
    ];
    for (const headers of foreign) {
      const res = await advance(headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.match(await res.text(), /only accepts forms sent from its own pages/);
    }
    assert.equal((await now()).slice(0, 10), before.slice(0, 10));
  });

  test('accepts the dashboard’s own forms and command-line clients', async () => {
    const before = Date.parse(await now());
    const own = await advance({ 'sec-fetch-site': 'same-origin', origin: h.sim.stripe.baseUrl });
    assert.equal(own.status, 303);
    const cli = await advance({});
    assert.equal(cli.status, 303);
    assert.ok(Date.parse(await now()) - before >= 61 * 86_400_000);
  });
});
