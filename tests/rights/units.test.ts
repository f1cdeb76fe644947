import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { rewriteMessage } from '../../src/rights/eml.js';
import { createPseudonyms, matcherFor, scrubPayload } from '../../src/rights/pseudonyms.js';

const pseudonyms = createPseudonyms('a-secret-only-these-tests-use-0123456789');
const matcher = matcherFor(pseudonyms, {
  emails: ['Jo.Reader@example.com'],
  name: 'Jo Reader',
  ids: ['cus_123'],
  pseudonymEmail: 'erased-1@invalid',
});

describe('pseudonyms', () => {
  test('are keyed: the same address gives the same hash, another key another one', () => {
    assert.equal(
      pseudonyms.emailHash(' JO.reader@example.com'),
      pseudonyms.emailHash('jo.reader@example.com'),
    );
    assert.notEqual(
      createPseudonyms('another-secret-for-these-tests-0123456789').emailHash('jo.reader@example.com'),
      pseudonyms.emailHash('jo.reader@example.com'),
    );
    assert.match(pseudonyms.emailFor('65a0c0ffee0000000000abcd'), /^erased-[0-9a-f]{20}@invalid$/);
  });
});

describe('scrubbing a payload', () => {
  test('replaces the person’s address, name, name parts and ids, and nothing else', () => {
    const raw = JSON.stringify({
      id: 'evt_1',
      data: {
        object: {
          customer: 'cus_123',
          customer_details: { email: 'jo.reader@EXAMPLE.com', name: 'Jo Reader' },
          subscriber: {
            name: { given_name: 'Jo', surname: 'Reader' },
            email_address: 'jo.reader@example.com',
          },
          description: 'Paid by jo.reader@example.com for other.person@example.com',
          amount_total: 500,
          plan: 'Reader Plan',
        },
      },
    });
    const scrubbed = JSON.parse(scrubPayload(pseudonyms, matcher, raw)!);
    assert.deepEqual(scrubbed.data.object, {
      customer: 'erased',
      customer_details: { email: 'erased-1@invalid', name: 'erased' },
      subscriber: { name: { given_name: 'erased', surname: 'erased' }, email_address: 'erased-1@invalid' },
      description: 'Paid by erased-1@invalid for other.person@example.com',
      amount_total: 500,
      plan: 'Reader Plan',
    });
    assert.equal(
      scrubPayload(pseudonyms, matcher, JSON.stringify(scrubbed)),
      null,
      'a second pass changes nothing',
    );
  });

  test('leaves a payload about someone else alone', () => {
    assert.equal(
      scrubPayload(pseudonyms, matcher, '{"email":"someone@example.com","name":"Ann Other"}'),
      null,
    );
  });
});

describe('rewriting a stored message', () => {
  test('rewrites headers and text parts, re-encoded, and leaves other messages as they are', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
    const info = await transport.sendMail({
      from: 'Site <site@example.com>',
      to: 'jo.reader@example.com',
      subject: 'Thank you',
      text: `Thank you, Jo Reader. ${'A long line that makes quoted-printable wrap '.repeat(3)}jo.reader@example.com`,
      html: '<p>Thank you, Jo Reader.</p>',
      attachments: [{ filename: 'receipt.txt', content: 'Receipt', contentType: 'text/plain' }],
    });
    const edit = (text: string) =>
      text.replace(/jo\.reader@example\.com/gi, 'erased-1@invalid').replace(/Jo Reader/g, 'erased');
    const out = (await rewriteMessage(info.message as Buffer, edit))!.toString();
    assert.doesNotMatch(out, /jo\.reader|Jo Reader/i);
    assert.match(out, /^To: erased-1@invalid$/m);
    assert.match(out.replace(/=\n/g, ''), /wrap erased-1@invalid/);
    assert.match(out, /filename=receipt\.txt/);
    assert.equal(await rewriteMessage(Buffer.from(out), edit), null);
  });
});
