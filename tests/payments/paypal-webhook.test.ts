import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import forge from 'node-forge';
import { createLogger } from '../../src/log.js';
import { createPayPalAdapter, type PayPalAdapterOptions } from '../../src/payments/paypal/index.js';
import { ONLINE_VERIFICATION_BURST } from '../../src/payments/paypal/webhook.js';
import { WebhookVerificationError } from '../../src/payments/types.js';

const WEBHOOK_ID = 'WH-TEST-0001';
const DAY = 86_400_000;

function makeCertificate(options: { cn: string; notBefore: Date; notAfter: Date }) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  cert.validity.notBefore = options.notBefore;
  cert.validity.notAfter = options.notAfter;
  const subject = [
    { shortName: 'O', value: 'PayPal, Inc.' },
    { shortName: 'CN', value: options.cn },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return { privateKeyPem, certificatePem: forge.pki.certificateToPem(cert) };
}

const good = makeCertificate({
  cn: 'messageverificationcerts.paypal.com',
  notBefore: new Date(Date.now() - DAY),
  notAfter: new Date(Date.now() + 365 * DAY),
});
const expired = makeCertificate({
  cn: 'messageverificationcerts.paypal.com',
  notBefore: new Date(Date.now() - 400 * DAY),
  notAfter: new Date(Date.now() - 10 * DAY),
});
const stranger = makeCertificate({
  cn: 'evil.example.com',
  notBefore: new Date(Date.now() - DAY),
  notAfter: new Date(Date.now() + 365 * DAY),
});

interface Issued {
  privateKeyPem: string;
  certificatePem: string;
  subject: Array<{ shortName: string; value: string }>;
}

/** A certificate in a chain: a CA (root or intermediate) or a signing certificate, issued by `issuer` or itself. */
function issue(options: { cn: string; ca: boolean; issuer?: Issued; notAfter?: Date }): Issued {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '4' + randomBytes(8).toString('hex').slice(1);
  cert.validity.notBefore = new Date(Date.now() - 2 * DAY);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY);
  const subject = [
    { shortName: 'O', value: options.ca ? 'Test Trust Services' : 'PayPal, Inc.' },
    { shortName: 'CN', value: options.cn },
  ];
  cert.setSubject(subject);
  cert.setIssuer(options.issuer?.subject ?? subject);
  cert.setExtensions(
    options.ca
      ? [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        ]
      : [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true },
        ],
  );
  cert.sign(
    forge.pki.privateKeyFromPem((options.issuer ?? { privateKeyPem }).privateKeyPem),
    forge.md.sha256.create(),
  );
  return { privateKeyPem, certificatePem: forge.pki.certificateToPem(cert), subject };
}

const root = issue({ cn: 'Test Root CA', ca: true });
const intermediate = issue({ cn: 'Test Intermediate CA', ca: true, issuer: root });
const signing = issue({ cn: 'messageverificationcerts.paypal.com', ca: false, issuer: intermediate });
const otherRoot = issue({ cn: 'Other Root CA', ca: true });
const otherIntermediate = issue({ cn: 'Test Intermediate CA', ca: true, issuer: otherRoot });
const expiredIntermediate = issue({
  cn: 'Test Intermediate CA',
  ca: true,
  issuer: root,
  notAfter: new Date(Date.now() - DAY),
});
const DOCUMENTED_PATH = '/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';

/** A fetch that answers every URL with `pem`, recording what was asked. */
function serving(pem: string, requested: string[] = []): typeof fetch {
  return (input) => {
    requested.push(String(input));
    return Promise.resolve(new Response(pem, { status: 200 }));
  };
}

/** Serves certificates and a fake verify-webhook-signature endpoint; counts what was asked. */
let server: Server;
let origin: string;
const hits: string[] = [];
let onlineVerdict = 'SUCCESS';

before(async () => {
  server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    const pemFor: Record<string, string> = {
      '/certs/good': good.certificatePem,
      '/certs/expired': expired.certificatePem,
      '/certs/stranger': stranger.certificatePem,
      '/certs/garbage': 'not a certificate',
    };
    const pem = req.url ? pemFor[req.url] : undefined;
    if (pem) {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pem);
    } else if (req.url === '/v1/oauth2/token') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: 'A21', token_type: 'Bearer', expires_in: 3600 }));
    } else if (req.url?.startsWith('/v1/notifications/verify-webhook-signature')) {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ verification_status: onlineVerdict }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"name":"NOT_FOUND"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function adapter(overrides: Partial<PayPalAdapterOptions> = {}) {
  return createPayPalAdapter({
    clientId: `webhook-test-${randomUUID()}`,
    clientSecret: 'secret',
    webhookId: WEBHOOK_ID,
    environment: { baseUrl: origin },
    extraCertOrigins: [origin],
    planStore: {
      find: () => Promise.resolve(null),
      save: (_key, planId) => Promise.resolve(planId),
    },
    brandName: 'Readerfund',
    logger: createLogger({ level: 'silent' }),
    ...overrides,
  });
}

const event = {
  id: 'WH-EVT-1',
  event_type: 'PAYMENT.CAPTURE.COMPLETED',
  resource_type: 'capture',
  create_time: '2026-01-02T03:04:05Z',
  resource: {
    id: 'CAP-1',
    status: 'COMPLETED',
    amount: { currency_code: 'USD', value: '5.00' },
    custom_id: 'chk-1',
  },
};

function signed(
  body: string,
  options: {
    key?: string;
    certPath?: string;
    certUrl?: string;
    webhookId?: string;
    time?: string;
    algo?: string;
  } = {},
) {
  const transmissionId = randomUUID();
  const transmissionTime = options.time ?? new Date().toISOString();
  const message = `${transmissionId}|${transmissionTime}|${options.webhookId ?? WEBHOOK_ID}|${crc32(Buffer.from(body)) >>> 0}`;
  const signature = createSign('RSA-SHA256')
    .update(message)
    .sign(options.key ?? good.privateKeyPem, 'base64');
  return {
    'paypal-transmission-id': transmissionId,
    'paypal-transmission-time': transmissionTime,
    'paypal-transmission-sig': signature,
    'paypal-cert-url': options.certUrl ?? `${origin}${options.certPath ?? '/certs/good'}`,
    'paypal-auth-algo': options.algo ?? 'SHA256withRSA',
  };
}

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(
      err instanceof WebhookVerificationError,
      `expected WebhookVerificationError, got ${String(err)}`,
    );
    assert.match(err.message, pattern);
    return true;
  });
}

describe('PayPal webhook verification', () => {
  test('accepts a delivery signed by the certificate at an allowed URL and returns the event', async () => {
    const body = JSON.stringify(event);
    const verified = await adapter().verifyWebhook(Buffer.from(body), signed(body));
    assert.equal(verified.provider, 'paypal');
    assert.equal(verified.eventId, 'WH-EVT-1');
    assert.equal(verified.type, 'PAYMENT.CAPTURE.COMPLETED');
    assert.equal(verified.createdAt.toISOString(), '2026-01-02T03:04:05.000Z');
    assert.deepEqual(verified.payload, event);
  });

  test('downloads a certificate once and reuses it for later deliveries', async () => {
    const paypal = adapter();
    const before = hits.filter((h) => h === 'GET /certs/good').length;
    const body = JSON.stringify(event);
    await paypal.verifyWebhook(Buffer.from(body), signed(body));
    await paypal.verifyWebhook(Buffer.from(body), signed(body));
    assert.equal(hits.filter((h) => h === 'GET /certs/good').length - before, 1);
  });

  test('verifies a burst of simultaneous deliveries with a single certificate download', async () => {
    const paypal = adapter();
    const before = hits.filter((h) => h === 'GET /certs/good').length;
    const body = JSON.stringify(event);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => paypal.verifyWebhook(Buffer.from(body), signed(body))),
    );
    assert.equal(results.length, 5);
    assert.equal(hits.filter((h) => h === 'GET /certs/good').length - before, 1);
  });

  test('rejects a body altered after signing', async () => {
    const body = JSON.stringify(event);
    const headers = signed(body);
    const altered = body.replace('5.00', '500.00');
    await rejects(adapter().verifyWebhook(Buffer.from(altered), headers), /signature does not match/);
  });

  test('rejects a delivery signed for another webhook id', async () => {
    const body = JSON.stringify(event);
    await rejects(
      adapter().verifyWebhook(Buffer.from(body), signed(body, { webhookId: 'WH-OTHER' })),
      /signature does not match/,
    );
  });

  test('rejects a signature made with a key other than the certificate’s', async () => {
    const body = JSON.stringify(event);
    await rejects(
      adapter().verifyWebhook(Buffer.from(body), signed(body, { key: stranger.privateKeyPem })),
      /signature does not match/,
    );
  });

  test('refuses a certificate URL outside PayPal’s hosts without fetching it', async () => {
    let fetched = 0;
    const spy: typeof fetch = (...args) => {
      fetched += 1;
      return fetch(...args);
    };
    const body = JSON.stringify(event);
    for (const certUrl of [
      'https://evil.example.com/v1/notifications/certs/CERT-1',
      'http://api.paypal.com/v1/notifications/certs/CERT-1',
      'https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1',
      'https://api.paypal.com/v1/other/CERT-1',
      'https://api.paypal.com:8443/v1/notifications/certs/CERT-1',
      'https://user:pw@api.paypal.com/v1/notifications/certs/CERT-1',
      'http://169.254.169.254/latest/meta-data',
      'not a url',
    ]) {
      await rejects(
        adapter({ fetch: spy }).verifyWebhook(Buffer.from(body), signed(body, { certUrl })),
        /PAYPAL-CERT-URL/,
      );
    }
    assert.equal(fetched, 0);
  });

  test('fetches certificates from PayPal’s own certificate path and accepts a chain to a trusted root', async () => {
    const requested: string[] = [];
    const body = JSON.stringify(event);
    const certUrl = `https://api-m.sandbox.paypal.com${DOCUMENTED_PATH}`;
    const verified = await adapter({
      fetch: serving(signing.certificatePem + intermediate.certificatePem, requested),
      extraCertOrigins: [],
      trustedRoots: [root.certificatePem],
    }).verifyWebhook(Buffer.from(body), signed(body, { certUrl, key: signing.privateKeyPem }));
    assert.equal(verified.eventId, 'WH-EVT-1');
    assert.deepEqual(requested, [certUrl]);
  });

  test('refuses a self-signed certificate on PayPal’s host that names PayPal and is valid now', async () => {
    const body = JSON.stringify(event);
    const certUrl = `https://api.paypal.com${DOCUMENTED_PATH}`;
    // Node's own root store, as in production.
    await rejects(
      adapter({ fetch: serving(good.certificatePem), extraCertOrigins: [] }).verifyWebhook(
        Buffer.from(body),
        signed(body, { certUrl }),
      ),
      /does not chain to a trusted root/,
    );
  });

  test('refuses a PayPal chain that leads to a root we do not trust', async () => {
    const body = JSON.stringify(event);
    const forgedSigning = issue({
      cn: 'messageverificationcerts.paypal.com',
      ca: false,
      issuer: otherIntermediate,
    });
    await rejects(
      adapter({
        fetch: serving(
          forgedSigning.certificatePem + otherIntermediate.certificatePem + otherRoot.certificatePem,
        ),
        extraCertOrigins: [],
        trustedRoots: [root.certificatePem],
      }).verifyWebhook(
        Buffer.from(body),
        signed(body, {
          certUrl: `https://api.paypal.com${DOCUMENTED_PATH}`,
          key: forgedSigning.privateKeyPem,
        }),
      ),
      /does not chain to a trusted root/,
    );
  });

  test('refuses a PayPal chain whose signing certificate is not issued by the intermediate served with it', async () => {
    const body = JSON.stringify(event);
    const forgedSigning = issue({
      cn: 'messageverificationcerts.paypal.com',
      ca: false,
      issuer: otherIntermediate,
    });
    await rejects(
      adapter({
        fetch: serving(forgedSigning.certificatePem + intermediate.certificatePem),
        extraCertOrigins: [],
        trustedRoots: [root.certificatePem],
      }).verifyWebhook(
        Buffer.from(body),
        signed(body, {
          certUrl: `https://api.paypal.com${DOCUMENTED_PATH}`,
          key: forgedSigning.privateKeyPem,
        }),
      ),
      /chain is broken/,
    );
  });

  test('refuses a PayPal chain with an expired intermediate', async () => {
    const body = JSON.stringify(event);
    const underExpired = issue({
      cn: 'messageverificationcerts.paypal.com',
      ca: false,
      issuer: expiredIntermediate,
    });
    await rejects(
      adapter({
        fetch: serving(underExpired.certificatePem + expiredIntermediate.certificatePem),
        extraCertOrigins: [],
        trustedRoots: [root.certificatePem],
      }).verifyWebhook(
        Buffer.from(body),
        signed(body, {
          certUrl: `https://api.paypal.com${DOCUMENTED_PATH}`,
          key: underExpired.privateKeyPem,
        }),
      ),
      /not valid now/,
    );
  });

  test('rejects an expired certificate', async () => {
    const body = JSON.stringify(event);
    await rejects(
      adapter().verifyWebhook(
        Buffer.from(body),
        signed(body, { key: expired.privateKeyPem, certPath: '/certs/expired' }),
      ),
      /not valid now/,
    );
  });

  test('rejects a certificate whose subject is not PayPal’s', async () => {
    const body = JSON.stringify(event);
    await rejects(
      adapter().verifyWebhook(
        Buffer.from(body),
        signed(body, { key: stranger.privateKeyPem, certPath: '/certs/stranger' }),
      ),
      /not PayPal's webhook signing certificate/,
    );
  });

  test('rejects a certificate URL that serves something other than a certificate', async () => {
    const body = JSON.stringify(event);
    await rejects(
      adapter().verifyWebhook(Buffer.from(body), signed(body, { certPath: '/certs/garbage' })),
      /did not return a certificate/,
    );
  });

  test('rejects missing transmission headers and names them', async () => {
    const body = JSON.stringify(event);
    const headers: Record<string, string> = signed(body);
    delete headers['paypal-transmission-sig'];
    delete headers['paypal-cert-url'];
    await rejects(
      adapter().verifyWebhook(Buffer.from(body), headers),
      /PAYPAL-TRANSMISSION-SIG, PAYPAL-CERT-URL/,
    );
  });

  test('rejects a body that is not a JSON event', async () => {
    for (const body of ['{not json', '[1,2]', JSON.stringify({ event_type: 'X' })]) {
      await rejects(adapter().verifyWebhook(Buffer.from(body), signed(body)), /JSON object|event id/);
    }
  });

  test('rejects an algorithm other than SHA256withRSA', async () => {
    const body = JSON.stringify(event);
    await rejects(
      adapter().verifyWebhook(Buffer.from(body), signed(body, { algo: 'SHA1withRSA' })),
      /Unsupported PAYPAL-AUTH-ALGO/,
    );
  });

  test('accepts a retry signed hours ago but rejects transmissions older than the retry window or from the future', async () => {
    const body = JSON.stringify(event);
    const hoursAgo = new Date(Date.now() - 30 * 3_600_000).toISOString();
    const verified = await adapter().verifyWebhook(Buffer.from(body), signed(body, { time: hoursAgo }));
    assert.equal(verified.eventId, 'WH-EVT-1');
    const weekAgo = new Date(Date.now() - 7 * DAY).toISOString();
    await rejects(adapter().verifyWebhook(Buffer.from(body), signed(body, { time: weekAgo })), /too old/);
    const tomorrow = new Date(Date.now() + DAY).toISOString();
    await rejects(adapter().verifyWebhook(Buffer.from(body), signed(body, { time: tomorrow })), /future/);
  });

  const onlineCalls = () =>
    hits.filter((h) => h.startsWith('POST /v1/notifications/verify-webhook-signature')).length;
  const unreachable: typeof fetch = () => Promise.reject(new TypeError('fetch failed'));

  test('falls back to PayPal’s verification service when the certificate cannot be downloaded', async () => {
    const body = JSON.stringify(event);
    const certUrl = `${origin}${DOCUMENTED_PATH}`;
    const before = onlineCalls();
    onlineVerdict = 'SUCCESS';
    const verified = await adapter({ fetch: unreachable }).verifyWebhook(
      Buffer.from(body),
      signed(body, { certUrl }),
    );
    assert.equal(verified.eventId, 'WH-EVT-1');
    assert.equal(onlineCalls() - before, 1);

    onlineVerdict = 'FAILURE';
    await rejects(
      adapter({ fetch: unreachable }).verifyWebhook(Buffer.from(body), signed(body, { certUrl })),
      /does not verify \(FAILURE\)/,
    );
    onlineVerdict = 'SUCCESS';
  });

  test('never verifies online for a certificate URL that is not of the form PayPal sends', async () => {
    const body = JSON.stringify(event);
    const before = onlineCalls();
    for (const certUrl of [
      `${origin}/certs/missing`,
      `${origin}/v1/notifications/certs/CERT-anything`,
      `${origin}${DOCUMENTED_PATH}?x=1`,
      `https://api.paypal.com/v1/notifications/certs/../certs/CERT-1`,
    ]) {
      await rejects(
        adapter({ fetch: unreachable }).verifyWebhook(Buffer.from(body), signed(body, { certUrl })),
        /PAYPAL-CERT-URL/,
      );
    }
    assert.equal(onlineCalls() - before, 0);
  });

  test('treats a certificate PayPal’s host does not have (404) as forged, without verifying online', async () => {
    const body = JSON.stringify(event);
    const before = onlineCalls();
    const notFound: typeof fetch = () => Promise.resolve(new Response('not found', { status: 404 }));
    await rejects(
      adapter({ fetch: notFound, extraCertOrigins: [] }).verifyWebhook(
        Buffer.from(body),
        signed(body, { certUrl: `https://api.paypal.com${DOCUMENTED_PATH}` }),
      ),
      /PayPal has no certificate at PAYPAL-CERT-URL \(HTTP 404/,
    );
    assert.equal(onlineCalls() - before, 0);
  });

  test('remembers a failed certificate download for a while instead of retrying it for every delivery', async () => {
    let downloads = 0;
    const failing: typeof fetch = () => {
      downloads += 1;
      return Promise.reject(new TypeError('fetch failed'));
    };
    let clock = Date.now();
    const paypal = adapter({ fetch: failing, now: () => clock });
    const body = JSON.stringify(event);
    const certUrl = `${origin}${DOCUMENTED_PATH}`;
    for (let i = 0; i < 3; i++) {
      await paypal.verifyWebhook(
        Buffer.from(body),
        signed(body, { certUrl, time: new Date(clock).toISOString() }),
      );
    }
    assert.equal(downloads, 1);
    clock += 61_000;
    await paypal.verifyWebhook(
      Buffer.from(body),
      signed(body, { certUrl, time: new Date(clock).toISOString() }),
    );
    assert.equal(downloads, 2);
  });

  test('limits online verifications when forged deliveries keep naming an unreachable certificate', async () => {
    const body = JSON.stringify(event);
    const paypal = adapter({ fetch: unreachable });
    const before = onlineCalls();
    const outcomes = await Promise.allSettled(
      Array.from({ length: ONLINE_VERIFICATION_BURST + 5 }, () =>
        paypal.verifyWebhook(Buffer.from(body), signed(body, { certUrl: `${origin}${DOCUMENTED_PATH}` })),
      ),
    );
    assert.equal(onlineCalls() - before, ONLINE_VERIFICATION_BURST);
    const refused = outcomes.filter((o) => o.status === 'rejected');
    assert.equal(refused.length, 5);
    for (const r of refused) assert.match(String(r.reason), /online verification is paused/);
  });
});
