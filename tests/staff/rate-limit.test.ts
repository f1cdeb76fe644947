import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { postLogin, startStaffHarness, uniqueEmail, type StaffHarness } from './helpers.js';

let h: StaffHarness;
before(async () => {
  h = await startStaffHarness({
    staff: { rateLimits: { signInPerIp: { points: 3, durationSeconds: 900 } } },
  });
});
after(() => h.close());

it('limits sign-in attempts per address (429) whatever the accounts tried', async () => {
  const statuses = [];
  for (let i = 0; i < 4; i += 1) {
    const res = await postLogin(request.agent(h.app), uniqueEmail(`probe${i}`), 'some password or other');
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 429]);
});
