import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { safeNext } from '../../src/staff/forms.js';
import { createInvitationSigner } from '../../src/staff/invitations.js';
import { passwordProblem, verifyPassword, hashPassword } from '../../src/staff/passwords.js';
import { userAgentFamily } from '../../src/staff/request-context.js';
import {
  createSecretBox,
  newRecoveryCodes,
  newTotpSecret,
  normaliseRecoveryCode,
  totpCode,
  totpStep,
} from '../../src/staff/second-factor.js';

describe('Password rules', () => {
  it('asks for 12 characters and refuses common passwords whatever their case, and the email itself', () => {
    assert.match(passwordProblem('elevenchars')!, /at least 12/);
    assert.match(passwordProblem('PassWord1234')!, /most common/);
    assert.match(passwordProblem('aaaaaaaaaaaaaaaa')!, /most common/);
    assert.match(passwordProblem('finance@news.example', 'Finance@news.example')!, /not be the email/);
    assert.equal(passwordProblem('correct lantern 42 harbour'), null);
  });

  it('verifies an argon2id hash, and never accepts anything against a missing hash', async () => {
    const stored = await hashPassword('correct lantern 42 harbour');
    assert.equal(await verifyPassword(stored, 'correct lantern 42 harbour'), true);
    assert.equal(await verifyPassword(stored, 'correct lantern 42 harbor'), false);
    assert.equal(await verifyPassword(undefined, 'correct lantern 42 harbour'), false);
  });
});

describe('Where to go after sign-in', () => {
  it('keeps staff paths of this site and turns everything else into /staff', () => {
    assert.equal(
      safeNext('/staff/reports?from=2026-01-01&tz=Europe%2FParis'),
      '/staff/reports?from=2026-01-01&tz=Europe%2FParis',
    );
    assert.equal(safeNext('/staff'), '/staff');
    for (const bad of [
      'https://evil.example/staff',
      '//evil.example/staff',
      '/staff/../manage/x',
      '/staffing',
      '/\\evil.example',
      '/staff/\nSet-Cookie',
      '/staff/login?next=/staff',
      'javascript:alert(1)',
      ['/staff/a', '/staff/b'],
      undefined,
    ]) {
      assert.equal(safeNext(bad), '/staff', String(bad));
    }
  });
});

describe('Second factor', () => {
  it('accepts the current code and the previous one, and names the time step they belong to', () => {
    const secret = newTotpSecret();
    const now = new Date('2026-05-04T10:00:15Z');
    const step = Math.floor(now.getTime() / 30_000);
    assert.equal(totpStep(secret, totpCode(secret, now), now), step);
    const earlier = new Date(now.getTime() - 30_000);
    assert.equal(totpStep(secret, totpCode(secret, earlier), now), step - 1);
    const stale = new Date(now.getTime() - 120_000);
    assert.equal(totpStep(secret, totpCode(secret, stale), now), null);
    assert.equal(totpStep(secret, 'abcdef', now), null);
  });

  it('makes ten distinct recovery codes and reads them back however they are typed', () => {
    const codes = newRecoveryCodes();
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) assert.match(code, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
    const code = codes[0]!;
    assert.equal(normaliseRecoveryCode(` ${code.toUpperCase().replace(/-/g, ' ')} `), code);
    assert.equal(normaliseRecoveryCode('not a code'), null);
  });

  it('seals a secret so that only the same key opens it, and an altered seal fails', () => {
    const box = createSecretBox('k'.repeat(40));
    const sealed = box.seal('JBSWY3DPEHPK3PXP');
    assert.doesNotMatch(sealed, /JBSWY3DPEHPK3PXP/);
    assert.equal(box.open(sealed), 'JBSWY3DPEHPK3PXP');
    assert.throws(() => createSecretBox('x'.repeat(40)).open(sealed));
    assert.throws(() => box.open(`${sealed.slice(0, -2)}AA`));
  });
});

describe('Invitation tokens', () => {
  it('reads back what it signed and nothing signed with another secret', () => {
    const signer = createInvitationSigner('s'.repeat(40));
    const expires = new Date('2026-06-01T00:00:00Z');
    const { token, nonceHash } = signer.issue('0123456789abcdef01234567', expires);
    assert.deepEqual(signer.read(token), {
      accountId: '0123456789abcdef01234567',
      expiresAt: expires,
      nonceHash,
    });
    assert.equal(createInvitationSigner('t'.repeat(40)).read(token), null);
  });
});

describe('User-agent family', () => {
  it('names the browser and system without keeping the full string', () => {
    assert.equal(
      userAgentFamily(
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      ),
      'Safari on macOS',
    );
    assert.equal(userAgentFamily('curl/8.5.0'), 'other');
    assert.equal(userAgentFamily(undefined), undefined);
  });
});
