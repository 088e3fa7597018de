// The health-centre console of the HER-SYS gateway: sign in with a staff
// account, watch the centre's case events live, work through its queues,
// open a patient's record. It talks to the gateway that served it and to
// nothing else: queries and actions over POST /graphql, the live events
// over /graphql/ws (graphql-transport-ws). Every rule of the gateway
// applies: a field the account may not read arrives as an error and is
// shown as restricted, never fetched another way.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient } from 'graphql-ws';
import './console.css';
import { LABELS } from './labels.js';

const socketUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;

// Minutes without a key or a click before the screen locks.
const IDLE_LOCK_MINUTES = 10;

const QUEUE_KINDS = [
  'POSITIVE_RESULT',
  'EMERGENCY_SIGNS',
  'WARNING_SIGNS',
  'UNDECIDED_POSITIVE',
  'NOT_REPORTED',
  'TRANSFER_IN',
  'CONTACT_HANDED_OVER',
  'NOTIFICATION_RECEIVED',
  'RELEASE_DUE',
  'BREAK_GLASS',
];
// Events that sound and flash.
const ALERTING = new Set(['POSITIVE_RESULT', 'EMERGENCY_SIGNS']);

const VIEWS = {
  open: { states: ['OPEN'] },
  progress: { states: ['ACKNOWLEDGED'] },
  mine: { states: ['OPEN', 'ACKNOWLEDGED'], mine: true },
  done: { states: ['DONE'] },
};

/** One operation over POST /graphql: `{ data, errors }` as answered. */
async function graphql(token, query, variables = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
    });
  } catch {
    return { errors: [{ message: 'network', extensions: { code: 'NETWORK' } }] };
  }
  try {
    return await response.json();
  } catch {
    return { errors: [{ message: `HTTP ${response.status}`, extensions: { code: 'HTTP' } }] };
  }
}

const codeOf = (errors) => errors?.[0]?.extensions?.code;

const EVENT_FIELDS = `
  cursor kind occurredAt emergencySigns warningReasons day
  patient { id nameKanji nameKana ageBand responsibleHealthCentre { nameJa name } }
  test { id kind result }
  item { id state assigneeId updatedById version updatedAt closedBecause }
`;

const SIGN_IN = `mutation SignIn($u: String!, $p: String!) {
  login(username: $u, password: $p) { token account { id username role organisation { name kind } } }
}`;

const SUBSCRIPTION = `subscription Live($after: String) { caseEvents(after: $after) { ${EVENT_FIELDS} } }`;

const QUEUE = `query Queue($kinds: [CaseEventKind!], $states: [WorkItemState!], $assignee: ID) {
  ${QUEUE_KINDS.map((kind) => `${kind}: workQueue(kinds: [${kind}], states: $states, assigneeId: $assignee, first: 0) { totalCount }`).join('\n  ')}
  list: workQueue(kinds: $kinds, states: $states, assigneeId: $assignee, first: 100) {
    totalCount nodes { ${EVENT_FIELDS} }
  }
}`;

const COLLEAGUES = 'query Colleagues { colleagues { id username } }';

const PATIENT = `query Patient($id: ID!) {
  patient(id: $id) {
    id caseType nameKanji nameKana sex ageBand birthDate address phone
    careSetting onsetDate diagnosisDate recordStatus
    responsibleHealthCentre { nameJa name }
    latestHealthReport { bodyTemperature spo2 symptoms emergencySigns reportedAt }
    tests(last: 5) { id kind result sampledAt }
  }
}`;

const ACTIONS = {
  acknowledge: 'mutation Ack($id: ID!, $v: Int) { acknowledgeWorkItem(id: $id, expectedVersion: $v) { item { id state } } }',
  take: 'mutation Take($id: ID!, $to: ID!, $v: Int) { assignWorkItem(id: $id, accountId: $to, expectedVersion: $v) { item { id state } } }',
  done: 'mutation Done($id: ID!, $v: Int) { completeWorkItem(id: $id, expectedVersion: $v) { item { id state } } }',
  reopen: 'mutation Reopen($id: ID!, $v: Int) { reopenWorkItem(id: $id, expectedVersion: $v) { item { id state } } }',
};

const timeFormat = (lang) =>
  new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    timeZone: 'Asia/Tokyo',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });

/** A short beep twice, made in the page (no sound file to fetch). */
function beep() {
  try {
    const audio = new (window.AudioContext || window.webkitAudioContext)();
    [0, 0.3].forEach((at) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + at);
      tone.stop(audio.currentTime + at + 0.18);
    });
    setTimeout(() => audio.close(), 1000);
  } catch {
    // No sound where the browser has none; the banner still shows.
  }
}

function SignIn({ t, onSignedIn, username: fixed, locked, onSignOut }) {
  const [username, setUsername] = useState(fixed ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    const { data, errors } = await graphql(null, SIGN_IN, { u: username.trim(), p: password });
    setBusy(false);
    setPassword('');
    if (errors || !data?.login) {
      const code = codeOf(errors);
      setError(code === 'RATE_LIMITED' ? t.tooManyAttempts : code === 'NETWORK' ? t.network : t.signInFailed);
      return;
    }
    onSignedIn(data.login);
  };
  return (
    <form className={locked ? 'signin locked' : 'signin'} onSubmit={submit} data-testid={locked ? 'lock' : 'signin'}>
      <h1>{locked ? t.lockedTitle : t.title}</h1>
      {locked ? <p>{t.lockedHelp}</p> : <p>{t.signInHelp}</p>}
      <label>
        {t.username}
        <input name="username" autoComplete="username" value={username} readOnly={!!fixed} onChange={(e) => setUsername(e.target.value)} required />
      </label>
      <label>
        {t.password}
        <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      </label>
      {error && <p className="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy}>{locked ? t.unlock : t.signIn}</button>
      {locked && <button type="button" className="secondary" onClick={onSignOut}>{t.signOut}</button>}
    </form>
  );
}

function Restricted({ t }) {
  return <span className="restricted" title={t.restrictedHelp}>{t.restricted}</span>;
}

/** The fields below `root` that arrived as errors: path → error code. */
function failedFields(errors, root) {
  const failed = new Map();
  for (const error of errors ?? []) {
    if (error.path?.[0] === root && error.path.length >= 2) failed.set(error.path[1], error.extensions?.code);
  }
  return failed;
}

function patientName(t, patient) {
  if (!patient) return <Restricted t={t} />;
  if (patient.nameKanji) return `${patient.nameKanji}${patient.nameKana ? `（${patient.nameKana}）` : ''}`;
  return (
    <>
      <Restricted t={t} /> #{patient.id}
    </>
  );
}

/** An age band as people write it: 50–59, under 10, 90+. */
function ageBand(t, band) {
  if (!band) return null;
  if (band === 'UNDER_10') return t.under10;
  const [, from, to] = band.match(/^AGE_(\d+)_(?:TO_(\d+)|AND_OVER)$/) ?? [];
  if (!from) return band;
  return to ? `${from}–${to}${t.years}` : `${from}${t.years}+`;
}

function describe(t, event) {
  const parts = [];
  if (event.test) parts.push(`${event.test.kind} ${t.results[event.test.result] ?? event.test.result}`);
  if (event.emergencySigns?.length) parts.push(event.emergencySigns.map((s) => t.signs[s] ?? s).join('、'));
  if (event.warningReasons?.length) parts.push(event.warningReasons.map((r) => t.reasons[r] ?? r).join('、'));
  if (event.day) parts.push(event.day);
  return parts.join(' / ');
}

function Queue({ t, lang, token, account, canAct, refreshKey, onOpenPatient, onSessionEnded }) {
  const [kind, setKind] = useState(null);
  const [view, setView] = useState('open');
  const [answer, setAnswer] = useState(null);
  const [colleagues, setColleagues] = useState([]);
  const [message, setMessage] = useState('');
  const format = useMemo(() => timeFormat(lang), [lang]);

  const load = useCallback(async () => {
    const chosen = VIEWS[view];
    const { data, errors } = await graphql(token, QUEUE, {
      kinds: kind ? [kind] : null,
      states: chosen.states,
      assignee: chosen.mine ? account.id : null,
    });
    if (codeOf(errors) === 'UNAUTHENTICATED') return onSessionEnded();
    if (data) setAnswer(data);
  }, [token, kind, view, account.id, onSessionEnded]);

  useEffect(() => {
    load();
  }, [load, refreshKey]);

  useEffect(() => {
    if (!canAct) return;
    graphql(token, COLLEAGUES).then(({ data }) => data && setColleagues(data.colleagues));
  }, [token, canAct]);

  const act = async (action, event) => {
    setMessage('');
    const { errors } = await graphql(token, ACTIONS[action], { id: event.item.id, v: event.item.version, to: account.id });
    if (errors) setMessage(codeOf(errors) === 'CONFLICT' ? t.conflict : errors[0].message);
    load();
  };

  const nameOf = (id) => colleagues.find((c) => c.id === id)?.username ?? (id ? `#${id}` : '');
  const total = answer ? QUEUE_KINDS.reduce((sum, k) => sum + (answer[k]?.totalCount ?? 0), 0) : 0;
  return (
    <section className="queue" aria-label={t.queue}>
      <nav className="views">
        {Object.keys(VIEWS).map((name) => (
          <button key={name} className={view === name ? 'on' : ''} onClick={() => setView(name)} data-testid={`view-${name}`}>
            {t.views[name]}
          </button>
        ))}
      </nav>
      <nav className="kinds">
        <button className={kind === null ? 'on' : ''} onClick={() => setKind(null)} data-testid="kind-all">
          {t.all} <b data-testid="count-all">{total}</b>
        </button>
        {QUEUE_KINDS.map((k) => (
          <button key={k} className={kind === k ? 'on' : ''} onClick={() => setKind(k)} data-testid={`kind-${k}`}>
            {t.kinds[k]} <b data-testid={`count-${k}`}>{answer?.[k]?.totalCount ?? 0}</b>
          </button>
        ))}
      </nav>
      {message && <p className="error" role="alert">{message}</p>}
      <table>
        <thead>
          <tr>
            <th>{t.when}</th>
            <th>{t.what}</th>
            <th>{t.patient}</th>
            <th>{t.details}</th>
            <th>{t.state}</th>
            <th>{t.assignee}</th>
            {canAct && <th>{t.actions}</th>}
          </tr>
        </thead>
        <tbody>
          {(answer?.list?.nodes ?? []).map((event) => (
            <tr key={event.item.id} data-testid="queue-item" data-item={event.item.id} data-test-id={event.test?.id ?? ''} className={`kind-${event.kind}`}>
              <td>{format.format(new Date(event.occurredAt))}</td>
              <td>{t.kinds[event.kind]}</td>
              <td>
                <button className="link" onClick={() => onOpenPatient(event.patient.id)}>
                  {patientName(t, event.patient)}
                </button>
              </td>
              <td>{describe(t, event)}</td>
              <td>{t.states[event.item.state]}{event.item.closedBecause && <span className="closed-because" data-testid="closed-because">{` (${t.closures[event.item.closedBecause]})`}</span>}</td>
              <td>
                {event.item.assigneeId ? nameOf(event.item.assigneeId) : event.item.updatedById ? `(${nameOf(event.item.updatedById)})` : ''}
              </td>
              {canAct && (
                <td className="actions">
                  {event.item.state === 'OPEN' && <button onClick={() => act('acknowledge', event)} data-testid="acknowledge">{t.acknowledge}</button>}
                  {event.item.state !== 'DONE' && event.item.assigneeId !== account.id && (
                    <button onClick={() => act('take', event)} data-testid="take">{t.take}</button>
                  )}
                  {event.item.state !== 'DONE' && <button onClick={() => act('done', event)} data-testid="done">{t.done}</button>}
                  {event.item.state === 'DONE' && <button onClick={() => act('reopen', event)} data-testid="reopen">{t.reopen}</button>}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {answer && !answer.list.nodes.length && <p className="empty" data-testid="queue-empty">{t.emptyQueue}</p>}
    </section>
  );
}

function PatientPanel({ t, lang, token, id, onClose }) {
  const [answer, setAnswer] = useState(null);
  useEffect(() => {
    let live = true;
    graphql(token, PATIENT, { id }).then((result) => live && setAnswer(result));
    return () => {
      live = false;
    };
  }, [token, id]);
  const format = useMemo(() => timeFormat(lang), [lang]);
  if (!answer) return <aside className="patient">…</aside>;
  const patient = answer.data?.patient;
  const failed = failedFields(answer.errors, 'patient');
  // Refused by the field rules: restricted; anything else: not available.
  const shown = (name, value) =>
    !failed.has(name) ? (value ?? '—') : failed.get(name) === 'FORBIDDEN' ? <Restricted t={t} /> : <span className="error">{t.unavailable}</span>;
  if (!patient) {
    return (
      <aside className="patient" data-testid="patient">
        <button className="close" onClick={onClose}>×</button>
        <p>{t.noPatient}</p>
      </aside>
    );
  }
  const field = (name, value) => (
    <div key={name}>
      <dt>{t.fields[name] ?? name}</dt>
      <dd data-field={name}>{shown(name, value)}</dd>
    </div>
  );
  const report = patient.latestHealthReport;
  return (
    <aside className="patient" data-testid="patient">
      <button className="close" onClick={onClose} aria-label={t.close}>×</button>
      <h2>{t.patient} #{patient.id}</h2>
      <dl>
        {field('nameKanji', patient.nameKanji)}
        {field('nameKana', patient.nameKana)}
        {field('sex', patient.sex && t.sexes[patient.sex])}
        {field('ageBand', ageBand(t, patient.ageBand))}
        {field('birthDate', patient.birthDate)}
        {field('address', patient.address)}
        {field('phone', patient.phone)}
        {field('careSetting', patient.careSetting && t.care[patient.careSetting])}
        {field('onsetDate', patient.onsetDate)}
        {field('diagnosisDate', patient.diagnosisDate)}
        {field('responsibleHealthCentre', patient.responsibleHealthCentre && (lang === 'ja' ? patient.responsibleHealthCentre.nameJa : patient.responsibleHealthCentre.name))}
        {field(
          'latestHealthReport',
          report &&
            `${report.bodyTemperature}℃ / SpO2 ${report.spo2 ?? '—'}% ${report.emergencySigns.map((s) => t.signs[s] ?? s).join('、')} (${format.format(new Date(report.reportedAt))})`,
        )}
      </dl>
      <h3>{t.tests}</h3>
      {failed.has('tests') ? (
        shown('tests')
      ) : (
        <ul>
          {(patient.tests ?? []).map((test) => (
            <li key={test.id}>
              {format.format(new Date(test.sampledAt))} {test.kind} {t.results[test.result] ?? test.result}
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}

function Feed({ t, lang, events, onOpenPatient }) {
  const format = useMemo(() => timeFormat(lang), [lang]);
  return (
    <section className="feed" aria-label={t.feed}>
      <h2>{t.feed}</h2>
      {events.length === 0 && <p className="empty">{t.emptyFeed}</p>}
      <ol>
        {events.map((event) => (
          <li key={event.cursor} className={`kind-${event.kind}`} data-testid="feed-item" data-kind={event.kind} data-test-id={event.test?.id ?? ''}>
            <time>{format.format(new Date(event.occurredAt))}</time> <b>{t.kinds[event.kind]}</b>{' '}
            {event.kind === 'WORK_ITEM_UPDATED' ? (
              `#${event.item.id} → ${t.states[event.item.state]}`
            ) : (
              <button className="link" onClick={() => onOpenPatient(event.patient.id)}>
                {patientName(t, event.patient)}
              </button>
            )}{' '}
            {describe(t, event)}
          </li>
        ))}
      </ol>
    </section>
  );
}

function Console({ t, lang, setLang, session, locked, onUnlocked, onSignOut, onLock, onSessionEnded }) {
  const { token, account } = session;
  const [events, setEvents] = useState([]);
  const [alert, setAlert] = useState(null);
  const [unseen, setUnseen] = useState(0);
  const [live, setLive] = useState('connecting');
  const [refreshKey, setRefreshKey] = useState(0);
  const [patientId, setPatientId] = useState(null);
  const cursor = useRef(session.cursor ?? null);
  const canAct = account.role === 'HEALTH_CENTRE_STAFF';

  useEffect(() => {
    const client = createClient({
      url: socketUrl,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: Infinity,
      shouldRetry: (closed) => closed?.code !== 4401 && closed?.code !== 4403,
      on: {
        connected: () => setLive('live'),
        closed: () => setLive('offline'),
      },
    });
    let refresh = null;
    const seen = new Set();
    const subscribe = () =>
      client.subscribe(
        { query: SUBSCRIPTION, variables: { after: cursor.current } },
        {
          next: ({ data, errors }) => {
            if (codeOf(errors) === 'UNAUTHENTICATED') return onSessionEnded();
            const event = data?.caseEvents;
            // A connection that comes back subscribes again from the cursor
            // it began with: what was shown already is not shown twice.
            if (!event || seen.has(event.cursor)) return;
            seen.add(event.cursor);
            if (seen.size > 1000) seen.delete(seen.values().next().value);
            cursor.current = event.cursor;
            session.cursor = event.cursor;
            setEvents((previous) => [event, ...previous].slice(0, 100));
            if (ALERTING.has(event.kind)) {
              setAlert(event);
              setUnseen((n) => n + 1);
              beep();
            }
            clearTimeout(refresh);
            refresh = setTimeout(() => setRefreshKey((n) => n + 1), 100);
          },
          error: (error) => {
            const code = error?.code ?? codeOf(Array.isArray(error) ? error : null);
            if (code === 4401 || code === 4403 || codeOf(Array.isArray(error) ? error : null) === 'UNAUTHENTICATED') {
              onSessionEnded();
            } else {
              setLive('offline');
              // Resume after the last event received: nothing is missed.
              setTimeout(() => (unsubscribe = subscribe()), 2000);
            }
          },
          complete: () => setLive('offline'),
        },
      );
    let unsubscribe = subscribe();
    return () => {
      clearTimeout(refresh);
      unsubscribe();
      client.dispose();
    };
  }, [token]);

  useEffect(() => {
    if (!locked) setUnseen(0);
  }, [locked]);

  // The tab's title counts the alerts not dismissed yet, so that a console
  // behind another window still tells.
  const pending = locked ? unseen : alert ? 1 : 0;
  useEffect(() => {
    document.title = `${pending > 0 ? `(${pending}) ` : ''}${t.title}`;
  }, [pending, t.title]);

  if (locked) {
    // The live feed goes on behind the lock, which shows how many alerts
    // came and nothing about whom.
    return (
      <>
        {unseen > 0 && (
          <div className="alert" role="alert" data-testid="locked-alerts">
            {t.alertsWhileLocked(unseen)}
          </div>
        )}
        <SignIn t={t} locked username={account.username} onSignOut={onSignOut} onSignedIn={onUnlocked} />
      </>
    );
  }

  const organisation = account.organisation?.name ?? '';
  return (
    <div className="console" data-testid="console" data-role={account.role}>
      <header>
        <h1>{t.title}</h1>
        <span className="who" data-testid="who">
          {organisation} · {account.username}
        </span>
        <span className={`live ${live}`} data-testid="live-status" data-state={live}>
          {t.live[live]}
        </span>
        <button onClick={() => setLang(lang === 'ja' ? 'en' : 'ja')} data-testid="language">{t.otherLanguage}</button>
        <button onClick={onLock}>{t.lock}</button>
        <button onClick={onSignOut} data-testid="sign-out">{t.signOut}</button>
      </header>
      {!canAct && <p className="notice" data-testid="oversight">{t.oversight}</p>}
      {alert && (
        <div className={`alert kind-${alert.kind}`} role="alert" data-testid="alert" data-kind={alert.kind}>
          <b>{t.kinds[alert.kind]}</b> {patientName(t, alert.patient)} {describe(t, alert)}
          <button onClick={() => setAlert(null)} data-testid="dismiss">{t.dismiss}</button>
        </div>
      )}
      <main>
        <Queue t={t} lang={lang} token={token} account={account} canAct={canAct} refreshKey={refreshKey} onOpenPatient={setPatientId} onSessionEnded={onSessionEnded} />
        <div className="side">
          {patientId && <PatientPanel t={t} lang={lang} token={token} id={patientId} onClose={() => setPatientId(null)} />}
          <Feed t={t} lang={lang} events={events} onOpenPatient={setPatientId} />
        </div>
      </main>
    </div>
  );
}

function App() {
  const [lang, setLangState] = useState(() => (localStorage.getItem('hersys.console.lang') === 'en' ? 'en' : 'ja'));
  const [session, setSession] = useState(null);
  const [locked, setLocked] = useState(false);
  const [notice, setNotice] = useState('');
  const t = LABELS[lang];
  const setLang = (next) => {
    localStorage.setItem('hersys.console.lang', next);
    setLangState(next);
  };
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  const signOut = useCallback(async () => {
    const token = session?.token;
    setSession(null);
    setLocked(false);
    if (token) await graphql(token, 'mutation SignOut { logout }');
  }, [session]);

  const sessionEnded = useCallback(() => {
    setSession(null);
    setLocked(false);
    setNotice('ended');
  }, []);

  // The idle lock: the screen hides everything after a while without a
  // key or a click; the password opens it again (a new session, and the
  // live feed resumes after the last event it showed).
  useEffect(() => {
    if (!session || locked) return;
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => setLocked(true), IDLE_LOCK_MINUTES * 60 * 1000);
    };
    const events = ['keydown', 'pointerdown', 'wheel'];
    events.forEach((name) => window.addEventListener(name, arm));
    arm();
    return () => {
      clearTimeout(timer);
      events.forEach((name) => window.removeEventListener(name, arm));
    };
  }, [session, locked]);

  const lock = useCallback(() => setLocked(true), []);

  if (!session) {
    return (
      <>
        <div className="language">
          <button onClick={() => setLang(lang === 'ja' ? 'en' : 'ja')} data-testid="language">{t.otherLanguage}</button>
        </div>
        {notice === 'ended' && <p className="notice" data-testid="ended">{t.sessionEnded}</p>}
        <SignIn
          t={t}
          onSignedIn={(login) => {
            setNotice('');
            setSession({ token: login.token, account: login.account });
          }}
        />
      </>
    );
  }
  const unlocked = (login) => {
    // A new session; the old one ends, and the feed resumes after the
    // last event it showed.
    const old = session.token;
    setSession({ token: login.token, account: login.account, cursor: session.cursor });
    setLocked(false);
    graphql(old, 'mutation SignOut { logout }');
  };
  return (
    <Console
      t={t}
      lang={lang}
      setLang={setLang}
      session={session}
      locked={locked}
      onUnlocked={unlocked}
      onSignOut={signOut}
      onLock={lock}
      onSessionEnded={sessionEnded}
    />
  );
}

createRoot(document.getElementById('console')).render(<App />);
