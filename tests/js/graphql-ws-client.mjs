// Interoperability with the reference JavaScript client `graphql-ws`:
// subscribe to positiveResults, receive the event of a positive recorded
// over HTTP, then resume with the event's cursor and receive what was
// missed. Usage: HERSYS_URL=http://127.0.0.1:8080 node graphql-ws-client.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { base, check, graphql, login } from './gateway.mjs';

async function recordPositive(token, patientId) {
  const data = await graphql(
    'mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }',
    { input: { patientId, kind: 'PCR', result: 'POSITIVE' } },
    token,
  );
  return data.recordTest.id;
}

/** Subscribes and resolves with the first `count` events. */
function collect(token, after, count, onReady) {
  const client = createClient({
    url: `${base.replace(/^http/, 'ws')}/graphql/ws`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
  });
  const events = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${events.length} of ${count} events`)), 15000);
    client.subscribe(
      {
        query: 'subscription($after: String) { positiveResults(after: $after) { cursor test { id result } patient { id } } }',
        variables: { after },
      },
      {
        next: (message) => {
          if (message.errors) return reject(new Error(JSON.stringify(message.errors)));
          events.push(message.data.positiveResults);
          if (events.length === count) {
            clearTimeout(timer);
            client.dispose();
            resolve(events);
          }
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => {},
      },
    );
    client.on('connected', () => setTimeout(onReady, 200));
  });
}

const clinic = await login('clinic1');
const hc1 = await login('hc1');
const registered = await graphql(
  `mutation { registerPatient(input: { caseType: CONFIRMED, nameKanji: "連携 太郎", nameKana: "レンケイ タロウ",
     sex: MALE, birthDate: "1975-05-05" }) { id } }`,
  {},
  clinic,
);
const patientId = registered.registerPatient.id;

// Live: the event of a positive recorded after subscribing.
let first;
const live = await collect(hc1, null, 1, async () => {
  first = await recordPositive(clinic, patientId);
});
check(live[0].test.id === first, `expected test ${first}, got ${JSON.stringify(live[0])}`);
check(live[0].test.result === 'POSITIVE', 'the event carries the positive result');

// Missed while disconnected, then resumed with the cursor.
const missed = [await recordPositive(clinic, patientId), await recordPositive(clinic, patientId)];
const resumed = await collect(hc1, live[0].cursor, 2, () => {});
check(
  JSON.stringify(resumed.map((e) => e.test.id)) === JSON.stringify(missed),
  `resume replayed ${JSON.stringify(resumed)}, expected ${JSON.stringify(missed)}`,
);
console.log(`graphql-ws: live event and resume after cursor ${live[0].cursor} OK (${missed.length} replayed)`);
