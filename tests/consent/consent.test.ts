import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { Runtime } from '../../src/runtime.js';
import { startTestRuntime } from '../helpers/runtime.js';
import {
  ARTICLE,
  choose,
  consentCookieOf,
  consentIdOf,
  consentRecords,
  consentTexts,
  hasBanner,
  hasIframe,
  hasScript,
  postConsent,
  recordsOf,
  setCookies,
  textsHashIn,
} from './helpers.js';

const READER_PAGES = ['/', '/section/climate', ARTICLE, '/support', '/privacy'];

let runtime: Runtime;
before(async () => {
  runtime = await startTestRuntime(
    {
      consent: {
        categories: [
          {
            id: 'necessary',
            label: 'Strictly necessary',
            description: 'Remembers your choice.',
            required: true,
          },
          { id: 'comments', label: 'Comments', description: 'The comments widget.', required: false },
          {
            id: 'analytics',
            label: 'Audience measurement',
            description: 'Counts visits.',
            required: false,
            optOutByGpc: true,
            cookies: ['rf_audience'],
          },
          {
            id: 'advertising',
            label: 'Advertising',
            description: 'Shows advertising.',
            required: false,
            optOutByGpc: true,
          },
        ],
      },
    },
    { backgroundJobs: false },
  );
});
after(() => runtime.stop());

describe('first visit', () => {
  it('shows the banner near the top of every reader page, with no optional script, iframe or cookie', async () => {
    const before = await consentRecords().countDocuments();
    for (const url of READER_PAGES) {
      const res = await request(runtime.app).get(url).expect(200);
      assert.ok(hasBanner(res.text), `banner on ${url}`);
      const body = res.text.slice(res.text.indexOf('<body>'));
      assert.ok(
        body.indexOf('consent-banner') < body.indexOf('<header'),
        `banner before the header on ${url}`,
      );
      assert.match(res.text, /role="region" aria-labelledby="consent-banner-title"/);
      assert.match(res.text, /<form class="consent-actions" method="post" action="\/consent">/);
      assert.equal(hasScript(res.text), false, `no script on ${url}`);
      assert.equal(hasIframe(res.text), false, `no iframe on ${url}`);
      assert.equal(res.headers['set-cookie'], undefined, `no cookie on ${url}`);
      assert.match(res.headers['content-security-policy'] ?? '', /frame-src 'none'/);
      assert.match(res.text, /<a href="\/privacy#choices">Cookie settings<\/a>/);
    }
    assert.equal(await consentRecords().countDocuments(), before, 'looking records nothing');
  });

  it('offers Accept all, Reject all and Choose… as three buttons alike, and ticks no box', async () => {
    const res = await request(runtime.app).get(ARTICLE).expect(200);
    const form = /<form class="consent-actions"[\s\S]*?<\/form>/.exec(res.text)![0];
    const buttons = [...form.matchAll(/<button ([^>]*)>([^<]*)<\/button>/g)];
    assert.deepEqual(
      buttons.map((b) => b[2]),
      ['Accept all', 'Reject all', 'Choose…'],
    );
    for (const [, attributes] of buttons) assert.match(attributes!, /type="submit" class="consent-choice"/);
    assert.doesNotMatch(form, /checked/);
    const settings = await request(runtime.app).get('/privacy').expect(200);
    const ticked = settings.text.match(/<input type="checkbox"[^>]*checked/g) ?? [];
    assert.deepEqual(ticked, ['<input type="checkbox" id="consent-necessary" checked']);
    assert.match(settings.text, /id="consent-necessary" checked disabled/);
  });

  it('explains every category in plain language in the banner and on the privacy page', async () => {
    const res = await request(runtime.app).get('/privacy').expect(200);
    for (const text of ['The comments widget.', 'Counts visits.', 'Shows advertising.']) {
      assert.ok(res.text.split(text).length >= 3, `"${text}" in the banner and the policy`);
    }
    assert.match(res.text, /Strictly necessary — always on/);
  });

  it('stores the policy and banner texts once, with their SHA-256, when first served', async () => {
    await request(runtime.app).get('/').expect(200);
    await request(runtime.app).get('/privacy').expect(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const hash = textsHashIn((await request(runtime.app).get('/').expect(200)).text);
    const stored = await consentTexts()
      .find({ policyVersion: runtime.config.consent.policyVersion })
      .toArray();
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.hash, hash);
    assert.match(stored[0]!.banner, /Accept all<\/strong> turns on/);
    assert.match(stored[0]!.bannerWithGpc, /Your browser's opt-out signal is honoured/);
    assert.match(stored[0]!.policy, /Strictly necessary — always on/);
  });
});

describe('choosing', () => {
  it('Accept all writes exactly one record, sets the consent cookie and loads the comments widget', async () => {
    const before = await consentRecords().countDocuments();
    const res = await choose(runtime.app, 'accept_all');
    assert.equal(res.headers.location, ARTICLE);
    assert.equal(await consentRecords().countDocuments(), before + 1);

    const [raw] = setCookies(res).filter((c) => c.startsWith('rf_consent='));
    assert.match(raw!, /HttpOnly/);
    assert.match(raw!, /SameSite=Lax/);
    assert.match(raw!, /Path=\//);
    assert.doesNotMatch(raw!, /Secure/, 'plain http in tests');
    const maxAge = Number(/Max-Age=(\d+)/.exec(raw!)![1]);
    assert.ok(maxAge > 180 * 86400 && maxAge < 185 * 86400, `about six months, got ${maxAge}`);

    const cookie = consentCookieOf(res);
    const [record] = await recordsOf(consentIdOf(cookie));
    assert.equal(record!.source, 'accept_all');
    assert.deepEqual(record!.choices, {
      necessary: 'granted',
      comments: 'granted',
      analytics: 'granted',
      advertising: 'granted',
    });
    assert.equal(record!.policyVersion, runtime.config.consent.policyVersion);
    assert.equal(record!.textHash, runtime.consent.service.texts.hash);
    assert.equal(record!.locale, 'en-US');
    assert.equal(record!.browserFamily, 'Chrome');
    assert.equal(record!.gpc, false);
    assert.equal(record!.seq, 1);
    assert.equal(record!.previousId, null);
    assert.match(record!.ipHash, /^[A-Za-z0-9_-]{43}$/);
    assert.doesNotMatch(
      JSON.stringify(record),
      /127\.0\.0\.1|::1|::ffff/,
      'no raw IP anywhere in the record',
    );
    assert.ok(Math.abs(record!.recordedAt.getTime() - Date.now()) < 10_000);

    const page = await request(runtime.app).get(ARTICLE).set('Cookie', cookie).expect(200);
    assert.equal(hasBanner(page.text), false);
    const iframe = /<iframe[^>]*>/.exec(page.text)?.[0] ?? '';
    const origin = runtime.config.consent.commentsWidget.origin;
    assert.ok(iframe.includes(`src="${origin}/embed?page=`), iframe);
    assert.match(page.headers['content-security-policy'] ?? '', new RegExp(`frame-src ${origin};`));
    // The widget's origin is allowed for this response, not for every reader.
    const stranger = await request(runtime.app).get(ARTICLE).expect(200);
    assert.match(stranger.headers['content-security-policy'] ?? '', /frame-src 'none'/);
  });

  it('Reject all writes one record and no optional script, cookie or iframe appears anywhere', async () => {
    const res = await choose(runtime.app, 'reject_all');
    const cookie = consentCookieOf(res);
    assert.deepEqual(
      setCookies(res).map((c) => c.split('=')[0]),
      ['rf_consent', 'rf_audience'],
      'the consent cookie, and the expiry of the refused category cookie',
    );
    assert.match(setCookies(res)[1]!, /rf_audience=;.*Expires=Thu, 01 Jan 1970/);
    const records = await recordsOf(consentIdOf(cookie));
    assert.equal(records.length, 1);
    assert.equal(records[0]!.source, 'reject_all');
    assert.deepEqual(records[0]!.choices, {
      necessary: 'granted',
      comments: 'denied',
      analytics: 'denied',
      advertising: 'denied',
    });
    for (const url of READER_PAGES) {
      const page = await request(runtime.app).get(url).set('Cookie', cookie).expect(200);
      assert.equal(hasBanner(page.text), false, `no banner on ${url} after a refusal`);
      assert.equal(hasScript(page.text), false, `no script on ${url}`);
      assert.equal(hasIframe(page.text), false, `no iframe on ${url}`);
      assert.equal(page.headers['set-cookie'], undefined);
      assert.match(page.headers['content-security-policy'] ?? '', /frame-src 'none'/);
    }
    const article = await request(runtime.app).get(ARTICLE).set('Cookie', cookie).expect(200);
    assert.match(
      article.text,
      /<button type="submit" class="secondary" name="choice" value="allow">Load comments/,
    );
  });

  it('a refusal is remembered exactly as long as an acceptance', async () => {
    const accepted = setCookies(await choose(runtime.app, 'accept_all'))[0]!;
    const refused = setCookies(await choose(runtime.app, 'reject_all'))[0]!;
    const age = (c: string) => Number(/Max-Age=(\d+)/.exec(c)![1]);
    assert.ok(Math.abs(age(accepted) - age(refused)) <= 1);
  });

  it('a choice made category by category records exactly those categories', async () => {
    const privacy = await request(runtime.app).get('/privacy').expect(200);
    assert.match(privacy.text, /name="choice" value="custom">Save my choices/);
    const res = await postConsent(runtime.app, {
      choice: 'custom',
      grant: 'comments',
      texts: textsHashIn(privacy.text),
      return: '/privacy#choices',
    }).expect(303);
    assert.equal(res.headers.location, '/privacy#choices');
    const [record, ...more] = await recordsOf(consentIdOf(consentCookieOf(res)));
    assert.equal(more.length, 0);
    assert.equal(record!.source, 'custom');
    assert.deepEqual(record!.choices, {
      necessary: 'granted',
      comments: 'granted',
      analytics: 'denied',
      advertising: 'denied',
    });
  });

  it('"Load comments" under an article turns comments on and leaves the other choices as they were', async () => {
    const first = await choose(runtime.app, 'custom', { grant: ['analytics'] });
    const cookie = consentCookieOf(first);
    const article = await request(runtime.app).get(ARTICLE).set('Cookie', cookie).expect(200);
    const form = /<form class="comments-load"[\s\S]*?<\/form>/.exec(article.text)![0];
    assert.match(form, new RegExp(`name="return" value="${ARTICLE}#comments"`));
    const res = await postConsent(
      runtime.app,
      { choice: 'allow', grant: 'comments', texts: textsHashIn(form), return: `${ARTICLE}#comments` },
      { cookie },
    ).expect(303);
    assert.equal(res.headers.location, `${ARTICLE}#comments`);
    const records = await recordsOf(consentIdOf(cookie));
    assert.deepEqual(
      records.map((r) => [r.seq, r.source, r.choices.comments, r.choices.analytics]),
      [
        [1, 'custom', 'denied', 'granted'],
        [2, 'custom', 'granted', 'granted'],
      ],
    );
    const page = await request(runtime.app).get(ARTICLE).set('Cookie', consentCookieOf(res)).expect(200);
    assert.ok(hasIframe(page.text));
  });

  it('changing and withdrawing append records to the same chain, and withdrawing expires optional cookies', async () => {
    const accepted = await choose(runtime.app, 'accept_all');
    let cookie = consentCookieOf(accepted);
    const settings = await request(runtime.app).get('/privacy').set('Cookie', cookie).expect(200);
    assert.match(settings.text, /you allowed Comments, Audience measurement, Advertising/);
    assert.match(settings.text, new RegExp(`Your consent id is <code>${consentIdOf(cookie)}</code>`));
    assert.match(settings.text, /id="consent-comments" name="grant" value="comments" checked/);
    assert.match(settings.text, /name="choice" value="settings">Save my choices/);
    assert.equal(settings.headers['cache-control'], 'private, no-cache');

    const changed = await postConsent(
      runtime.app,
      { choice: 'settings', grant: ['comments', 'necessary'], texts: textsHashIn(settings.text) },
      { cookie },
    ).expect(303);
    cookie = consentCookieOf(changed);
    const withdrawn = await postConsent(
      runtime.app,
      { choice: 'withdraw', texts: textsHashIn(settings.text), return: '/privacy#choices' },
      { cookie: `${cookie}; rf_audience=abc` },
    ).expect(303);
    assert.ok(setCookies(withdrawn).some((c) => /^rf_audience=;.*Expires=Thu, 01 Jan 1970/.test(c)));
    cookie = consentCookieOf(withdrawn);

    const records = await recordsOf(consentIdOf(cookie));
    assert.deepEqual(
      records.map((r) => [r.seq, r.source, r.choices.comments, r.choices.analytics]),
      [
        [1, 'accept_all', 'granted', 'granted'],
        [2, 'settings', 'granted', 'denied'],
        [3, 'withdrawal', 'denied', 'denied'],
      ],
    );
    assert.equal(records[1]!.previousId, records[0]!._id);
    assert.equal(records[2]!.previousHash, records[1]!.hash);
    const proof = await runtime.consent.audit.proof(consentIdOf(cookie));
    assert.equal(proof.check.verified, true, proof.check.problems.join('; '));
    const page = await request(runtime.app).get(ARTICLE).set('Cookie', cookie).expect(200);
    assert.equal(hasBanner(page.text), false, 'a withdrawal is a choice too: not asked again at once');
    assert.equal(hasIframe(page.text), false);
  });

  it('a reader posting twice at the same moment gets two records in one unbroken chain', async () => {
    const first = await choose(runtime.app, 'reject_all');
    const cookie = consentCookieOf(first);
    const texts = runtime.consent.service.texts.hash;
    const results = await Promise.all(
      ['accept_all', 'reject_all', 'accept_all', 'reject_all'].map((choice) =>
        postConsent(runtime.app, { choice, texts }, { cookie }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      [303, 303, 303, 303],
    );
    const records = await recordsOf(consentIdOf(cookie));
    assert.deepEqual(
      records.map((r) => r.seq),
      [1, 2, 3, 4, 5],
    );
    const proof = await runtime.consent.audit.proof(consentIdOf(cookie));
    assert.equal(proof.check.verified, true, proof.check.problems.join('; '));
  });

  it('sends a reader back only to a path of our own site', async () => {
    const texts = runtime.consent.service.texts.hash;
    const cases: Array<[string, string]> = [
      ['/section/climate?page=1', '/section/climate?page=1'],
      ['https://evil.example/phish', '/'],
      ['//evil.example/phish', '/'],
      ['/\\evil.example', '/'],
      // Dot segments that resolve to a protocol-relative `//evil.example`.
      ['/section/../..//evil.example', '/'],
      ['/a/%2e%2e/%2e%2e//evil.example/phish', '/'],
      ['javascript:alert(1)', '/'],
      ['', '/'],
    ];
    for (const [target, expected] of cases) {
      const res = await postConsent(runtime.app, { choice: 'reject_all', texts, return: target }).expect(303);
      assert.equal(res.headers.location, expected, `return=${target}`);
    }
  });
});

describe('bad input', () => {
  async function refused(
    fields: Record<string, string | string[]>,
    status: number,
    message: RegExp,
    headers: Record<string, string> = {},
  ) {
    const before = await consentRecords().countDocuments();
    const res = await postConsent(runtime.app, fields, { headers }).set('Accept', 'text/html').expect(status);
    assert.match(res.text, message);
    assert.equal(res.headers['set-cookie'], undefined);
    assert.equal(await consentRecords().countDocuments(), before, 'nothing recorded');
  }

  it('refuses a post from another site with 403 and records nothing', async () => {
    const texts = runtime.consent.service.texts.hash;
    await refused({ choice: 'accept_all', texts }, 403, /only be sent from our own pages/, {
      Origin: 'https://evil.example',
    });
    await refused({ choice: 'accept_all', texts }, 403, /only be sent from our own pages/, {
      'Sec-Fetch-Site': 'cross-site',
    });
    await refused({ choice: 'accept_all', texts }, 403, /only be sent from our own pages/, {
      Origin: 'null',
    });
  });

  it('answers a missing choice, an unknown choice, category or field with a 400 page saying what was wrong', async () => {
    const texts = runtime.consent.service.texts.hash;
    await refused({ texts }, 400, /Please make a choice/);
    await refused({ choice: 'everything', texts }, 400, /&quot;everything&quot; is not a choice we know/);
    await refused(
      { choice: 'custom', grant: ['comments', 'tracking'], texts },
      400,
      /categor(y|ies) &quot;tracking&quot;/,
    );
    await refused(
      { choice: 'accept_all', grant: 'comments', texts },
      400,
      /do not take a list of categories/,
    );
    await refused({ choice: 'allow', texts }, 400, /which category to turn on/);
    await refused({ choice: 'custom', texts, admin: 'yes' }, 400, /field we do not know: admin/);
    await refused({ choice: 'accept_all' }, 400, /does not say which notice it showed/);
  });

  it('records nothing when the form was rendered with other texts than those in force', async () => {
    await refused({ choice: 'accept_all', texts: 'a'.repeat(64) }, 409, /privacy notice changed/);
  });
});

describe('Global Privacy Control', () => {
  it('with Sec-GPC: 1 and no choice, says the signal is honoured and asks only about the rest', async () => {
    const before = await consentRecords().countDocuments();
    const res = await request(runtime.app).get(ARTICLE).set('Sec-GPC', '1').expect(200);
    const banner = /<section class="consent-banner"[\s\S]*?<\/section>/.exec(res.text)![0];
    assert.match(banner, /Your browser's opt-out signal is honoured/);
    assert.match(banner, /audience measurement and advertising stay off/);
    assert.match(banner, /<strong>Comments<\/strong>/);
    assert.doesNotMatch(banner, /<strong>Audience measurement<\/strong>/);
    assert.equal(res.headers['set-cookie'], undefined);
    assert.equal(await consentRecords().countDocuments(), before);
    // Without the signal the banner asks about everything; its absence is never a yes.
    const plain = await request(runtime.app).get(ARTICLE).expect(200);
    assert.match(plain.text, /<strong>Audience measurement<\/strong>/);
    assert.equal(hasIframe(plain.text), false);
  });

  it('records the signal once for the consent id, and a later explicit choice wins', async () => {
    const accepted = await choose(runtime.app, 'accept_all', { gpc: true });
    let cookie = consentCookieOf(accepted);
    let records = await recordsOf(consentIdOf(cookie));
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.comments, r.choices.analytics, r.choices.advertising, r.gpc]),
      [
        ['gpc', 'denied', 'denied', 'denied', true],
        ['accept_all', 'granted', 'denied', 'denied', true],
      ],
    );

    const settings = await request(runtime.app).get('/privacy').set('Cookie', cookie).set('Sec-GPC', '1');
    const changed = await postConsent(
      runtime.app,
      { choice: 'settings', grant: ['comments', 'analytics'], texts: textsHashIn(settings.text) },
      { cookie, gpc: true },
    ).expect(303);
    cookie = consentCookieOf(changed);
    records = await recordsOf(consentIdOf(cookie));
    assert.deepEqual(
      records.map((r) => [r.source, r.choices.analytics]),
      [
        ['gpc', 'denied'],
        ['accept_all', 'denied'],
        ['settings', 'granted'],
      ],
      'the signal is recorded once; the explicit choice overrides it',
    );
    const page = await request(runtime.app).get('/privacy').set('Cookie', cookie).set('Sec-GPC', '1');
    assert.match(page.text, /you allowed Comments, Audience measurement/);
  });

  it('serves the GPC support resource', async () => {
    const res = await request(runtime.app)
      .get('/.well-known/gpc.json')
      .expect(200)
      .expect('Content-Type', /application\/json/);
    assert.deepEqual(res.body, { gpc: true, lastUpdate: runtime.config.consent.policyVersion });
  });
});
