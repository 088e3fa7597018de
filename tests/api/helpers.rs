//! The harness: every test gets the real gateway on a random port with a
//! fresh database, SQLite (a temporary file) or PostgreSQL (a new database
//! on the server named by `TEST_DATABASE_URL`, dropped afterwards).

use std::net::SocketAddr;

use hersys::config::{Config, Secret};
use hersys::startup::Application;
use serde_json::{Value, json};

/// The demo password of docs/contract.md (demo data set only).
pub const DEMO_PASSWORD: &str = "hersys-demo-2026";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both!(name)` expects
/// `async fn name(backend: Backend)` and makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// The PostgreSQL server the tests create their databases on.
fn postgres_base_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match without_query.rfind('/') {
        Some(slash) if without_query[..slash].contains("://") && slash > without_query.find("://").unwrap_or(0) + 2 => {
            &without_query[..slash]
        }
        _ => without_query,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The address of `/metrics` when it has its own (`metrics_addr`).
    pub metrics_addr: Option<SocketAddr>,
    /// The database the gateway runs on, for tests that check it directly.
    pub database_url: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// Keeps the SQLite file alive.
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop at the end.
    pg_database: Option<String>,
    /// The server task, aborted to simulate a crash.
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Everything the gateways of this test binary logged, for the test that
/// proves no personal data reaches the logs.
pub fn captured_logs() -> String {
    let buffer = log_buffer();
    buffer.lock().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

type LogBuffer = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

fn log_buffer() -> &'static LogBuffer {
    static BUFFER: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer: LogBuffer = Default::default();
        let writer = buffer.clone();
        // As verbose as it gets, so that anything logged anywhere is seen.
        let filter = tracing_subscriber::EnvFilter::new(
            "info,hersys=trace,tower_http=trace,sea_orm=trace,sqlx=trace,async_graphql=trace",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(LogBuffer);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts the gateway with the demo data set on a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with_clock(backend, std::sync::Arc::new(hersys::clock::ManualClock::default())).await
}

/// As `spawn_app`, reading the time from `clock`, which the test moves.
pub async fn spawn_app_with_clock(backend: Backend, clock: std::sync::Arc<hersys::clock::ManualClock>) -> TestApp {
    spawn_app_configured(backend, clock, |_| {}).await
}

/// As `spawn_app`, with the configuration changed by `configure`.
pub async fn spawn_app_configured(
    backend: Backend,
    clock: std::sync::Arc<hersys::clock::ManualClock>,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    log_buffer();
    let (url, dir, pg_database) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display());
            (url, Some(dir), None)
        }
        Backend::Postgres => {
            let base = postgres_base_url();
            let name = format!("hersys_test_{}", hex_suffix());
            let admin = sea_orm::Database::connect(base.as_str()).await.expect(
                "PostgreSQL for the tests: set TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)",
            );
            sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE {name}"))
                .await
                .expect("create the test database");
            let _ = admin.close().await;
            (with_database(&base, &name), None, Some(name))
        }
    };
    let mut config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(url.clone()));
    config.db_max_connections = 5;
    // Quick enough that subscription tests do not wait long.
    config.outbox_poll_interval = std::time::Duration::from_millis(100);
    config.session_check_interval = std::time::Duration::from_millis(300);
    configure(&mut config);
    let app = Application::build_with_clock(config, clock).await.expect("the gateway starts");
    hersys::services::demo::seed_demo(&app.state.db).await.expect("the demo data set loads");
    let addr = app.addr();
    let metrics_addr = app.metrics_addr();
    let server = tokio::spawn(app.run());
    TestApp {
        addr,
        metrics_addr,
        database_url: url,
        backend,
        client: reqwest::Client::new(),
        _dir: dir,
        pg_database,
        server,
    }
}

fn hex_suffix() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(name) = self.pg_database.take() {
            let base = postgres_base_url();
            // The test's runtime is going away; drop the database from a
            // runtime of our own.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok(admin) = sea_orm::Database::connect(base.as_str()).await {
                        let _ = sea_orm::ConnectionTrait::execute_unprepared(
                            &admin,
                            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        )
                        .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

impl TestApp {
    /// Kills the server at once (open connections drop), as a crash would.
    pub fn kill(&self) {
        self.server.abort();
    }

    /// Another gateway process on the same database (a replica, or the
    /// same service restarted), on its own port.
    pub async fn another_on_the_same_database(&self) -> TestApp {
        self.another_on_the_same_database_configured(|_| {}).await
    }

    /// As `another_on_the_same_database`, with the configuration changed by
    /// `configure`.
    pub async fn another_on_the_same_database_configured(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(self.database_url.clone()));
        config.db_max_connections = 5;
        config.outbox_poll_interval = std::time::Duration::from_millis(100);
        config.session_check_interval = std::time::Duration::from_millis(300);
        configure(&mut config);
        let app = Application::build(config).await.expect("the second gateway starts");
        hersys::services::demo::seed_demo(&app.state.db).await.expect("the demo data set loads");
        let addr = app.addr();
        let metrics_addr = app.metrics_addr();
        let server = tokio::spawn(app.run());
        TestApp {
            addr,
            metrics_addr,
            database_url: self.database_url.clone(),
            backend: self.backend,
            client: reqwest::Client::new(),
            _dir: None,
            pg_database: None,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts a GraphQL operation and returns the JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request =
            self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json::<Value>().await.expect("a JSON body")
    }

    /// Signs a demo account in and returns its token.
    pub async fn login(&self, username: &str) -> String {
        let response = self
            .gql(
                None,
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
                json!({ "u": username, "p": DEMO_PASSWORD }),
            )
            .await;
        response["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login of {username} failed: {response}"))
            .to_owned()
    }

    /// SQL statements the gateway has run for requests so far (from
    /// `/metrics`; the dispatcher's polling is counted apart).
    pub async fn query_count(&self) -> u64 {
        let text = self.client.get(self.url("/metrics")).send().await.expect("metrics").text().await.expect("body");
        text.lines()
            .find_map(|line| line.strip_prefix("hersys_db_queries_total{source=\"requests\"} "))
            .and_then(|n| n.trim().parse().ok())
            .expect("hersys_db_queries_total in /metrics")
    }

    /// Lists of patients answered so far by plan and field by field (from
    /// `/metrics`).
    pub async fn list_paths(&self) -> (u64, u64) {
        let text = self.client.get(self.url("/metrics")).send().await.expect("metrics").text().await.expect("body");
        let count = |path: &str| {
            let prefix = format!("hersys_patient_lists_total{{path=\"{path}\"}} ");
            text.lines()
                .find_map(|line| line.strip_prefix(prefix.as_str()).and_then(|n| n.trim().parse().ok()))
                .expect("hersys_patient_lists_total in /metrics")
        };
        (count("planned"), count("fields"))
    }

    /// Registers a patient as `token` and returns (id, smartphoneId).
    pub async fn register_patient(&self, token: &str, name_kana: &str, extra: Value) -> (String, String) {
        let mut input = json!({
            "caseType": "CONFIRMED",
            "nameKanji": "試験 太郎",
            "nameKana": name_kana,
            "sex": "MALE",
            "birthDate": "1980-04-01",
            // The tests register the same person often; the duplicate check
            // has its own tests.
            "confirmNewPerson": true,
        });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                input.insert(key.clone(), value.clone());
            }
        }
        let response = self
            .gql(
                Some(token),
                "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id smartphoneId } }",
                json!({ "input": input }),
            )
            .await;
        let patient = &response["data"]["registerPatient"];
        match (patient["id"].as_str(), patient["smartphoneId"].as_str()) {
            (Some(id), Some(phone_id)) => (id.to_owned(), phone_id.to_owned()),
            _ => panic!("registerPatient failed: {response}"),
        }
    }

    /// Looks up an ID by a query path, e.g. the first health centre's.
    pub async fn health_centre_id(&self, token: &str, code: &str) -> String {
        let response = self.gql(Some(token), "{ healthCentres { id code } }", json!({})).await;
        response["data"]["healthCentres"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["code"] == code))
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("no health centre {code}: {response}"))
            .to_owned()
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

/// The `extensions.field` of the first error, if any.
pub fn error_field(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["field"].as_str()
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/test", "x"), "postgres://postgres@127.0.0.1:5432/x");
    assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}

/// A WebSocket to the gateway, as the subscription tests hold it.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for an answer the server owes it.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// A JSON message as a WebSocket text frame.
pub fn ws_text(value: Value) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Text(value.to_string().into())
}

/// The next text message as JSON, `None` when the socket closes; close
/// frames come back as `{"type": "close", "code": …}`.
pub async fn next_ws_message(socket: &mut Socket) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await.expect("an answer in time")?;
        match message {
            Ok(Message::Text(body)) => return serde_json::from_str(body.as_str()).ok(),
            Ok(Message::Close(frame)) => {
                return Some(json!({ "type": "close", "code": frame.map(|f| u16::from(f.code)) }));
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Records a PCR test of `patient` with `result` as `token` and returns its
/// ID.
pub async fn record_test(app: &TestApp, token: &str, patient: &str, result: &str) -> String {
    let response = app
        .gql(
            Some(token),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": patient, "kind": "PCR", "result": result } }),
        )
        .await;
    response["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}
