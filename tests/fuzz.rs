//! A property test of the HTTP surface: well over 100,000 generated and
//! mutated requests against the real router (demo data on a temporary
//! SQLite file), nearly all sent in-process with `tower::ServiceExt::oneshot`
//! and a few hundred over real HTTP.
//!
//! What is generated: operations of `schema/hersys.api.graphql` with
//! arguments in the text or in variables, often wrong (wrong types, edge
//! and huge numbers, bad IDs and dates, names that are not katakana,
//! control characters, NUL, emoji, very long strings); the same documents
//! damaged token by token; documents aimed at the limits (aliases, root
//! fields, deep selections, deep braces and values, fragment chains and
//! cycles, wide selections, many arguments, directives and variables,
//! anonymous and duplicate operations, a subscription over POST); batches;
//! JSON bodies that are not GraphQL requests (truncated, invalid UTF-8,
//! deep, huge numbers, duplicate keys, empty); bodies at and over the size
//! limit; `GET /graphql` with query strings; other methods and paths;
//! Server-Sent Events; odd content types, Authorization headers and
//! Idempotency-Keys; anonymous, signed-in (every demo account and a
//! patient) and logged-out callers.
//!
//! What every answer must be (as `src/http/graphql.rs` answers):
//!
//! - `POST /graphql`: 200 with a GraphQL response (a list of them for a
//!   batch): `data` and/or `errors`, every error with an `extensions.code`
//!   of docs/contract.md and never `INTERNAL`; or a refusal
//!   `{"data": null, "errors": [one error]}` as JSON: 413 `BAD_USER_INPUT`
//!   exactly when the body is over `max_body_bytes`; 400 `BAD_USER_INPUT`
//!   for a body that is not a GraphQL request in JSON, a Content-Type that
//!   is not JSON (always) or a bad Idempotency-Key; 401 `UNAUTHENTICATED`
//!   only for an Authorization header that is not `Bearer <token>`; 409
//!   `CONFLICT` (idempotency); 503 `QUERY_TOO_COMPLEX` for an operation
//!   stopped at the request deadline; 403 `FORBIDDEN` (safelist) and 429
//!   `RATE_LIMITED`, both switched off here. Nothing else.
//! - `POST /graphql/stream`: the same, or a `text/event-stream` of `next`
//!   events carrying GraphQL responses and a `complete` event.
//! - `GET /graphql`: the IDE (200 HTML), whatever the query string: GET
//!   executes nothing. Another method: 405 (HEAD: 200).
//! - Any path: no other 5xx; and no panic anywhere (a panic hook counts them,
//!   also those the router's `CatchPanicLayer` turns into a 500).
//!
//! And the resident memory of the process (which is the server's: the
//! requests run in-process, on the binary's allocator) may grow by at most
//! `RSS_GROWTH_LIMIT_KIB` from the end of the warm-up to the end.
//!
//! The run is deterministic: case `i` is generated from its own ChaCha8
//! stream of the seed, so a failing input can be printed again alone:
//!
//! ```text
//! FUZZ_SHOW=12345 cargo test --test fuzz -- --nocapture      # print and send case 12345
//! FUZZ_BODY='{"query":"{ me { id } }"}' FUZZ_SESSION=2 cargo test --test fuzz -- --nocapture  # as hc1
//! FUZZ_CASES=5000 FUZZ_SEED=7 cargo test --test fuzz -- --nocapture
//! ```
//!
//! (Only the bearer tokens differ between runs; which session a case uses
//! is part of the case. The database state a case meets depends on the
//! order the concurrent requests ran in.) Failures are grouped by cause,
//! with the server's logged error where there is one (each case sends
//! `x-request-id: fuzz-<i>`), and the shortest inputs are shown.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use hersys::config::{Config, Secret};
use hersys::startup::Application;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The allocator of the `hersys` binary, so that the memory measured is the
/// memory the server would use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_SEED: u64 = 0x4845_5253_5953_2026;
/// In-process requests (at least 100,000 by default).
const DEFAULT_CASES: u64 = 100_000;
/// Requests before the first memory reading.
const WARM_UP: u64 = 5_000;
/// Requests sent over real HTTP after the in-process ones.
const HTTP_CASES: u64 = 300;
/// Requests in flight at once.
const WORKERS: usize = 4;
/// Largest accepted growth of the resident set between the end of the
/// warm-up and the end of the run.
const RSS_GROWTH_LIMIT_KIB: u64 = 64 * 1024;
/// The gateway's body limit (`Config::max_body_bytes`, its default).
const MAX_BODY: usize = 256 * 1024;
const DEMO_PASSWORD: &str = "hersys-demo-2026";
const DEMO_ACCOUNTS: [&str; 8] = ["clinic1", "hospital1", "hc1", "hc2", "hc3", "pref13", "analyst1", "admin1"];

static PANICS: AtomicU64 = AtomicU64::new(0);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ------------------------------------------------------------------ the world

/// What the generator draws real values from: sessions and IDs of rows
/// that exist.
#[derive(Debug, Default)]
struct World {
    /// Bearer tokens of live sessions: the demo accounts, then a patient.
    sessions: Vec<String>,
    /// A token whose session has ended.
    stale: String,
    patients: Vec<String>,
    tests: Vec<String>,
    stays: Vec<String>,
    centres: Vec<String>,
    centre_codes: Vec<String>,
    facilities: Vec<String>,
    /// Accounts the fuzzer may disable or move: a victim account only,
    /// never a demo account whose session the run uses.
    accounts: Vec<String>,
    organisations: Vec<String>,
    smartphone_ids: Vec<String>,
    cursors: Vec<String>,
}

/// Sends one JSON request in-process and returns the JSON answer.
async fn call(router: &Router, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = json!({ "query": query, "variables": variables }).to_string();
    let response =
        router.clone().oneshot(request.body(Body::from(body)).expect("a request")).await.expect("infallible");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    serde_json::from_slice(&bytes).expect("a JSON answer")
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value.as_str().unwrap_or_else(|| panic!("setup: no {what}"))
}

async fn login(router: &Router, username: &str) -> String {
    let response = call(
        router,
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": DEMO_PASSWORD }),
    )
    .await;
    text(&response["data"]["login"]["token"], &format!("token of {username}: {response}")).to_owned()
}

/// Signs every demo account in and creates a few records to point at.
async fn build_world(router: &Router) -> World {
    let mut world = World::default();
    for username in DEMO_ACCOUNTS {
        world.sessions.push(login(router, username).await);
    }
    let token =
        |name: &str| world.sessions[DEMO_ACCOUNTS.iter().position(|a| *a == name).expect("a demo account")].clone();
    let (clinic, hospital, hc1, admin) = (token("clinic1"), token("hospital1"), token("hc1"), token("admin1"));

    let stale = login(router, "hc2").await;
    let response = call(router, Some(&stale), "mutation { logout }", json!({})).await;
    assert_eq!(response["data"]["logout"], json!(true), "setup: logout: {response}");
    world.stale = stale;

    let centres = call(router, Some(&hc1), "{ healthCentres { id code } facilities { id kind } }", json!({})).await;
    for centre in centres["data"]["healthCentres"].as_array().expect("setup: health centres") {
        world.centres.push(text(&centre["id"], "centre id").to_owned());
        world.centre_codes.push(text(&centre["code"], "centre code").to_owned());
    }
    let facilities = centres["data"]["facilities"].as_array().expect("setup: facilities");
    for facility in facilities {
        world.facilities.push(text(&facility["id"], "facility id").to_owned());
    }
    let hospital_id = facilities
        .iter()
        .find(|f| f["kind"] == "HOSPITAL")
        .map(|f| text(&f["id"], "hospital id").to_owned())
        .expect("setup: a hospital");

    let organisations =
        call(router, Some(&admin), "{ organisations(first: 500) { nodes { id kind } } }", json!({})).await;
    let organisations =
        organisations["data"]["organisations"]["nodes"].as_array().expect("setup: organisations").clone();
    for organisation in &organisations {
        world.organisations.push(text(&organisation["id"], "organisation id").to_owned());
    }
    let centre_organisation = organisations
        .iter()
        .find(|o| o["kind"] == "HEALTH_CENTRE")
        .map(|o| text(&o["id"], "organisation").to_owned())
        .expect("setup: a health centre organisation");
    let victim = call(
        router,
        Some(&admin),
        "mutation($o: ID!) { createAccount(username: \"fuzz.victim\", password: \"a long victim passphrase 42\", \
         organisationId: $o) { id } }",
        json!({ "o": centre_organisation }),
    )
    .await;
    world.accounts.push(text(&victim["data"]["createAccount"]["id"], &format!("victim account: {victim}")).to_owned());

    const REGISTER: &str =
        "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id smartphoneId } }";
    let names = ["ヤマダ タロウ", "サトウ ハナコ", "スズキ イチロウ", "タナカ ミキ", "イトウ ケン"];
    for (n, kana) in names.iter().enumerate() {
        let registrar = if n < 2 { &clinic } else { &hc1 };
        let input = json!({
            "caseType": "CONFIRMED", "nameKanji": "試験 太郎", "nameKana": kana, "sex": "FEMALE", "birthDate": "1980-04-01",
        });
        let response = call(router, Some(registrar), REGISTER, json!({ "input": input })).await;
        let patient = &response["data"]["registerPatient"];
        world.patients.push(text(&patient["id"], &format!("registered patient: {response}")).to_owned());
        world.smartphone_ids.push(text(&patient["smartphoneId"], "smartphone ID").to_owned());
    }
    for patient in &world.patients[..2] {
        let response = call(
            router,
            Some(&clinic),
            "mutation($p: ID!) { recordTest(input: { patientId: $p, kind: PCR, result: POSITIVE }) { id } }",
            json!({ "p": patient }),
        )
        .await;
        world.tests.push(text(&response["data"]["recordTest"]["id"], &format!("test: {response}")).to_owned());
    }
    let response = call(
        router,
        Some(&clinic),
        "mutation($p: ID!) { recordTest(input: { patientId: $p, kind: LAMP }) { id } }",
        json!({ "p": world.patients[0] }),
    )
    .await;
    world.tests.push(text(&response["data"]["recordTest"]["id"], &format!("pending test: {response}")).to_owned());
    for patient in &world.patients[2..4] {
        let response = call(
            router,
            Some(&hc1),
            "mutation($p: ID!, $f: ID!) { admitPatient(patientId: $p, facilityId: $f, severity: MODERATE_I) { id } }",
            json!({ "p": patient, "f": hospital_id }),
        )
        .await;
        world.stays.push(text(&response["data"]["admitPatient"]["id"], &format!("admission: {response}")).to_owned());
    }
    let response = call(
        router,
        Some(&hospital),
        "mutation($h: ID!) { recordCondition(hospitalisationId: $h, severity: SEVERE, icu: true) { id } }",
        json!({ "h": world.stays[0] }),
    )
    .await;
    assert!(response["errors"].is_null(), "setup: condition: {response}");
    let response = call(
        router,
        None,
        "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1980-04-01\") { token } }",
        json!({ "s": world.smartphone_ids[4] }),
    )
    .await;
    world
        .sessions
        .push(text(&response["data"]["patientLogin"]["token"], &format!("patient login: {response}")).to_owned());
    let response = call(router, Some(&hc1), "{ patients(first: 2) { pageInfo { endCursor } } }", json!({})).await;
    world.cursors.push(text(&response["data"]["patients"]["pageInfo"]["endCursor"], "a cursor").to_owned());
    let response = call(router, Some(&admin), "{ auditLog(first: 2) { pageInfo { endCursor } } }", json!({})).await;
    world.cursors.push(text(&response["data"]["auditLog"]["pageInfo"]["endCursor"], "an audit cursor").to_owned());
    world
}

// ------------------------------------------------------------ schema model

#[derive(Clone, Copy, Debug)]
enum IdOf {
    Patient,
    Test,
    Stay,
    Centre,
    Facility,
    Account,
    Organisation,
}

#[derive(Clone, Copy, Debug)]
enum Text {
    Kanji,
    Kana,
    Note,
    Username,
    Password,
    Phone,
    Email,
    Prefecture,
    Cursor,
    Smartphone,
    Institution,
}

#[derive(Clone, Copy, Debug)]
enum IntOf {
    First,
    Version,
    Spo2,
    K,
}

#[derive(Debug)]
struct EnumTy {
    name: &'static str,
    values: &'static [&'static str],
}

#[derive(Clone, Copy, Debug)]
enum Ty {
    Id(IdOf),
    Str(Text),
    Int(IntOf),
    Temperature,
    Bool,
    Date,
    DateTime,
    Enum(&'static EnumTy),
    Input(&'static str, &'static [Arg]),
    List(&'static Ty),
}

#[derive(Debug)]
struct Arg {
    name: &'static str,
    ty: Ty,
    required: bool,
}

const fn req(name: &'static str, ty: Ty) -> Arg {
    Arg { name, ty, required: true }
}
const fn opt(name: &'static str, ty: Ty) -> Arg {
    Arg { name, ty, required: false }
}

const SEX: EnumTy = EnumTy { name: "Sex", values: &["MALE", "FEMALE", "UNKNOWN"] };
const CASE_TYPE: EnumTy = EnumTy {
    name: "CaseType",
    values: &[
        "CONFIRMED",
        "ASYMPTOMATIC_CARRIER",
        "SUSPECTED",
        "DECEASED_CONFIRMED",
        "DECEASED_SUSPECTED",
        "CLOSE_CONTACT",
    ],
};
const TEST_KIND: EnumTy =
    EnumTy { name: "TestKind", values: &["PCR", "ANTIGEN_QUANTITATIVE", "ANTIGEN_QUALITATIVE", "LAMP"] };
const TEST_RESULT: EnumTy = EnumTy { name: "TestResult", values: &["PENDING", "POSITIVE", "NEGATIVE", "INCONCLUSIVE"] };
const CARE: EnumTy =
    EnumTy { name: "CareSetting", values: &["UNDECIDED", "HOSPITAL", "ACCOMMODATION", "HOME", "NONE"] };
const SEVERITY: EnumTy = EnumTy { name: "Severity", values: &["MILD", "MODERATE_I", "MODERATE_II", "SEVERE"] };
const OUTCOME: EnumTy = EnumTy { name: "Outcome", values: &["RECOVERED", "DECEASED", "OTHER"] };
const SYMPTOM: EnumTy = EnumTy {
    name: "Symptom",
    values: &["COUGH", "SHORTNESS_OF_BREATH", "FATIGUE", "SORE_THROAT", "LOSS_OF_TASTE_OR_SMELL", "FEVER", "OTHER"],
};
const DIMENSION: EnumTy = EnumTy {
    name: "CrossTabDimension",
    values: &[
        "DAY",
        "WEEK",
        "PREFECTURE",
        "HEALTH_CENTRE",
        "AGE_BAND",
        "SEX",
        "CASE_TYPE",
        "CARE_SETTING",
        "SEVERITY",
        "OUTCOME",
    ],
};
const ENUMS: [&EnumTy; 9] =
    [&SEX, &CASE_TYPE, &TEST_KIND, &TEST_RESULT, &CARE, &SEVERITY, &OUTCOME, &SYMPTOM, &DIMENSION];

const PATIENT_FILTER: &[Arg] = &[
    opt("healthCentreId", Ty::Id(IdOf::Centre)),
    opt("caseType", Ty::Enum(&CASE_TYPE)),
    opt("careSetting", Ty::Enum(&CARE)),
    opt("registeredFrom", Ty::DateTime),
    opt("registeredTo", Ty::DateTime),
];
const REGISTER_INPUT: &[Arg] = &[
    req("caseType", Ty::Enum(&CASE_TYPE)),
    req("nameKanji", Ty::Str(Text::Kanji)),
    req("nameKana", Ty::Str(Text::Kana)),
    req("sex", Ty::Enum(&SEX)),
    req("birthDate", Ty::Date),
    opt("address", Ty::Str(Text::Note)),
    opt("phone", Ty::Str(Text::Phone)),
    opt("email", Ty::Str(Text::Email)),
    opt("healthCentreId", Ty::Id(IdOf::Centre)),
    opt("previousPatientId", Ty::Id(IdOf::Patient)),
    opt("facilityId", Ty::Id(IdOf::Facility)),
];
const RECORD_TEST_INPUT: &[Arg] = &[
    req("patientId", Ty::Id(IdOf::Patient)),
    req("kind", Ty::Enum(&TEST_KIND)),
    opt("result", Ty::Enum(&TEST_RESULT)),
    opt("sampledAt", Ty::DateTime),
    opt("facilityId", Ty::Id(IdOf::Facility)),
];
const HEALTH_REPORT_INPUT: &[Arg] = &[
    opt("patientId", Ty::Id(IdOf::Patient)),
    req("bodyTemperature", Ty::Temperature),
    opt("spo2", Ty::Int(IntOf::Spo2)),
    req("symptoms", Ty::List(&Ty::Enum(&SYMPTOM))),
    opt("note", Ty::Str(Text::Note)),
    opt("reportedAt", Ty::DateTime),
];
const FOLLOW_UP_INPUT: &[Arg] = &[
    req("patientId", Ty::Id(IdOf::Patient)),
    req("reached", Ty::Bool),
    opt("note", Ty::Str(Text::Note)),
    opt("calledAt", Ty::DateTime),
];
const VISIT_INPUT: &[Arg] = &[
    req("patientId", Ty::Id(IdOf::Patient)),
    req("visitedOn", Ty::Date),
    req("institutionName", Ty::Str(Text::Institution)),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Query,
    Mutation,
}

/// A root field (or a field of `statistics`) with its arguments and some
/// selection sets of its type.
#[derive(Debug)]
struct Op {
    root: Root,
    parent: Option<&'static str>,
    name: &'static str,
    args: &'static [Arg],
    selections: &'static [&'static str],
    weight: u32,
}

const PATIENT: &[&str] = &[
    "{ id }",
    "{ id caseType nameKanji nameKana sex birthDate ageBand address phone email smartphoneId previousSmartphoneId \
     priorInfection previousPatientId version }",
    "{ id prefecture { code name } responsibleHealthCentre { code name nameJa } registeringFacility { code kind } \
     careSetting outcome outcomeAt registeredAt registeredBy { name kind } }",
    "{ id tests { id kind result sampledAt resultedAt recordedAt facility { code } enteredBy { name } enteredOnBehalf \
     version patient { id nameKana } } hospitalisations { id severity icu ventilator ecmo admittedAt dischargedAt \
     hospital { code } conditions { id severity note observedAt } } }",
    "{ id healthReports { id bodyTemperature spo2 symptoms note byPatient reportedAt } latestHealthReport { reportedAt } \
     medicalVisits { id visitedOn institutionName } transfers { id from { code } to { code } transferredAt \
     transferredBy { name } } followUpCalls { id reached note calledAt } }",
];
const STAY: &[&str] = &[
    "{ id }",
    "{ id severity icu ventilator ecmo admittedAt dischargedAt version hospital { code name } enteredBy { kind } \
     conditions { id severity icu note observedAt recordedAt } patient { id nameKana careSetting } }",
];
const TEST: &[&str] =
    &["{ id result }", "{ id kind result sampledAt resultedAt version facility { id } patient { id } }"];
const SESSION: &[&str] =
    &["{ token }", "{ token expiresAt account { id username role organisation { id name kind } } }"];
const ACCOUNT: &[&str] = &[
    "{ id }",
    "{ id username role disabledAt lockedUntil passwordChangedAt createdAt organisation { id name kind } }",
];
const ACCOUNTS: &[&str] = &[
    "{ totalCount }",
    "{ nodes { id } pageInfo { endCursor hasNextPage } }",
    "{ edges { cursor node { id username role disabledAt lockedUntil passwordChangedAt createdAt organisation { id name kind } } } }",
];
const SCALAR: &[&str] = &[""];

const OPS: &[Op] = &[
    Op {
        root: Root::Query,
        parent: None,
        name: "me",
        args: &[],
        selections: &["{ id username role organisation { id name kind } }", "{ __typename id }"],
        weight: 6,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "patient",
        args: &[req("id", Ty::Id(IdOf::Patient))],
        selections: PATIENT,
        weight: 10,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "patients",
        args: &[
            opt("filter", Ty::Input("PatientFilterInput", PATIENT_FILTER)),
            opt("first", Ty::Int(IntOf::First)),
            opt("after", Ty::Str(Text::Cursor)),
        ],
        selections: &[
            "{ totalCount }",
            "{ totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id nameKana careSetting } } }",
            "{ nodes { id nameKanji tests { result } latestHealthReport { spo2 } responsibleHealthCentre { code } } }",
        ],
        weight: 10,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "prefectures",
        args: &[],
        selections: &["{ id code name nameJa }"],
        weight: 3,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "healthCentres",
        args: &[opt("prefectureCode", Ty::Str(Text::Prefecture))],
        selections: &["{ id code name nameJa prefecture { code } }"],
        weight: 4,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "facilities",
        args: &[opt("healthCentreId", Ty::Id(IdOf::Centre))],
        selections: &["{ id code name nameJa kind hasSystemAccess healthCentre { id code } }"],
        weight: 4,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "patientsNotReported",
        args: &[opt("date", Ty::Date), opt("first", Ty::Int(IntOf::First)), opt("after", Ty::Str(Text::Cursor))],
        selections: &["{ totalCount nodes { id nameKana latestHealthReport { bodyTemperature reportedAt } } }"],
        weight: 3,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "patientsWithWarningSigns",
        args: &[opt("first", Ty::Int(IntOf::First)), opt("after", Ty::Str(Text::Cursor))],
        selections: &["{ totalCount nodes { id latestHealthReport { spo2 bodyTemperature } } }"],
        weight: 3,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "auditLog",
        args: &[
            opt("patientId", Ty::Id(IdOf::Patient)),
            opt("accountId", Ty::Id(IdOf::Account)),
            opt("from", Ty::DateTime),
            opt("to", Ty::DateTime),
            opt("first", Ty::Int(IntOf::First)),
            opt("after", Ty::Str(Text::Cursor)),
        ],
        selections: &[
            "{ edges { cursor node { id at action fields operation patientId actorPatientId account { username role } } } \
             pageInfo { hasNextPage endCursor } }",
        ],
        weight: 5,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "accounts",
        args: &[opt("first", Ty::Int(IntOf::First)), opt("after", Ty::Str(Text::Cursor))],
        selections: ACCOUNTS,
        weight: 2,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "organisations",
        args: &[opt("first", Ty::Int(IntOf::First)), opt("after", Ty::Str(Text::Cursor))],
        selections: &["{ totalCount nodes { id name kind } }"],
        weight: 2,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "facilitiesConnection",
        args: &[
            opt("healthCentreId", Ty::Id(IdOf::Centre)),
            opt("first", Ty::Int(IntOf::First)),
            opt("after", Ty::Str(Text::Cursor)),
        ],
        selections: &["{ totalCount edges { cursor node { id code kind } } pageInfo { hasNextPage } }"],
        weight: 2,
    },
    Op {
        root: Root::Query,
        parent: Some("statistics"),
        name: "daily",
        args: &[
            req("from", Ty::Date),
            req("to", Ty::Date),
            opt("prefectureCode", Ty::Str(Text::Prefecture)),
            opt("asOf", Ty::DateTime),
        ],
        selections: &["{ date prefectureCode tests positives negatives asOf }"],
        weight: 6,
    },
    Op {
        root: Root::Query,
        parent: Some("statistics"),
        name: "careStatus",
        args: &[opt("prefectureCode", Ty::Str(Text::Prefecture)), opt("asOf", Ty::DateTime)],
        selections: &["{ asOf prefectureCode hospital accommodation home severe severeTokyoDefinition }"],
        weight: 4,
    },
    Op {
        root: Root::Query,
        parent: Some("statistics"),
        name: "crossTab",
        args: &[
            req("dimensions", Ty::List(&Ty::Enum(&DIMENSION))),
            req("from", Ty::Date),
            req("to", Ty::Date),
            opt("prefectureCode", Ty::Str(Text::Prefecture)),
            opt("sex", Ty::Enum(&SEX)),
            opt("caseType", Ty::Enum(&CASE_TYPE)),
            opt("asOf", Ty::DateTime),
            opt("k", Ty::Int(IntOf::K)),
        ],
        selections: &[
            "{ asOf k dimensions cells { period prefectureCode healthCentreCode ageBand sex caseType careSetting severity \
             outcome count suppressed } }",
        ],
        weight: 5,
    },
    Op { root: Root::Query, parent: None, name: "__typename", args: &[], selections: SCALAR, weight: 2 },
    Op {
        root: Root::Query,
        parent: None,
        name: "__schema",
        args: &[],
        selections: &[
            "{ queryType { name } mutationType { name fields { name args { name type { kind name ofType { name } } } } } }",
            "{ types { name kind fields(includeDeprecated: true) { name type { name kind ofType { name kind ofType { name } } } } \
             inputFields { name defaultValue } enumValues { name } } directives { name locations args { name } } }",
        ],
        weight: 1,
    },
    Op {
        root: Root::Query,
        parent: None,
        name: "__type",
        args: &[req("name", Ty::Str(Text::Note))],
        selections: &["{ name kind fields { name } inputFields { name } enumValues { name } }"],
        weight: 1,
    },
    Op { root: Root::Query, parent: None, name: "_service", args: &[], selections: &["{ sdl }"], weight: 1 },
    Op {
        root: Root::Query,
        parent: None,
        name: "_entities",
        args: &[req("representations", Ty::List(&Ty::Id(IdOf::Patient)))],
        selections: &[
            "{ __typename ... on Patient { id nameKana careSetting } ... on HealthCentre { code } ... on LabTest { result } \
             ... on Prefecture { code } ... on Facility { code } ... on Hospitalisation { severity } }",
        ],
        weight: 3,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "login",
        args: &[req("username", Ty::Str(Text::Username)), req("password", Ty::Str(Text::Password))],
        selections: SESSION,
        weight: 0,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "patientLogin",
        args: &[req("smartphoneId", Ty::Str(Text::Smartphone)), req("birthDate", Ty::Date)],
        selections: SESSION,
        weight: 3,
    },
    Op { root: Root::Mutation, parent: None, name: "logout", args: &[], selections: SCALAR, weight: 1 },
    Op { root: Root::Mutation, parent: None, name: "logoutEverywhere", args: &[], selections: SCALAR, weight: 1 },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "registerPatient",
        args: &[req("input", Ty::Input("RegisterPatientInput", REGISTER_INPUT))],
        selections: PATIENT,
        weight: 10,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "recordTest",
        args: &[req("input", Ty::Input("RecordTestInput", RECORD_TEST_INPUT))],
        selections: TEST,
        weight: 6,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "recordTestResult",
        args: &[
            req("testId", Ty::Id(IdOf::Test)),
            req("result", Ty::Enum(&TEST_RESULT)),
            opt("resultedAt", Ty::DateTime),
        ],
        selections: TEST,
        weight: 4,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "setCareSetting",
        args: &[
            req("patientId", Ty::Id(IdOf::Patient)),
            req("setting", Ty::Enum(&CARE)),
            opt("expectedVersion", Ty::Int(IntOf::Version)),
        ],
        selections: PATIENT,
        weight: 4,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "admitPatient",
        args: &[
            req("patientId", Ty::Id(IdOf::Patient)),
            req("facilityId", Ty::Id(IdOf::Facility)),
            req("severity", Ty::Enum(&SEVERITY)),
            opt("admittedAt", Ty::DateTime),
        ],
        selections: STAY,
        weight: 4,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "recordCondition",
        args: &[
            req("hospitalisationId", Ty::Id(IdOf::Stay)),
            req("severity", Ty::Enum(&SEVERITY)),
            opt("note", Ty::Str(Text::Note)),
            opt("icu", Ty::Bool),
            opt("ventilator", Ty::Bool),
            opt("ecmo", Ty::Bool),
            opt("observedAt", Ty::DateTime),
        ],
        selections: STAY,
        weight: 4,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "dischargePatient",
        args: &[req("hospitalisationId", Ty::Id(IdOf::Stay)), opt("dischargedAt", Ty::DateTime)],
        selections: STAY,
        weight: 2,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "submitHealthReport",
        args: &[req("input", Ty::Input("HealthReportInput", HEALTH_REPORT_INPUT))],
        selections: &["{ id bodyTemperature spo2 symptoms note byPatient reportedAt }"],
        weight: 5,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "recordFollowUpCall",
        args: &[req("input", Ty::Input("FollowUpCallInput", FOLLOW_UP_INPUT))],
        selections: &["{ id reached note calledAt }"],
        weight: 3,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "recordMedicalVisit",
        args: &[req("input", Ty::Input("MedicalVisitInput", VISIT_INPUT))],
        selections: &["{ id visitedOn institutionName }"],
        weight: 3,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "recordOutcome",
        args: &[
            req("patientId", Ty::Id(IdOf::Patient)),
            req("outcome", Ty::Enum(&OUTCOME)),
            opt("outcomeAt", Ty::DateTime),
            opt("expectedVersion", Ty::Int(IntOf::Version)),
        ],
        selections: PATIENT,
        weight: 2,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "transferPatient",
        args: &[
            req("patientId", Ty::Id(IdOf::Patient)),
            req("toHealthCentreId", Ty::Id(IdOf::Centre)),
            opt("expectedVersion", Ty::Int(IntOf::Version)),
        ],
        selections: PATIENT,
        weight: 3,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "changePassword",
        args: &[req("currentPassword", Ty::Str(Text::Password)), req("newPassword", Ty::Str(Text::Password))],
        selections: SCALAR,
        weight: 0,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "createAccount",
        args: &[
            req("username", Ty::Str(Text::Username)),
            req("password", Ty::Str(Text::Password)),
            req("organisationId", Ty::Id(IdOf::Organisation)),
        ],
        selections: ACCOUNT,
        weight: 0,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "disableAccount",
        args: &[req("accountId", Ty::Id(IdOf::Account))],
        selections: ACCOUNT,
        weight: 1,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "enableAccount",
        args: &[req("accountId", Ty::Id(IdOf::Account))],
        selections: ACCOUNT,
        weight: 1,
    },
    Op {
        root: Root::Mutation,
        parent: None,
        name: "assignOrganisation",
        args: &[req("accountId", Ty::Id(IdOf::Account)), req("organisationId", Ty::Id(IdOf::Organisation))],
        selections: ACCOUNT,
        weight: 1,
    },
];

/// Operations that check a password (deliberately slow) are drawn this
/// rarely (per mille of operations).
const SLOW_OPS_PER_MILLE: u32 = 3;
const SLOW_OPS: [&str; 3] = ["login", "changePassword", "createAccount"];

/// Names for token mutations and unknown fields.
const NAMES: &[&str] = &[
    "me",
    "patient",
    "patients",
    "id",
    "nameKana",
    "tests",
    "node",
    "edges",
    "statistics",
    "daily",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "true",
    "false",
    "null",
    "__typename",
    "__schema",
    "Patient",
    "Query",
    "input",
    "first",
    "after",
    "filter",
    "login",
    "registerPatient",
    "unknownField",
    "totalCount",
    "_entities",
    "positiveResults",
];
const PUNCTUATION: &[&str] = &["{", "}", "(", ")", "[", "]", ":", "=", "@", "$", "!", "...", ",", "|", "&", "\"", "#"];

// --------------------------------------------------------------- values

/// An argument value, written either as a GraphQL literal or as JSON.
#[derive(Clone, Debug)]
enum V {
    Null,
    /// A number as written (valid JSON and GraphQL syntax, maybe out of range).
    Num(String),
    Str(String),
    Bool(bool),
    /// A bare enum name in GraphQL; a string in JSON.
    Enum(String),
    List(Vec<V>),
    Obj(Vec<(String, V)>),
    /// A variable reference in GraphQL; a string in JSON.
    Var(String),
    /// Raw GraphQL text, often unparsable; a string in JSON.
    Junk(String),
}

fn gql_string(text: &str, block: bool, out: &mut String) {
    if block {
        out.push_str("\"\"\"");
        out.push_str(&text.replace("\"\"\"", "\\\"\"\""));
        out.push_str("\"\"\"");
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl V {
    fn gql(&self, out: &mut String) {
        match self {
            V::Null => out.push_str("null"),
            V::Num(n) => out.push_str(n),
            V::Str(s) => gql_string(s, s.len() % 11 == 3 && !s.ends_with('"') && !s.ends_with('\\'), out),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Enum(e) => out.push_str(e),
            V::List(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    item.gql(out);
                }
                out.push(']');
            }
            V::Obj(fields) => {
                out.push('{');
                for (n, (name, value)) in fields.iter().enumerate() {
                    if n > 0 {
                        out.push(' ');
                    }
                    out.push_str(name);
                    out.push_str(": ");
                    value.gql(out);
                }
                out.push('}');
            }
            V::Var(name) => {
                out.push('$');
                out.push_str(name);
            }
            V::Junk(raw) => out.push_str(raw),
        }
    }

    fn json(&self, out: &mut String) {
        match self {
            V::Null => out.push_str("null"),
            V::Num(n) => out.push_str(n),
            V::Str(s) | V::Enum(s) | V::Junk(s) => out.push_str(&json_string(s)),
            V::Var(name) => out.push_str(&json_string(&format!("${name}"))),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::List(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    item.json(out);
                }
                out.push(']');
            }
            V::Obj(fields) => {
                out.push('{');
                for (n, (name, value)) in fields.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(name));
                    out.push(':');
                    value.json(out);
                }
                out.push('}');
            }
        }
    }
}

/// `text` as a JSON string (serde_json's escaping is slow in a debug
/// build; this copies the runs without escapes whole).
fn json_string(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..at]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
    String::from_utf8(out).unwrap_or_default()
}

const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "-0",
    "-2147483648",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1e308",
    "1e309",
    "-1e309",
    "1.5",
    "0.0",
    "-0.0",
    "1E2",
    "4.9e-324",
    "2.2250738585072014e-308",
    "1.7976931348623157e308",
    "36.6",
    "501",
    "100000",
];
const BAD_IDS: &[&str] = &[
    "0",
    "-1",
    "abc",
    "",
    " ",
    "1.0",
    "0x10",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    " 1 ",
    "１",
    "1e3",
    "NaN",
    "\u{0}1",
    "1\u{0}",
    "+1",
    "00000000000000000000001",
];
const BAD_DATES: &[&str] = &[
    "2020-02-30",
    "2021-02-29",
    "2024-02-29",
    "1980-4-1",
    "1980/04/01",
    "19800401",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "+262143-12-31",
    "262143-12-31",
    "262144-01-01",
    "-262144-01-01",
    "-262143-01-01",
    "-0001-01-01",
    "2020-13-01",
    "2020-00-10",
    "today",
    "1980-04-01T00:00:00Z",
    " 1980-04-01",
    "１９８０-０４-０１",
    "1899-12-31",
    "2999-01-01",
    "1970-01-01",
];
const BAD_MOMENTS: &[&str] = &[
    "2022-02-01T00:00:00",
    "2022-02-01 00:00:00Z",
    "2022-02-30T00:00:00Z",
    "2022-02-01T24:00:00Z",
    "2016-12-31T23:59:60Z",
    "9999-12-31T23:59:59Z",
    "+262142-12-31T23:59:59Z",
    "262143-12-31T23:59:59Z",
    "-262143-01-01T00:00:00Z",
    "-262144-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "1970-01-01T00:00:00Z",
    "1900-01-01T00:00:00+14:00",
    "2022-02-01T00:00:00-23:59",
    "2022-02-01T00:00:00+24:00",
    "2022-02-01T00:00:00.123456789123Z",
    "2999-01-01T00:00:00Z",
    "now",
    "1e10",
    "2025-06-01t09:00:00z",
];
const JUNK: &[&str] = &[
    "01",
    "1.",
    ".5",
    "1e",
    "--1",
    "\"unterminated",
    "\"\\u12\"",
    "\"\\uD800\"",
    "\"\\uDC00\\uD800\"",
    "\"\\x41\"",
    "\"a\u{1}b\"",
    "\"a\nb\"",
    "$",
    "@",
    "...",
    "{",
    "[",
    "]",
    "}",
    "true false",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x1F",
    "\"\"\"block",
    "null null",
    "{a: }",
    "[1,,2]",
    "$1",
    "\u{feff}",
    "\"\\u{1F637}\"",
    "\"\\uD83D\\uDE37\"",
];
const SQLISH: &[&str] = &[
    "'; DROP TABLE patient; --",
    "\" OR 1=1 --",
    "%",
    "_",
    "%_%\\",
    "1; SELECT * FROM session",
    "' UNION SELECT token_hash FROM session --",
    "\\",
];

// ----------------------------------------------------------------- generator

struct Gen<'a> {
    rng: ChaCha8Rng,
    world: &'a World,
    /// The first operation of the last structured document, for timing.
    first_op: &'static str,
    /// Whether the case holds an operation that ends sessions.
    ends_sessions: bool,
    /// A careful case: mostly valid values, signed in, few decorations,
    /// so that the operations get past validation into the services.
    careful: bool,
}

impl Gen<'_> {
    fn new(seed: u64, index: u64, world: &World) -> Gen<'_> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        Gen { rng, world, first_op: "", ends_sessions: false, careful: false }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn below(&mut self, n: usize) -> usize {
        if n <= 1 { 0 } else { self.rng.random_range(0..n) }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn pick_owned(&mut self, items: &[String]) -> String {
        if items.is_empty() { "1".to_owned() } else { items[self.below(items.len())].clone() }
    }

    /// A size, mostly small, sometimes large.
    fn size(&mut self, small: usize, large: &[usize]) -> usize {
        if self.chance(0.9) { self.below(small + 1) } else { self.pick(large) }
    }

    fn random_char(&mut self) -> char {
        loop {
            let code = match self.below(4) {
                0 => self.rng.random_range(0..0x80),
                1 => self.rng.random_range(0x80..0x800),
                2 => self.rng.random_range(0x3000..0x3100),
                _ => self.rng.random_range(0..0x11_0000),
            };
            if let Some(c) = char::from_u32(code) {
                return c;
            }
        }
    }

    fn weird_string(&mut self) -> String {
        match self.below(15) {
            0 => String::new(),
            1 => self.pick(&[" ", "\t", " \u{3000} ", "\n\r", "\u{a0}"]).to_owned(),
            2 => format!("{}ヤマダ{}", "\0".repeat(1 + self.below(3)), "\0"),
            3 => (0..1 + self.below(20))
                .map(|_| char::from_u32(self.rng.random_range(0..0x20)).unwrap_or('\0'))
                .collect(),
            4 => self.pick(&["😷🦠", "👨‍👩‍👧‍👦", "ヤマダ😷", "🇯🇵", "\u{1f600}\u{fe0f}"]).to_owned(),
            5 => {
                let n = if self.chance(0.9) { self.pick(&[65, 256, 1_000]) } else { 10_000 };
                self.pick(&["ア", "a", "山", "😷", "\u{0}"]).repeat(n)
            }
            // Strings near and over the body limit, rarely: they are
            // costly to build and to parse.
            6 if self.chance(0.1) => "ア".repeat(self.pick(&[30_000, 80_000])),
            7 => self.pick(SQLISH).to_owned(),
            8 => self
                .pick(&[
                    "ﾔﾏﾀﾞ ﾀﾛｳ",
                    "やまだ たろう",
                    "Yamada Taro",
                    "ヤマダ1",
                    "ヤマダ・タロウ",
                    "ヤマダ\tタロウ",
                    "ヰヱヴヵヶ",
                    "ー",
                    "　",
                ])
                .to_owned(),
            9 => self
                .pick(&[
                    "\u{202e}ウロタ",
                    "\u{feff}ヤマダ",
                    "ヤ\u{200b}マダ",
                    "\u{fffd}",
                    "\u{10ffff}",
                    "ア\u{3099}",
                    "\u{d7ff}",
                ])
                .to_owned(),
            10 => self
                .pick(&["1", "-1", "0", "9223372036854775808", "1e3", " 7 ", "0x1F", "NaN", "Infinity", "null"])
                .to_owned(),
            11 => self.pick(BAD_DATES).to_owned(),
            12 => self
                .pick(&["%s%n{}{{}}$1\\", "<script>alert(1)</script>", "../../etc/passwd", "${jndi:ldap://x}"])
                .to_owned(),
            13 => self.pick(BAD_MOMENTS).to_owned(),
            _ => (0..1 + self.below(40)).map(|_| self.random_char()).collect(),
        }
    }

    fn id(&mut self, of: IdOf) -> String {
        let world = self.world;
        let pool = match of {
            IdOf::Patient => &world.patients,
            IdOf::Test => &world.tests,
            IdOf::Stay => &world.stays,
            IdOf::Centre => &world.centres,
            IdOf::Facility => &world.facilities,
            IdOf::Account => &world.accounts,
            IdOf::Organisation => &world.organisations,
        };
        if self.chance(0.8) {
            self.pick_owned(pool)
        } else if matches!(of, IdOf::Account) {
            // Never a demo account: the run's sessions must live.
            format!("{}", 100_000 + self.below(1000))
        } else {
            // Rows that may or may not exist, and IDs that cannot.
            let far = ["999999", "2147483647", "2147483648", "9007199254740993", "9223372036854775807"];
            if self.chance(0.5) { format!("{}", 1 + self.below(200)) } else { self.pick(&far).to_owned() }
        }
    }

    fn date_text(&mut self) -> String {
        let base = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
        let days = self.below(900) as i64;
        (base + chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
    }

    fn valid(&mut self, ty: Ty) -> V {
        match ty {
            Ty::Id(of) => {
                let id = self.id(of);
                if self.chance(0.15) && id.bytes().all(|b| b.is_ascii_digit()) { V::Num(id) } else { V::Str(id) }
            }
            Ty::Str(text) => V::Str(match text {
                Text::Kanji => self.pick(&["山田 太郎", "佐藤 花子", "髙橋 𠮷", "試験"]).to_owned(),
                Text::Kana => self.pick(&["ヤマダ タロウ", "サトウ ハナコ", "スズキ　イチロー", "ヴァン"]).to_owned(),
                Text::Note => self.pick(&["note", "咳が続く", "Patient", "Query", "", "回復"]).to_owned(),
                Text::Username => self.pick(&["hc1", "nobody", "fuzz.user", "admin1"]).to_owned(),
                Text::Password => self.pick(&["wrong password", "correct-horse-battery-staple-9", "short"]).to_owned(),
                Text::Phone => self.pick(&["03-1234-5678", "+81 3 1234 5678", "0312345678"]).to_owned(),
                Text::Email => self.pick(&["a@example.com", "not-an-email", "x@y"]).to_owned(),
                Text::Prefecture => self.pick(&["13", "27", "01", "47", "00", "48", "1"]).to_owned(),
                Text::Cursor => {
                    let cursor = self.pick_owned(&self.world.cursors);
                    if self.chance(0.5) {
                        cursor
                    } else {
                        self.pick(&["", "MQ==", "abc", "eyJpZCI6MX0", "%%%"]).to_owned()
                    }
                }
                Text::Smartphone => {
                    let id = self.pick_owned(&self.world.smartphone_ids);
                    if self.chance(0.7) {
                        id
                    } else {
                        self.pick(&["1234-5678-9012", "0000 0000 0000", "12"]).to_owned()
                    }
                }
                Text::Institution => self.pick(&["Shinjuku Clinic", "新宿クリニック"]).to_owned(),
            }),
            Ty::Int(of) => V::Num(match of {
                IntOf::First => self.pick(&["1", "2", "20", "500", "100"]).to_owned(),
                IntOf::Version => format!("{}", self.below(5)),
                IntOf::Spo2 => format!("{}", 85 + self.below(16)),
                IntOf::K => format!("{}", 5 + self.below(6)),
            }),
            Ty::Temperature => V::Num(self.pick(&["36.5", "38.9", "40", "37.25"]).to_owned()),
            Ty::Bool => V::Bool(self.chance(0.5)),
            Ty::Date => V::Str(if self.chance(0.3) { "1980-04-01".to_owned() } else { self.date_text() }),
            Ty::DateTime => {
                let date = self.date_text();
                let time = self.pick(&["T00:00:00Z", "T09:30:00+09:00", "T23:59:59.999Z", "T12:00:00-05:00"]);
                V::Str(format!("{date}{time}"))
            }
            Ty::Enum(e) => V::Enum(self.pick(e.values).to_owned()),
            Ty::Input(_, fields) => {
                let mut out = Vec::new();
                for field in fields {
                    let optional = if self.careful { 0.15 } else { 0.4 };
                    if field.required || self.chance(optional) {
                        let value = if self.spoil(0.15) { self.wild(field.ty) } else { self.valid(field.ty) };
                        out.push((field.name.to_owned(), value));
                    }
                }
                V::Obj(out)
            }
            Ty::List(inner) => {
                let n = self.below(4);
                V::List((0..n).map(|_| self.valid(*inner)).collect())
            }
        }
    }

    /// A value that is probably wrong for `ty`.
    fn wild(&mut self, ty: Ty) -> V {
        match self.below(14) {
            0 => V::Null,
            1 => V::Num(self.pick(EDGE_NUMBERS).to_owned()),
            2 | 3 => V::Str(self.weird_string()),
            4 => V::Bool(self.chance(0.5)),
            5 => {
                let e = self.pick(&ENUMS);
                V::Enum(if self.chance(0.7) {
                    self.pick(e.values).to_owned()
                } else {
                    self.pick(&["male", "FOO", "true_", "HOSPITAL", "PENDING", "_", "Patient"]).to_owned()
                })
            }
            6 => {
                let n = self.size(3, &[100, 1000]);
                V::List(
                    (0..n).map(|_| if self.chance(0.5) { self.valid(ty) } else { V::Num("1".to_owned()) }).collect(),
                )
            }
            7 => V::Obj(vec![("a".to_owned(), V::Num("1".to_owned())), ("id".to_owned(), V::Str("1".to_owned()))]),
            8 => V::Var(self.pick(&["undeclared", "v0", "flag"]).to_owned()),
            9 => V::Junk(self.pick(JUNK).to_owned()),
            10 => {
                // The right value, as the wrong kind of literal.
                match self.valid(ty) {
                    V::Enum(e) => V::Str(e),
                    V::Num(n) => V::Str(n),
                    V::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => V::Num(s),
                    V::Str(s) => V::Enum(s.chars().filter(char::is_ascii_alphanumeric).collect::<String>() + "_x"),
                    V::Bool(b) => V::Str(b.to_string()),
                    other => V::List(vec![other]),
                }
            }
            _ => match ty {
                Ty::Id(_) => V::Str(self.pick(BAD_IDS).to_owned()),
                Ty::Int(_) | Ty::Temperature => V::Num(self.pick(EDGE_NUMBERS).to_owned()),
                Ty::Date => V::Str(self.pick(BAD_DATES).to_owned()),
                Ty::DateTime => V::Str(self.pick(BAD_MOMENTS).to_owned()),
                Ty::Input(_, fields) => {
                    let mut out = match self.valid(ty) {
                        V::Obj(fields) => fields,
                        _ => Vec::new(),
                    };
                    match self.below(4) {
                        0 if !out.is_empty() => {
                            let at = self.below(out.len());
                            out.remove(at);
                        }
                        1 => out.push(("unknownField".to_owned(), V::Num("1".to_owned()))),
                        2 if !out.is_empty() => {
                            let first = out[0].clone();
                            out.push(first);
                        }
                        _ => {
                            let field = &fields[self.below(fields.len())];
                            let value = self.wild(field.ty);
                            out.push((field.name.to_owned(), value));
                        }
                    }
                    V::Obj(out)
                }
                Ty::List(inner) => {
                    let n = self.size(3, &[50, 600]);
                    V::List((0..n).map(|_| self.wild(*inner)).collect())
                }
                _ => V::Str(self.weird_string()),
            },
        }
    }

    fn value(&mut self, ty: Ty) -> V {
        let valid = if self.careful { 0.95 } else { 0.55 };
        if self.chance(valid) { self.valid(ty) } else { self.wild(ty) }
    }

    /// Whether to spoil something that a careful case mostly keeps right.
    fn spoil(&mut self, p: f64) -> bool {
        self.chance(if self.careful { p / 10.0 } else { p })
    }

    /// `_entities` representations: objects with `__typename` and keys.
    fn representations(&mut self) -> V {
        let n = self.size(4, &[50, 300, 3000]);
        let items = (0..n)
            .map(|_| {
                let typename = self.pick(&[
                    "Patient",
                    "LabTest",
                    "Hospitalisation",
                    "HealthCentre",
                    "Facility",
                    "Prefecture",
                    "Query",
                    "",
                ]);
                let key = match typename {
                    "LabTest" => self.id(IdOf::Test),
                    "Hospitalisation" => self.id(IdOf::Stay),
                    "HealthCentre" => self.id(IdOf::Centre),
                    "Facility" => self.id(IdOf::Facility),
                    "Prefecture" => format!("{}", self.below(50)),
                    _ => self.id(IdOf::Patient),
                };
                let mut fields = vec![("__typename".to_owned(), V::Str(typename.to_owned()))];
                match self.below(6) {
                    0 => {
                        let code = if self.chance(0.5) {
                            self.pick_owned(&self.world.centre_codes)
                        } else {
                            self.pick(&["13", "131016", "F13-0001", "x"]).to_owned()
                        };
                        fields.push(("code".to_owned(), V::Str(code)));
                    }
                    1 => fields.push(("id".to_owned(), V::Num(self.pick(EDGE_NUMBERS).to_owned()))),
                    2 => fields.push(("id".to_owned(), self.wild(Ty::Id(IdOf::Patient)))),
                    3 => {}
                    _ => fields.push(("id".to_owned(), V::Str(key))),
                }
                if self.chance(0.05) { self.wild(Ty::Id(IdOf::Patient)) } else { V::Obj(fields) }
            })
            .collect();
        V::List(items)
    }

    fn op(&mut self, root: Root) -> &'static Op {
        if self.below(1000) < SLOW_OPS_PER_MILLE as usize {
            let name = self.pick(&SLOW_OPS);
            if let Some(op) = OPS.iter().find(|op| op.name == name) {
                return op;
            }
        }
        let total: u32 = OPS.iter().filter(|op| op.root == root).map(|op| op.weight).sum();
        let mut at = self.rng.random_range(0..total);
        for op in OPS.iter().filter(|op| op.root == root) {
            if at < op.weight {
                return op;
            }
            at -= op.weight;
        }
        &OPS[0]
    }

    /// A GraphQL type for a variable of `ty`: mostly the right one.
    fn type_name(&mut self, ty: Ty, required: bool) -> String {
        if self.spoil(0.12) {
            return self
                .pick(&[
                    "String",
                    "Int!",
                    "[ID!]!",
                    "Boolean",
                    "UnknownType",
                    "RegisterPatientInput",
                    "ID!!",
                    "[ID",
                    "Date!",
                    "Float",
                ])
                .to_owned();
        }
        let base = match ty {
            Ty::Id(_) => "ID".to_owned(),
            Ty::Str(_) => "String".to_owned(),
            Ty::Int(_) => "Int".to_owned(),
            Ty::Temperature => "Float".to_owned(),
            Ty::Bool => "Boolean".to_owned(),
            Ty::Date => "Date".to_owned(),
            Ty::DateTime => "DateTime".to_owned(),
            Ty::Enum(e) => e.name.to_owned(),
            Ty::Input(name, _) => name.to_owned(),
            Ty::List(inner) => format!("[{}!]", self.type_name(*inner, true).trim_end_matches('!')),
        };
        if required && self.chance(0.9) { format!("{base}!") } else { base }
    }

    /// A field's selection set, sometimes decorated.
    fn selection(&mut self, op: &Op, doc: &mut Doc) -> String {
        let mut selection = self.pick(op.selections).to_owned();
        if selection.is_empty() {
            if self.chance(0.05) {
                selection = "{ id }".to_owned();
            }
            return selection;
        }
        if self.careful && self.chance(0.9) {
            return selection;
        }
        match self.below(20) {
            0 => selection.insert_str(1, " unknownField"),
            1 => selection.insert_str(1, " __typename"),
            2 => selection.insert_str(1, " id @include(if: true) id @skip(if: false)"),
            3 => {
                doc.variables_decl.push("$flag: Boolean!".to_owned());
                doc.variables
                    .push(("flag".to_owned(), if self.chance(0.8) { V::Bool(true) } else { V::Str("yes".to_owned()) }));
                selection.insert_str(1, " id @skip(if: $flag)");
            }
            4 => selection.insert_str(1, " id @unknownDirective(x: 1)"),
            5 => selection.insert_str(1, " id @deprecated"),
            6 => selection.insert_str(1, " ... on Patient { id } ... on Query { __typename }"),
            7 => {
                let fragment = format!("F{}", self.below(3));
                selection.insert_str(1, &format!(" ...{fragment}"));
                let on = self.pick(&["Patient", "Query", "Nope", "PatientConnection", "Account", "Mutation"]);
                let body = self.pick(&["{ id }", "{ __typename }", "{ ...F0 }", "{ ...F1 id }", "{ nameKana(x: 1) }"]);
                doc.fragments.push(format!("fragment {fragment} on {on} {body}"));
            }
            8 => selection.insert_str(1, " ...Undefined"),
            9 => selection = "{ }".to_owned(),
            10 => selection.insert_str(1, " alias: id other: __typename"),
            11 => selection.insert_str(1, " id: nameKana"),
            _ => {}
        }
        selection
    }

    /// One root field with its arguments (in the text or as variables).
    fn field(&mut self, op: &'static Op, doc: &mut Doc) -> String {
        let mut out = String::new();
        if self.chance(0.1) {
            let _ = write!(out, "{}: ", self.pick(&["a", "b", "alias", "me", "__typename", "x1"]));
        }
        out.push_str(op.name);
        let mut args = Vec::new();
        for arg in op.args {
            let include = if arg.required { !self.spoil(0.05) } else { self.chance(0.5) };
            if !include {
                continue;
            }
            let value =
                if op.name == "_entities" && self.chance(0.8) { self.representations() } else { self.value(arg.ty) };
            if self.chance(0.3) {
                let name = format!("v{}", doc.variables_decl.len());
                let declared = self.type_name(arg.ty, arg.required);
                let default = if self.chance(0.05) {
                    let mut text = String::from(" = ");
                    self.value(arg.ty).gql(&mut text);
                    text
                } else {
                    String::new()
                };
                doc.variables_decl.push(format!("${name}: {declared}{default}"));
                if !self.spoil(0.08) {
                    doc.variables.push((name.clone(), value));
                }
                args.push((arg.name, V::Var(name)));
            } else {
                args.push((arg.name, value));
            }
        }
        match if self.careful { 39 } else { self.below(40) } {
            0 => args.push(("unknownArgument", V::Num("1".to_owned()))),
            1 if !args.is_empty() => args.push(args[0].clone()),
            _ => {}
        }
        if !args.is_empty() {
            out.push('(');
            for (n, (name, value)) in args.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push_str(": ");
                value.gql(&mut out);
            }
            out.push(')');
        }
        let selection = self.selection(op, doc);
        if !selection.is_empty() {
            out.push(' ');
            out.push_str(&selection);
        }
        match op.parent {
            Some(parent) => format!("{parent} {{ {out} }}"),
            None => out,
        }
    }

    /// A document built from the schema, with arguments often invalid.
    fn structured(&mut self) -> Doc {
        let mut doc = Doc::default();
        let root = if self.chance(0.65) { Root::Query } else { Root::Mutation };
        let count = if self.chance(0.85) { 1 } else { 2 + self.below(3) };
        let mut fields = Vec::new();
        for n in 0..count {
            let op = self.op(root);
            if n == 0 {
                self.first_op = op.name;
            }
            if matches!(op.name, "logout" | "logoutEverywhere" | "changePassword") {
                self.ends_sessions = true;
            }
            fields.push(self.field(op, &mut doc));
        }
        let keyword = match root {
            Root::Query => "query",
            Root::Mutation => "mutation",
        };
        let named = self.chance(0.5);
        let name = format!("Op{}", self.below(100));
        let mut text = String::new();
        if root == Root::Query && !named && doc.variables_decl.is_empty() && self.chance(0.6) {
            let _ = write!(text, "{{ {} }}", fields.join(" "));
        } else {
            text.push_str(keyword);
            if named {
                let _ = write!(text, " {name}");
            }
            if !doc.variables_decl.is_empty() {
                let _ = write!(text, "({})", doc.variables_decl.join(", "));
            }
            let _ = write!(text, " {{ {} }}", fields.join(" "));
        }
        for fragment in &doc.fragments {
            text.push(' ');
            text.push_str(fragment);
        }
        let operation_name = if named {
            match if self.careful { 9 } else { self.below(10) } {
                0 => Some(V::Str("DoesNotExist".to_owned())),
                1 => Some(V::Null),
                2 => Some(V::Num("1".to_owned())),
                3 | 4 => None,
                _ => Some(V::Str(name)),
            }
        } else if self.spoil(0.05) {
            Some(V::Str(self.pick(&["", "Op1", "query"]).to_owned()))
        } else {
            None
        };
        self.finish(doc, text, operation_name)
    }

    fn finish(&mut self, mut doc: Doc, text: String, operation_name: Option<V>) -> Doc {
        doc.text = text;
        doc.operation_name = operation_name;
        if self.chance(0.04) {
            doc.variables.push(("extra".to_owned(), V::Str("unused".to_owned())));
        }
        doc
    }

    /// Documents aimed at the limits and the corner cases of the grammar.
    fn special(&mut self) -> (&'static str, Doc) {
        let mut doc = Doc::default();
        let (kind, text) = match self.below(23) {
            0 => {
                let n = self.pick(&[10, 49, 50, 51, 200, 2000]);
                let field = self.pick(&[
                    "__typename",
                    "me { id }",
                    "prefectures { code }",
                    "patients(first: 500) { totalCount }",
                ]);
                ("aliases", format!("{{ {} }}", (0..n).map(|i| format!("a{i}: {field}")).collect::<Vec<_>>().join(" ")))
            }
            1 => {
                let n = self.pick(&[19, 20, 21, 100, 5000]);
                ("root-fields", format!("{{ {} }}", "__typename ".repeat(n)))
            }
            2 => {
                let n = self.pick(&[5, 15, 16, 17, 40, 64, 65, 100, 300]);
                let mut text = "{ patients { nodes { ".to_owned();
                for level in 0..n {
                    text.push_str(if level % 2 == 0 { "tests { patient { " } else { "hospitalisations { patient { " });
                }
                text.push_str("id");
                text.push_str(&" } }".repeat(n));
                text.push_str(" } } }");
                ("deep-selection", text)
            }
            3 => {
                let n = self.pick(&[10, 100, 1000, 10_000, 100_000]);
                let close = if self.chance(0.5) { n } else { self.below(n) };
                ("deep-braces", format!("{}{}", "{".repeat(n), "}".repeat(close)))
            }
            4 => {
                let n = self.pick(&[10, 100, 1000, 10_000, 100_000]);
                ("deep-list-argument", format!("{{ patient(id: {}1{}) {{ id }} }}", "[".repeat(n), "]".repeat(n)))
            }
            5 => {
                let n = self.pick(&[10, 100, 1000, 10_000, 50_000]);
                (
                    "deep-object-argument",
                    format!("{{ patients(filter: {}{}) {{ totalCount }} }}", "{a: ".repeat(n), "}".repeat(n)),
                )
            }
            6 => {
                let n = if self.chance(0.95) { self.pick(&[3, 30, 100, 500]) } else { 2000 };
                let mut text = "query { ...F0 }".to_owned();
                for i in 0..n {
                    let _ = write!(text, " fragment F{i} on Query {{ __typename ...F{} }}", i + 1);
                }
                let _ = write!(
                    text,
                    " fragment F{n} on Query {{ {} }}",
                    if self.chance(0.5) { "__typename" } else { "...F0" }
                );
                ("fragment-chain", text)
            }
            7 => ("self-fragment", "query { ...A } fragment A on Query { __typename ...A }".to_owned()),
            8 => (
                "fragment-cycle",
                "{ me { ...B } } fragment B on Account { id ...C } fragment C on Account { ...B }".to_owned(),
            ),
            9 => {
                let n = if self.chance(0.95) { self.pick(&[10, 100, 1000]) } else { self.pick(&[10_000, 50_000]) };
                let field = self.pick(&["id", "__typename", "role", "organisation { id }"]);
                ("wide-selection", format!("{{ me {{ {} }} }}", vec![field; n].join(" ")))
            }
            10 => {
                let n = self.pick(&[2, 10, 50]);
                let text = (0..n).map(|i| format!("a: patient(id: {}) {{ id }}", i + 1)).collect::<Vec<_>>().join(" ");
                ("conflicting-fields", format!("{{ {text} }}"))
            }
            11 => ("anonymous-operations", "{ me { id } } { __typename }".to_owned()),
            12 => {
                doc.operation_name = match self.below(3) {
                    0 => None,
                    1 => Some(V::Str("C".to_owned())),
                    _ => Some(V::Str("A".to_owned())),
                };
                self.ends_sessions = true;
                ("named-operations", "query A { __typename } query B { me { id } } mutation A { logout }".to_owned())
            }
            13 => ("subscription", "subscription { positiveResults { cursor patient { id } } }".to_owned()),
            14 => (
                "empty-document",
                self.pick(&[
                    "",
                    " ",
                    "# only a comment",
                    "query",
                    "{}",
                    "{ }",
                    "query Q",
                    "mutation",
                    "\u{feff}",
                    "\0",
                ])
                .to_owned(),
            ),
            15 => (
                "undeclared-variable",
                self.pick(&["query { patient(id: $id) { id } }", "{ patients(first: $n) { totalCount } }"]).to_owned(),
            ),
            16 => (
                "bom-and-nul",
                self.pick(&["\u{feff}{ __typename }", "{ __typename \0 }", "{ __type\0name }", "{ me\u{1} { id } }"])
                    .to_owned(),
            ),
            17 => {
                let n = if self.chance(0.97) { self.pick(&[1, 10, 100, 1000]) } else { 10_000 };
                (
                    "many-arguments",
                    format!(
                        "{{ patient({}) {{ id }} }}",
                        (0..n).map(|i| format!("a{i}: {i}")).collect::<Vec<_>>().join(" ")
                    ),
                )
            }
            18 => {
                let n = self.pick(&[1, 50, 500]);
                let directives = (0..n).map(|i| format!("@d{i}")).collect::<Vec<_>>().join(" ");
                ("many-directives", format!("query {directives} {{ me {directives} {{ id }} }}"))
            }
            19 => {
                let n = self.pick(&[10, 100, 1000]);
                let vars = (0..n).map(|i| format!("$v{i}: Int")).collect::<Vec<_>>().join(", ");
                ("many-variables", format!("query Q({vars}) {{ __typename }}"))
            }
            21 => (
                "variable-defaults",
                self.pick(&[
                    "query($v: [Unknown] = 1) { __typename }",
                    "query($v: [Unknown!]! = [\"a\"]) { __typename }",
                    "query($v: Unknown = 1) { __typename }",
                    "query($v: [[ID]] = [[1, \"a\"]]) { patient(id: $v) { id } }",
                    "query($v: PatientFilterInput = {nope: 1}) { patients(filter: $v) { totalCount } }",
                    "query($v: Int = $w) { __typename }",
                    "query($v: ID! = null) { patient(id: $v) { id } }",
                    "query($v: [CaseType] = [CONFIRMED, \"X\"]) { __typename }",
                    "query($v: Sex = MALE) { patients { totalCount } }",
                    "query($v: ID!) { patient(id: $v) { id } }",
                ])
                .to_owned(),
            ),
            20 => (
                "introspection-types",
                "{ __schema { types { name fields { name args { name type { name } } } } } }".to_owned(),
            ),
            _ => {
                let n = self.pick(&[10, 100, 1000]);
                let keys = (0..n)
                    .map(|i| format!("{{__typename: \"Patient\", id: \"{}\"}}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    "entities",
                    format!("{{ _entities(representations: [{keys}]) {{ ... on Patient {{ id nameKana }} }} }}"),
                )
            }
        };
        doc.text = text;
        (kind, doc)
    }

    /// Token-level damage to a document.
    fn mutate_tokens(&mut self, text: &str) -> String {
        let mut tokens = tokenize(text);
        let rounds = 1 + self.below(4);
        for _ in 0..rounds {
            if tokens.is_empty() {
                tokens.push("{".to_owned());
            }
            let at = self.below(tokens.len());
            match self.below(9) {
                0 => {
                    tokens.remove(at);
                }
                1 => {
                    let token = tokens[at].clone();
                    tokens.insert(at, token);
                }
                2 => {
                    let other = self.below(tokens.len());
                    tokens.swap(at, other);
                }
                3 => {
                    let token = self.pick(PUNCTUATION).to_owned();
                    tokens.insert(at, token);
                }
                4 => {
                    let token = self.pick(NAMES).to_owned();
                    tokens.insert(at, format!(" {token} "));
                }
                5 => tokens[at] = self.pick(NAMES).to_owned(),
                6 => tokens.truncate(at),
                7 => {
                    // Repeat a stretch.
                    let end = (at + 1 + self.below(8)).min(tokens.len());
                    let stretch: Vec<String> = tokens[at..end].to_vec();
                    let most = if self.chance(0.1) { 200 } else { 3 };
                    let times = 1 + self.below(most);
                    for _ in 0..times {
                        tokens.splice(at..at, stretch.iter().cloned());
                    }
                }
                _ => {
                    let c = self.random_char();
                    tokens.insert(at, c.to_string());
                }
            }
        }
        tokens.concat()
    }

    // ------------------------------------------------------------ bodies

    /// The JSON text of one GraphQL request object.
    fn request_json(&mut self, doc: &Doc) -> String {
        let mut parts = Vec::new();
        let query = match self.below(60) {
            0 => "null".to_owned(),
            1 => "42".to_owned(),
            2 => format!("[{}]", json_string(&doc.text)),
            3 => format!("{{\"query\":{}}}", json_string(&doc.text)),
            4 => "true".to_owned(),
            _ => json_string(&doc.text),
        };
        if !self.chance(0.01) {
            parts.push(format!("\"query\":{query}"));
        }
        if !doc.variables.is_empty() || self.chance(0.2) {
            let variables = match self.below(40) {
                0 => "\"{}\"".to_owned(),
                1 => "[]".to_owned(),
                2 => "7".to_owned(),
                3 => "null".to_owned(),
                _ => {
                    let mut out = String::from("{");
                    for (n, (name, value)) in doc.variables.iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        out.push_str(&json_string(name));
                        out.push(':');
                        value.json(&mut out);
                    }
                    out.push('}');
                    out
                }
            };
            parts.push(format!("\"variables\":{variables}"));
        }
        if let Some(name) = &doc.operation_name {
            let mut out = String::from("\"operationName\":");
            name.json(&mut out);
            parts.push(out);
        }
        match self.below(30) {
            0 => parts.push("\"extensions\":{\"persistedQuery\":{\"version\":1,\"sha256Hash\":\"abc\"}}".to_owned()),
            1 => parts.push("\"unknown\":[1,2,3]".to_owned()),
            2 => parts.push(format!("\"query\":{}", json_string("{ me { id } }"))),
            3 => parts.push("\"extensions\":7".to_owned()),
            _ => {}
        }
        if parts.len() > 1 && self.chance(0.2) {
            let a = self.below(parts.len());
            let b = self.below(parts.len());
            parts.swap(a, b);
        }
        format!("{{{}}}", parts.join(","))
    }

    /// JSON bodies that are not (quite) GraphQL requests.
    fn odd_json(&mut self) -> (&'static str, Vec<u8>) {
        match self.below(12) {
            0 => ("json-empty", self.pick(&["", " ", "\n\n", "\u{feff}"]).as_bytes().to_vec()),
            1 => (
                "json-scalar",
                self.pick(&["null", "true", "1", "\"query\"", "\"{ me { id } }\"", "{}", "[[]]"]).as_bytes().to_vec(),
            ),
            2 => {
                let n = self.pick(&[10, 127, 128, 129, 1000, 100_000]);
                ("json-deep-array", format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes())
            }
            3 => {
                let n = self.pick(&[10, 126, 127, 128, 1000, 50_000]);
                let nested = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
                (
                    "json-deep-variables",
                    format!("{{\"query\":\"{{ __typename }}\",\"variables\":{{\"v\":{nested}}}}}").into_bytes(),
                )
            }
            4 => {
                let number = self.pick(&[
                    "1e999999",
                    "123456789012345678901234567890123456789",
                    "-0",
                    "1e-999",
                    "1.7976931348623157e309",
                ]);
                (
                    "json-huge-number",
                    format!("{{\"query\":\"{{ __typename }}\",\"variables\":{{\"x\":{number}}}}}").into_bytes(),
                )
            }
            5 => ("json-lone-surrogate", b"{\"query\":\"{ __typename \\ud800 }\"}".to_vec()),
            6 => (
                "json-invalid-utf8",
                self.pick(&[
                    &b"{\"query\":\"{ \xff\xfe }\"}"[..],
                    b"{\"query\":\"\xc0\xaf\"}",
                    b"\xef\xbb\xbf{\"query\":\"{ __typename }\"}",
                    b"{\"query\":\"\xed\xa0\x80\"}",
                ])
                .to_vec(),
            ),
            7 => (
                "json-duplicate-keys",
                b"{\"query\":\"{ __typename }\",\"query\":\"{ me { id } }\",\"variables\":{},\"variables\":{\"a\":1}}"
                    .to_vec(),
            ),
            8 => (
                "json-trailing",
                self.pick(&[
                    "{\"query\":\"{ __typename }\"} {}",
                    "{\"query\":\"{ __typename }\"},",
                    "{\"query\":\"{ __typename }\",}",
                    "{'query':'{ __typename }'}",
                ])
                .as_bytes()
                .to_vec(),
            ),
            9 => {
                let n = self.pick(&[100, 10_000]);
                ("json-long-key", format!("{{\"{}\":1,\"query\":\"{{ __typename }}\"}}", "k".repeat(n)).into_bytes())
            }
            10 => (
                "json-variables-string",
                b"{\"query\":\"query($a: Int) { __typename }\",\"variables\":\"{\\\"a\\\":1}\"}".to_vec(),
            ),
            _ => ("json-nul", b"{\"query\":\"{ __typename }\"}\0".to_vec()),
        }
    }

    /// An oversized or exactly-at-the-limit body.
    fn large_body(&mut self) -> (&'static str, Vec<u8>) {
        let size = self.pick(&[MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, MAX_BODY * 2, MAX_BODY * 8]);
        let head = b"{\"query\":\"{ __typename }\",\"variables\":{\"pad\":\"";
        let tail = b"\"}}";
        let mut body = head.to_vec();
        // `repeat` copies by doubling: quick even in a debug build.
        body.extend_from_slice(&b"x".repeat(size.saturating_sub(head.len() + tail.len())));
        body.extend_from_slice(tail);
        ("large-body", body)
    }

    fn byte_damage(&mut self, mut body: Vec<u8>) -> Vec<u8> {
        for _ in 0..1 + self.below(5) {
            if body.is_empty() {
                body.push(b'{');
            }
            let at = self.below(body.len());
            match self.below(4) {
                0 => body[at] ^= 1 << self.below(8),
                1 => body.insert(at, self.rng.random()),
                2 => {
                    body.remove(at);
                }
                _ => body.truncate(at),
            }
        }
        body
    }

    // ------------------------------------------------------------ headers

    fn authorization(&mut self, body: &[u8]) -> (Option<HeaderValue>, &'static str) {
        let world = self.world;
        // A request that could end a session runs with one that has ended.
        let ends_sessions = self.ends_sessions
            || (body.len() <= 8192 && ["logout", "changePassword"].iter().any(|word| contains(body, word)));
        let token = world.sessions[self.below(world.sessions.len())].clone();
        let roll = if self.careful && self.chance(0.8) { 19 } else { self.below(20) };
        let (value, kind) = match roll {
            0..=7 => return (None, "anonymous"),
            8 => (format!("Bearer {}", world.stale), "stale"),
            9 => {
                let value = self.pick(&[
                    "Bearer",
                    "Bearer ",
                    "Basic aGMxOmhlcnN5cy1kZW1vLTIwMjY=",
                    "Token abc",
                    "bearer",
                    "",
                    "Bearer a b c",
                    "BearerXYZ",
                    "Bearer \u{7f}",
                ]);
                (value.to_owned(), "malformed")
            }
            10 => (format!("Bearer {}", "A".repeat(self.pick(&[1, 64, 10_000]))), "unknown-token"),
            11 => (format!("bEaReR   {token}  "), "bearer-spacing"),
            _ => (format!("Bearer {token}"), "bearer"),
        };
        if ends_sessions && kind != "malformed" {
            return (HeaderValue::from_str(&format!("Bearer {}", world.stale)).ok(), "stale");
        }
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(value) => (Some(value), kind),
            Err(_) => (None, "anonymous"),
        }
    }

    fn content_type(&mut self) -> Option<HeaderValue> {
        if self.chance(0.9) {
            return Some(HeaderValue::from_static("application/json"));
        }
        let value = self.pick(&[
            "",
            "application/json; charset=utf-8",
            "application/graphql-response+json",
            "APPLICATION/JSON",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/graphql",
            "application/jsonx",
            "json",
            "*/*",
            "application/json\t",
            "\u{ff}",
            "none",
        ]);
        if value == "none" {
            return None;
        }
        // Latin-1 bytes: a header value that is not visible ASCII.
        let bytes: Vec<u8> = value.chars().map(|c| c as u32 as u8).collect();
        HeaderValue::from_bytes(&bytes).ok()
    }

    // ------------------------------------------------------------ cases

    fn case(&mut self, index: u64) -> Case {
        let roll = self.below(1000);
        self.careful = self.chance(0.25);
        let mut case = Case {
            index,
            kind: "op",
            operation: "",
            auth: "anonymous",
            method: Method::POST,
            uri: "/graphql".to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            target: Target::Graphql,
        };
        match roll {
            0..=11 => {
                // GET with a query string: the IDE, whatever it asks.
                let doc = self.structured();
                let mut uri = format!("/graphql?query={}", percent_encode(&doc.text));
                match self.below(5) {
                    0 => uri.push_str("&variables=%7B%22id%22%3A1%7D&operationName=X"),
                    1 => uri.push_str("&query=%zz%"),
                    2 => uri.push_str(&"&a=b".repeat(self.pick(&[10, 1000]))),
                    _ => {}
                }
                // The http crate refuses URIs of 64 KiB and more.
                uri.truncate(60_000);
                case.kind = "get";
                case.method = Method::GET;
                case.uri = uri;
                case.target = Target::Ide;
            }
            30..=39 => {
                case.kind = "method";
                let methods = [Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS, Method::HEAD];
                case.method = methods[self.below(methods.len())].clone();
                case.target = Target::OtherMethod;
                case.body = b"{\"query\":\"{ __typename }\"}".to_vec();
            }
            40..=44 => {
                case.kind = "path";
                case.method = if self.chance(0.5) { Method::GET } else { Method::POST };
                case.uri = self
                    .pick(&[
                        "/graphql/",
                        "/GRAPHQL",
                        "/graphql/ws",
                        "/",
                        "/healthz",
                        "/readyz",
                        "/metrics",
                        "/opendata/x.csv",
                        "/opendata/newly_confirmed_cases_daily.csv?asOf=1e10",
                        "/graphql%00",
                        "/%2e%2e/etc/passwd",
                        "//graphql",
                    ])
                    .to_owned();
                case.target = Target::Other;
                case.body = b"{\"query\":\"{ __typename }\"}".to_vec();
            }
            45..=64 => {
                let doc = self.structured();
                let text = if self.chance(0.3) { self.mutate_tokens(&doc.text) } else { doc.text.clone() };
                let doc = Doc { text, ..doc };
                case.kind = "stream";
                case.uri = "/graphql/stream".to_owned();
                case.target = Target::Stream;
                case.body = self.request_json(&doc).into_bytes();
            }
            65..=114 => {
                let (kind, doc) = self.special();
                case.kind = kind;
                case.body = self.request_json(&doc).into_bytes();
            }
            115..=164 => {
                let n = self.size(5, &[20, 60]);
                let mut items = Vec::new();
                for _ in 0..n {
                    let mut doc = self.structured();
                    if self.chance(0.2) {
                        doc.text = self.mutate_tokens(&doc.text);
                    }
                    items.push(self.request_json(&doc));
                }
                if self.chance(0.05) {
                    items.push("7".to_owned());
                }
                case.kind = "batch";
                case.body = format!("[{}]", items.join(",")).into_bytes();
            }
            165..=199 => {
                let (kind, body) = self.odd_json();
                case.kind = kind;
                case.body = body;
            }
            200..=204 => {
                let (kind, body) = self.large_body();
                case.kind = kind;
                case.body = body;
            }
            205..=244 => {
                let doc = self.structured();
                let body = self.request_json(&doc).into_bytes();
                case.kind = "bytes";
                case.body = self.byte_damage(body);
            }
            245..=274 => {
                let doc = self.structured();
                let body = self.request_json(&doc).into_bytes();
                let at = self.below(body.len());
                case.kind = "truncated";
                case.body = body[..at].to_vec();
            }
            275..=569 => {
                let mut doc = self.structured();
                doc.text = self.mutate_tokens(&doc.text);
                case.kind = "op-mutated";
                case.body = self.request_json(&doc).into_bytes();
            }
            _ => {
                let doc = self.structured();
                case.kind = "op";
                case.body = self.request_json(&doc).into_bytes();
            }
        }
        if (case.method == Method::POST || case.target == Target::OtherMethod)
            && let Some(value) = self.content_type()
        {
            case.headers.push((header::CONTENT_TYPE, value));
        }
        let (authorization, auth) = self.authorization(&case.body);
        case.auth = auth;
        if let Some(value) = authorization {
            case.headers.push((header::AUTHORIZATION, value));
        }
        if self.chance(0.02) {
            let key = match self.below(5) {
                0 => String::new(),
                1 => "k".repeat(201),
                2 => "has space".to_owned(),
                _ => format!("fuzz-{}-{index}", self.below(1_000_000)),
            };
            if let Ok(value) = HeaderValue::from_str(&key) {
                case.headers.push((HeaderName::from_static("idempotency-key"), value));
            }
        }
        if matches!(case.kind, "op" | "op-mutated" | "stream" | "get" | "bytes" | "truncated") {
            case.operation = self.first_op;
        }
        if let Ok(value) = HeaderValue::from_str(&format!("fuzz-{index}")) {
            case.headers.push((HeaderName::from_static("x-request-id"), value));
        }
        if self.chance(0.02) {
            let accept = self.pick(&["text/html", "application/graphql-response+json", "*/*", "text/event-stream"]);
            case.headers.push((header::ACCEPT, HeaderValue::from_static(accept)));
        }
        case
    }
}

#[derive(Debug, Default)]
struct Doc {
    text: String,
    variables_decl: Vec<String>,
    variables: Vec<(String, V)>,
    fragments: Vec<String>,
    operation_name: Option<V>,
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    // The standard library's (optimised) substring search, even in a
    // debug build.
    String::from_utf8_lossy(haystack).contains(needle)
}

/// Splits a document into tokens: names and numbers, strings, punctuation
/// and whitespace (kept, so that concatenation gives the text back).
fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else if c.is_alphanumeric() || c == '_' || c == '-' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.' || chars[i] == '-')
            {
                i += 1;
            }
        } else if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
        } else if c == '.' && chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
            i += 3;
        } else {
            i += 1;
        }
        tokens.push(chars[start..i].iter().collect());
    }
    tokens
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

// ------------------------------------------------------------------ cases

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// `POST /graphql`.
    Graphql,
    /// `GET /graphql`: the IDE.
    Ide,
    /// Another method on `/graphql`.
    OtherMethod,
    /// `POST /graphql/stream`: Server-Sent Events.
    Stream,
    /// Another path.
    Other,
}

#[derive(Debug)]
struct Case {
    index: u64,
    kind: &'static str,
    /// The first root field of a structured document ("" for others).
    operation: &'static str,
    auth: &'static str,
    method: Method,
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    target: Target,
}

impl Case {
    fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// How the case reads in a report (long bodies shortened).
    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = if body.chars().count() > 600 {
            let head: String = body.chars().take(500).collect();
            format!("{head}… ({} bytes)", self.body.len())
        } else {
            body.into_owned()
        };
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes());
                let value = if n == header::AUTHORIZATION && value.len() > 40 {
                    format!("{}…", &value[..20])
                } else {
                    value.into_owned()
                };
                format!("{n}: {value}")
            })
            .collect();
        let uri: String = self.uri.chars().take(300).collect();
        format!("case {} [{}] {} {} {:?}\n  body: {}", self.index, self.kind, self.method, uri, headers, body)
    }

    /// Whether the content type makes the gateway refuse the body.
    fn refused_content_type(&self) -> bool {
        match self.header(&header::CONTENT_TYPE).map(|v| v.to_str()) {
            None | Some(Err(_)) => false,
            Some(Ok(value)) => {
                !value.starts_with("application/json") && !value.starts_with("application/graphql-response+json")
            }
        }
    }

    /// Whether the Authorization header is not of the form `Bearer <token>`.
    fn malformed_authorization(&self) -> bool {
        match self.header(&header::AUTHORIZATION) {
            None => false,
            Some(value) => match value.to_str() {
                Err(_) => true,
                Ok(text) => match text.trim().split_once(' ') {
                    Some((scheme, token)) => !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty(),
                    None => true,
                },
            },
        }
    }

    fn is_subscription(&self) -> bool {
        contains(&self.body, "subscription")
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: Bytes,
}

// --------------------------------------------------------------- checking

/// Checks one GraphQL response object; returns its error codes.
fn check_graphql_response(value: &Value, codes: &mut Vec<String>) -> Result<(), String> {
    let object = value.as_object().ok_or("a response that is not an object")?;
    if let Some(key) = object.keys().find(|k| !["data", "errors", "extensions"].contains(&k.as_str())) {
        return Err(format!("an unexpected member `{key}`"));
    }
    if !object.contains_key("data") && !object.contains_key("errors") {
        return Err("neither data nor errors".to_owned());
    }
    match object.get("errors") {
        None => {
            if !object.get("data").is_some_and(Value::is_object) {
                return Err("no errors, and data is not an object".to_owned());
            }
        }
        Some(errors) => {
            let errors = errors.as_array().ok_or("errors is not a list")?;
            if errors.is_empty() {
                return Err("an empty errors list".to_owned());
            }
            for error in errors {
                if !error["message"].is_string() {
                    return Err(format!("an error without a message: {error}"));
                }
                let code =
                    error["extensions"]["code"].as_str().ok_or_else(|| format!("an error without a code: {error}"))?;
                if !hersys::error::CODES.contains(&code) {
                    return Err(format!("an error with the unknown code {code}: {error}"));
                }
                codes.push(code.to_owned());
                if code == "INTERNAL" {
                    return Err(format!("INTERNAL on client input: {error}"));
                }
            }
        }
    }
    Ok(())
}

/// The media type a GraphQL answer must have: the GraphQL response media
/// type when the client accepts it, JSON otherwise.
fn expected_media(case: &Case) -> &'static str {
    // The stream endpoint refuses in the GraphQL response media type, as
    // the GraphQL over SSE protocol asks.
    if case.target == Target::Stream {
        return "application/graphql-response+json";
    }
    let accepts = case.header(&header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match accepts.contains("application/graphql-response+json") {
        true => "application/graphql-response+json",
        false => "application/json",
    }
}

/// A request-level refusal: `{"data": null, "errors": [...]}`, every error
/// with one of the codes that go with the status.
fn check_refusal(case: &Case, reply: &Reply, allowed: &[&str], codes: &mut Vec<String>) -> Result<(), String> {
    if !reply.content_type.starts_with(expected_media(case)) {
        return Err(format!("a refusal with content type {:?}", reply.content_type));
    }
    let value: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("a refusal that is not JSON: {e}"))?;
    check_graphql_response(&value, codes)?;
    if !value["data"].is_null() || value["errors"].as_array().is_none_or(Vec::is_empty) {
        return Err("a refusal that is not data: null and errors".to_owned());
    }
    for error in value["errors"].as_array().into_iter().flatten() {
        let found = error["extensions"]["code"].as_str().unwrap_or_default();
        if !allowed.contains(&found) {
            return Err(format!("status {} with code {found}, expected one of {allowed:?}", reply.status));
        }
    }
    Ok(())
}

/// The answer `POST /graphql` (or `/graphql/stream`) must give.
fn check_post(case: &Case, reply: &Reply, codes: &mut Vec<String>) -> Result<(), String> {
    let too_large = case.body.len() > MAX_BODY;
    if too_large != (reply.status == 413) {
        return Err(format!("a body of {} bytes answered {}", case.body.len(), reply.status));
    }
    if !too_large && case.target == Target::Graphql && case.refused_content_type() && reply.status != 400 {
        return Err(format!("a refused content type answered {}", reply.status));
    }
    let refusals_have_statuses = expected_media(case) == "application/graphql-response+json";
    if reply.status == 401 && !case.malformed_authorization() && !refusals_have_statuses {
        return Err("401 without a malformed Authorization header".to_owned());
    }
    match reply.status {
        200 => {}
        400 => return check_refusal(case, reply, &["BAD_USER_INPUT", "QUERY_TOO_COMPLEX"], codes),
        413 => return check_refusal(case, reply, &["BAD_USER_INPUT"], codes),
        401 => return check_refusal(case, reply, &["UNAUTHENTICATED"], codes),
        // A safelist (off here) refuses unlisted operations; introspection
        // is refused when it is switched off.
        403 => return check_refusal(case, reply, &["FORBIDDEN"], codes),
        404 if refusals_have_statuses => return check_refusal(case, reply, &["NOT_FOUND"], codes),
        409 => return check_refusal(case, reply, &["CONFLICT"], codes),
        // Rate limits (off here).
        429 => return check_refusal(case, reply, &["RATE_LIMITED"], codes),
        // An operation stopped at the request deadline, or the database
        // out of reach.
        503 => return check_refusal(case, reply, &["DEADLINE_EXCEEDED", "UNAVAILABLE"], codes),
        status => {
            let body = String::from_utf8_lossy(&reply.body);
            return Err(format!("status {status}: {}", body.chars().take(300).collect::<String>()));
        }
    }
    if case.target == Target::Stream {
        if case.is_subscription() && reply.body.is_empty() {
            // An open subscription: its head was all that was read.
            return match reply.content_type.starts_with("text/event-stream") {
                true => Ok(()),
                false => Err(format!("a stream with content type {:?}", reply.content_type)),
            };
        }
        return check_event_stream(reply, codes);
    }
    if !reply.content_type.starts_with(expected_media(case)) {
        return Err(format!("200 with content type {:?}", reply.content_type));
    }
    let value: Value =
        serde_json::from_slice(&reply.body).map_err(|e| format!("200 with a body that is not JSON: {e}"))?;
    match &value {
        Value::Array(responses) => {
            if !case.body.trim_ascii_start().starts_with(b"[") {
                return Err("a list of responses to a single request".to_owned());
            }
            responses.iter().try_for_each(|response| check_graphql_response(response, codes))
        }
        single => check_graphql_response(single, codes),
    }
}

/// A Server-Sent Events answer: `next` events carrying GraphQL responses,
/// then `complete`.
fn check_event_stream(reply: &Reply, codes: &mut Vec<String>) -> Result<(), String> {
    if !reply.content_type.starts_with("text/event-stream") {
        return Err(format!("a stream with content type {:?}", reply.content_type));
    }
    let text = std::str::from_utf8(&reply.body).map_err(|_| "a stream that is not UTF-8")?;
    let mut completed = false;
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let mut name = "";
        let mut data = String::new();
        for line in event.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
        }
        match name {
            "next" => {
                let value: Value =
                    serde_json::from_str(&data).map_err(|e| format!("a next event that is not JSON: {e}"))?;
                check_graphql_response(&value, codes)?;
            }
            "complete" => completed = true,
            "" => {}
            other => return Err(format!("an unexpected event {other}")),
        }
    }
    if !completed {
        return Err("a stream without its complete event".to_owned());
    }
    Ok(())
}

fn check(case: &Case, reply: &Reply, codes: &mut Vec<String>) -> Result<(), String> {
    if reply.status >= 500 && !(reply.status == 503 && matches!(case.target, Target::Graphql | Target::Stream)) {
        let body = String::from_utf8_lossy(&reply.body);
        return Err(format!("status {}: {}", reply.status, body.chars().take(300).collect::<String>()));
    }
    match case.target {
        Target::Graphql | Target::Stream => check_post(case, reply, codes),
        Target::Ide => {
            if reply.status != 200 || !reply.content_type.starts_with("text/html") {
                return Err(format!("GET /graphql answered {} {:?}", reply.status, reply.content_type));
            }
            Ok(())
        }
        Target::OtherMethod => {
            let expected = if case.method == Method::HEAD { 200 } else { 405 };
            if reply.status != expected {
                return Err(format!("{} /graphql answered {}, expected {expected}", case.method, reply.status));
            }
            Ok(())
        }
        Target::Other => Ok(()),
    }
}

// ---------------------------------------------------------------- sending

async fn send_in_process(router: &Router, case: &Case) -> Result<Reply, String> {
    let mut request = Request::builder().method(case.method.clone()).uri(case.uri.as_str());
    for (name, value) in &case.headers {
        request = request.header(name, value.clone());
    }
    let request = request.body(Body::from(case.body.clone())).map_err(|e| format!("unbuildable request: {e}"))?;
    let Ok(response) = router.clone().oneshot(request).await;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    // A subscription over Server-Sent Events stays open: its head is all
    // there is to check.
    if case.target == Target::Stream && status == 200 && case.is_subscription() {
        return Ok(Reply { status, content_type, body: Bytes::new() });
    }
    let body = tokio::time::timeout(Duration::from_secs(60), axum::body::to_bytes(response.into_body(), 64 << 20))
        .await
        .map_err(|_| "no complete body within 60 s".to_owned())?
        .map_err(|e| format!("the body failed: {e}"))?;
    Ok(Reply { status, content_type, body })
}

async fn send_http(client: &reqwest::Client, base: &str, case: &Case) -> Result<Reply, String> {
    let mut request = client.request(case.method.clone(), format!("{base}{}", case.uri));
    for (name, value) in &case.headers {
        request = request.header(name, value.clone());
    }
    let response = request.body(case.body.clone()).send().await.map_err(|e| format!("HTTP failed: {e}"))?;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.bytes().await.map_err(|e| format!("HTTP body failed: {e}"))?;
    Ok(Reply { status, content_type, body })
}

// ------------------------------------------------------------------ tally

#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    codes: BTreeMap<String, u64>,
    /// Requests and time spent per kind of case.
    kinds: BTreeMap<&'static str, (u64, Duration)>,
    /// The same per first root field of structured documents.
    operations: BTreeMap<&'static str, (u64, Duration)>,
    /// Structured documents answered without any error, per first root field.
    succeeded: BTreeMap<&'static str, u64>,
    auth: BTreeMap<&'static str, u64>,
    slowest: Vec<(Duration, u64, &'static str)>,
    /// Failures by signature: how many, and the shortest examples.
    failures: BTreeMap<String, (u64, Vec<(usize, String)>)>,
    failure_count: u64,
}

impl Tally {
    fn record(&mut self, case: &Case, outcome: Result<Reply, String>, elapsed: Duration) {
        self.requests += 1;
        let kind = self.kinds.entry(case.kind).or_default();
        kind.0 += 1;
        kind.1 += elapsed;
        if !case.operation.is_empty() {
            let operation = self.operations.entry(case.operation).or_default();
            operation.0 += 1;
            operation.1 += elapsed;
        }
        *self.auth.entry(case.auth).or_default() += 1;
        self.slowest.push((elapsed, case.index, case.kind));
        if self.slowest.len() > 40 {
            self.slowest.sort_by_key(|slow| std::cmp::Reverse(slow.0));
            self.slowest.truncate(10);
        }
        let mut codes = Vec::new();
        let verdict = outcome.and_then(|reply| {
            *self.statuses.entry(reply.status).or_default() += 1;
            check(case, &reply, &mut codes).map_err(|why| {
                let body = String::from_utf8_lossy(&reply.body);
                format!("{why}\n  answer {}: {}", reply.status, body.chars().take(400).collect::<String>())
            })?;
            Ok(reply.status)
        });
        if verdict == Ok(200) && codes.is_empty() && case.target == Target::Graphql && !case.operation.is_empty() {
            *self.succeeded.entry(case.operation).or_default() += 1;
        }
        for code in codes {
            *self.codes.entry(code).or_default() += 1;
        }
        let logged = server_errors_of(case);
        if let Err(why) = verdict {
            self.failure_count += 1;
            let signature = signature(&why, &logged);
            let log = if logged.is_empty() { String::new() } else { format!("\n  server log: {}", logged.join(" | ")) };
            self.add_failure(signature, 1, vec![(case.body.len(), format!("{why}{log}\n  {}", case.describe()))]);
        }
    }

    fn add_failure(&mut self, signature: String, count: u64, examples: Vec<(usize, String)>) {
        let entry = self.failures.entry(signature).or_default();
        entry.0 += count;
        entry.1.extend(examples);
        entry.1.sort_by_key(|(size, _)| *size);
        entry.1.truncate(3);
    }

    fn failure_report(&self) -> String {
        let mut out = String::new();
        for (signature, (count, examples)) in &self.failures {
            let _ = writeln!(out, "=== {count} × {signature}");
            for (_, example) in examples {
                let _ = writeln!(out, "{example}\n");
            }
        }
        out
    }

    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.codes {
            *self.codes.entry(k).or_default() += v;
        }
        for (k, (n, t)) in other.kinds {
            let entry = self.kinds.entry(k).or_default();
            entry.0 += n;
            entry.1 += t;
        }
        for (k, v) in other.succeeded {
            *self.succeeded.entry(k).or_default() += v;
        }
        for (k, (n, t)) in other.operations {
            let entry = self.operations.entry(k).or_default();
            entry.0 += n;
            entry.1 += t;
        }
        for (k, v) in other.auth {
            *self.auth.entry(k).or_default() += v;
        }
        self.slowest.extend(other.slowest);
        self.slowest.sort_by_key(|slow| std::cmp::Reverse(slow.0));
        self.slowest.truncate(10);
        self.failure_count += other.failure_count;
        for (signature, (count, examples)) in other.failures {
            self.add_failure(signature, count, examples);
        }
    }

    fn summary(&self, title: &str) -> String {
        let mut out = format!("{title}: {} requests, {} failures\n", self.requests, self.failure_count);
        let _ = writeln!(out, "  by status: {:?}", self.statuses);
        let _ = writeln!(out, "  by error code: {:?}", self.codes);
        let _ = writeln!(out, "  by authorization: {:?}", self.auth);
        let mut kinds: Vec<_> = self.kinds.iter().collect();
        kinds.sort_by_key(|kind| std::cmp::Reverse(kind.1.1));
        let _ = writeln!(out, "  by kind (requests, total time, mean):");
        for (kind, (n, time)) in kinds {
            let mean = time.as_secs_f64() * 1000.0 / (*n).max(1) as f64;
            let _ = writeln!(out, "    {kind:<22} {n:>7} {:>9.1} s {mean:>8.2} ms", time.as_secs_f64());
        }
        let _ = writeln!(out, "  answered without errors, by first root field: {:?}", self.succeeded);
        let mut operations: Vec<_> = self.operations.iter().collect();
        operations.sort_by_key(|operation| std::cmp::Reverse(operation.1.1));
        let _ = writeln!(out, "  by first root field of generated documents (the 12 costliest):");
        for (operation, (n, time)) in operations.into_iter().take(12) {
            let mean = time.as_secs_f64() * 1000.0 / (*n).max(1) as f64;
            let _ = writeln!(out, "    {operation:<26} {n:>7} {:>9.1} s {mean:>8.2} ms", time.as_secs_f64());
        }
        let mut slowest = self.slowest.clone();
        slowest.sort_by_key(|slow| std::cmp::Reverse(slow.0));
        let slowest: Vec<String> =
            slowest.iter().take(10).map(|(t, i, k)| format!("#{i} {k} {:.0} ms", t.as_secs_f64() * 1000.0)).collect();
        let _ = writeln!(out, "  slowest: {}", slowest.join(", "));
        out
    }
}

// ------------------------------------------------------------ server log

/// Errors the gateway logged, by request ID (`x-request-id`, which each
/// case sets to `fuzz-<index>`), so a failure can name the server's cause.
fn server_errors() -> &'static Mutex<HashMap<String, Vec<String>>> {
    static ERRORS: OnceLock<Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    ERRORS.get_or_init(Default::default)
}

fn server_errors_of(case: &Case) -> Vec<String> {
    let id = format!("fuzz-{}", case.index);
    server_errors().lock().map(|mut errors| errors.remove(&id).unwrap_or_default()).unwrap_or_default()
}

/// Groups failures: an `INTERNAL` by the cause the server logged, anything
/// else by the first words of what was wrong.
fn signature(why: &str, logged: &[String]) -> String {
    // Numbers (IDs, latencies, positions) and variable names vary between
    // inputs of one cause; repeated log lines say nothing more.
    let normalise = |text: &str| {
        let mut out = String::new();
        for word in text.split(' ') {
            let word = if word.chars().any(|c| c.is_ascii_digit()) {
                let mut masked = String::new();
                for c in word.chars() {
                    let c = if c.is_ascii_digit() { '#' } else { c };
                    if !(c == '#' && masked.ends_with('#')) {
                        masked.push(c);
                    }
                }
                masked
            } else {
                word.to_owned()
            };
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&word);
        }
        out
    };
    let mut log: Vec<String> = logged.iter().map(|line| normalise(line)).collect();
    log.dedup();
    let first = normalise(why.lines().next().unwrap_or_default());
    if log.is_empty() {
        first.chars().take(70).collect()
    } else if why.starts_with("INTERNAL") {
        format!("INTERNAL; server log: {}", log.join(" | "))
    } else {
        format!("{}; server log: {}", first.chars().take(20).collect::<String>(), log.join(" | "))
    }
}

struct RequestId(String);

#[derive(Default)]
struct FieldText {
    request_id: Option<String>,
    text: String,
}

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request_id" {
            self.request_id = Some(format!("{value:?}"));
        } else {
            let _ = write!(self.text, "{}{}={value:?}", if self.text.is_empty() { "" } else { " " }, field.name());
        }
    }
}

/// Keeps the ERROR events of each request's span.
struct ErrorLog;

impl<S> tracing_subscriber::Layer<S> for ErrorLog
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = FieldText::default();
        attributes.record(&mut fields);
        if let (Some(request_id), Some(span)) = (fields.request_id, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else { return };
        let Some(request_id) =
            scope.from_root().find_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
        else {
            return;
        };
        let mut fields = FieldText::default();
        event.record(&mut fields);
        if let Ok(mut errors) = server_errors().lock() {
            errors.entry(request_id).or_default().push(fields.text);
        }
    }
}

/// Collects the gateway's errors per request; with `RUST_LOG`, also prints
/// the log.
fn install_error_log() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let wanted = tracing_subscriber::filter::filter_fn(|metadata| {
        (metadata.is_span() && metadata.name() == "request") || *metadata.level() == tracing::Level::ERROR
    });
    let printed = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer().with_test_writer().with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    let _ = tracing_subscriber::registry().with(ErrorLog.with_filter(wanted)).with(printed).try_init();
}

// -------------------------------------------------------------------- run

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Sends cases `range` in-process from `WORKERS` tasks.
async fn run_in_process(router: &Router, world: &Arc<World>, seed: u64, range: std::ops::Range<u64>) -> Tally {
    let next = Arc::new(AtomicU64::new(range.start));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (router, world, next, end) = (router.clone(), world.clone(), next.clone(), range.end);
        tasks.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= end {
                    break;
                }
                let case = Gen::new(seed, index, &world).case(index);
                let started = Instant::now();
                let outcome = send_in_process(&router, &case).await;
                tally.record(&case, outcome, started.elapsed());
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done.expect("a fuzzing task"));
    }
    tally
}

fn install_panic_counter() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_survives_and_answers_every_generated_request() {
    install_panic_counter();
    install_error_log();
    let seed = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_u64("FUZZ_CASES").unwrap_or(DEFAULT_CASES);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display());
    let mut config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(url));
    config.db_max_connections = 5;
    assert_eq!(config.max_body_bytes, MAX_BODY, "the body limit this test expects");
    let app = Application::build(config).await.expect("the gateway starts");
    hersys::services::demo::seed_demo(&app.state.db).await.expect("the demo data set loads");
    let router = app.router();
    let addr = app.addr();
    let server = tokio::spawn(app.run());

    let started = Instant::now();
    let world = Arc::new(build_world(&router).await);
    println!("fuzz: seed {seed:#x}, world ready in {:.1} s", started.elapsed().as_secs_f64());

    let single = match (env_u64("FUZZ_SHOW"), std::env::var("FUZZ_BODY")) {
        (Some(index), _) => Some(Gen::new(seed, index, &world).case(index)),
        (None, Ok(body)) => {
            let mut headers = vec![(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
            if let Some(session) = env_u64("FUZZ_SESSION").and_then(|n| world.sessions.get(n as usize)) {
                headers.push((
                    header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {session}")).expect("a token"),
                ));
            }
            headers.push((HeaderName::from_static("x-request-id"), HeaderValue::from_static("fuzz-0")));
            let (kind, operation, auth) = ("given", "", "given");
            let (method, uri, body, target) = (Method::POST, "/graphql".to_owned(), body.into_bytes(), Target::Graphql);
            Some(Case { index: 0, kind, operation, auth, method, uri, headers, body, target })
        }
        (None, Err(_)) => None,
    };
    if let Some(case) = single {
        println!("{}", case.describe());
        let mut tally = Tally::default();
        let started = Instant::now();
        let outcome = send_in_process(&router, &case).await;
        if let Ok(reply) = &outcome {
            println!("answer {} {:?}: {}", reply.status, reply.content_type, String::from_utf8_lossy(&reply.body));
        }
        tally.record(&case, outcome, started.elapsed());
        println!("{}", tally.summary("one case"));
        assert!(tally.failures.is_empty(), "{}", tally.failure_report());
        return;
    }

    let started = Instant::now();
    let warm_up = WARM_UP.min(cases);
    let mut tally = run_in_process(&router, &world, seed, 0..warm_up).await;
    let rss_after_warm_up = resident_kib();
    // In slices, to see how the resident set develops.
    let mut trend = vec![format!("{}: {} MiB", warm_up, rss_after_warm_up / 1024)];
    let mut start = warm_up;
    while start < cases {
        let end = (start + 10_000).min(cases);
        tally.merge(run_in_process(&router, &world, seed, start..end).await);
        trend.push(format!("{end}: {} MiB", resident_kib() / 1024));
        start = end;
    }
    let rss_at_end = resident_kib();
    println!("fuzz: resident memory after n requests: {}", trend.join(", "));
    let in_process_time = started.elapsed();
    println!("{}", tally.summary("in-process"));
    println!(
        "fuzz: {} requests in process in {:.1} s ({:.0}/s)",
        tally.requests,
        in_process_time.as_secs_f64(),
        tally.requests as f64 / in_process_time.as_secs_f64()
    );

    // The same path over real HTTP.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("an HTTP client");
    let base = format!("http://{addr}");
    let mut http = Tally::default();
    let started = Instant::now();
    for index in cases..cases + HTTP_CASES {
        let case = Gen::new(seed, index, &world).case(index);
        if case.target == Target::Stream && case.is_subscription() {
            continue;
        }
        let begun = Instant::now();
        let outcome = send_http(&client, &base, &case).await;
        http.record(&case, outcome, begun.elapsed());
    }
    println!("{}", http.summary("over HTTP"));
    println!("fuzz: {} requests over HTTP in {:.1} s", http.requests, started.elapsed().as_secs_f64());

    // The server is still there and still answers.
    let alive = client.get(format!("{base}/healthz")).send().await.map(|r| r.status().as_u16());
    assert_eq!(alive.ok(), Some(200), "the gateway no longer answers /healthz");
    let response = call(&router, None, "{ __typename }", json!({})).await;
    assert_eq!(response["data"]["__typename"], "Query", "the gateway no longer executes queries: {response}");
    assert!(!server.is_finished(), "the server task ended");

    let growth = rss_at_end.saturating_sub(rss_after_warm_up);
    println!(
        "fuzz: resident memory {} MiB after {warm_up} requests, {} MiB at the end: growth {} KiB (limit {} KiB)",
        rss_after_warm_up / 1024,
        rss_at_end / 1024,
        growth,
        RSS_GROWTH_LIMIT_KIB
    );
    let panics = PANICS.load(Ordering::SeqCst);
    println!("fuzz: {panics} panics");

    let mut problems = Vec::new();
    if tally.failure_count + http.failure_count > 0 {
        problems.push(format!(
            "{} in-process and {} HTTP answers broke the contract:\n\n{}",
            tally.failure_count,
            http.failure_count,
            tally.failure_report() + &http.failure_report()
        ));
    }
    if panics > 0 {
        problems.push(format!("{panics} panics (see the output above)"));
    }
    if growth > RSS_GROWTH_LIMIT_KIB {
        problems
            .push(format!("resident memory grew by {growth} KiB after the warm-up (limit {RSS_GROWTH_LIMIT_KIB} KiB)"));
    }
    assert!(cases < DEFAULT_CASES || tally.requests >= 100_000, "fewer than 100,000 requests were sent");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
