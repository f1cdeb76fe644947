import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { messages, type StaffPrincipal } from '../../src/staff/service.js';
import { createStaff, csrfFrom, signedInAdmin, startStaffHarness, type StaffHarness } from './helpers.js';

let h: StaffHarness;
before(async () => {
  h = await startStaffHarness();
});
after(() => h.close());

const principal = (a: { id: string; email: string }): StaffPrincipal => ({
  id: a.id,
  email: a.email,
  name: '',
  role: 'admin',
  totpEnabled: true,
});

it('does not let the only active admin demote or disable themselves', async () => {
  const admin = await signedInAdmin(h);
  for (const [path, fields] of [
    [`/staff/users/${admin.id}/role`, { role: 'finance' }],
    [`/staff/users/${admin.id}/status`, { status: 'disabled' }],
  ] as const) {
    const page = await admin.agent.get('/staff/users').expect(200);
    const res = await admin.agent
      .post(path)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), ...fields })
      .expect(409);
    assert.match(res.text, /at least one active admin/);
  }
  const accounts = await h.staff.service.listAccounts();
  assert.deepEqual(
    accounts.filter((a) => a.id === admin.id).map((a) => [a.role, a.status]),
    [['admin', 'active']],
  );
  assert.deepEqual(await h.staff.service.listAccounts().then((all) => all.length), 1);
});

it('leaves exactly one admin when two admins demote each other at the same moment', async () => {
  const a = (await h.staff.service.listAccounts())[0]!;
  const b = await createStaff(h, 'admin', 'rival');
  const results = await Promise.allSettled([
    h.staff.service.changeRole(principal(a), b.id, 'finance', {}),
    h.staff.service.changeRole(principal(b), a.id, 'finance', {}),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(refused.reason.message, messages.lastAdmin);
  const admins = (await h.staff.service.listAccounts()).filter(
    (x) => x.role === 'admin' && x.status === 'active',
  );
  assert.equal(admins.length, 1);
});

it('leaves exactly one admin when two admins disable each other at the same moment', async () => {
  const a = (await h.staff.service.listAccounts()).find((x) => x.role === 'admin' && x.status === 'active')!;
  const b = await createStaff(h, 'admin', 'rival-two');
  const results = await Promise.allSettled([
    h.staff.service.setDisabled(principal(a), b.id, true, {}),
    h.staff.service.setDisabled(principal(b), a.id, true, {}),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const admins = (await h.staff.service.listAccounts()).filter(
    (x) => x.role === 'admin' && x.status === 'active',
  );
  assert.equal(admins.length, 1);
});
