import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import forge from 'node-forge';
import { createLogger } from '../../src/log.js';
import { createPayPalAdapter, type PayPalAdapterOptions } from '../../src/payments/paypal/index.js';
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

  test('fetches certificates from PayPal’s own certificate path', async () => {
    const requested: string[] = [];
    const fake: typeof fetch = (input) => {
      requested.push(String(input));
      return Promise.resolve(new Response(good.certificatePem, { status: 200 }));
    };
    const body = JSON.stringify(event);
    const certUrl = 'https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594';
    const verified = await adapter({ fetch: fake, extraCertOrigins: [] }).verifyWebhook(
      Buffer.from(body),
      signed(body, { certUrl }),
    );
    assert.equal(verified.eventId, 'WH-EVT-1');
    assert.deepEqual(requested, [certUrl]);
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

  test('falls back to PayPal’s verification service when the certificate cannot be downloaded', async () => {
    const body = JSON.stringify(event);
    const unreachable: typeof fetch = () => Promise.reject(new TypeError('fetch failed'));
    const before = hits.filter((h) => h.startsWith('POST /v1/notifications/verify-webhook-signature')).length;
    onlineVerdict = 'SUCCESS';
    const verified = await adapter({ fetch: unreachable }).verifyWebhook(Buffer.from(body), signed(body));
    assert.equal(verified.eventId, 'WH-EVT-1');
    assert.equal(
      hits.filter((h) => h.startsWith('POST /v1/notifications/verify-webhook-signature')).length - before,
      1,
    );

    onlineVerdict = 'FAILURE';
    await rejects(
      adapter({ fetch: unreachable }).verifyWebhook(Buffer.from(body), signed(body)),
      /does not verify \(FAILURE\)/,
    );
    onlineVerdict = 'SUCCESS';
  });
});
