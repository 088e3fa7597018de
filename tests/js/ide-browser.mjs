// The IDE the gateway serves at GET /graphql, in a real Chromium with every
// request outside the gateway's origin blocked: it renders from the
// gateway's own files, breaks none of its Content-Security-Policy, runs a
// query with the token in its headers editor, and receives a live
// positive over a subscription. A screenshot of each step goes to
// HERSYS_ARTEFACTS (default: artefacts/browser).
// Usage: HERSYS_URL=http://127.0.0.1:8080 node ide-browser.mjs
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { base, check, graphql, login } from './gateway.mjs';

const artefacts = process.env.HERSYS_ARTEFACTS ?? 'artefacts/browser';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const origin = new URL(base).origin;
mkdirSync(artefacts, { recursive: true });

// The page's headers: the policy that holds it to its own origin.
const page0 = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
const policy = page0.headers.get('content-security-policy') ?? '';
check(page0.status === 200, `GET /graphql answered ${page0.status}`);
for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
  check(policy.includes(directive), `the IDE's policy lacks ${directive}: ${policy}`);
}

const hc1 = await login('hc1');
const clinic = await login('clinic1');
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const problems = [];
const blocked = [];
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // Nothing leaves the gateway's origin (a closed network).
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:') return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  // The token as a user pastes it into the headers editor (kept by the IDE).
  await context.addInitScript((headers) => {
    if (!window.localStorage.getItem('graphiql:headers')) window.localStorage.setItem('graphiql:headers', headers);
  }, JSON.stringify({ Authorization: `Bearer ${hc1}` }));
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));

  await page.goto(`${base}/graphql`);
  await page.locator('.graphiql-query-editor .CodeMirror').first().waitFor({ timeout: 15000 });
  await page.screenshot({ path: `${artefacts}/ide-1-loaded.png` });

  const run = async (query) => {
    await page.evaluate((text) => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(text);
    }, query);
    // The IDE reads the operation's name from the editor after a pause.
    await page.waitForTimeout(500);
    await page.locator('button.graphiql-execute-button').click();
  };
  const response = () =>
    page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue() ?? '');
  const waitForResponse = async (predicate, what) => {
    const until = Date.now() + 15000;
    for (;;) {
      const text = await response();
      if (predicate(text)) return text;
      if (Date.now() > until) throw new Error(`${what}: the IDE shows ${text}`);
      await page.waitForTimeout(100);
    }
  };

  // A query, signed in through the headers editor.
  await run('query Me { me { username role } }');
  const me = await waitForResponse((text) => text.includes('"username"'), 'the query ran');
  check(me.includes('"hc1"'), `the query answered for someone else: ${me}`);
  await page.screenshot({ path: `${artefacts}/ide-2-query.png` });

  // A subscription over the gateway's WebSocket: a positive recorded by the
  // clinic arrives in the IDE.
  const registered = await graphql(
    `mutation { registerPatient(input: { caseType: CONFIRMED, nameKanji: "画面 花子", nameKana: "ガメン ハナコ",
       sex: FEMALE, birthDate: "1980-03-03" }) { id } }`,
    {},
    clinic,
  );
  await run('subscription Live { positiveResults { test { id result } } }');
  await page.waitForTimeout(1000);
  const recorded = await graphql(
    'mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }',
    { input: { patientId: registered.registerPatient.id, kind: 'PCR', result: 'POSITIVE' } },
    clinic,
  );
  await waitForResponse((text) => text.includes(`"${recorded.recordTest.id}"`), 'the live positive arrived');
  await page.screenshot({ path: `${artefacts}/ide-3-subscription.png` });
} finally {
  await browser.close();
}
check(blocked.length === 0, `the IDE asked for another origin: ${blocked.join(', ')}`);
const violations = problems.filter((text) => /Content Security Policy|Refused to/.test(text));
check(violations.length === 0, `the IDE broke its policy: ${violations.join('\n')}`);
check(problems.length === 0, `the IDE logged errors: ${problems.join('\n')}`);
console.log(`IDE: rendered from the gateway alone, ran a query and a subscription; screenshots in ${artefacts}`);
