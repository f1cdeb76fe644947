import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { certificateSerial, createPayPalSigningKey } from '../../src/simulator/signing.js';

/** Serials that used to come out as a zero byte before a byte below 0x80 (invalid DER). */
const edges = [
  Buffer.alloc(16, 0x00),
  Buffer.alloc(16, 0x80),
  Buffer.alloc(16, 0xff),
  Buffer.from('00' + '7f'.repeat(15), 'hex'),
];

describe('simulator signing certificate', () => {
  test('every serial is a positive DER integer without a leading zero byte', () => {
    for (const random of [...edges, ...Array.from({ length: 4096 }, () => randomBytes(16))]) {
      const serial = certificateSerial(random);
      assert.match(serial, /^[0-9a-f]{32}$/);
      const first = Number.parseInt(serial.slice(0, 2), 16);
      assert.ok(first >= 0x40 && first < 0x80, `serial ${serial} starts with ${first.toString(16)}`);
    }
  });

  test('certificates with edge-case serials parse in OpenSSL and keep their serial', async () => {
    // One key is enough: the serial is what varies, and signing with forge is quick.
    const keys = forge.pki.rsa.generateKeyPair({ bits: 1024 });
    for (const random of edges) {
      const serial = certificateSerial(random);
      const cert = forge.pki.createCertificate();
      cert.publicKey = keys.publicKey;
      cert.serialNumber = serial;
      cert.validity.notBefore = new Date(Date.now() - 60_000);
      cert.validity.notAfter = new Date(Date.now() + 60_000);
      cert.setSubject([{ shortName: 'CN', value: 'edge' }]);
      cert.setIssuer([{ shortName: 'CN', value: 'edge' }]);
      cert.sign(keys.privateKey, forge.md.sha256.create());
      const parsed = new X509Certificate(forge.pki.certificateToPem(cert));
      assert.equal(parsed.serialNumber.toLowerCase(), serial);
    }
    const key = await createPayPalSigningKey(Date.now(), certificateSerial(edges[0]));
    assert.equal(key.certificate.serialNumber.toLowerCase(), certificateSerial(edges[0]));
  });
});
