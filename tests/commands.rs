//! The `hersys` commands an operator runs, as the real binary: loading the
//! demo data set (refused on a database with accounts of its own), and
//! `serve` refusing settings it does not know or cannot use.

use std::process::{Command, Output, Stdio};

use sea_orm::{ConnectionTrait, Statement};

/// A database of the test's own: a SQLite file, or a fresh database on the
/// PostgreSQL server of `TEST_DATABASE_URL` (dropped at the end).
struct Database {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<String>,
}

impl Database {
    fn sqlite() -> Database {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display());
        Database { url, _dir: Some(dir), postgres: None }
    }

    async fn postgres() -> Database {
        let base = postgres_base_url();
        let name = format!("hersys_commands_{}", hex::encode(rand::random::<[u8; 8]>()));
        let admin = sea_orm::Database::connect(base.as_str()).await.expect("PostgreSQL of TEST_DATABASE_URL");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create the database");
        let _ = admin.close().await;
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("TEST_DATABASE_URL names a database: {base}"),
        };
        Database { url, _dir: None, postgres: Some(name) }
    }

    /// What the demo loader could change: accounts with their organisation
    /// and password hash, and the counts of the reference tables.
    async fn snapshot(&self) -> Vec<String> {
        self.lines(&[
            "SELECT username || ' ' || CAST(organisation_id AS TEXT) || ' ' || password_hash AS line \
             FROM accounts ORDER BY id",
            "SELECT 'organisations ' || CAST(COUNT(*) AS TEXT) AS line FROM organisations",
            "SELECT 'health centres ' || CAST(COUNT(*) AS TEXT) AS line FROM health_centres",
            "SELECT 'facilities ' || CAST(COUNT(*) AS TEXT) AS line FROM facilities",
            "SELECT 'prefectures ' || CAST(COUNT(*) AS TEXT) AS line FROM prefectures",
        ])
        .await
    }

    async fn usernames(&self) -> Vec<String> {
        self.lines(&["SELECT username AS line FROM accounts ORDER BY id"]).await
    }

    /// The `line` column of every row of each statement.
    async fn lines(&self, statements: &[&str]) -> Vec<String> {
        let db = sea_orm::Database::connect(self.url.as_str()).await.expect("connect");
        let backend = db.get_database_backend();
        let mut seen = Vec::new();
        for sql in statements {
            let rows = db.query_all_raw(Statement::from_string(backend, sql.to_string())).await.expect(sql);
            seen.extend(rows.iter().map(|row| row.try_get::<String>("", "line").expect("a line")));
        }
        let _ = db.close().await;
        seen
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some(name) = self.postgres.take() else { return };
        let base = postgres_base_url();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok(admin) = sea_orm::Database::connect(base.as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

fn postgres_base_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `hersys ARGS` with only the environment given (and `PATH`), so that
/// the caller's own `HERSYS_…` variables do not leak in.
fn hersys(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hersys"));
    command.args(args).env_clear().stdin(Stdio::null()).env("RUST_LOG", "warn");
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("hersys runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const DEMO_USERNAMES: [&str; 10] =
    ["clinic1", "hospital1", "hc1", "hc1b", "hc2", "hc3", "pref13", "analyst1", "admin1", "admin2"];

async fn demo_seed_refuses_a_database_with_accounts_of_its_own(db: Database) {
    let url = db.url.as_str();
    // A real deployment's first administrator.
    let added = hersys(
        &["account", "add", "--username", "ops.admin", "--database-url", url],
        &[("HERSYS_ACCOUNT_PASSWORD", "Correct-Horse-Battery-42")],
    );
    assert!(added.status.success(), "account add: {}", stderr(&added));
    let before = db.snapshot().await;

    let refused = hersys(&["seed", "--demo", "--database-url", url], &[]);
    assert!(!refused.status.success(), "seed --demo loaded the demo accounts next to a real one");
    let message = stderr(&refused);
    assert!(message.contains("1 account"), "the refusal counts the accounts: {message}");
    assert!(message.contains("published password"), "the refusal says why: {message}");
    assert!(message.contains("--force"), "the refusal says how to override: {message}");
    assert_eq!(db.snapshot().await, before, "a refused seed --demo changed the database");

    // `serve --demo` loads the demo data set the same way, and refuses too.
    let served = hersys(&["serve", "--demo", "--addr", "127.0.0.1:0", "--database-url", url], &[]);
    assert!(!served.status.success(), "serve --demo started next to a real account");
    assert!(stderr(&served).contains("published password"), "{}", stderr(&served));
    assert_eq!(db.snapshot().await, before, "a refused serve --demo changed the database");

    let forced = hersys(&["seed", "--demo", "--force", "--database-url", url], &[]);
    assert!(forced.status.success(), "seed --demo --force: {}", stderr(&forced));
    assert!(stderr(&forced).contains("never load the demo data set where real data is"), "{}", stderr(&forced));
    let usernames = db.usernames().await;
    for username in DEMO_USERNAMES.iter().chain(&["ops.admin"]) {
        assert!(usernames.iter().any(|u| u == username), "{username} missing after --force: {usernames:?}");
    }
}

async fn demo_seed_twice_on_a_demo_database_succeeds_and_changes_nothing(db: Database) {
    let url = db.url.as_str();
    let first = hersys(&["seed", "--demo", "--database-url", url], &[]);
    assert!(first.status.success(), "seed --demo: {}", stderr(&first));
    assert!(stderr(&first).contains("published"), "the warning is printed: {}", stderr(&first));
    let loaded = db.snapshot().await;
    assert_eq!(db.usernames().await, DEMO_USERNAMES, "the demo accounts, in order");

    let second = hersys(&["seed", "--demo", "--database-url", url], &[]);
    assert!(second.status.success(), "seed --demo on a demo database: {}", stderr(&second));
    assert_eq!(db.snapshot().await, loaded, "a second seed --demo changed the database");
}

/// An account with a demo username but a password of its own is not the
/// demo data set's.
async fn a_demo_username_with_its_own_password_is_an_account_of_its_own(db: Database) {
    let url = db.url.as_str();
    let added = hersys(
        &["account", "add", "--username", "admin1", "--database-url", url],
        &[("HERSYS_ACCOUNT_PASSWORD", "Correct-Horse-Battery-42")],
    );
    assert!(added.status.success(), "account add: {}", stderr(&added));
    let before = db.snapshot().await;
    let refused = hersys(&["seed", "--demo", "--database-url", url], &[]);
    assert!(!refused.status.success(), "the demo accounts were added next to a real admin1");
    assert_eq!(db.snapshot().await, before);
}

#[tokio::test]
async fn seed_demo_refuses_own_accounts_sqlite() {
    demo_seed_refuses_a_database_with_accounts_of_its_own(Database::sqlite()).await;
}

#[tokio::test]
async fn seed_demo_refuses_own_accounts_postgres() {
    demo_seed_refuses_a_database_with_accounts_of_its_own(Database::postgres().await).await;
}

#[tokio::test]
async fn seed_demo_twice_sqlite() {
    demo_seed_twice_on_a_demo_database_succeeds_and_changes_nothing(Database::sqlite()).await;
}

#[tokio::test]
async fn seed_demo_twice_postgres() {
    demo_seed_twice_on_a_demo_database_succeeds_and_changes_nothing(Database::postgres().await).await;
}

#[tokio::test]
async fn seed_demo_refuses_a_real_admin1_sqlite() {
    a_demo_username_with_its_own_password_is_an_account_of_its_own(Database::sqlite()).await;
}

/// `hersys serve` with these variables on a fresh SQLite file: it must
/// refuse to start, and says why on standard error.
fn serve_refuses(env: &[(&str, &str)]) -> String {
    let db = Database::sqlite();
    let output = hersys(&["serve", "--addr", "127.0.0.1:0", "--database-url", &db.url], env);
    assert!(!output.status.success(), "serve started with {env:?}");
    stderr(&output)
}

#[test]
fn serve_refuses_a_variable_no_setting_has() {
    let message = serve_refuses(&[("HERSYS_NOT_A_SETTING", "1")]);
    assert!(message.contains("HERSYS_NOT_A_SETTING"), "the variable is named: {message}");
    let message = serve_refuses(&[("HERSYS_MAX_DEPHT", "8")]);
    assert!(message.contains("did you mean HERSYS_MAX_DEPTH?"), "the nearest setting is named: {message}");
}

#[test]
fn serve_refuses_values_it_cannot_use_naming_the_setting() {
    for (variable, value) in [
        ("HERSYS_CORS_ALLOW_ORIGINS", "https://dashboard.example.jp/"),
        ("HERSYS_CORS_ALLOW_ORIGINS", "*"),
        ("HERSYS_MAX_BATCH_OPERATIONS", "0"),
        ("HERSYS_REQUEST_DEADLINE_MS", "0"),
        ("HERSYS_MAX_DEPTH", "deep"),
        ("HERSYS_METRICS_TOKEN", "too-short"),
    ] {
        let message = serve_refuses(&[(variable, value)]);
        assert!(message.contains(variable), "{variable}={value}: the setting is named: {message}");
        assert!(!message.contains("panicked"), "{variable}={value}: {message}");
    }
}

/// Log lines written to a file or pipe carry no terminal colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let db = Database::sqlite();
    let output = hersys(&["migrate", "--database-url", &db.url], &[("RUST_LOG", "trace")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stderr(&output);
    assert!(printed.contains("migrations applied"), "{printed}");
    assert!(printed.lines().count() > 1, "some log lines were written: {printed}");
    assert!(!printed.contains('\u{1b}'), "an escape code in the log: {printed}");
}

/// `hersys seed --synthetic` (a name of the public contract) loads the
/// synthetic wave through the tools binary built beside `hersys`; where
/// that binary is missing it says how to build it and loads nothing.
#[test]
fn seed_synthetic_loads_the_wave_through_the_tools_binary() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("synthetic.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let tools = std::path::Path::new(env!("CARGO_BIN_EXE_hersys")).with_file_name("hersys-tools");
    let output = hersys(&["seed", "--synthetic", "--patients", "30", "--database-url", &url], &[]);
    if tools.is_file() {
        assert!(output.status.success(), "{}", stderr(&output));
        let count = Command::new("sqlite3").arg(&file).arg("SELECT COUNT(*) >= 30 FROM patients").output();
        if let Ok(count) = count {
            assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "1", "{}", stderr(&output));
        }
    } else {
        assert!(!output.status.success());
        assert!(stderr(&output).contains("cargo build --workspace"), "{}", stderr(&output));
    }
    // Naming a missing tools binary is refused the same way.
    let missing = hersys(
        &["seed", "--synthetic", "--patients", "30", "--database-url", &url],
        &[("HERSYS_TOOLS_BIN", "/nonexistent/hersys-tools")],
    );
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("/nonexistent/hersys-tools"), "{}", stderr(&missing));
}
