//! `hersys-tools bench load`: drives a gateway over HTTP with the real workloads
//! and prints, for each, throughput, latency (p50, p99, max), errors, the
//! CPU the gateway and the database spent per request and the gateway's
//! resident memory:
//!
//! - (a) the dashboard list: `patients(first: 100)` of one health centre,
//!   each with its tests, hospital stays and latest health report, as
//!   that centre's staff;
//! - (b) one patient's full record, every relation and personal field, as
//!   the responsible health centre (so each request also writes its
//!   read audit);
//! - (c) `recordTest` with a POSITIVE result (result history, outbox
//!   event, ledger and audit in one transaction), a new test each time,
//!   round-robin over open cases of that centre;
//! - (d) `statistics { daily }` over 90 days, as a national analyst;
//! - (e) `{ __typename }`, the floor.
//!
//! For (a) it also captures the SQL statements one request runs (an
//! in-process gateway on the same database, whose connection records every
//! statement with its values) and replays them straight against the
//! database with as many workers, so that the gateway's own cost shows as
//! a ratio.
//!
//! The fixture is written into the gateway's database and is idempotent:
//! accounts `bench-load-hc` (staff of the health centre with the most
//! patients, or of a bench centre on an empty database) and
//! `bench-load-analyst`, a facility without system access and a hospital
//! in that centre's district, and, when the centre has fewer than 100
//! patients, the missing ones with tests, health reports and stays,
//! registered through the API. The password is new on every run.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use entity::enums::{FacilityKind, OrganisationKind};
use entity::{account, facility, health_centre, organisation};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, Set, Statement};
use serde_json::{Value, json};

use super::Server;

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The database the gateway runs on. The fixture is written there and
    /// the SQL-only comparison runs there; with `--url` it must be the
    /// database of that gateway.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// A running gateway to drive, e.g. http://127.0.0.1:8080 (start it with
    /// `--rate-limit-address 0 --rate-limit-account 0`). Without it, this
    /// command starts one on the database.
    #[arg(long)]
    pub url: Option<String>,
    /// Process ID of the gateway at `--url`, for its CPU time and memory
    /// (default: the process listening on the URL's port, when visible).
    #[arg(long)]
    pub gateway_pid: Option<u32>,
    /// Requests in flight at once (workers sharing one HTTP client).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds each workload is measured.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds each workload runs unmeasured first.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Workloads to run, comma-separated: a (dashboard list), b (one
    /// patient's record), c (recordTest POSITIVE), d (statistics, 90
    /// days), e ({ __typename }), f (a health centre's page of 100
    /// patients by name, audited), g (the analyst's de-identified page of
    /// the same shape), q (the work queue as the console opens it: the
    /// open items' count and the newest 50 items, over two weeks of the
    /// centre's case events).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d,e,f,g,q")]
    pub only: Vec<String>,
    /// First day of the 90 days of (d).
    #[arg(long, default_value = "2022-07-01")]
    pub statistics_from: NaiveDate,
    /// A PostGraphile 5 server on the same database (`tools/postgraphile`):
    /// workloads (f) and (g) are then also run against it, with the same
    /// driver, after checking that it answers the same rows.
    #[arg(long)]
    pub postgraphile: Option<String>,
    /// Process ID of that PostGraphile server, for its CPU time and memory
    /// (default: the process listening on its port, when visible).
    #[arg(long)]
    pub postgraphile_pid: Option<u32>,
    /// Where the started gateway's log goes.
    #[arg(long, default_value = "bench-gateway.log")]
    pub log: PathBuf,
}

/// Patients the dashboard page lists (and the least its centre must have).
const PAGE: i64 = 100;
/// Open cases (c) spreads its tests over, at most: many, so that a run
/// adds a few tests per patient (a patient has one to three), not dozens.
const TEST_TARGETS: u64 = 3000;
const HC_USERNAME: &str = "bench-load-hc";
const ANALYST_USERNAME: &str = "bench-load-analyst";

/// The dashboard list of workload (a). (tests/api/bounds.rs checks that it
/// stays within the gateway's limits.)
pub const DASHBOARD: &str = include_str!("dashboard.graphql");

/// One patient's full record, workload (b).
pub const RECORD: &str = include_str!("record.graphql");

/// The page a health centre opens first, workload (f): its patients by
/// name, reading and date of birth, with their tests and stays and the
/// facility and hospital of each by ID. Every patient's personal fields
/// are read, so every request writes its read audit before answering.
pub const PERSONAL_PAGE: &str = include_str!("personal.graphql");

/// The analyst's page of the same shape without personal fields,
/// workload (g).
pub const DEIDENTIFIED_PAGE: &str = include_str!("deidentified.graphql");

/// Pages (f) and (g) in PostGraphile 5's schema of the same tables.
const POSTGRAPHILE_PERSONAL: &str = include_str!("postgraphile-personal.graphql");
const POSTGRAPHILE_DEIDENTIFIED: &str = include_str!("postgraphile-deidentified.graphql");

/// What the console asks first, workload (q): the open items' count and
/// the newest page of the queue.
pub const WORK_QUEUE: &str = include_str!("queue.graphql");

/// Days of `NOT_REPORTED` items (q) puts on the centre's queue.
const QUEUE_DAYS: i64 = 14;

const RECORD_TEST: &str = "mutation RecordTest($input: RecordTestInput!) { recordTest(input: $input) { id result } }";

const STATISTICS: &str = "query Daily($from: Date!, $to: Date!) { statistics { daily(from: $from, to: $to) { \
     date tests positives negatives deaths severe severeTokyoDefinition requiringInpatientCare } } }";

const TYPENAME: &str = "{ __typename }";

/// One workload: the requests its workers send, round-robin.
struct Workload {
    key: &'static str,
    /// Another server than the gateway (URL, process), for a comparison.
    elsewhere: Option<(String, Option<u32>)>,
    label: String,
    /// What it asks, and as whom.
    detail: String,
    token: Option<String>,
    bodies: Vec<String>,
}

/// What the bench wrote or found in the database.
struct Fixture {
    password: String,
    centre_id: i64,
    centre_code: String,
    /// A testing centre of the district without system access, which the
    /// health centre enters tests for.
    facility_id: i64,
    /// A hospital of the district, for the stays of topped-up patients.
    hospital_id: i64,
}

/// How one request ended.
enum Answer {
    Ok,
    /// No 200 (or no response at all), with what came back.
    Status(String),
    /// 200 with GraphQL `errors`.
    GraphQl(String),
}

/// What the workers of one run saw.
struct Tally {
    latency: Histogram<u64>,
    requests: u64,
    non_200: u64,
    graphql_errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            requests: 0,
            non_200: 0,
            graphql_errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, elapsed: Duration, answer: Answer) {
        self.requests += 1;
        let _ = self.latency.record((elapsed.as_micros() as u64).max(1));
        let error = match answer {
            Answer::Ok => return,
            Answer::Status(text) => {
                self.non_200 += 1;
                text
            }
            Answer::GraphQl(text) => {
                self.graphql_errors += 1;
                text
            }
        };
        if self.first_error.is_none() {
            self.first_error = Some(error.chars().take(400).collect());
        }
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.non_200 += other.non_200;
        self.graphql_errors += other.graphql_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn error_rate(&self) -> f64 {
        (self.non_200 + self.graphql_errors) as f64 / self.requests.max(1) as f64
    }

    fn ms(&self, quantile: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        let micros = if quantile >= 1.0 { self.latency.max() } else { self.latency.value_at_quantile(quantile) };
        micros as f64 / 1000.0
    }
}

/// Runs `job` with `concurrency` workers for `duration`; the argument of
/// `job` numbers the requests (for round-robin).
async fn drive<F, Fut>(concurrency: usize, duration: Duration, job: Arc<F>) -> anyhow::Result<Tally>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (job, next) = (job.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let answer = job(n).await;
                tally.record(sent.elapsed(), answer);
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for worker in workers {
        total.merge(worker.await?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Sends one GraphQL request and classifies the answer without parsing it:
/// `"errors":` can only occur in a JSON text as a key (inside a string its
/// quotes are escaped), and no field of these operations is so named.
async fn send(client: &reqwest::Client, url: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Answer::Status(format!("no response: {error}")),
    };
    let status = response.status();
    match response.bytes().await {
        Err(error) => Answer::Status(format!("{status}, body unreadable: {error}")),
        Ok(bytes) if status != reqwest::StatusCode::OK => {
            Answer::Status(format!("{status}: {}", String::from_utf8_lossy(&bytes)))
        }
        Ok(bytes) if bytes.windows(9).any(|w| w == b"\"errors\":") => {
            Answer::GraphQl(String::from_utf8_lossy(&bytes).into_owned())
        }
        Ok(_) => Answer::Ok,
    }
}

/// One request whose answer the bench needs: the `data`, or an error.
async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    graphql_body(client, url, token, body(query, variables)).await
}

/// [`graphql`] with the request's JSON body already written.
async fn graphql_body(client: &reqwest::Client, url: &str, token: Option<&str>, body: String) -> anyhow::Result<Value> {
    let mut request = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success() && body["errors"].is_null(), "{status}: {}", body["errors"]);
    Ok(body["data"].clone())
}

async fn login(client: &reqwest::Client, url: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let data = graphql(
        client,
        url,
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": password }),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot sign in as {username}: {e}"))?;
    data["login"]["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("login returned no token"))
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let mut chosen = Vec::new();
    for key in &options.only {
        let key = key.trim().to_ascii_lowercase();
        anyhow::ensure!(
            ["a", "b", "c", "d", "e", "f", "g", "q"].contains(&key.as_str()),
            "unknown workload {key:?}: choose among a, b, c, d, e, f, g, q"
        );
        chosen.push(key);
    }
    // (c) last, so that its writes (and the folding of the statistics
    // ledger after them) do not load the others.
    let keys: Vec<&'static str> =
        ["a", "b", "f", "g", "q", "d", "e", "c"].into_iter().filter(|k| chosen.iter().any(|c| c == k)).collect();
    anyhow::ensure!(!keys.is_empty() && options.concurrency > 0 && options.duration > 0, "nothing to measure");
    print_machine();

    let db = sea_orm::Database::connect(options.database_url.as_str()).await?;
    hersys::db::migrate(&db).await?;
    hersys::services::demo::ensure_prefectures(&db).await?;
    let backend = db.get_database_backend();
    let password = format!("bench-{}", hex::encode(rand::random::<[u8; 12]>()));
    if backend == DbBackend::Postgres {
        advance_sequences(&db).await?;
    }
    let fixture = prepare(&db, password).await?;

    // The gateway: the one named, or one of our own.
    let (server, base, pid) = match &options.url {
        Some(url) => {
            let base = url.trim_end_matches('/').trim_end_matches("/graphql").to_owned();
            let pid = options.gateway_pid.or_else(|| {
                reqwest::Url::parse(&base).ok().and_then(|u| u.port_or_known_default()).and_then(listener_pid)
            });
            (None, base, pid)
        }
        None => {
            let server = Server::start(&options.database_url, options.log.clone()).await?;
            let base = format!("http://{}", server.addr);
            let pid = Some(server.pid());
            (Some(server), base, pid)
        }
    };
    let url = format!("{base}/graphql");
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(options.concurrency.max(1) * 2)
        .build()?;
    println!(
        "gateway: {base} ({}), pid {}",
        if server.is_some() { "started by this bench" } else { "given" },
        pid.map_or("unknown: no CPU or memory figures for it".to_owned(), |p| p.to_string())
    );
    let database_name = database_name(&options.database_url);
    let postgres_visible = backend == DbBackend::Postgres && postgres_ticks(database_name.as_deref()).is_some();

    let hc_token = login(&client, &url, HC_USERNAME, &fixture.password).await?;
    let analyst_token = login(&client, &url, ANALYST_USERNAME, &fixture.password).await?;
    let have = count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM patients WHERE responsible_health_centre_id = {}", fixture.centre_id),
    )
    .await?;
    if have < PAGE {
        top_up(&client, &url, &hc_token, &fixture, (PAGE - have) as usize).await?;
    }
    let patients = count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM patients WHERE responsible_health_centre_id = {}", fixture.centre_id),
    )
    .await?;
    let all_patients = count(&db, "SELECT COUNT(*) AS n FROM patients").await?;
    println!(
        "database: {} with {all_patients} patients; health centre {} (ID {}) responsible for {patients}",
        if backend == DbBackend::Postgres { "PostgreSQL" } else { "SQLite" },
        fixture.centre_code,
        fixture.centre_id
    );

    // The record of (b): a patient of the centre with a hospital stay and
    // the most health reports.
    let record_patient = ids(
        &db,
        &format!(
            "SELECT p.id AS id FROM patients p WHERE p.responsible_health_centre_id = {} ORDER BY \
             (SELECT COUNT(*) FROM hospitalisations h WHERE h.patient_id = p.id) > 0 DESC, \
             (SELECT COUNT(*) FROM health_reports r WHERE r.patient_id = p.id) DESC, p.id LIMIT 1",
            fixture.centre_id
        ),
    )
    .await?
    .first()
    .copied()
    .ok_or_else(|| anyhow::anyhow!("the health centre has no patient"))?;
    // The open cases (c) records tests for: outside the dashboard's page
    // and the record of (b), so that the other workloads read the same
    // rows from run to run; on the page only when the centre has no other.
    let page = ids(
        &db,
        &format!(
            "SELECT id FROM patients WHERE responsible_health_centre_id = {} ORDER BY id DESC LIMIT {PAGE}",
            fixture.centre_id
        ),
    )
    .await?;
    let oldest_listed = page.iter().min().copied().unwrap_or(i64::MAX);
    let open = |condition: String| {
        let sql = format!(
            "SELECT id FROM patients WHERE responsible_health_centre_id = {} AND outcome IS NULL AND {condition} \
             ORDER BY id DESC LIMIT {TEST_TARGETS}",
            fixture.centre_id
        );
        let db = &db;
        async move { ids(db, &sql).await }
    };
    let mut test_targets = open(format!("id < {oldest_listed} AND id <> {record_patient}")).await?;
    let targets_listed = test_targets.is_empty();
    if targets_listed {
        test_targets = open(format!("id <> {record_patient}")).await?;
    }
    let mut workloads = Vec::new();
    for key in &keys {
        let workload = match *key {
            "a" => Workload {
                elsewhere: None,
                key: "a",
                label: "dashboard list, 100 patients".to_owned(),
                detail: format!(
                    "patients(first: 100, filter: {{healthCentreId: {}}}), each with tests, hospitalisations (all of \
                     them: the schema has no latest stay) and latestHealthReport; as {HC_USERNAME}",
                    fixture.centre_id
                ),
                token: Some(hc_token.clone()),
                bodies: vec![body(DASHBOARD, json!({ "centre": fixture.centre_id.to_string() }))],
            },
            "b" => Workload {
                elsewhere: None,
                key: "b",
                label: format!("full record of patient {record_patient}"),
                detail: format!(
                    "patient(id: {record_patient}) with every field and relation, personal fields (and so an audit \
                     entry) included; as {HC_USERNAME}, the responsible centre"
                ),
                token: Some(hc_token.clone()),
                bodies: vec![body(RECORD, json!({ "id": record_patient.to_string() }))],
            },
            "c" => {
                anyhow::ensure!(!test_targets.is_empty(), "the health centre has no open case to record tests for");
                if targets_listed {
                    println!(
                        "note: the centre has no open case outside the dashboard's page, so (c) adds tests to listed \
                         patients and (a) reads more rows on every later run (a larger data set avoids this)"
                    );
                }
                Workload {
                    elsewhere: None,
                    key: "c",
                    label: format!("recordTest POSITIVE, {} patients", test_targets.len()),
                    detail: format!(
                        "recordTest(kind: PCR, result: POSITIVE) round-robin over {} open cases, for testing centre {} \
                         (no system access); as {HC_USERNAME}",
                        test_targets.len(),
                        fixture.facility_id
                    ),
                    token: Some(hc_token.clone()),
                    bodies: test_targets
                        .iter()
                        .map(|id| {
                            body(
                                RECORD_TEST,
                                json!({ "input": { "patientId": id.to_string(), "kind": "PCR", "result": "POSITIVE",
                                        "facilityId": fixture.facility_id.to_string() } }),
                            )
                        })
                        .collect(),
                }
            }
            "f" => Workload {
                elsewhere: None,
                key: "f",
                label: "personal page, 100 patients".to_owned(),
                detail: format!(
                    "patients(first: 100, filter: {{healthCentreId: {}}}) by name, reading and birth date, with tests \
                     (facility {{ id }}) and stays (hospital {{ id }}); every personal read audited; as {HC_USERNAME}",
                    fixture.centre_id
                ),
                token: Some(hc_token.clone()),
                bodies: vec![body(PERSONAL_PAGE, json!({ "centre": fixture.centre_id.to_string() }))],
            },
            "g" => Workload {
                elsewhere: None,
                key: "g",
                label: "de-identified page, 100 patients".to_owned(),
                detail: format!(
                    "the same page without personal fields (age band instead of names and birth date); as \
                     {ANALYST_USERNAME}, centre {}",
                    fixture.centre_id
                ),
                token: Some(analyst_token.clone()),
                bodies: vec![body(DEIDENTIFIED_PAGE, json!({ "centre": fixture.centre_id.to_string() }))],
            },
            "q" => {
                let (events, acknowledged) = fill_queue(&db, fixture.centre_id).await?;
                Workload {
                    elsewhere: None,
                    key: "q",
                    label: "work queue, count and 50 items".to_owned(),
                    detail: format!(
                        "workQueue(states: [OPEN], first: 0) {{ totalCount }} and workQueue(first: 50) with each \
                         item's patient by name, test and state, over the centre's {events} case events ({acknowledged} \
                         acknowledged); as {HC_USERNAME}"
                    ),
                    token: Some(hc_token.clone()),
                    bodies: vec![body(WORK_QUEUE, json!({}))],
                }
            }
            "d" => {
                let to = options.statistics_from + chrono::Duration::days(89);
                Workload {
                    elsewhere: None,
                    key: "d",
                    label: "statistics daily, 90 days".to_owned(),
                    detail: format!(
                        "statistics {{ daily(from: {}, to: {to}) }}, nationwide; as {ANALYST_USERNAME}",
                        options.statistics_from
                    ),
                    token: Some(analyst_token.clone()),
                    bodies: vec![body(
                        STATISTICS,
                        json!({ "from": options.statistics_from.to_string(), "to": to.to_string() }),
                    )],
                }
            }
            _ => {
                let anonymous = matches!(send(&client, &url, None, &body(TYPENAME, json!({}))).await, Answer::Ok);
                Workload {
                    elsewhere: None,
                    key: "e",
                    label: format!("{{ __typename }}, {}", if anonymous { "anonymous" } else { "signed in" }),
                    detail: "{ __typename }".to_owned(),
                    token: (!anonymous).then(|| hc_token.clone()),
                    bodies: vec![body(TYPENAME, json!({}))],
                }
            }
        };
        // One request first, so that a workload that cannot succeed says
        // why instead of being timed.
        if let Answer::Status(error) | Answer::GraphQl(error) =
            send(&client, &url, workload.token.as_deref(), &workload.bodies[0]).await
        {
            anyhow::bail!("workload ({key}) {} fails: {}", workload.label, error.chars().take(600).collect::<String>());
        }
        workloads.push(workload);
    }

    // PostGraphile beside (f) and (g), once it answers the same rows.
    if let Some(postgraphile) = &options.postgraphile {
        let pg_pid = options.postgraphile_pid.or_else(|| {
            reqwest::Url::parse(postgraphile).ok().and_then(|u| u.port_or_known_default()).and_then(listener_pid)
        });
        let variables = json!({ "centre": fixture.centre_id.to_string() });
        let mut beside = Vec::new();
        for workload in &workloads {
            let (key, label, query) = match workload.key {
                "f" => ("f-pg", "PostGraphile 5: personal page", POSTGRAPHILE_PERSONAL),
                "g" => ("g-pg", "PostGraphile 5: de-identified page", POSTGRAPHILE_DEIDENTIFIED),
                _ => continue,
            };
            let theirs = body(query, variables.clone());
            let rows = same_rows(&client, (&url, workload), (postgraphile, &theirs)).await?;
            beside.push(Workload {
                elsewhere: Some((postgraphile.clone(), pg_pid)),
                key,
                label: label.to_owned(),
                detail: format!(
                    "allPatients(first: 100, condition: {{responsibleHealthCentreId: {}}}) of the same shape on \
                     PostGraphile 5 at {postgraphile} (no authorisation, no audit); the same {rows} rows as ({})",
                    fixture.centre_id, workload.key
                ),
                token: None,
                bodies: vec![theirs],
            });
        }
        workloads.extend(beside);
    }

    // The statements of one dashboard request, before anything is timed.
    let captured = if keys.contains(&"a") {
        let variables = json!({ "centre": fixture.centre_id.to_string() });
        let captured = capture(&options.database_url, &hc_token, &variables).await?;
        let dashboard = workloads.iter().find(|w| w.key == "a");
        let counted = match dashboard {
            Some(dashboard) => statements_per_request(&client, &base, dashboard, &url).await,
            None => None,
        };
        Some((captured, counted))
    } else {
        None
    };

    for workload in &workloads {
        println!("({}) {}", workload.key, workload.detail);
    }
    println!(
        "{} workers sharing one HTTP client, {} s warm-up, {} s measured per workload\n",
        options.concurrency, options.warmup, options.duration
    );
    println!(
        "{:<38} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>10} {:>10} {:>8}",
        "workload",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "non-200",
        "gql err",
        "gw CPU ms",
        "DB CPU ms",
        "RSS MiB"
    );
    let tick_ms = 1000.0 / clock_ticks_per_second();
    let mut failed = Vec::new();
    let mut dashboard = None;
    for workload in workloads {
        let workload = Arc::new(workload);
        let (url, pid) = match &workload.elsewhere {
            Some((other, other_pid)) => (other.clone(), *other_pid),
            None => (url.clone(), pid),
        };
        let job = {
            let (client, url, workload) = (client.clone(), url.clone(), workload.clone());
            Arc::new(move |n: u64| {
                let (client, url, workload) = (client.clone(), url.clone(), workload.clone());
                async move {
                    let body = &workload.bodies[(n % workload.bodies.len() as u64) as usize];
                    send(&client, &url, workload.token.as_deref(), body).await
                }
            })
        };
        if options.warmup > 0 {
            drive(options.concurrency, Duration::from_secs(options.warmup), job.clone()).await?;
        }
        let gateway_before = pid.and_then(process_ticks);
        let database_before = postgres_visible.then(|| postgres_ticks(database_name.as_deref())).flatten();
        let tally = drive(options.concurrency, Duration::from_secs(options.duration), job).await?;
        let gateway_after = pid.and_then(process_ticks);
        let database_after = postgres_visible.then(|| postgres_ticks(database_name.as_deref())).flatten();
        let per_request = |before: Option<u64>, after: Option<u64>| match (before, after) {
            (Some(before), Some(after)) if tally.requests > 0 => {
                format!("{:.3}", after.saturating_sub(before) as f64 * tick_ms / tally.requests as f64)
            }
            _ => "-".to_owned(),
        };
        let rss = pid.and_then(rss_bytes).map_or("-".to_owned(), |b| format!("{:.1}", b as f64 / 1048576.0));
        println!(
            "{:<38} {:>8} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7} {:>10} {:>10} {:>8}",
            format!("({}) {}", workload.key, workload.label),
            tally.requests,
            tally.per_second(),
            tally.ms(0.5),
            tally.ms(0.99),
            tally.ms(1.0),
            tally.non_200,
            tally.graphql_errors,
            per_request(gateway_before, gateway_after),
            per_request(database_before, database_after),
            rss
        );
        if let Some(error) = &tally.first_error {
            println!("    first error: {error}");
            if error.starts_with("429") {
                println!(
                    "    (the gateway limits the rate: start it with --rate-limit-address 0 --rate-limit-account 0)"
                );
            }
        }
        if tally.error_rate() > 0.01 {
            failed.push(format!("({}) {:.1} % errors", workload.key, tally.error_rate() * 100.0));
        }
        if workload.key == "a"
            && let Some((captured, _)) = &captured
        {
            let database = match (database_before, database_after) {
                (Some(before), Some(after)) => Some(after.saturating_sub(before)),
                _ => None,
            };
            // Straight after, on the same data.
            let replay = replay(&options, &base, &client, captured, postgres_visible).await?;
            if replay.tally.error_rate() > 0.01 {
                failed.push(format!("SQL only: {:.1} % errors", replay.tally.error_rate() * 100.0));
            }
            dashboard = Some((tally, database, replay));
        }
    }
    println!(
        "\nCPU in milliseconds per request: the gateway process's utime+stime{}; RSS after each workload.",
        if backend == DbBackend::Postgres {
            ", and the database's: every `postgres` process but the connections to other databases"
        } else {
            " (SQLite runs inside it: no separate database figure)"
        }
    );
    if let (Some((captured, counted)), Some((gateway, gateway_ticks, replay))) = (&captured, &dashboard) {
        print_comparison(&options, captured, *counted, gateway, *gateway_ticks, replay, tick_ms);
    }
    drop(server);
    anyhow::ensure!(failed.is_empty(), "more than 1 % of the requests failed: {}", failed.join(", "));
    Ok(())
}

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// The machine and the build the figures are of.
fn print_machine() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!("machine: {cores} cores, {model}");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) {
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        println!("commit: {commit}{}", if dirty { " with uncommitted changes" } else { "" });
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
        .await?
        .and_then(|row| row.try_get::<i64>("", "n").ok())
        .unwrap_or(0))
}

async fn ids(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<i64>> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await?;
    Ok(rows.iter().filter_map(|row| row.try_get::<i64>("", "id").ok()).collect())
}

/// Moves every ID sequence that lags behind its table's highest ID up to
/// it: the synthetic data set (`hersys-tools seed-synthetic`) writes its IDs
/// itself without advancing the sequences, after which no insert through
/// the gateway (nor of this fixture) would find a free ID.
async fn advance_sequences(db: &DatabaseConnection) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    let tables = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT table_name::text AS t, pg_get_serial_sequence(quote_ident(table_name), 'id') AS s \
             FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'id'"
                .to_owned(),
        ))
        .await?;
    let mut advanced = Vec::new();
    for row in tables {
        let (Ok(table), Ok(Some(sequence))) = (row.try_get::<String>("", "t"), row.try_get::<Option<String>>("", "s"))
        else {
            continue;
        };
        // Both names come from the catalogue; the table's is quoted.
        let sql = format!(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM \"{}\") AS m, (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}) AS l",
            table.replace('"', "\"\"")
        );
        let Some(row) = db.query_one_raw(Statement::from_string(backend, sql)).await? else { continue };
        let (highest, last) = (row.try_get::<i64>("", "m")?, row.try_get::<i64>("", "l")?);
        if highest > last {
            db.query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT setval($1::regclass, $2)",
                [sequence.into(), highest.into()],
            ))
            .await?;
            advanced.push(table);
        }
    }
    if !advanced.is_empty() {
        println!(
            "advanced the ID sequences of {} to their highest IDs (left behind by the synthetic data set)",
            advanced.join(", ")
        );
    }
    Ok(())
}

/// The fixture, written straight into the database (idempotent).
async fn prepare(db: &DatabaseConnection, password: String) -> anyhow::Result<Fixture> {
    let hash = hersys::auth::password::hash(&password)?;
    // The centre: the one of an earlier run, else the one responsible for
    // the most patients, else (an empty database) a bench centre.
    let earlier = match account::Entity::find().filter(account::Column::Username.eq(HC_USERNAME)).one(db).await? {
        Some(found) => {
            organisation::Entity::find_by_id(found.organisation_id).one(db).await?.and_then(|o| o.health_centre_id)
        }
        None => None,
    };
    let centre_id = match earlier {
        Some(id) => id,
        None => {
            let busiest = ids(
                db,
                "SELECT responsible_health_centre_id AS id, COUNT(*) AS n FROM patients \
                 GROUP BY responsible_health_centre_id ORDER BY n DESC, id LIMIT 1",
            )
            .await?;
            match busiest.first() {
                Some(id) => *id,
                None => {
                    let centres = super::fixture::ensure_centres(db, 1, &password).await?;
                    let facility_id = centres.first().map(|c| c.facility_id).unwrap_or_default();
                    facility::Entity::find_by_id(facility_id)
                        .one(db)
                        .await?
                        .map(|f| f.health_centre_id)
                        .ok_or_else(|| anyhow::anyhow!("the bench health centre is missing"))?
                }
            }
        }
    };
    let centre = health_centre::Entity::find_by_id(centre_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("health centre {centre_id} is missing"))?;
    let facility_id = ensure_facility(db, &centre, FacilityKind::TestingCentre, "F").await?;
    let hospital_id = ensure_facility(db, &centre, FacilityKind::Hospital, "H").await?;
    super::fixture::ensure_account(
        db,
        HC_USERNAME,
        OrganisationKind::HealthCentre,
        &centre.name_en,
        Some(centre.id),
        &hash,
    )
    .await?;
    super::fixture::ensure_account(
        db,
        ANALYST_USERNAME,
        OrganisationKind::National,
        "Bench load: national analysts",
        None,
        &hash,
    )
    .await?;
    Ok(Fixture { password, centre_id, centre_code: centre.code, facility_id, hospital_id })
}

/// The case events of the centre's queue for (q), as the gateway writes
/// them: a `POSITIVE_RESULT` for each positive test of its patients and a
/// `NOT_REPORTED` for each of its patients on each of the last
/// [`QUEUE_DAYS`] days, every third acknowledged. Written once (each under
/// a key of its own), so that runs read the same queue. Answers the
/// centre's events and acknowledged items.
async fn fill_queue(db: &DatabaseConnection, centre: i64) -> anyhow::Result<(i64, i64)> {
    let backend = db.get_database_backend();
    let positives = format!(
        "INSERT INTO outbox_events (kind, lab_test_id, patient_id, health_centre_id, prefecture_id, occurred_at, \
         dedup_key) SELECT 'POSITIVE_RESULT', t.id, p.id, hc.id, hc.prefecture_id, t.recorded_at, \
         'BENCH-QUEUE:' || CAST(t.id AS TEXT) FROM lab_tests t JOIN patients p ON p.id = t.patient_id \
         JOIN health_centres hc ON hc.id = p.responsible_health_centre_id \
         WHERE hc.id = {centre} AND t.result = 'POSITIVE' ON CONFLICT (dedup_key) DO NOTHING"
    );
    db.execute_raw(sea_orm::Statement::from_string(backend, positives)).await?;
    let today = Utc::now().date_naive();
    for back in 1..=QUEUE_DAYS {
        let day = today - chrono::Duration::days(back);
        let at = day.and_hms_opt(3, 0, 0).map(|t| t.and_utc()).unwrap_or_else(Utc::now);
        let at = if backend == DbBackend::Postgres {
            format!("TIMESTAMPTZ '{}'", at.to_rfc3339())
        } else {
            format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%:z"))
        };
        let not_reported = format!(
            "INSERT INTO outbox_events (kind, patient_id, health_centre_id, prefecture_id, occurred_at, detail, \
             dedup_key) SELECT 'NOT_REPORTED', p.id, hc.id, hc.prefecture_id, {at}, '{day}', \
             'NOT_REPORTED:{day}:' || CAST(p.id AS TEXT) FROM patients p \
             JOIN health_centres hc ON hc.id = p.responsible_health_centre_id \
             WHERE hc.id = {centre} ON CONFLICT (dedup_key) DO NOTHING"
        );
        db.execute_raw(sea_orm::Statement::from_string(backend, not_reported)).await?;
    }
    let staff = ids(db, &format!("SELECT id FROM accounts WHERE username = '{HC_USERNAME}'")).await?;
    let staff =
        staff.first().copied().ok_or_else(|| anyhow::anyhow!("the bench's health centre account is missing"))?;
    let acknowledge = format!(
        "INSERT INTO work_items (event_id, health_centre_id, state, assignee_account_id, updated_by_account_id, \
         updated_at, version) SELECT id, health_centre_id, 'ACKNOWLEDGED', {staff}, {staff}, occurred_at, 1 \
         FROM outbox_events WHERE health_centre_id = {centre} AND kind IN ('POSITIVE_RESULT', 'NOT_REPORTED') \
         AND id % 3 = 0 ON CONFLICT (event_id) DO NOTHING"
    );
    db.execute_raw(sea_orm::Statement::from_string(backend, acknowledge)).await?;
    // As autovacuum would have by the time a queue is this long.
    if backend == DbBackend::Postgres {
        db.execute_unprepared("VACUUM ANALYZE outbox_events, work_items").await?;
    }
    let events =
        count(db, &format!("SELECT COUNT(*) AS n FROM outbox_events WHERE health_centre_id = {centre}")).await?;
    let acknowledged =
        count(db, &format!("SELECT COUNT(*) AS n FROM work_items WHERE health_centre_id = {centre}")).await?;
    Ok((events, acknowledged))
}

/// A facility without system access in the centre's district.
async fn ensure_facility(
    db: &DatabaseConnection,
    centre: &health_centre::Model,
    kind: FacilityKind,
    letter: &str,
) -> anyhow::Result<i64> {
    let code = format!("BENCH-LOAD-{letter}-{}", centre.id);
    if let Some(found) = facility::Entity::find().filter(facility::Column::Code.eq(&code)).one(db).await? {
        return Ok(found.id);
    }
    let name = if kind == FacilityKind::Hospital { "Hospital" } else { "Testing Centre" };
    let created = facility::Entity::insert(facility::ActiveModel {
        code: Set(code),
        name_en: Set(format!("Bench Load {name} {}", centre.id)),
        name_ja: Set(format!(
            "負荷試験{}{}",
            if kind == FacilityKind::Hospital { "病院" } else { "検査センター" },
            centre.id
        )),
        kind: Set(kind),
        health_centre_id: Set(centre.id),
        has_system_access: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await?;
    Ok(created.id)
}

/// Registers `missing` patients in the centre through the API, each with a
/// positive PCR and a negative antigen test, three health reports, and
/// every third a hospital stay.
async fn top_up(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    fixture: &Fixture,
    missing: usize,
) -> anyhow::Result<()> {
    println!("the health centre has fewer than {PAGE} patients: registering {missing} through the API");
    let facility = fixture.facility_id.to_string();
    let hospital = fixture.hospital_id.to_string();
    let results = futures_util::stream::iter(0..missing)
        .map(|n| {
            let (facility, hospital) = (facility.clone(), hospital.clone());
            async move {
                let registered = graphql(
                    client,
                    url,
                    Some(token),
                    "mutation($f: ID!, $birth: Date!, $sex: Sex!) { registerPatient(input: { caseType: CONFIRMED, \
                     nameKanji: \"負荷 試験\", nameKana: \"フカ シケン\", sex: $sex, birthDate: $birth, facilityId: $f }) { id } }",
                    json!({ "f": facility, "birth": format!("{}-04-01", 1940 + n % 70),
                            "sex": if n % 2 == 0 { "FEMALE" } else { "MALE" } }),
                )
                .await?;
                let patient = registered["registerPatient"]["id"].as_str().unwrap_or_default().to_owned();
                for (kind, result) in [("PCR", "POSITIVE"), ("ANTIGEN_QUALITATIVE", "NEGATIVE")] {
                    graphql(
                        client,
                        url,
                        Some(token),
                        RECORD_TEST,
                        json!({ "input": { "patientId": patient, "kind": kind, "result": result, "facilityId": facility } }),
                    )
                    .await?;
                }
                for day in 0..3 {
                    graphql(
                        client,
                        url,
                        Some(token),
                        "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id } }",
                        json!({ "input": { "patientId": patient, "bodyTemperature": 37.0 + day as f64 * 0.4,
                                "spo2": 97 - day, "symptoms": ["COUGH", "FATIGUE"] } }),
                    )
                    .await?;
                }
                if n % 3 == 0 {
                    graphql(
                        client,
                        url,
                        Some(token),
                        "mutation($p: ID!, $h: ID!) { admitPatient(patientId: $p, facilityId: $h, severity: MODERATE_I) { id } }",
                        json!({ "p": patient, "h": hospital }),
                    )
                    .await?;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

/// One statement a request ran, with its values.
struct Captured {
    statement: Statement,
    elapsed: Duration,
}

/// Runs the dashboard request on an in-process gateway (the same code, on
/// the same database) whose connection records every statement with its
/// values, and returns the statements of one request (the second, so that
/// nothing is first-time work).
async fn capture(database_url: &str, token: &str, variables: &Value) -> anyhow::Result<Vec<Captured>> {
    let config = hersys::config::Config::new(([127, 0, 0, 1], 0).into(), hersys::config::Secret::new(database_url));
    let queries = Arc::new(hersys::db::QueryCounter::default());
    let mut db = hersys::db::connect(&config, queries.clone()).await?;
    let recording = Arc::new(AtomicBool::new(false));
    let captured: Arc<std::sync::Mutex<Vec<Captured>>> = Arc::default();
    {
        let (recording, captured) = (recording.clone(), captured.clone());
        db.set_metric_callback(move |info| {
            if recording.load(Ordering::Relaxed)
                && let Ok(mut captured) = captured.lock()
            {
                captured.push(Captured { statement: info.statement.clone(), elapsed: info.elapsed });
            }
        });
    }
    let state = hersys::state::AppState {
        db,
        sessions: Arc::new(hersys::auth::recent::RecentSessions::new(config.session_cache)),
        passwords: Arc::new(hersys::auth::password::Gate::new(config.password_concurrency, config.password_wait)),
        config: Arc::new(config),
        queries,
        background_queries: Default::default(),
        clock: Arc::new(hersys::clock::SystemClock),
        hub: Arc::new(hersys::events::EventHub::new(16)),
        revocations: Default::default(),
        replicas: Arc::new(hersys::db::replicas::Replicas::none()),
        lists: Default::default(),
    };
    let router = hersys::http::router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    let serving =
        tokio::spawn(
            async move { axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await },
        );
    let client = reqwest::Client::builder().no_proxy().build()?;
    let result = async {
        graphql(&client, &url, Some(token), DASHBOARD, variables.clone()).await?;
        recording.store(true, Ordering::Relaxed);
        let answered = graphql(&client, &url, Some(token), DASHBOARD, variables.clone()).await;
        recording.store(false, Ordering::Relaxed);
        answered?;
        anyhow::Ok(())
    }
    .await;
    serving.abort();
    result?;
    let statements = std::mem::take(&mut *captured.lock().map_err(|_| anyhow::anyhow!("capture poisoned"))?);
    Ok(statements)
}

/// `hersys_db_queries_total{source="requests"}` on the gateway.
async fn request_queries(client: &reqwest::Client, base: &str) -> Option<u64> {
    let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("hersys_db_queries_total{source=\"requests\"}"))
        .and_then(|value| value.trim().parse().ok())
}

/// Statements the gateway counted for one dashboard request, less what
/// reading `/metrics` itself costs.
async fn statements_per_request(client: &reqwest::Client, base: &str, dashboard: &Workload, url: &str) -> Option<u64> {
    let first = request_queries(client, base).await?;
    let second = request_queries(client, base).await?;
    let own = second.saturating_sub(first);
    let before = request_queries(client, base).await?;
    send(client, url, dashboard.token.as_deref(), &dashboard.bodies[0]).await;
    let after = request_queries(client, base).await?;
    Some(after.saturating_sub(before).saturating_sub(own))
}

/// The dashboard's statements replayed straight against the database.
struct Replay {
    /// Median time of each statement alone, on one connection.
    alone: Vec<Duration>,
    tally: Tally,
    /// Database CPU ticks over the measured run.
    database_ticks: Option<u64>,
    pool: u32,
}

/// Replays the statements of one dashboard request straight against the
/// database: each alone (the median of 50 runs on one connection), then
/// with as many workers as the gateway had, for as long, each request's
/// statements one after another, on a pool the size of the gateway's.
async fn replay(
    options: &Options,
    base: &str,
    client: &reqwest::Client,
    captured: &[Captured],
    postgres_visible: bool,
) -> anyhow::Result<Replay> {
    let metrics = match client.get(format!("{base}/metrics")).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let pool = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hersys_db_pool_max_connections "))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or_else(|| {
            hersys::config::Config::new(([127, 0, 0, 1], 0).into(), Default::default()).db_max_connections
        });
    let mut config = hersys::config::Config::new(
        ([127, 0, 0, 1], 0).into(),
        hersys::config::Secret::new(options.database_url.clone()),
    );
    config.db_max_connections = pool;
    let db = hersys::db::connect(&config, Default::default()).await?;
    let statements: Arc<Vec<Statement>> = Arc::new(captured.iter().map(|c| c.statement.clone()).collect());

    let mut times = vec![Vec::with_capacity(50); statements.len()];
    for _ in 0..50 {
        for (index, statement) in statements.iter().enumerate() {
            let started = Instant::now();
            db.query_all_raw(statement.clone()).await?;
            times[index].push(started.elapsed());
        }
    }
    let alone = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect();

    let job = {
        let (db, statements) = (db.clone(), statements.clone());
        Arc::new(move |_n: u64| {
            let (db, statements) = (db.clone(), statements.clone());
            async move {
                for statement in statements.iter() {
                    if let Err(error) = db.query_all_raw(statement.clone()).await {
                        return Answer::Status(hersys::db::describe_db_error(&error).to_string());
                    }
                }
                Answer::Ok
            }
        })
    };
    if options.warmup > 0 {
        drive(options.concurrency, Duration::from_secs(options.warmup), job.clone()).await?;
    }
    let database_name = database_name(&options.database_url);
    let before = postgres_visible.then(|| postgres_ticks(database_name.as_deref())).flatten();
    let tally = drive(options.concurrency, Duration::from_secs(options.duration), job).await?;
    let after = postgres_visible.then(|| postgres_ticks(database_name.as_deref())).flatten();
    let database_ticks = match (before, after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(Replay { alone, tally, database_ticks, pool })
}

/// The statements of one dashboard request, and the gateway against the
/// same SQL alone.
fn print_comparison(
    options: &Options,
    captured: &[Captured],
    counted: Option<u64>,
    gateway: &Tally,
    gateway_ticks: Option<u64>,
    replay: &Replay,
    tick_ms: f64,
) {
    println!(
        "\n(a) SQL of one dashboard request: {} statements captured{}",
        captured.len(),
        match counted {
            Some(n) => format!("; the gateway counted {n} (hersys_db_queries_total)"),
            None => "; the gateway's hersys_db_queries_total was not readable".to_owned(),
        }
    );
    for (index, (captured, alone)) in captured.iter().zip(&replay.alone).enumerate() {
        let values = captured.statement.values.as_ref().map_or(0, |v| v.0.len());
        println!(
            "  {:>2}. {:>7.3} ms alone ({:.3} ms in the captured request), {values} values: {}",
            index + 1,
            alone.as_secs_f64() * 1000.0,
            captured.elapsed.as_secs_f64() * 1000.0,
            compact(&captured.statement.sql)
        );
    }
    println!(
        "\n(a) gateway vs the same SQL only: {} workers, {} s each; the SQL on a pool of {} connections \
         (the gateway's size), each request's statements one after another",
        options.concurrency, options.duration, replay.pool
    );
    println!(
        "  {:<10} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>10}",
        "", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "DB CPU ms"
    );
    for (name, tally, ticks) in
        [("gateway", gateway, gateway_ticks), ("SQL only", &replay.tally, replay.database_ticks)]
    {
        println!(
            "  {:<10} {:>8} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>10}",
            name,
            tally.requests,
            tally.per_second(),
            tally.ms(0.5),
            tally.ms(0.99),
            tally.ms(1.0),
            tally.non_200 + tally.graphql_errors,
            ticks
                .filter(|_| tally.requests > 0)
                .map_or("-".to_owned(), |t| format!("{:.3}", t as f64 * tick_ms / tally.requests as f64))
        );
    }
    if let Some(error) = &replay.tally.first_error {
        println!("  first SQL error: {error}");
    }
    let ratio = replay.tally.per_second() / gateway.per_second().max(1e-9);
    println!(
        "  ratio: the SQL alone serves {ratio:.2}× the gateway's requests per second \
         (the gateway reaches {:.0} % of it)",
        100.0 / ratio.max(1e-9)
    );
}

/// A statement with its long runs of placeholders (`$1, $2, … $100`, or
/// `?, ?, …`) shortened.
fn compact(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let placeholder = |at: usize| -> Option<usize> {
        match bytes.get(at) {
            Some(b'?') => Some(at + 1),
            Some(b'$') => {
                let digits = bytes[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                (digits > 0).then_some(at + 1 + digits)
            }
            _ => None,
        }
    };
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    while at < bytes.len() {
        if let Some(end) = placeholder(at) {
            // A run of placeholders separated by ", ".
            let mut last = (at, end);
            let mut count = 1;
            let mut cursor = end;
            while sql[cursor..].starts_with(", ")
                && let Some(next) = placeholder(cursor + 2)
            {
                last = (cursor + 2, next);
                cursor = next;
                count += 1;
            }
            if count > 3 {
                out.push_str(&format!("{}, … {} ({count} values)", &sql[at..end], &sql[last.0..last.1]));
            } else {
                out.push_str(&sql[at..cursor]);
            }
            at = cursor;
        } else {
            let ch = sql[at..].chars().next().unwrap_or(' ');
            out.push(ch);
            at += ch.len_utf8();
        }
    }
    out
}

/// The database's name in a PostgreSQL URL.
fn database_name(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let name = parsed.path().trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_owned())
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which may hold spaces: the 3rd
    // field (state) first, so utime (14th) and stime (15th) are 11 and 12.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// utime + stime summed over the PostgreSQL processes (command `postgres`)
/// but the connections to other databases than `database`, whose title
/// reads `postgres: [cluster: ]USER DATABASE HOST(PORT) STATE`. None when
/// no such process is visible (another host, another container).
fn postgres_ticks(database: Option<&str>) -> Option<u64> {
    let mut total = 0;
    let mut seen = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if !std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|c| c.trim() == "postgres") {
            continue;
        }
        let title = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&title).replace('\0', " ");
        let words: Vec<&str> = title.split_whitespace().collect();
        let host = words.iter().position(|w| *w == "[local]" || (w.contains('(') && w.ends_with(')')));
        if let (Some(host), Some(database)) = (host, database)
            && host > 0
            && words[host - 1] != database
        {
            continue;
        }
        if let Some(ticks) = process_ticks(pid) {
            total += ticks;
            seen = true;
        }
    }
    seen.then_some(total)
}

/// Resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// The process listening on a local TCP port, if this user can see it.
fn listener_pid(port: u16) -> Option<u32> {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port =
                fields.get(1).and_then(|a| a.rsplit(':').next()).and_then(|p| u16::from_str_radix(p, 16).ok());
            if fields.get(3) == Some(&"0A")
                && local_port == Some(port)
                && let Some(inode) = fields.get(9)
            {
                sockets.push(format!("socket:[{inode}]"));
            }
        }
    }
    if sockets.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && sockets.iter().any(|s| target.as_os_str() == s.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

/// Checks that `theirs` (another server's request) answers the same
/// patients, tests and stays, in the same order of patients, as the
/// gateway's workload; answers how many rows that is.
async fn same_rows(client: &reqwest::Client, ours: (&str, &Workload), theirs: (&str, &str)) -> anyhow::Result<usize> {
    let (url, workload) = ours;
    let gateway = graphql_body(client, url, workload.token.as_deref(), workload.bodies[0].clone()).await?;
    let other = graphql_body(client, theirs.0, None, theirs.1.to_owned()).await?;
    let ids = |list: &Value, key: &str| -> Vec<String> {
        let mut ids: Vec<String> =
            list.as_array().into_iter().flatten().filter_map(|row| row[key].as_str().map(str::to_owned)).collect();
        ids.sort();
        ids
    };
    let gateway_rows: Vec<(String, Vec<String>, Vec<String>)> = gateway["patients"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (p["id"].as_str().unwrap_or_default().to_owned(), ids(&p["tests"], "id"), ids(&p["hospitalisations"], "id"))
        })
        .collect();
    let other_rows: Vec<(String, Vec<String>, Vec<String>)> = other["allPatients"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["rowId"].as_str().unwrap_or_default().to_owned(),
                ids(&p["labTestsByPatientId"]["nodes"], "rowId"),
                ids(&p["hospitalisationsByPatientId"]["nodes"], "rowId"),
            )
        })
        .collect();
    anyhow::ensure!(!gateway_rows.is_empty(), "the gateway's page is empty");
    anyhow::ensure!(
        gateway_rows == other_rows,
        "the two servers answer different rows for ({}): {} patients against {}",
        workload.key,
        gateway_rows.len(),
        other_rows.len()
    );
    let rows = gateway_rows.iter().map(|(_, tests, stays)| 1 + tests.len() + stays.len()).sum();
    Ok(rows)
}
