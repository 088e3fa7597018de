//! The synthetic data set (`hersys-tools seed-synthetic`) against the
//! oracle of the statistics ledger (tests/api/ledger/reference.rs): its
//! ledger, replayed from each patient's history, must give exactly the
//! figures recomputed from the history tables, for several areas and
//! moments, on SQLite and on PostgreSQL (a new database on the server named
//! by `TEST_DATABASE_URL`, dropped afterwards). A gateway runs on the same
//! database, to show that it can write into a loaded set.

#[path = "../../tests/api/ledger/reference.rs"]
mod reference;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use hersys::config::{Config, Secret};
use hersys::services::statistics::{self, Area};
use hersys::startup::Application;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};

use self::reference::{
    Figures, Query, Series, assert_same_cases, assert_same_series, get, japan_date, ledger_cases, reference_cases,
    reference_daily, total,
};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_synthetic_ledger_matches_the_history_on_sqlite() {
    the_synthetic_ledger_matches_the_history_it_was_replayed_from(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_synthetic_ledger_matches_the_history_on_postgres() {
    the_synthetic_ledger_matches_the_history_it_was_replayed_from(Backend::Postgres).await
}

// ---------------------------------------------------------------------------
// The harness: the gateway with the demo data set on a fresh database.
// ---------------------------------------------------------------------------

/// The PostgreSQL server the test creates its database on.
fn postgres_base_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = base[authority..].rfind('/').map_or(base, |slash| &base[..authority + slash]);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

struct Gateway {
    addr: SocketAddr,
    database_url: String,
    client: reqwest::Client,
    /// Keeps the SQLite file alive.
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop at the end.
    pg_database: Option<String>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gateway {
    async fn start(backend: Backend) -> Gateway {
        let (database_url, dir, pg_database) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let name = format!("hersys_tools_test_{}", hex::encode(rand::random::<[u8; 8]>()));
                let admin = sea_orm::Database::connect(base.as_str()).await.expect(
                    "PostgreSQL for the tests: set TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)",
                );
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
                let _ = admin.close().await;
                (with_database(&base, &name), None, Some(name))
            }
        };
        let mut config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(database_url.clone()));
        config.db_max_connections = 5;
        let clock = Arc::new(hersys::clock::ManualClock::default());
        let app = Application::build_with_clock(config, clock).await.expect("the gateway starts");
        hersys::services::demo::seed_demo(&app.state.db).await.expect("the demo data set loads");
        let addr = app.addr();
        let server = tokio::spawn(app.run());
        Gateway { addr, database_url, client: reqwest::Client::new(), _dir: dir, pg_database, server }
    }

    /// A connection of the test's own to the gateway's database (more than
    /// one connection: the loader reads while it holds a transaction open).
    async fn connect(&self) -> DatabaseConnection {
        let mut options = sea_orm::ConnectOptions::new(self.database_url.clone());
        options.max_connections(4);
        sea_orm::Database::connect(options).await.expect("direct connection")
    }

    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent").json::<Value>().await.expect("a JSON body")
    }

    /// Signs a demo account in and returns its token.
    async fn login(&self, username: &str) -> String {
        let response = self
            .gql(
                None,
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
                json!({ "u": username, "p": hersys::services::demo::DEMO_PASSWORD }),
            )
            .await;
        response["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login of {username} failed: {response}"))
            .to_owned()
    }

    /// Registers a patient as `token` and returns the ID.
    async fn register_patient(&self, token: &str, name_kana: &str) -> String {
        let input = json!({
            "caseType": "CONFIRMED",
            "nameKanji": "試験 太郎",
            "nameKana": name_kana,
            "sex": "MALE",
            "birthDate": "1980-04-01",
        });
        let response = self
            .gql(
                Some(token),
                "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        response["data"]["registerPatient"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("registerPatient failed: {response}"))
            .to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
        let Some(name) = self.pg_database.take() else { return };
        // The test's runtime is going away; drop the database from a
        // runtime of our own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = sea_orm::Database::connect(postgres_base_url().as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

// ---------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------

/// The figures `statistics::daily` computes from the ledger.
async fn ledger_daily(db: &DatabaseConnection, area: Area, from: NaiveDate, to: NaiveDate, t: DateTime<Utc>) -> Series {
    statistics::daily(db, area, from, to, t)
        .await
        .expect("statistics::daily")
        .into_iter()
        .map(|d| {
            let figures = Figures {
                tests: d.tests,
                negatives: d.negatives,
                positives: d.positives,
                deaths: d.deaths,
                severe: d.severe,
                severe_tokyo: d.severe_tokyo,
                requiring_care: d.requiring_care,
            };
            (d.date, figures)
        })
        .collect()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("a moment")
}

async fn the_synthetic_ledger_matches_the_history_it_was_replayed_from(backend: Backend) {
    let app = Gateway::start(backend).await;
    let db = app.connect().await;
    // 3,000 people with seed 12 include deaths, severe cases (by both
    // definitions), transfers, reinfections, contacts and clusters; deaths
    // and ventilators are rare, and smaller sets or other seeds often have
    // none.
    hersys_tools::synthetic::seed(&db, 3000, 12).await.expect("the synthetic data set loads");
    // The gateway can write into a loaded set: its IDs continue after the
    // loader's.
    let clinic = app.login("clinic1").await;
    let registered = app.register_patient(&clinic, "ロード アト").await;
    assert!(registered.parse::<i64>().expect("an ID") > 3000, "{registered}");
    let (from, to) =
        (NaiveDate::from_ymd_opt(2022, 1, 1).expect("a date"), NaiveDate::from_ymd_opt(2022, 12, 31).expect("a date"));

    // The nation, the three prefectures and the health centre with the most
    // patients.
    let mut q = Query::new(db.get_database_backend());
    q.push(
        "SELECT CAST(hc.prefecture_id AS BIGINT) AS prefecture_id, COUNT(*) AS n FROM patients p \
         JOIN health_centres hc ON hc.id = p.responsible_health_centre_id GROUP BY hc.prefecture_id \
         ORDER BY n DESC, prefecture_id LIMIT 3",
    );
    let mut areas = vec![Area::Nation];
    for row in q.all(&db).await {
        areas.push(Area::Prefecture(i32::try_from(get::<i64>(&row, "prefecture_id")).expect("a prefecture")));
    }
    let mut q = Query::new(db.get_database_backend());
    q.push(
        "SELECT p.responsible_health_centre_id AS centre, COUNT(*) AS n FROM patients p \
         GROUP BY p.responsible_health_centre_id ORDER BY n DESC, centre LIMIT 1",
    );
    areas.extend(q.all(&db).await.iter().map(|row| Area::HealthCentre(get(row, "centre"))));
    assert_eq!(areas.len(), 5, "{areas:?}");

    let moments = [
        utc(2022, 1, 20, 0, 0),
        utc(2022, 2, 10, 3, 0),
        utc(2022, 3, 1, 12, 0),
        utc(2022, 7, 15, 0, 0),
        utc(2022, 8, 20, 9, 30),
        utc(2022, 10, 1, 0, 0),
        utc(2023, 1, 1, 0, 0),
    ];
    let mut national: Vec<Series> = Vec::new();
    for t in moments {
        for area in &areas {
            let expected = reference_daily(&db, *area, from, to, t).await;
            let actual = ledger_daily(&db, *area, from, to, t).await;
            assert_same_series(&expected, &actual, &format!("{area:?} as of {t}"));
            if *area == Area::Nation {
                national.push(actual);
            }
        }
        // The cross-tabulation cells: every dimension at once.
        let expected = reference_cases(&db, from, to, t).await;
        let actual = ledger_cases(&db, from, to, t).await;
        assert_same_cases(&expected, &actual, &format!("cases as of {t}"));
    }

    // Not vacuous: by the end there are tests, negatives, positives, deaths,
    // severe cases and people requiring care, and cases in cells of several
    // care settings and severities.
    let last = national.last().expect("figures");
    for (what, field) in [
        ("tests", (|f: &Figures| f.tests) as fn(&Figures) -> i64),
        ("negatives", |f| f.negatives),
        ("positives", |f| f.positives),
        ("deaths", |f| f.deaths),
        ("severe", |f| f.severe),
        ("severe (Tokyo)", |f| f.severe_tokyo),
        ("requiring care", |f| f.requiring_care),
    ] {
        assert!(total(last, field) > 0, "no {what} in the synthetic set: the comparison would prove nothing");
    }
    let cases = ledger_cases(&db, from, to, *moments.last().expect("a moment")).await;
    assert!(cases.keys().map(|k| &k.6).collect::<BTreeSet<_>>().len() >= 3, "{cases:?}");
    assert!(cases.keys().any(|k| k.7.is_some()) && cases.keys().any(|k| k.8.as_deref() == Some("RECOVERED")));

    let mut q = Query::new(db.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM patient_transfers");
    assert!(get::<i64>(&q.all(&db).await[0], "n") > 0, "no transfer: the areas as of a moment would prove little");

    // The investigation: every case has a route, and the ledger's weekly
    // unknown-route counts add up to the records'; contacts are linked and
    // clusters named.
    let now = Utc::now();
    let weeks = hersys::services::statistics::unknown_route(&db, Area::Nation, from, to, now)
        .await
        .expect("the unknown-route weeks");
    let (cases, unknown) = weeks.iter().fold((0, 0), |(c, u), w| (c + w.cases, u + w.unknown));
    let count = |sql: &str| {
        let mut q = Query::new(db.get_database_backend());
        q.push(sql);
        let db = &db;
        async move { get::<i64>(&q.all(db).await[0], "n") }
    };
    let routed = count("SELECT COUNT(*) AS n FROM patients WHERE infection_route_category IS NOT NULL").await;
    let unknown_records = count("SELECT COUNT(*) AS n FROM patients WHERE infection_route_category = 'UNKNOWN'").await;
    assert_eq!((cases, unknown), (routed, unknown_records), "the ledger's routes are the records'");
    assert!(unknown > 0 && unknown < cases, "{unknown} of {cases}");
    assert!(count("SELECT COUNT(*) AS n FROM patient_contacts").await > 0, "no contact linked");
    assert!(count("SELECT COUNT(*) AS n FROM cluster_members").await >= 5, "no cluster");
    let settings = hersys::services::clusters::by_setting(&db, Area::Nation, now).await.expect("clusters by setting");
    let members: i64 = settings.iter().map(|(_, _, m)| m).sum();
    assert_eq!(members, count("SELECT COUNT(*) AS n FROM cluster_members").await);

    // Late entries: some day already past at one moment has other figures
    // as of a later moment.
    let late = moments.windows(2).zip(national.windows(2)).any(|(t, series)| {
        series[0].iter().any(|(day, figures)| *day < japan_date(t[0]) && series[1].get(day) != Some(figures))
    });
    assert!(late, "no late entry changes a past day: the as-of comparisons would prove little");
    drop(app);
}
