// The health-centre console the gateway serves at GET /console, in a real
// Chromium with every request outside the gateway's origin blocked:
// - hc1 signs in and sees a positive that clinic1 records within two
//   seconds (alert and queue);
// - a second staff member of the same centre (hc1b, a second browser)
//   sees it in the queue, and it leaves that queue when hc1 acknowledges
//   it;
// - the patient's record opens; the language switches;
// - hc1 signs out and the live stream stops;
// - the screen locks when idle and opens again with the password;
// - pref13 sees its prefecture's view, personal fields restricted and no
//   actions.
// A screenshot of each step goes to HERSYS_ARTEFACTS (default:
// artefacts/browser).
// Usage: HERSYS_URL=http://127.0.0.1:8080 node console-browser.mjs
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { base, check, graphql, login, password } from './gateway.mjs';

const artefacts = process.env.HERSYS_ARTEFACTS ?? 'artefacts/browser';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const origin = new URL(base).origin;
mkdirSync(artefacts, { recursive: true });

const page0 = await fetch(`${base}/console`, { headers: { accept: 'text/html' } });
const policy = page0.headers.get('content-security-policy') ?? '';
check(page0.status === 200, `GET /console answered ${page0.status}`);
for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
  check(policy.includes(directive), `the console's policy lacks ${directive}: ${policy}`);
}

const clinic = await login('clinic1');
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
const problems = [];
const blocked = [];
const shot = (page, name) => page.screenshot({ path: `${artefacts}/console-${name}.png`, fullPage: true });

/** A browser of its own (cookies, storage), held to the gateway's origin. */
async function newBrowser(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'ja-JP', ...options });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:') return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  return { context, page };
}

async function signIn(page, username) {
  await page.goto(`${base}/console`);
  await page.locator('[data-testid=signin] input[name=username]').fill(username);
  await page.locator('[data-testid=signin] input[name=password]').fill(password);
  await page.locator('[data-testid=signin] button[type=submit]').click();
  await page.locator('[data-testid=console]').waitFor({ timeout: 10000 });
  await page.locator('[data-testid=live-status][data-state=live]').waitFor({ timeout: 10000 });
}

async function positive(nameKanji, nameKana) {
  const registered = await graphql(
    `mutation($kanji: String!, $kana: String!) { registerPatient(input: { caseType: CONFIRMED, nameKanji: $kanji,
       nameKana: $kana, sex: FEMALE, birthDate: "1975-05-05", confirmNewPerson: true }) { id } }`,
    { kanji: nameKanji, kana: nameKana },
    clinic,
  );
  const sentAt = Date.now();
  const recorded = await graphql(
    'mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }',
    { input: { patientId: registered.registerPatient.id, kind: 'PCR', result: 'POSITIVE' } },
    clinic,
  );
  return { patient: registered.registerPatient.id, test: recorded.recordTest.id, sentAt };
}

let positiveShownAfter = null;
const row = (page, test) => page.locator(`[data-testid=queue-item][data-test-id="${test}"]`);

try {
  // hc1 and hc1b, two staff members of one centre, each in a browser.
  const first = await newBrowser();
  const sockets = [];
  first.page.on('websocket', (socket) => {
    const seen = { url: socket.url(), closed: false, framesAfterSignOut: 0 };
    socket.on('close', () => (seen.closed = true));
    socket.on('framereceived', () => {
      if (seen.signedOut) seen.framesAfterSignOut += 1;
    });
    sockets.push(seen);
  });
  await signIn(first.page, 'hc1');
  await shot(first.page, '1-hc1-signed-in');
  const second = await newBrowser();
  await signIn(second.page, 'hc1b');

  // A positive recorded by the clinic reaches hc1 within two seconds.
  const { test, sentAt } = await positive('画面 次郎', 'ガメン ジロウ');
  await first.page.locator('[data-testid=alert][data-kind=POSITIVE_RESULT]').waitFor({ timeout: 2000 });
  await row(first.page, test).waitFor({ timeout: 2000 });
  const took = Date.now() - sentAt;
  check(took <= 2000, `the positive took ${took} ms to show`);
  positiveShownAfter = took;
  check((await first.page.locator('[data-testid=alert]').innerText()).includes('画面 次郎'), 'the alert names the patient');
  check((await first.page.title()).startsWith('(1) '), `the tab's title counts the alert: ${await first.page.title()}`);
  await shot(first.page, '2-hc1-positive-arrives');
  await row(second.page, test).waitFor({ timeout: 5000 });
  await shot(second.page, '3-hc1b-same-item');

  // hc1 acknowledges it: it leaves hc1b's open queue, live.
  await row(first.page, test).locator('[data-testid=acknowledge]').click();
  await row(first.page, test).waitFor({ state: 'detached', timeout: 5000 });
  await row(second.page, test).waitFor({ state: 'detached', timeout: 5000 });
  await second.page.locator('[data-testid=view-progress]').click();
  await row(second.page, test).waitFor({ timeout: 5000 });
  check((await row(second.page, test).innerText()).includes('対応中'), 'hc1b sees it in progress');
  await shot(second.page, '4-hc1b-acknowledged-elsewhere');

  // The record opens; the language switches to English and back.
  await row(second.page, test).locator('button.link').click();
  await second.page.locator('[data-testid=patient] [data-field=nameKanji]').waitFor();
  check((await second.page.locator('[data-testid=patient] [data-field=nameKanji]').innerText()) === '画面 次郎', 'the record shows the name');
  await second.page.locator('header [data-testid=language]').click();
  await second.page.locator('text=HER-SYS health centre console').waitFor();
  await shot(second.page, '5-hc1b-record-in-english');
  await second.page.locator('header [data-testid=language]').click();

  // hc1 signs out: the sign-in form is back and the live stream stops.
  check(sockets.length > 0 && !sockets.at(-1).closed, 'hc1 had a live connection');
  sockets.forEach((socket) => (socket.signedOut = true));
  await first.page.locator('[data-testid=sign-out]').click();
  await first.page.locator('[data-testid=signin]').waitFor();
  await first.page.waitForTimeout(300);
  check(sockets.every((socket) => socket.closed), 'the live connection closed at sign-out');
  const after = await positive('画面 三郎', 'ガメン サブロウ');
  await first.page.waitForTimeout(1500);
  check(sockets.every((socket) => socket.framesAfterSignOut === 0), 'nothing arrived after sign-out');
  check((await first.page.locator('text=画面 三郎').count()) === 0, 'the signed-out page shows nothing new');
  await shot(first.page, '6-hc1-signed-out');

  // hc1b's screen locks when left alone, hides the records, and opens
  // again with the password.
  await second.page.clock.install();
  // The last touch of the screen, under the page's installed clock.
  await second.page.locator('header h1').click();
  await second.page.clock.fastForward('11:00');
  await second.page.locator('[data-testid=lock]').waitFor({ timeout: 5000 });
  check((await second.page.locator('text=画面 次郎').count()) === 0, 'the lock hides the records');
  await shot(second.page, '7-hc1b-locked');
  await second.page.locator('[data-testid=lock] input[name=password]').fill(password);
  await second.page.locator('[data-testid=lock] button[type=submit]').click();
  await second.page.locator('[data-testid=console]').waitFor();

  // pref13: the prefecture's view, personal fields restricted, no actions
  // (on a screen that asks for a dark theme).
  const prefecture = await newBrowser({ colorScheme: 'dark' });
  await signIn(prefecture.page, 'pref13');
  await prefecture.page.locator('[data-testid=oversight]').waitFor();
  await row(prefecture.page, after.test).waitFor({ timeout: 5000 });
  check((await prefecture.page.locator('[data-testid=acknowledge]').count()) === 0, 'the prefecture has no actions');
  check((await row(prefecture.page, after.test).innerText()).includes('閲覧制限'), 'the name is restricted for the prefecture');
  await row(prefecture.page, after.test).locator('button.link').click();
  await prefecture.page.locator('[data-testid=patient] [data-field=nameKanji] .restricted').waitFor();
  await shot(prefecture.page, '8-pref13-prefecture-view');
} finally {
  await browser.close();
}
check(blocked.length === 0, `the console asked for another origin: ${blocked.join(', ')}`);
const violations = problems.filter((text) => /Content Security Policy|Refused to/.test(text));
check(violations.length === 0, `the console broke its policy: ${violations.join('\n')}`);
check(problems.length === 0, `the console logged errors: ${problems.join('\n')}`);
console.log(
  `console: hc1, hc1b and pref13 in Chromium from the gateway alone; clinic1's positive shown to hc1 ` +
    `${positiveShownAfter} ms after recordTest was sent; screenshots in ${artefacts}`,
);
