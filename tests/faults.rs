//! Faults, against the real `hersys` binary run as a child process: stopped
//! with SIGTERM while requests and WebSockets are open, cut off from its
//! PostgreSQL (a server of the test's own, stopped and started again), and
//! killed with SIGKILL under a write load; started with a mistyped or
//! refused database URL, it prints no password; beside a streaming
//! replica (a standby of the test's own), which serves figures as of a past
//! moment and analysts' lists only while it has replayed what they need,
//! and whose loss the gateway carries on without.
//!
//! The tests run one at a time (`SERIAL`): they measure how long answers
//! take, and the machine is small.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The demo password (demo data set only).
const DEMO_PASSWORD: &str = "hersys-demo-2026";

const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }";
const REGISTER: &str = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }";
const RECORD_TEST: &str = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id result } }";
const PATIENT_TESTS: &str = "query($id: ID!) { patient(id: $id) { id nameKanji tests { id result } } }";
const PATIENTS: &str = "{ patients(first: 20) { totalCount edges { node { id } } } }";
const SUBSCRIPTION: &str = "subscription { positiveResults { cursor test { id result } patient { id } } }";

/// One fault test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_closes_websockets_with_going_away() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display());
    let mut gateway = Gateway::start(&url, true, dir.path()).await;
    let clinic = gateway.login("clinic1").await;
    let hc1 = gateway.login("hc1").await;

    // A live subscription: it has delivered an event.
    let mut subscriber = Subscriber::connect(gateway.addr, &hc1).await;
    let patient = gateway.register_patient(&clinic).await;
    let positive = gateway.record_test(&clinic, &patient, "POSITIVE").await;
    let event = subscriber.next_event().await;
    assert_eq!(event["test"]["id"], positive.as_str(), "{event}");

    // Requests in flight across the signal: the server has read their
    // headers and waits for their bodies (it said `100 Continue`).
    let read = HeldRequest::open(gateway.addr, Some(&hc1), PATIENT_TESTS, json!({ "id": patient })).await;
    let write = HeldRequest::open(
        gateway.addr,
        Some(&clinic),
        RECORD_TEST,
        json!({ "input": { "patientId": patient, "kind": "PCR", "result": "NEGATIVE" } }),
    )
    .await;
    let login = HeldRequest::open(gateway.addr, None, LOGIN, json!({ "u": "hc2", "p": DEMO_PASSWORD })).await;

    let signalled = Instant::now();
    gateway.signal("-TERM");

    let code = subscriber.close_code().await;
    assert_eq!(code, Some(1001), "the WebSocket is closed with 1001 (going away)");
    let closed_after = signalled.elapsed();

    gateway.expect_refusing_connections().await;
    assert!(
        gateway.child.try_wait().expect("the child's status").is_none(),
        "the gateway waits for its in-flight requests before it exits"
    );

    let (status, body) = read.finish().await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["patient"]["id"], patient.as_str(), "{body}");
    assert_eq!(body["data"]["patient"]["tests"][0]["id"], positive.as_str(), "{body}");
    let (status, body) = write.finish().await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["recordTest"]["result"], "NEGATIVE", "{body}");
    let (status, body) = login.finish().await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["login"]["token"].is_string(), "{body}");

    let exit = gateway.wait_exit(Duration::from_secs(10)).await;
    let exited_after = signalled.elapsed();
    let exit = exit.unwrap_or_else(|| panic!("the gateway did not exit within 10 s of SIGTERM:\n{}", gateway.log()));
    assert!(exit.success(), "the gateway exits with success after SIGTERM: {exit}\n{}", gateway.log());
    eprintln!(
        "faults: WebSocket closed {} ms after SIGTERM; exited {} ms after SIGTERM",
        closed_after.as_millis(),
        exited_after.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_turns_readiness_false_fails_fast_and_recovers() {
    let _serial = SERIAL.lock().await;
    let mut postgres = Postgres::start();
    let mut gateway = Gateway::start(&postgres.url(), true, postgres.dir()).await;
    let hc1 = gateway.login("hc1").await;
    assert!(gateway.ready().await, "ready before the outage");
    let before = gateway.gql(Some(&hc1), PATIENTS, json!({})).await;
    assert!(before["errors"].is_null() && before["data"]["patients"]["totalCount"].is_number(), "{before}");

    postgres.stop();
    let stopped = Instant::now();
    while gateway.ready().await {
        assert!(stopped.elapsed() < Duration::from_secs(5), "/readyz still 2xx 5 s into the outage");
        pause().await;
    }
    let unready_after = stopped.elapsed();
    let alive = gateway.client.get(gateway.url("/healthz")).send().await.expect("/healthz answers");
    assert_eq!(alive.status().as_u16(), 200, "liveness does not depend on the database");

    // Several requests at once: each is answered within a few seconds,
    // with a code and without the cause.
    // Whatever the operation, an outage answers the same: 503 with
    // `Retry-After` and the retryable code `UNAVAILABLE`.
    let (gateway_ref, token) = (&gateway, hc1.as_str());
    let answers = futures_util::future::join_all((0..4).map(|n| async move {
        let (gateway, hc1) = (gateway_ref, token);
        let query = if n % 2 == 0 { PATIENTS } else { "mutation { logout }" };
        let started = Instant::now();
        let (status, retry_after, body) = gateway.post(Some(hc1), query).await;
        (started.elapsed(), status, retry_after, body)
    }))
    .await;
    for (took, status, retry_after, body) in &answers {
        assert!(*took < Duration::from_millis(3500), "answered in {} ms: {body}", took.as_millis());
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
        assert_eq!(*status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default().to_lowercase();
        for internal in ["sqlx", "pool", "refused", "postgres", "127.0.0.1", "timed out", "connection"] {
            assert!(!message.contains(internal), "the message tells the cause ({internal}): {body}");
        }
        assert!(message.contains("unavailable"), "the client is told to retry, not that it found a bug: {body}");
    }
    let slowest = answers.iter().map(|(took, ..)| *took).max().unwrap_or_default();

    postgres.start_again();
    let restarted = Instant::now();
    while !gateway.ready().await {
        assert!(restarted.elapsed() < Duration::from_secs(10), "/readyz not 2xx 10 s after the database returned");
        pause().await;
    }
    let ready_after = restarted.elapsed();
    let after = gateway.gql(Some(&hc1), PATIENTS, json!({})).await;
    assert!(after["errors"].is_null(), "the same token works again, without a restart: {after}");
    assert_eq!(after["data"], before["data"], "{after}");
    assert!(gateway.running(), "the gateway was not restarted");
    eprintln!(
        "faults: /readyz false {} ms into the outage; requests failed in at most {} ms; \
         /readyz true {} ms after the database returned",
        unready_after.as_millis(),
        slowest.as_millis(),
        ready_after.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_write_load_loses_no_acknowledged_write_and_leaves_none_partial() {
    const CLIENTS: usize = 8;
    const ACKNOWLEDGED_BEFORE_KILL: usize = 40;
    let _serial = SERIAL.lock().await;
    let postgres = Postgres::start();
    let mut gateway = Gateway::start(&postgres.url(), true, postgres.dir()).await;
    let clinic = gateway.login("clinic1").await;
    let mut patients = Vec::new();
    for _ in 0..CLIENTS {
        patients.push(gateway.register_patient(&clinic).await);
    }

    // Every client records positives for its own patient until the gateway
    // is gone, and remembers each test whose recording was acknowledged.
    let acknowledged: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
    let refused: Arc<Mutex<Vec<Value>>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = patients
        .iter()
        .map(|patient| {
            let (url, token, patient) = (gateway.url("/graphql"), clinic.clone(), patient.clone());
            let (acknowledged, refused, killed) = (acknowledged.clone(), refused.clone(), killed.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a client");
                let body = json!({
                    "query": RECORD_TEST,
                    "variables": { "input": { "patientId": patient, "kind": "PCR", "result": "POSITIVE" } },
                });
                loop {
                    let Ok(response) = client.post(&url).bearer_auth(&token).json(&body).send().await else { break };
                    let Ok(answer) = response.json::<Value>().await else { break };
                    match answer["data"]["recordTest"]["id"].as_str().and_then(|id| id.parse().ok()) {
                        Some(id) => acknowledged.lock().expect("the list").push((parse(&patient), id)),
                        None if killed.load(Ordering::SeqCst) => break,
                        None => {
                            refused.lock().expect("the list").push(answer);
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().expect("the list").len() < ACKNOWLEDGED_BEFORE_KILL {
        assert!(started.elapsed() < Duration::from_secs(60), "the write load is too slow");
        assert!(refused.lock().expect("the list").is_empty(), "a write was refused: {:?}", refused.lock());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.store(true, Ordering::SeqCst);
    gateway.kill();
    let acknowledged_at_kill = acknowledged.lock().expect("the list").len();
    for client in clients {
        tokio::time::timeout(Duration::from_secs(30), client).await.expect("clients stop").expect("no panic");
    }
    assert!(refused.lock().expect("the list").is_empty(), "a write was refused: {:?}", refused.lock());
    let acknowledged = acknowledged.lock().expect("the list").clone();

    // What the database holds, read directly.
    let db = sea_orm::Database::connect(postgres.url()).await.expect("connect to the database");
    let ids = patients.join(",");
    let tests = rows(
        &db,
        &format!(
            "SELECT t.id, t.patient_id, t.result, \
               (SELECT count(*) FROM lab_test_results r WHERE r.lab_test_id = t.id) AS results, \
               (SELECT count(*) FROM outbox_events o WHERE o.lab_test_id = t.id) AS events \
             FROM lab_tests t WHERE t.patient_id IN ({ids})"
        ),
    )
    .await;
    let stored: std::collections::HashMap<i64, (i64, String, i64, i64)> = tests
        .iter()
        .map(|row| {
            let get = |column: &str| row.try_get::<i64>("", column).expect(column);
            let result = row.try_get::<String>("", "result").expect("result");
            (get("id"), (get("patient_id"), result, get("results"), get("events")))
        })
        .collect();
    for (patient, id) in &acknowledged {
        let Some((stored_patient, result, results, events)) = stored.get(id) else {
            panic!("acknowledged test {id} is lost");
        };
        assert_eq!((stored_patient, result.as_str()), (patient, "POSITIVE"), "test {id}");
        assert_eq!((results, events), (&1, &1), "test {id}: result rows and outbox events");
    }
    for (id, (_, result, results, events)) in &stored {
        assert_eq!(result, "POSITIVE", "test {id}");
        assert_eq!((results, events), (&1, &1), "test {id} is partial: result rows and outbox events");
    }
    let per_patient = |sql: String| {
        let db = &db;
        async move {
            rows(db, &sql)
                .await
                .iter()
                .map(|row| {
                    (row.try_get::<i64>("", "patient_id").expect("patient"), row.try_get::<i64>("", "n").expect("n"))
                })
                .collect::<std::collections::HashMap<i64, i64>>()
        }
    };
    let audited = per_patient(format!(
        "SELECT patient_id, count(*) AS n FROM audit_entries \
         WHERE action = 'RECORD_TEST' AND patient_id IN ({ids}) GROUP BY patient_id"
    ))
    .await;
    // The ledger's test count (metric 1) and newly confirmed people
    // (metric 3).
    let counted = per_patient(format!(
        "SELECT patient_id, CAST(SUM(delta) AS BIGINT) AS n FROM stat_events \
         WHERE metric = 1 AND patient_id IN ({ids}) GROUP BY patient_id"
    ))
    .await;
    let confirmed = per_patient(format!(
        "SELECT patient_id, CAST(SUM(delta) AS BIGINT) AS n FROM stat_events \
         WHERE metric = 3 AND patient_id IN ({ids}) GROUP BY patient_id"
    ))
    .await;
    for patient in patients.iter().map(|p| parse(p)) {
        let tests = stored.values().filter(|(p, ..)| *p == patient).count() as i64;
        let acked = acknowledged.iter().filter(|(p, _)| *p == patient).count() as i64;
        assert!(tests >= acked, "patient {patient}: {tests} tests stored, {acked} acknowledged");
        assert_eq!(audited.get(&patient).copied().unwrap_or(0), tests, "patient {patient}: audit entries");
        assert_eq!(counted.get(&patient).copied().unwrap_or(0), tests, "patient {patient}: the ledger's tests");
        let expected = i64::from(tests > 0);
        assert_eq!(confirmed.get(&patient).copied().unwrap_or(0), expected, "patient {patient}: confirmed");
    }
    let _ = db.close().await;

    // The same database serves again, with the sessions it held.
    let restarted = Gateway::start(&postgres.url(), false, postgres.dir()).await;
    let again = restarted.record_test(&clinic, &patients[0], "POSITIVE").await;
    let hc1 = restarted.login("hc1").await;
    let seen = restarted.gql(Some(&hc1), PATIENT_TESTS, json!({ "id": patients[0] })).await;
    let listed = seen["data"]["patient"]["tests"].as_array().map(Vec::len).unwrap_or_default();
    let expected = stored.values().filter(|(p, ..)| *p == parse(&patients[0])).count() + 1;
    assert_eq!(listed, expected, "{seen}");
    assert!(seen["data"]["patient"]["tests"].as_array().into_iter().flatten().any(|t| t["id"] == again.as_str()));
    eprintln!(
        "faults: {acknowledged_at_kill} writes acknowledged when SIGKILL was sent, {} in all, {} stored; \
         none lost, none partial",
        acknowledged.len(),
        stored.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_url_that_fails_prints_no_password_in_text_or_json_logs() {
    const PASSWORD: &str = "Pw-that-must-not-be-printed-7";
    let urls = [
        // A scheme no driver serves: the driver's error quotes the URL.
        format!("postgress://ops:{PASSWORD}@127.0.0.1:5432/hersys"),
        // A role the server refuses.
        format!("postgres://no_such_role_here:{PASSWORD}@127.0.0.1:5432/postgres"),
        // A password given as a parameter.
        format!("postgres://127.0.0.1:5432/postgres?user=no_such_role_here&password={PASSWORD}"),
    ];
    for url in &urls {
        for format in ["text", "json"] {
            let output = Command::new(env!("CARGO_BIN_EXE_hersys"))
                .args(["serve", "--addr", "127.0.0.1:0", "--database-url", url])
                .env("HERSYS_LOG_FORMAT", format)
                .env("RUST_LOG", "trace")
                .env_remove("DATABASE_URL")
                .stdin(Stdio::null())
                .output()
                .expect("the gateway runs");
            assert!(!output.status.success(), "{url} cannot serve");
            let printed =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            assert!(printed.contains("error"), "{url} ({format}) says why it stopped: {printed}");
            assert!(!printed.contains(PASSWORD), "{url} ({format}) printed its password: {printed}");
        }
    }
}

fn parse(id: &str) -> i64 {
    id.parse().unwrap_or_else(|_| panic!("an ID: {id}"))
}

const DAILY: &str =
    "query($d: Date!, $at: DateTime) { statistics { daily(from: $d, to: $d, asOf: $at) { positives } } }";
const NEWEST: &str = "{ patients(first: 1) { nodes { id } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_past_figures_and_analysts_lists_only_while_it_has_replayed_them() {
    let _serial = SERIAL.lock().await;
    let primary = Postgres::start();
    let mut standby = Postgres::standby_of(&primary);
    let flags =
        ["--read-database-url", &standby.url(), "--request-deadline-ms", "4000", "--replica-list-lag-ms", "1000"];
    let gateway = Gateway::start_with(&primary.url(), true, primary.dir(), &flags).await;
    let clinic = gateway.login("clinic1").await;
    let analyst = gateway.login("analyst1").await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive().to_string();
    let replica_reads = || async {
        let metrics = gateway.client.get(gateway.url("/metrics")).send().await.expect("/metrics");
        let text = metrics.text().await.expect("a body");
        text.lines()
            .find_map(|line| line.strip_prefix("hersys_db_replica_reads_total{replica=\"1\"} "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no replica counter:\n{text}"))
    };
    let positives = |at: String| {
        let (gateway, analyst, today) = (&gateway, &analyst, &today);
        async move {
            let answer = gateway.gql(Some(analyst), DAILY, json!({ "d": today, "at": at })).await;
            answer["data"]["statistics"]["daily"][0]["positives"]
                .as_i64()
                .unwrap_or_else(|| panic!("daily figures: {answer}"))
        }
    };
    let positive = || {
        let (gateway, clinic) = (&gateway, &clinic);
        async move {
            let patient = gateway.register_patient(clinic).await;
            gateway.record_test(clinic, &patient, "POSITIVE").await;
            (patient, chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        }
    };
    // Today's positives before the test's own (the demo data set's).
    let base = positives(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).await;

    // A figure as of a moment the replica has replayed (plus the deadline)
    // comes from it, and counts what the primary does.
    let (first, after_first) = positive().await;
    let before = replica_reads().await;
    let waited = Instant::now();
    let counted = loop {
        let counted = positives(after_first.clone()).await;
        if replica_reads().await > before {
            break counted;
        }
        assert!(waited.elapsed() < Duration::from_secs(30), "no read reached the replica in 30 s");
        pause().await;
    };
    assert_eq!(counted, base + 1, "the replica's figure counts the positive recorded before asOf");
    // An analyst's list too, once the replica is within the list lag.
    let listed = gateway.gql(Some(&analyst), NEWEST, json!({})).await;
    assert_eq!(listed["data"]["patients"]["nodes"][0]["id"], first.as_str(), "{listed}");

    // A replica that stops replaying serves nothing it lacks: the figure
    // as of a later moment, and the newest list, come from the primary.
    standby.execute("SELECT pg_wal_replay_pause()").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (second, after_second) = positive().await;
    // Longer than the deadline and the list lag: a replica still replaying
    // would cover both by now.
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let paused_reads = replica_reads().await;
    assert_eq!(positives(after_second.clone()).await, base + 2, "a lagging replica does not answer a later figure");
    let listed = gateway.gql(Some(&analyst), NEWEST, json!({})).await;
    assert_eq!(listed["data"]["patients"]["nodes"][0]["id"], second.as_str(), "{listed}");
    assert_eq!(replica_reads().await, paused_reads, "nothing was read from the lagging replica");
    // What it has replayed, it still serves.
    assert_eq!(positives(after_first.clone()).await, base + 1);
    assert!(replica_reads().await > paused_reads, "the replica serves the moment it covers");

    // Without the replica the gateway carries on, on the primary.
    standby.stop();
    assert_eq!(positives(after_first.clone()).await, base + 1, "a figure it covered, from the primary now");
    assert_eq!(positives(after_second).await, base + 2);
    let listed = gateway.gql(Some(&analyst), NEWEST, json!({})).await;
    assert_eq!(listed["data"]["patients"]["nodes"][0]["id"], second.as_str(), "{listed}");
    assert!(gateway.ready().await, "ready without the replica");
}

async fn rows(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The pause between polls.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A free port on the loopback interface (free when asked; the gateway
/// binds it a moment later, and a start that loses the race is retried).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

/// `hersys serve` as a child process.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    client: reqwest::Client,
}

impl Gateway {
    /// Starts the gateway and waits until `/readyz` answers 2xx. Its log
    /// goes to `gateway.log` in `dir` (appended: restarts share it).
    async fn start(database_url: &str, demo: bool, dir: &Path) -> Gateway {
        Gateway::start_with(database_url, demo, dir, &[]).await
    }

    /// [`Gateway::start`] with more flags for `hersys serve`.
    async fn start_with(database_url: &str, demo: bool, dir: &Path, flags: &[&str]) -> Gateway {
        let log = dir.join("gateway.log");
        for _ in 0..3 {
            let addr = free_addr();
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("the log file");
            let mut command = Command::new(env!("CARGO_BIN_EXE_hersys"));
            command
                .args(["serve", "--addr", &addr.to_string(), "--database-url", database_url])
                .args(flags)
                .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file);
            if demo {
                command.arg("--demo");
            }
            let child = command.spawn().expect("start `hersys serve`");
            let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a client");
            let mut gateway = Gateway { child, addr, log: log.clone(), client };
            let started = Instant::now();
            loop {
                if gateway.ready().await {
                    return gateway;
                }
                if let Some(status) = gateway.child.try_wait().expect("the child's status") {
                    if gateway.log().contains("cannot listen") {
                        break; // the port was taken meanwhile: another one
                    }
                    panic!("the gateway exited with {status}:\n{}", gateway.log());
                }
                assert!(started.elapsed() < Duration::from_secs(120), "not ready in 120 s:\n{}", gateway.log());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("no free port for the gateway:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("the child's status").is_none()
    }

    /// Whether `/readyz` answers 2xx (within 5 s).
    async fn ready(&self) -> bool {
        let probe = self.client.get(self.url("/readyz")).timeout(Duration::from_secs(5)).send().await;
        probe.is_ok_and(|response| response.status().is_success())
    }

    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request =
            self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{query}: {e}"));
        response.json().await.unwrap_or_else(|e| panic!("{query}: not JSON: {e}"))
    }

    /// Posts an operation; answers the status, `Retry-After` and body.
    async fn post(&self, token: Option<&str>, query: &str) -> (u16, Option<String>, Value) {
        let mut request = self.client.post(self.url("/graphql")).json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (status, retry_after, response.json().await.unwrap_or_else(|e| panic!("{query}: not JSON: {e}")))
    }

    async fn login(&self, username: &str) -> String {
        let answer = self.gql(None, LOGIN, json!({ "u": username, "p": DEMO_PASSWORD })).await;
        answer["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("login {username}: {answer}")).to_owned()
    }

    async fn register_patient(&self, token: &str) -> String {
        let input = json!({
            "caseType": "CONFIRMED", "nameKanji": "試験 太郎", "nameKana": "シケン タロウ",
            "sex": "MALE", "birthDate": "1980-04-01", "confirmNewPerson": true,
        });
        let answer = self.gql(Some(token), REGISTER, json!({ "input": input })).await;
        answer["data"]["registerPatient"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
    }

    async fn record_test(&self, token: &str, patient: &str, result: &str) -> String {
        let input = json!({ "patientId": patient, "kind": "PCR", "result": result });
        let answer = self.gql(Some(token), RECORD_TEST, json!({ "input": input })).await;
        answer["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
    }

    /// Sends a signal with kill(1) (`-TERM`).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
    }

    /// SIGKILL, and the exit collected.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the child's exit");
    }

    async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// New connections are refused (within 3 s).
    async fn expect_refusing_connections(&self) {
        let started = Instant::now();
        loop {
            match TcpStream::connect(self.addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                Err(e) => panic!("connecting failed otherwise than refused: {e}"),
                Ok(_) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(3),
                        "still accepting connections 3 s after SIGTERM"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gateway log ({}) ---\n{}", self.log.display(), self.log());
        }
    }
}

/// A `POST /graphql` in flight: its headers are sent with `Expect:
/// 100-continue`, and the server's `100 Continue` shows that its handler is
/// running and reading the body, which `finish` sends.
struct HeldRequest {
    stream: TcpStream,
    body: Vec<u8>,
}

impl HeldRequest {
    async fn open(addr: SocketAddr, token: Option<&str>, query: &str, variables: Value) -> HeldRequest {
        let body = json!({ "query": query, "variables": variables }).to_string().into_bytes();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n",
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("send the headers");
        let interim = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream))
            .await
            .expect("the server reads the request in time");
        assert!(interim.starts_with("HTTP/1.1 100"), "expected 100 Continue: {interim}");
        HeldRequest { stream, body }
    }

    /// Sends the body; the response's status and JSON body.
    async fn finish(mut self) -> (u16, Value) {
        self.stream.write_all(&self.body).await.expect("send the body");
        let head = tokio::time::timeout(Duration::from_secs(10), read_head(&mut self.stream))
            .await
            .expect("a response in time");
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
            })
        };
        let body = if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
            let mut body = vec![0; length];
            self.stream.read_exact(&mut body).await.expect("the body");
            body
        } else {
            // Chunked, or until the server closes.
            let mut raw = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut raw)).await;
            if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
                dechunk(&raw)
            } else {
                raw
            }
        };
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{head}: not JSON: {}", String::from_utf8_lossy(&body)));
        (status, json)
    }
}

/// Reads a response head, up to the blank line, and no further.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.unwrap_or_else(|e| {
            panic!("the connection ended in a response head ({e}): {}", String::from_utf8_lossy(&head))
        });
        head.push(byte);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else { return body };
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < end + 2 + size {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[(end + 4 + size).min(raw.len())..];
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `positiveResults` subscription over graphql-transport-ws.
struct Subscriber {
    socket: Socket,
}

impl Subscriber {
    async fn connect(addr: SocketAddr, token: &str) -> Subscriber {
        let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("a request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("a header"));
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade");
        let mut subscriber = Subscriber { socket };
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        subscriber.send(init).await;
        let ack = subscriber.next_message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        subscriber.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } })).await;
        // The server registers the subscription before the test records.
        tokio::time::sleep(Duration::from_millis(300)).await;
        subscriber
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("sent");
    }

    /// The next text message (pings skipped).
    async fn next_message(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message in time")
                .expect("the socket is open")
                .expect("a message");
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if !matches!(value["type"].as_str(), Some("ping" | "pong")) {
                    return value;
                }
            }
        }
    }

    /// The payload of the next event.
    async fn next_event(&mut self) -> Value {
        let message = self.next_message().await;
        assert_eq!(message["type"], "next", "{message}");
        message["payload"]["data"]["positiveResults"].clone()
    }

    /// The code of the close frame that ends the connection (within 5 s);
    /// `None` if it ends without one. The client's close reply is sent.
    async fn close_code(&mut self) -> Option<u16> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut code = None;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline.into(), self.socket.next()).await {
            match message {
                Ok(Message::Close(frame)) => code = frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        code
    }
}

/// A PostgreSQL server of the test's own, in a temporary directory, that
/// the test stops and starts; stopped and removed on drop.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run PostgreSQL's commands as the `postgres` user (initdb refuses
    /// root).
    as_postgres: bool,
    running: bool,
}

impl Postgres {
    /// initdb, then start on a free port.
    fn start() -> Postgres {
        let bin = postgres_bin();
        let as_postgres = is_root();
        let dir = server_dir("hersys-faults-pg-", as_postgres);
        let mut postgres = Postgres { bin, dir, port: 0, as_postgres, running: false };
        let data = postgres.data();
        postgres.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-N"]);
        for _ in 0..3 {
            postgres.port = free_addr().port();
            if postgres.try_start() {
                return postgres;
            }
        }
        panic!("PostgreSQL did not start:\n{}", postgres.server_log());
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`), started on a
    /// free port of its own.
    fn standby_of(primary: &Postgres) -> Postgres {
        let bin = primary.bin.clone();
        let as_postgres = primary.as_postgres;
        let dir = server_dir("hersys-faults-standby-", as_postgres);
        let mut standby = Postgres { bin, dir, port: 0, as_postgres, running: false };
        let data = standby.data();
        let port = primary.port.to_string();
        standby.run(
            "pg_basebackup",
            &["-D", &data, "-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-R", "-X", "stream", "-c", "fast"],
        );
        for _ in 0..3 {
            standby.port = free_addr().port();
            if standby.try_start() {
                return standby;
            }
        }
        panic!("the standby did not start:\n{}", standby.server_log());
    }

    /// Runs `sql` on this server.
    async fn execute(&self, sql: &str) {
        let db = sea_orm::Database::connect(self.url()).await.expect("connect to the test's server");
        db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = db.close().await;
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn try_start(&mut self) -> bool {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("postgres.log").display().to_string();
        let data = self.data();
        self.running = self
            .command("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"])
            .status()
            .is_ok_and(|s| s.success());
        self.running
    }

    /// Starts again on the same port.
    fn start_again(&mut self) {
        assert!(self.try_start(), "PostgreSQL did not start again:\n{}", self.server_log());
    }

    /// `pg_ctl -m fast stop`: clients are disconnected, the server is down.
    fn stop(&mut self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"]);
        self.running = false;
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program, args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).stdin(Stdio::null()).current_dir(self.dir.path());
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self.command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"]).output();
        }
        if std::thread::panicking() {
            eprintln!("--- PostgreSQL log ---\n{}", self.server_log());
        }
    }
}

/// A temporary directory for a server of the test's own, owned by the
/// `postgres` user when PostgreSQL's programs run as it (and then under
/// /tmp, which that user reaches).
fn server_dir(prefix: &str, as_postgres: bool) -> tempfile::TempDir {
    let builder = tempfile::Builder::new().prefix(prefix).tempdir_in(if as_postgres {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    });
    let dir = builder.expect("a temporary directory");
    if as_postgres {
        let owner = Command::new("chown").args(["postgres:", &dir.path().display().to_string()]).status();
        assert!(owner.is_ok_and(|s| s.success()), "chown the data directory to postgres");
    }
    dir
}

/// The directory of PostgreSQL's server programs: the newest
/// `/usr/lib/postgresql/*/bin` (Debian's packages), else wherever `PATH`
/// has `initdb` and `pg_ctl`.
fn postgres_bin() -> PathBuf {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.split('.').next()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path =
        std::env::var_os("PATH").map(|path| std::env::split_paths(&path).find(|dir| has_both(dir))).unwrap_or_default();
    on_path.unwrap_or_else(|| {
        panic!(
            "these tests need PostgreSQL's server programs (initdb, pg_ctl) to run a server of their own, \
             and found none under /usr/lib/postgresql/*/bin or on PATH: install PostgreSQL \
             (Debian: apt-get install postgresql; .ci/run does)"
        )
    })
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or_else(|_| {
        Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}
