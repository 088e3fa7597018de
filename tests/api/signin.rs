//! Guessing credentials: what bounds it, and that the rightful owner still
//! signs in. Staff lockout counted in one statement, the password work
//! under its bound, a password change that is no oracle, patients' sign-in
//! locks per smartphone ID and per address, and each account's own
//! sessions.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hersys::clock::ManualClock;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, DEMO_PASSWORD, TestApp, error_code, error_field, spawn_app, spawn_app_configured};

both!(
    a_hundred_concurrent_wrong_passwords_all_count_and_lock_the_account,
    a_password_change_checks_the_new_password_first_and_counts_a_wrong_current_one,
    audit_entries_and_sessions_record_where_each_request_came_from,
    password_work_beyond_its_bound_is_refused_with_rate_limited_and_counts_nothing,
    a_thousand_wrong_birth_dates_find_nothing_and_lock_the_smartphone_id_until_the_health_centre_lifts_it,
    concurrent_guesses_never_compare_more_dates_than_the_threshold,
    a_lock_runs_out_and_a_sign_in_clears_the_count,
    an_address_that_keeps_failing_is_refused_for_a_while_and_patients_elsewhere_are_not,
    one_patient_sign_in_per_request_however_it_is_packed,
    a_page_of_patients_reads_its_sign_in_locks_in_one_statement,
    each_caller_lists_its_own_open_sessions_and_ends_one_it_does_not_recognise,
);

const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }";

/// A direct connection to the gateway's database, to read what the API
/// does not show.
async fn database(app: &TestApp) -> DatabaseConnection {
    Database::connect(app.database_url.as_str()).await.expect("direct connection")
}

/// One integer the statement `sql` selects as `n`.
async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await;
    row.ok().flatten().and_then(|row| row.try_get::<i64>("", "n").ok()).unwrap_or_else(|| panic!("no number: {sql}"))
}

async fn failed_logins(db: &DatabaseConnection, username: &str) -> i64 {
    number(db, &format!("SELECT CAST(failed_logins AS BIGINT) AS n FROM accounts WHERE username = '{username}'")).await
}

/// Posts a sign-in and answers the status, the `Retry-After` header and the
/// body.
async fn post_login(app: &TestApp, username: &str, password: &str) -> (u16, Option<String>, Value) {
    let body = json!({ "query": LOGIN, "variables": { "u": username, "p": password } });
    let response = app.client.post(app.url("/graphql")).json(&body).send().await.expect("sent");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry_after, response.json().await.expect("a JSON body"))
}

async fn password_work_beyond_its_bound_is_refused_with_rate_limited_and_counts_nothing(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| {
        config.password_concurrency = 1;
        config.password_wait = Duration::from_millis(1);
        config.lockout_threshold = 1_000;
    })
    .await;
    let answers = join_all((0..30).map(|_| post_login(&app, "hc2", "not-the-password"))).await;
    let checked = answers.iter().filter(|(_, _, body)| error_code(body) == Some("UNAUTHENTICATED")).count();
    let busy: Vec<_> = answers.iter().filter(|(_, _, body)| error_code(body) == Some("RATE_LIMITED")).collect();
    assert_eq!(checked + busy.len(), answers.len(), "{answers:?}");
    assert!(checked >= 1, "the first in line is checked: {answers:?}");
    assert!(!busy.is_empty(), "one turn at a time, one millisecond of waiting: some are refused: {answers:?}");
    for (status, retry_after, body) in busy {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], 1, "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    // Only the attempts that were checked count towards the lock.
    let db = database(&app).await;
    assert_eq!(failed_logins(&db, "hc2").await, checked as i64);
    // The turns are free again afterwards.
    let (_, _, fine) = post_login(&app, "hc2", DEMO_PASSWORD).await;
    assert!(fine["data"]["login"]["token"].is_string(), "{fine}");
    assert_eq!(failed_logins(&db, "hc2").await, 0, "a sign-in resets the count");
}

/// The `lockedUntil` of a staff account, as administrators see it.
async fn locked_until(app: &TestApp, username: &str) -> Value {
    let admin = app.login("admin1").await;
    let accounts =
        app.gql(Some(&admin), "{ accounts(first: 500) { nodes { username lockedUntil } } }", json!({})).await;
    accounts["data"]["accounts"]["nodes"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["username"] == username))
        .map(|a| a["lockedUntil"].clone())
        .unwrap_or_else(|| panic!("no account {username}: {accounts}"))
}

async fn a_hundred_concurrent_wrong_passwords_all_count_and_lock_the_account(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        // Every attempt reaches the check: no rate limit, and a long wait
        // for a turn at the password work.
        config.rate_limit_per_address = None;
        config.rate_limit_per_account = None;
        config.password_wait = Duration::from_secs(120);
    })
    .await;
    let answers = join_all((0..100).map(|_| post_login(&app, "hc2", "not-the-password"))).await;
    let first = &answers[0].2;
    for (_, _, body) in &answers {
        assert_eq!(error_code(body), Some("UNAUTHENTICATED"), "{body}");
        assert_eq!(body["errors"][0]["message"], first["errors"][0]["message"], "{body}");
    }
    let db = database(&app).await;
    assert_eq!(failed_logins(&db, "hc2").await, 100, "every failure counted, none lost");
    assert!(locked_until(&app, "hc2").await.is_string(), "locked");
    // The right password is refused now, with the same answer.
    let (_, _, right) = post_login(&app, "hc2", DEMO_PASSWORD).await;
    assert_eq!(error_code(&right), Some("UNAUTHENTICATED"), "{right}");
    assert_eq!(right["errors"][0]["message"], first["errors"][0]["message"]);
    assert_eq!(failed_logins(&db, "hc2").await, 100, "the right password is not a failure");
    // The lock runs out: a failure then starts a new count (one, not the
    // hundred-and-first, so no lock), and the right password signs in.
    clock.advance(chrono::Duration::minutes(16));
    post_login(&app, "hc2", "not-the-password").await;
    assert_eq!(failed_logins(&db, "hc2").await, 1);
    assert!(locked_until(&app, "hc2").await.is_null());
    let (_, _, later) = post_login(&app, "hc2", DEMO_PASSWORD).await;
    assert!(later["data"]["login"]["token"].is_string(), "{later}");
    assert_eq!(failed_logins(&db, "hc2").await, 0);
}

const CHANGE: &str = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

/// The actions of the audit entries of an account, oldest first.
async fn audited_actions(app: &TestApp, username: &str) -> Vec<String> {
    let admin = app.login("admin1").await;
    let accounts = app.gql(Some(&admin), "{ accounts(first: 500) { nodes { id username } } }", json!({})).await;
    let id = accounts["data"]["accounts"]["nodes"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["username"] == username))
        .map(|a| a["id"].clone())
        .unwrap_or_else(|| panic!("no account {username}: {accounts}"));
    let log = app
        .gql(
            Some(&admin),
            "query($a: ID) { auditLog(accountId: $a, first: 500) { edges { node { action } } } }",
            json!({ "a": id }),
        )
        .await;
    let mut actions: Vec<String> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit log: {log}"))
        .iter()
        .filter_map(|edge| edge["node"]["action"].as_str().map(str::to_owned))
        .collect();
    actions.reverse();
    actions
}

async fn a_password_change_checks_the_new_password_first_and_counts_a_wrong_current_one(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |_| {}).await;
    let db = database(&app).await;
    let session = app.login("hc3").await;
    let other = app.login("hc3").await;
    // A new password against the rules is refused for that, whatever the
    // current password: the answer tells nothing about it, and nothing is
    // counted.
    for current in [DEMO_PASSWORD, "a wrong guess"] {
        let refused = app.gql(Some(&session), CHANGE, json!({ "c": current, "n": "short" })).await;
        assert_eq!((error_code(&refused), error_field(&refused)), (Some("BAD_USER_INPUT"), Some("newPassword")));
        assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.starts_with("newPassword:")), "{refused}");
    }
    assert_eq!(failed_logins(&db, "hc3").await, 0);

    // A wrong current password is a failed sign-in, audited, with an
    // answer that does not say more.
    let new = json!({ "c": "a wrong guess", "n": "a long and unusual phrase" });
    let wrong = app.gql(Some(&session), CHANGE, new.clone()).await;
    assert_eq!(error_code(&wrong), Some("FORBIDDEN"), "{wrong}");
    assert_eq!(error_field(&wrong), None, "{wrong}");
    assert_eq!(failed_logins(&db, "hc3").await, 1);
    assert!(audited_actions(&app, "hc3").await.contains(&"CHANGE_PASSWORD_REFUSED".to_owned()));

    // Five lock the account, with the same answer, and end every session
    // of it (the one guessing too); the right current password is then
    // refused with the same answer from another session, and so is
    // signing in.
    for _ in 0..3 {
        app.gql(Some(&session), CHANGE, new.clone()).await;
    }
    let locking = app.gql(Some(&session), CHANGE, new.clone()).await;
    assert_eq!(locking["errors"][0]["message"], wrong["errors"][0]["message"], "{locking}");
    assert_eq!(failed_logins(&db, "hc3").await, 5);
    assert!(locked_until(&app, "hc3").await.is_string());
    for token in [&session, &other] {
        let ended = app.gql(Some(token), "{ me { username } }", json!({})).await;
        assert_eq!(error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
    }
    let (_, _, signing_in) = post_login(&app, "hc3", DEMO_PASSWORD).await;
    assert_eq!(error_code(&signing_in), Some("UNAUTHENTICATED"), "{signing_in}");

    // Once the lock has run out, the owner signs in and changes the
    // password.
    clock.advance(chrono::Duration::minutes(16));
    let session = app.login("hc3").await;
    let changed =
        app.gql(Some(&session), CHANGE, json!({ "c": DEMO_PASSWORD, "n": "a long and unusual phrase" })).await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    assert_eq!(failed_logins(&db, "hc3").await, 0);
    let (_, _, fine) = post_login(&app, "hc3", "a long and unusual phrase").await;
    assert!(fine["data"]["login"]["token"].is_string(), "{fine}");
}

/// Posts an operation as if from `address` (the gateway trusts
/// `X-Forwarded-For` in these tests) with a `User-Agent`.
async fn post_from(app: &TestApp, address: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", address)
        .header("user-agent", "HER-SYS desk client/2.1")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent").json().await.expect("a JSON body")
}

/// Signs a demo account in from `address`.
async fn login_from(app: &TestApp, address: &str, username: &str) -> String {
    let signed_in = post_from(app, address, None, LOGIN, json!({ "u": username, "p": DEMO_PASSWORD })).await;
    signed_in["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}")).to_owned()
}

async fn audit_entries(app: &TestApp) -> Vec<Value> {
    let admin = app.login("admin1").await;
    let log = app
        .gql(
            Some(&admin),
            "{ auditLog(first: 500) { edges { node { action clientAddress patientId account { username } } } } }",
            json!({}),
        )
        .await;
    log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit log: {log}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

async fn audit_entries_and_sessions_record_where_each_request_came_from(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| config.trust_forwarded_for = true).await;
    let hc1 = login_from(&app, "203.0.113.7", "hc1").await;
    let register = "mutation { registerPatient(input: { caseType: CONFIRMED, nameKanji: \"所在 太郎\", \
                    nameKana: \"ショザイ タロウ\", sex: MALE, birthDate: \"1980-04-01\" }) { id } }";
    let registered = post_from(&app, "203.0.113.7", Some(&hc1), register, json!({})).await;
    let patient = registered["data"]["registerPatient"]["id"].clone();
    assert!(patient.is_string(), "{registered}");
    // The same session from elsewhere: each entry has its request's address.
    let read = post_from(
        &app,
        "2001:db8::5",
        Some(&hc1),
        "query($id: ID!) { patient(id: $id) { nameKanji } }",
        json!({ "id": patient }),
    )
    .await;
    assert!(read["errors"].is_null(), "{read}");
    post_from(&app, "198.51.100.9", None, LOGIN, json!({ "u": "hc2", "p": "not-the-password" })).await;
    let other = login_from(&app, "198.51.100.10", "hc3").await;
    let out = post_from(&app, "198.51.100.11", Some(&other), "mutation { logoutEverywhere }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");

    let entries = audit_entries(&app).await;
    let address_of = |action: &str, username: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["account"]["username"] == username)
            .map(|e| e["clientAddress"].clone())
            .unwrap_or_else(|| panic!("no {action} of {username}: {entries:?}"))
    };
    assert_eq!(address_of("LOGIN", "hc1"), "203.0.113.7");
    assert_eq!(address_of("REGISTER_PATIENT", "hc1"), "203.0.113.7");
    assert_eq!(address_of("READ_PERSONAL", "hc1"), "2001:db8::5");
    assert_eq!(address_of("LOGIN_REFUSED", "hc2"), "198.51.100.9");
    assert_eq!(address_of("LOGIN", "hc3"), "198.51.100.10");
    assert_eq!(address_of("LOGOUT_EVERYWHERE", "hc3"), "198.51.100.11");
    // Without a forwarded address, the peer's.
    assert_eq!(address_of("LOGIN", "admin1"), "127.0.0.1");

    // The session keeps where it was opened from, and the client it was
    // opened with.
    let db = database(&app).await;
    let sessions = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT s.client_address, s.user_agent FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE a.username = 'hc1'",
        ))
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1);
    let address: Option<String> = sessions[0].try_get("", "client_address").expect("client_address");
    let agent: Option<String> = sessions[0].try_get("", "user_agent").expect("user_agent");
    assert_eq!(address.as_deref(), Some("203.0.113.7"));
    assert_eq!(agent.as_deref(), Some("HER-SYS desk client/2.1"));
}

const PATIENT_LOGIN: &str =
    "mutation($s: String!, $d: Date!) { patientLogin(smartphoneId: $s, birthDate: $d) { token } }";

/// The date of birth `register_patient` gives.
const BIRTH_DATE: &str = "1980-04-01";

const SIGN_IN_LOCK: &str = "query($id: ID!) { patient(id: $id) { signInLock { failures lockedUntil lastFailedAt } } }";

async fn patient_login(app: &TestApp, phone: &str, date: &str) -> Value {
    app.gql(None, PATIENT_LOGIN, json!({ "s": phone, "d": date })).await
}

/// `count` different wrong dates of birth.
fn wrong_dates(count: usize) -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).expect("a date");
    (0..)
        .map(|day| (start + chrono::Duration::days(day)).format("%Y-%m-%d").to_string())
        .filter(|date| date != BIRTH_DATE)
        .take(count)
        .collect()
}

/// The patient's `signInLock` as `token` sees it (the whole answer).
async fn sign_in_lock(app: &TestApp, token: &str, patient: &str) -> Value {
    app.gql(Some(token), SIGN_IN_LOCK, json!({ "id": patient })).await
}

/// Every audit entry about a patient, oldest first.
async fn audit_of_patient(app: &TestApp, patient: &str) -> Vec<Value> {
    let admin = app.login("admin1").await;
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .gql(
                Some(&admin),
                "query($p: ID, $after: String) { auditLog(patientId: $p, first: 500, after: $after) {
                    edges { node { action fields clientAddress account { username } } }
                    pageInfo { hasNextPage endCursor } } }",
                json!({ "p": patient, "after": after }),
            )
            .await;
        let log = &page["data"]["auditLog"];
        let edges = log["edges"].as_array().unwrap_or_else(|| panic!("an audit log: {page}"));
        entries.extend(edges.iter().map(|edge| edge["node"].clone()));
        if log["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = log["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    entries.reverse();
    entries
}

fn count_of(entries: &[Value], action: &str) -> usize {
    entries.iter().filter(|entry| entry["action"] == action).count()
}

async fn a_thousand_wrong_birth_dates_find_nothing_and_lock_the_smartphone_id_until_the_health_centre_lifts_it(
    backend: Backend,
) {
    // All requests come from one address here: its own bound is another
    // test's.
    let app = spawn_app_configured(backend, Default::default(), |config| {
        config.lockout_address_threshold = 100_000;
    })
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, phone) = app.register_patient(&clinic, "ゲスト タロウ", json!({})).await;
    let unknown = patient_login(&app, "0000-0000-0000", BIRTH_DATE).await;
    assert_eq!(error_code(&unknown), Some("UNAUTHENTICATED"), "{unknown}");
    let refused = unknown["errors"][0]["message"].clone();

    // A thousand guesses, fifty at a time: none signs in, each gets the
    // answer an unknown ID gets.
    let dates = wrong_dates(1_000);
    for chunk in dates.chunks(50) {
        for answer in join_all(chunk.iter().map(|date| patient_login(&app, &phone, date))).await {
            assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
            assert_eq!(answer["errors"][0]["message"], refused, "{answer}");
            assert!(answer["data"].is_null(), "{answer}");
        }
    }
    // The ID is locked, and the health centre sees it.
    let seen = sign_in_lock(&app, &hc1, &patient).await;
    let lock = &seen["data"]["patient"]["signInLock"];
    assert_eq!(lock["failures"], 1_000, "{seen}");
    assert!(lock["lockedUntil"].is_string(), "{seen}");
    assert!(lock["lastFailedAt"].is_string(), "{seen}");
    // The right date is refused too, with the same answer.
    let right = patient_login(&app, &phone, BIRTH_DATE).await;
    assert_eq!(error_code(&right), Some("UNAUTHENTICATED"), "{right}");
    assert_eq!(right["errors"][0]["message"], refused);

    // Only the first five dates were ever compared; every refusal is
    // audited with the patient and the address, never the date.
    let entries = audit_of_patient(&app, &patient).await;
    assert_eq!(count_of(&entries, "PATIENT_LOGIN_REFUSED"), 5);
    assert_eq!(count_of(&entries, "PATIENT_LOGIN_LOCKED"), 996);
    for entry in entries.iter().filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("PATIENT_LOGIN_"))) {
        assert_eq!(entry["clientAddress"], "127.0.0.1", "{entry}");
        assert_eq!(entry["fields"], json!([]), "{entry}");
        assert!(entry["account"].is_null(), "{entry}");
    }

    // Only the responsible health centre sees and lifts the lock.
    let by_clinic = sign_in_lock(&app, &clinic, &patient).await;
    assert_eq!(error_code(&by_clinic), Some("FORBIDDEN"), "{by_clinic}");
    assert_eq!(by_clinic["errors"][0]["path"], json!(["patient", "signInLock"]), "{by_clinic}");
    let lift = "mutation($p: ID!) { liftPatientSignInLock(patientId: $p) { id signInLock { failures } } }";
    let refused_lift = app.gql(Some(&clinic), lift, json!({ "p": patient })).await;
    assert_eq!(error_code(&refused_lift), Some("FORBIDDEN"), "{refused_lift}");
    let elsewhere = app.gql(Some(&app.login("hc2").await), lift, json!({ "p": patient })).await;
    assert_eq!(error_code(&elsewhere), Some("NOT_FOUND"), "{elsewhere}");
    assert!(sign_in_lock(&app, &hc1, &patient).await["data"]["patient"]["signInLock"]["lockedUntil"].is_string());

    let lifted = app.gql(Some(&hc1), lift, json!({ "p": patient })).await;
    assert_eq!(lifted["data"]["liftPatientSignInLock"]["id"], patient.as_str(), "{lifted}");
    assert!(lifted["data"]["liftPatientSignInLock"]["signInLock"].is_null(), "{lifted}");
    let entries = audit_of_patient(&app, &patient).await;
    let lift_entry = entries.iter().find(|e| e["action"] == "LIFT_SIGN_IN_LOCK").expect("the lift is audited");
    assert_eq!(lift_entry["account"]["username"], "hc1");

    // Now the right date signs in.
    let signed_in = patient_login(&app, &phone, BIRTH_DATE).await;
    let token = signed_in["data"]["patientLogin"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    let me = app.gql(Some(token), "{ me { role } }", json!({})).await;
    assert_eq!(me["data"]["me"]["role"], "PATIENT", "{me}");
}

async fn concurrent_guesses_never_compare_more_dates_than_the_threshold(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| {
        config.lockout_address_threshold = 100_000;
    })
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, phone) = app.register_patient(&clinic, "ドウジ タロウ", json!({})).await;
    // Sixty at once, the right date among them last of all.
    let mut dates = wrong_dates(59);
    dates.push(BIRTH_DATE.to_owned());
    let answers = join_all(dates.iter().map(|date| patient_login(&app, &phone, date))).await;
    let signed_in = answers.iter().filter(|a| a["data"]["patientLogin"]["token"].is_string()).count();
    let entries = audit_of_patient(&app, &patient).await;
    let compared = count_of(&entries, "PATIENT_LOGIN_REFUSED") + signed_in;
    // A sign-in with the right date clears the count: when it lands in the
    // middle of the burst, the attempts after it start a count of their
    // own, again of at most five.
    assert!(compared <= 5 * (1 + signed_in), "{compared} dates compared ({signed_in} signed in): {entries:?}");
    assert_eq!(compared + count_of(&entries, "PATIENT_LOGIN_LOCKED"), 60, "every attempt audited");
    if signed_in == 0 {
        // The right date came after the fifth: the ID is locked.
        let seen = sign_in_lock(&app, &hc1, &patient).await;
        assert_eq!(seen["data"]["patient"]["signInLock"]["failures"], 60, "{seen}");
        assert!(seen["data"]["patient"]["signInLock"]["lockedUntil"].is_string(), "{seen}");
        assert_eq!(error_code(&patient_login(&app, &phone, BIRTH_DATE).await), Some("UNAUTHENTICATED"));
    }
}

async fn a_lock_runs_out_and_a_sign_in_clears_the_count(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |_| {}).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, phone) = app.register_patient(&clinic, "キゲン タロウ", json!({})).await;
    // Four wrong dates, then the right one: it signs in and the count is
    // gone, so four more do not lock.
    for date in wrong_dates(4) {
        patient_login(&app, &phone, &date).await;
    }
    let seen = sign_in_lock(&app, &hc1, &patient).await;
    assert_eq!(seen["data"]["patient"]["signInLock"]["failures"], 4, "{seen}");
    assert!(seen["data"]["patient"]["signInLock"]["lockedUntil"].is_null(), "{seen}");
    assert!(patient_login(&app, &phone, BIRTH_DATE).await["data"]["patientLogin"]["token"].is_string());
    assert!(sign_in_lock(&app, &hc1, &patient).await["data"]["patient"]["signInLock"].is_null());
    for date in wrong_dates(4) {
        patient_login(&app, &phone, &date).await;
    }
    assert!(patient_login(&app, &phone, BIRTH_DATE).await["data"]["patientLogin"]["token"].is_string());
    // Five lock; after fifteen minutes the lock has run out by itself.
    for date in wrong_dates(5) {
        patient_login(&app, &phone, &date).await;
    }
    assert_eq!(error_code(&patient_login(&app, &phone, BIRTH_DATE).await), Some("UNAUTHENTICATED"));
    clock.advance(chrono::Duration::minutes(16));
    assert!(sign_in_lock(&app, &hc1, &patient).await["data"]["patient"]["signInLock"].is_null());
    assert!(patient_login(&app, &phone, BIRTH_DATE).await["data"]["patientLogin"]["token"].is_string());
}

async fn an_address_that_keeps_failing_is_refused_for_a_while_and_patients_elsewhere_are_not(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| config.trust_forwarded_for = true).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let mut patients = Vec::new();
    for name in ["アドレス イチ", "アドレス ニ", "アドレス サン", "アドレス ヨン", "アドレス ゴ"]
    {
        patients.push(app.register_patient(&clinic, name, json!({})).await);
    }
    // From one address, four wrong dates for each of five IDs: no ID is
    // locked, but the address has failed twenty times.
    let guesser = "203.0.113.66";
    for (_, phone) in &patients {
        for date in wrong_dates(4) {
            let answer = post_from(&app, guesser, None, PATIENT_LOGIN, json!({ "s": phone, "d": date })).await;
            assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
        }
    }
    let (first, first_phone) = &patients[0];
    let seen = sign_in_lock(&app, &hc1, first).await;
    assert!(seen["data"]["patient"]["signInLock"]["lockedUntil"].is_null(), "{seen}");
    // The address is refused now, the right date too, with the time left.
    let body = json!({ "query": PATIENT_LOGIN, "variables": { "s": first_phone, "d": BIRTH_DATE } });
    let response =
        app.client.post(app.url("/graphql")).header("x-forwarded-for", guesser).json(&body).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((800..=900).contains(&retry_after), "{retry_after}");
    let refused: Value = response.json().await.expect("a JSON body");
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["retryAfterSeconds"], retry_after, "{refused}");
    let entries = audit_of_patient(&app, first).await;
    let locked = entries.iter().find(|e| e["action"] == "PATIENT_LOGIN_LOCKED").expect("the refusal is audited");
    assert_eq!(locked["clientAddress"], guesser);

    // Patients elsewhere are not affected; many signing in from one shared
    // address (a hotel's network) are not counted against it.
    let shared = "198.51.100.20";
    for _ in 0..25 {
        let fine = post_from(&app, shared, None, PATIENT_LOGIN, json!({ "s": first_phone, "d": BIRTH_DATE })).await;
        assert!(fine["data"]["patientLogin"]["token"].is_string(), "{fine}");
    }
    // The address's lock runs out.
    clock.advance(chrono::Duration::minutes(16));
    let later = post_from(&app, guesser, None, PATIENT_LOGIN, json!({ "s": first_phone, "d": BIRTH_DATE })).await;
    assert!(later["data"]["patientLogin"]["token"].is_string(), "{later}");
}

async fn one_patient_sign_in_per_request_however_it_is_packed(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, phone) = app.register_patient(&clinic, "タバ タロウ", json!({})).await;
    let dates = wrong_dates(20);
    let aliases: Vec<String> = dates
        .iter()
        .enumerate()
        .map(|(n, date)| format!("g{n}: patientLogin(smartphoneId: \"{phone}\", birthDate: \"{date}\") {{ token }}"))
        .collect();
    let fragment = format!(
        "mutation {{ ...Guess patientLogin(smartphoneId: \"{phone}\", birthDate: \"{}\") {{ token }} }} \
         fragment Guess on Mutation {{ g: patientLogin(smartphoneId: \"{phone}\", birthDate: \"{}\") {{ token }} }}",
        dates[0], dates[1]
    );
    let batch: Vec<Value> = dates
        .iter()
        .take(10)
        .map(|date| json!({ "query": PATIENT_LOGIN, "variables": { "s": phone, "d": date } }))
        .collect();
    let packed = [
        json!({ "query": format!("mutation {{ {} }}", aliases[..2].join(" ")) }),
        json!({ "query": format!("mutation {{ {} }}", aliases.join(" ")) }),
        json!({ "query": fragment }),
        json!(batch),
        json!([
            { "query": PATIENT_LOGIN, "variables": { "s": phone, "d": dates[0] } },
            { "query": LOGIN, "variables": { "u": "hc2", "p": "not-the-password" } },
        ]),
    ];
    for body in packed {
        let response = app.client.post(app.url("/graphql")).json(&body).send().await.expect("sent");
        let answer: Value = response.json().await.expect("a JSON body");
        assert_eq!(error_code(&answer), Some("QUERY_TOO_COMPLEX"), "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["limit"], "maxSignInsPerRequest", "{answer}");
    }
    // Over Server-Sent Events too.
    let body = json!({ "query": format!("mutation {{ {} }}", aliases[..2].join(" ")) });
    let response = app.client.post(app.url("/graphql/stream")).json(&body).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.expect("a JSON body");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "maxSignInsPerRequest", "{answer}");
    // Nothing ran: no attempt was counted or audited.
    assert!(sign_in_lock(&app, &hc1, &patient).await["data"]["patient"]["signInLock"].is_null());
    let entries = audit_of_patient(&app, &patient).await;
    assert!(!entries.iter().any(|e| e["action"].as_str().is_some_and(|a| a.starts_with("PATIENT_LOGIN"))));
    let db = database(&app).await;
    assert_eq!(failed_logins(&db, "hc2").await, 0);
    // One sign-in per request is the legitimate use, and it works.
    assert!(patient_login(&app, &phone, BIRTH_DATE).await["data"]["patientLogin"]["token"].is_string());
}

async fn a_page_of_patients_reads_its_sign_in_locks_in_one_statement(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let mut phones = Vec::new();
    for name in ["ページ イチ", "ページ ニ", "ページ サン", "ページ ヨン"] {
        phones.push(app.register_patient(&clinic, name, json!({})).await.1);
    }
    for date in wrong_dates(5) {
        patient_login(&app, &phones[3], &date).await;
    }
    patient_login(&app, &phones[2], &wrong_dates(1)[0]).await;
    let page = "query($first: Int!) { patients(first: $first) { nodes { id signInLock { failures lockedUntil } } } }";
    let measured = |first: u64| {
        let app = &app;
        let hc1 = &hc1;
        async move {
            let before = app.query_count().await;
            let answer = app.gql(Some(hc1), page, json!({ "first": first })).await;
            let after = app.query_count().await;
            assert!(answer["errors"].is_null(), "{answer}");
            (after - before, answer["data"]["patients"]["nodes"].as_array().cloned().unwrap_or_default())
        }
    };
    let _ = measured(1).await;
    let (one, _) = measured(1).await;
    let (four, nodes) = measured(4).await;
    assert_eq!(one, four, "the same statements for one patient and for four");
    // Newest first: the locked one, the one with a failure, then two clean.
    assert_eq!(nodes[0]["signInLock"]["failures"], 5, "{nodes:?}");
    assert!(nodes[0]["signInLock"]["lockedUntil"].is_string(), "{nodes:?}");
    assert_eq!(nodes[1]["signInLock"]["failures"], 1, "{nodes:?}");
    assert!(nodes[1]["signInLock"]["lockedUntil"].is_null(), "{nodes:?}");
    assert!(nodes[2]["signInLock"].is_null() && nodes[3]["signInLock"].is_null(), "{nodes:?}");
}

const MY_SESSIONS: &str = "{ mySessions { id createdAt lastUsedAt expiresAt clientAddress userAgent current } }";
const END_SESSION: &str = "mutation($id: ID!) { endSession(id: $id) }";

async fn my_sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.gql(Some(token), MY_SESSIONS, json!({})).await;
    answer["data"]["mySessions"].as_array().cloned().unwrap_or_else(|| panic!("my sessions: {answer}"))
}

async fn each_caller_lists_its_own_open_sessions_and_ends_one_it_does_not_recognise(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| config.trust_forwarded_for = true).await;
    let desk = login_from(&app, "203.0.113.7", "hc1").await;
    let stranger = app.login("hc1").await;
    let colleague = app.login("hc2").await;
    assert_eq!(error_code(&app.gql(None, MY_SESSIONS, json!({})).await), Some("UNAUTHENTICATED"));

    // Newest first, each with where and with what it was opened.
    let mine = my_sessions(&app, &desk).await;
    assert_eq!(mine.len(), 2, "{mine:?}");
    let (newest, oldest) = (&mine[0], &mine[1]);
    assert_eq!(newest["current"], false, "{mine:?}");
    assert_eq!(newest["clientAddress"], "127.0.0.1", "{mine:?}");
    assert!(newest["userAgent"].is_null(), "{mine:?}");
    assert_eq!(oldest["current"], true, "{mine:?}");
    assert_eq!(oldest["clientAddress"], "203.0.113.7", "{mine:?}");
    assert_eq!(oldest["userAgent"], "HER-SYS desk client/2.1", "{mine:?}");
    for session in &mine {
        for field in ["createdAt", "lastUsedAt", "expiresAt"] {
            assert!(session[field].is_string(), "{field}: {session}");
        }
    }
    // Another account's sessions are neither listed nor ended.
    let theirs = my_sessions(&app, &colleague).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    let not_mine = app.gql(Some(&desk), END_SESSION, json!({ "id": theirs[0]["id"] })).await;
    assert_eq!(error_code(&not_mine), Some("NOT_FOUND"), "{not_mine}");
    assert_eq!(error_field(&not_mine), Some("id"), "{not_mine}");
    assert_eq!(app.gql(Some(&colleague), "{ me { username } }", json!({})).await["data"]["me"]["username"], "hc2");

    // The one not recognised is ended at once; the others go on.
    let ended = post_from(&app, "203.0.113.7", Some(&desk), END_SESSION, json!({ "id": newest["id"] })).await;
    assert_eq!(ended["data"]["endSession"], true, "{ended}");
    let refused = app.gql(Some(&stranger), "{ me { username } }", json!({})).await;
    assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    let left = my_sessions(&app, &desk).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], oldest["id"]);
    let again = app.gql(Some(&desk), END_SESSION, json!({ "id": newest["id"] })).await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"), "an ended session is not open: {again}");
    let entries = audit_entries(&app).await;
    let audited = entries.iter().find(|e| e["action"] == "END_SESSION").expect("the end is audited");
    assert_eq!(audited["account"]["username"], "hc1");
    assert_eq!(audited["clientAddress"], "203.0.113.7");

    // Ending the current session signs out.
    let out = app.gql(Some(&desk), END_SESSION, json!({ "id": oldest["id"] })).await;
    assert_eq!(out["data"]["endSession"], true, "{out}");
    assert_eq!(error_code(&app.gql(Some(&desk), "{ me { username } }", json!({})).await), Some("UNAUTHENTICATED"));

    // A patient has sessions too, and sees only their own.
    let clinic = app.login("clinic1").await;
    let (_, phone) = app.register_patient(&clinic, "セッション タロウ", json!({})).await;
    let signed_in = patient_login(&app, &phone, BIRTH_DATE).await;
    let patient = signed_in["data"]["patientLogin"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    let theirs = my_sessions(&app, patient).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["current"], true, "{theirs:?}");
}
