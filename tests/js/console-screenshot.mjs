// The README's picture of the console (docs/console.png): hc1's screen
// after a night's events on the demo data set, taken in Chromium.
// Usage: HERSYS_URL=http://127.0.0.1:8080 node console-screenshot.mjs [file]
import { chromium } from 'playwright-core';
import { base, graphql, login, password } from './gateway.mjs';

const file = process.argv[2] ?? '../../docs/console.png';
const clinic = await login('clinic1');
const hc1 = await login('hc1');

async function register(kanji, kana, birthDate) {
  const { registerPatient } = await graphql(
    `mutation($k: String!, $r: String!, $b: Date!) { registerPatient(input: { caseType: CONFIRMED, nameKanji: $k,
       nameKana: $r, sex: MALE, birthDate: $b, confirmNewPerson: true }) { id } }`,
    { k: kanji, r: kana, b: birthDate },
    clinic,
  );
  return registerPatient.id;
}
const positive = (patientId) =>
  graphql('mutation($i: RecordTestInput!) { recordTest(input: $i) { id } }', {
    i: { patientId, kind: 'PCR', result: 'POSITIVE' },
  }, clinic);
const homeCare = (patientId) =>
  graphql('mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { id } }', { p: patientId }, hc1);
const report = (input) =>
  graphql('mutation($i: HealthReportInput!) { submitHealthReport(input: $i) { id } }', { i: input }, hc1);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 820 }, locale: 'ja-JP' });
  const page = await context.newPage();
  await page.goto(`${base}/console`);
  await page.locator('input[name=username]').fill('hc1');
  await page.locator('input[name=password]').fill(password);
  await page.locator('button[type=submit]').click();
  await page.locator('[data-testid=live-status][data-state=live]').waitFor();

  const warm = await register('高橋 健', 'タカハシ ケン', '1958-04-02');
  await positive(warm);
  await homeCare(warm);
  await report({ patientId: warm, bodyTemperature: 38.9, spo2: 94, symptoms: ['FEVER', 'COUGH'] });
  for (const [kanji, kana, birth] of [
    ['佐藤 美咲', 'サトウ ミサキ', '1991-09-12'],
    ['鈴木 一郎', 'スズキ イチロウ', '1947-01-30'],
  ]) {
    await positive(await register(kanji, kana, birth));
  }
  const urgent = await register('田中 誠', 'タナカ マコト', '1962-11-08');
  await positive(urgent);
  await homeCare(urgent);
  await report({
    patientId: urgent,
    bodyTemperature: 37.8,
    spo2: 90,
    symptoms: ['SHORTNESS_OF_BREATH'],
    emergencySigns: ['PURPLE_LIPS', 'SUDDEN_BREATHLESSNESS'],
  });
  await page.locator('[data-testid=alert][data-kind=EMERGENCY_SIGNS]').waitFor();
  await page.waitForTimeout(500);
  await page.locator(`[data-testid=queue-item] button.link >> text=田中 誠`).first().click();
  await page.locator('[data-testid=patient] [data-field=nameKanji]').waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: file });
  console.log(`wrote ${file}`);
} finally {
  await browser.close();
}
