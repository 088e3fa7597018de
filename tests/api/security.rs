//! Account security, the audit log, and keeping personal data out of logs.

use std::sync::Arc;

use chrono::Duration;
use hersys::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{
    Backend, DEMO_PASSWORD, TestApp, captured_logs, error_code, error_field, spawn_app, spawn_app_with_clock,
};

both!(
    five_failed_sign_ins_lock_the_account_with_the_same_answer_as_a_wrong_password,
    a_session_ends_after_thirty_idle_minutes_and_after_twelve_hours_in_any_case,
    logout_everywhere_ends_every_session_of_the_account,
    a_disabled_account_cannot_sign_in_and_loses_its_sessions,
    a_password_change_follows_the_policy_and_ends_other_sessions,
    administrators_create_accounts_and_assign_roles_through_organisations,
    every_kind_of_audit_entry_is_written_and_only_administrators_read_them,
    personal_data_tokens_and_passwords_never_reach_the_logs,
    the_database_itself_refuses_to_change_or_delete_audit_entries,
    every_write_of_the_case_flow_and_every_account_action_leaves_its_audit_entry,
    a_page_read_is_one_entry_per_set_of_fields_found_under_each_patient,
    connections_count_their_items_and_first_0_asks_for_the_count_alone,
);

const READS: &str = "query($p: ID, $first: Int) { auditLog(patientId: $p, first: $first) { edges { node { \
    action operation fields patientId patientIds account { username } } } } }";

/// The READ_PERSONAL entries of `operation`, in the log filtered by
/// `patient` (or in the whole log).
async fn reads_of(app: &TestApp, admin: &str, patient: Option<&str>, operation: &str) -> Vec<Value> {
    let log = app.gql(Some(admin), READS, json!({ "p": patient, "first": 500 })).await;
    assert!(log["errors"].is_null(), "{log}");
    log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .filter(|node| node["action"] == "READ_PERSONAL" && node["operation"] == operation)
        .collect()
}

async fn a_page_read_is_one_entry_per_set_of_fields_found_under_each_patient(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let admin = app.login("admin1").await;
    let mut ids = Vec::new();
    for kana in ["ページ イチ", "ページ ニ", "ページ サン"] {
        ids.push(app.register_patient(&clinic, kana, json!({})).await.0);
    }
    // One patient's name in Kanji beside everyone's reading: the first
    // patient is read with two fields, the others with one.
    let page = app
        .gql(
            Some(&hc1),
            "query Page($one: ID!) { one: patient(id: $one) { nameKanji } patients(first: 100) { nodes { id nameKana } } }",
            json!({ "one": ids[0] }),
        )
        .await;
    assert!(page["errors"].is_null(), "{page}");
    let listed: Vec<String> = page["data"]["patients"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|node| node["id"].as_str().map(str::to_owned))
        .collect();
    assert!(ids.iter().all(|id| listed.contains(id)), "{page}");

    // The whole log holds one entry for the one patient read with both
    // fields, and one for the rest of the page, naming them all.
    let whole = reads_of(&app, &admin, None, "Page").await;
    assert_eq!(whole.len(), 2, "{whole:?}");
    let single = whole.iter().find(|e| e["fields"] == json!(["nameKana", "nameKanji"])).expect("the single read");
    assert_eq!(single["patientId"], ids[0].as_str(), "{single}");
    assert_eq!(single["patientIds"], json!([ids[0]]), "{single}");
    let group = whole.iter().find(|e| e["fields"] == json!(["nameKana"])).expect("the page's read");
    assert!(group["patientId"].is_null(), "an entry naming several has no one patient: {group}");
    let named: Vec<&str> = group["patientIds"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert_eq!(named.len(), listed.len() - 1, "every other patient of the page: {group}");
    assert!(!named.contains(&ids[0].as_str()) && named.contains(&ids[1].as_str()) && named.contains(&ids[2].as_str()));
    assert_eq!(group["account"]["username"], "hc1");

    // Filtered by a patient, the log shows the entries about it, with it.
    for (n, id) in ids.iter().enumerate() {
        let about = reads_of(&app, &admin, Some(id), "Page").await;
        assert_eq!(about.len(), 1, "patient {n}: {about:?}");
        assert_eq!(about[0]["patientId"], id.as_str(), "patient {n}: {about:?}");
        let fields = if n == 0 { json!(["nameKana", "nameKanji"]) } else { json!(["nameKana"]) };
        assert_eq!(about[0]["fields"], fields, "patient {n}: {about:?}");
    }
    // A patient the page did not read finds nothing of it.
    let (unread, _) = app.register_patient(&clinic, "ヨマレナイ", json!({})).await;
    assert!(reads_of(&app, &admin, Some(&unread), "Page").await.is_empty());

    // Where the page's patients are kept: on PostgreSQL in the entry's own
    // array (under a GIN index), without a row each; on SQLite a row each.
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("direct connection");
    let backend = db.get_database_backend();
    let count = |sql: &str| {
        let (db, sql) = (&db, sql.to_owned());
        async move {
            let row = db.query_one_raw(Statement::from_string(backend, sql)).await.expect("count").expect("a row");
            row.try_get_by_index::<i64>(0).expect("a count")
        }
    };
    let linked = count("SELECT COUNT(*) FROM audit_entry_patients").await;
    if backend == sea_orm::DbBackend::Postgres {
        assert_eq!(linked, 0, "no row per patient");
        let in_array = count(
            "SELECT COUNT(*) FROM audit_entries, unnest(patient_ids) WHERE action = 'READ_PERSONAL' AND operation = 'Page'",
        )
        .await;
        assert_eq!(in_array as usize, named.len(), "the page's other patients, in the entry");
        // The array is as append-only as the rest of the entry.
        assert!(db.execute_unprepared("UPDATE audit_entries SET patient_ids = NULL").await.is_err());
    } else {
        assert_eq!(linked as usize, named.len(), "a row per patient");
    }
    assert_eq!(reads_of(&app, &admin, Some(&ids[1]), "Page").await.len(), 1);

    // An entry naming its patients in `audit_entry_patients`, as written
    // before entries held them in an array on PostgreSQL, is still found
    // under each of them, naming them all.
    let (a, b) = (ids[1].parse::<i64>().expect("an ID"), ids[2].parse::<i64>().expect("an ID"));
    let at = if backend == sea_orm::DbBackend::Postgres { "$1" } else { "?" };
    let entry = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO audit_entries (at, action, fields, operation) \
                 VALUES ({at}, 'READ_PERSONAL', 'nameKana', 'EarlierForm') RETURNING id"
            ),
            [chrono::Utc::now().into()],
        ))
        .await
        .expect("an earlier entry")
        .expect("its ID")
        .try_get_by_index::<i64>(0)
        .expect("an ID");
    db.execute_unprepared(&format!(
        "INSERT INTO audit_entry_patients (entry_id, patient_id) VALUES ({entry}, {a}), ({entry}, {b})"
    ))
    .await
    .expect("its patients");
    // The patients of an entry are as append-only as the entry.
    assert!(db.execute_unprepared("UPDATE audit_entry_patients SET patient_id = 0").await.is_err());
    assert!(db.execute_unprepared("DELETE FROM audit_entry_patients").await.is_err());
    let _ = db.close().await;
    for id in [&ids[1], &ids[2]] {
        let earlier = reads_of(&app, &admin, Some(id), "EarlierForm").await;
        assert_eq!(earlier.len(), 1, "{id}: {earlier:?}");
        let mut expected = vec![ids[1].clone(), ids[2].clone()];
        expected.sort_by_key(|id| id.parse::<i64>().unwrap_or_default());
        assert_eq!(earlier[0]["patientIds"], json!(expected), "{id}: {earlier:?}");
        assert_eq!(reads_of(&app, &admin, Some(id), "Page").await.len(), 1, "{id}: the page's entry too");
    }
    assert!(reads_of(&app, &admin, Some(&ids[0]), "EarlierForm").await.is_empty());
}

async fn every_write_of_the_case_flow_and_every_account_action_leaves_its_audit_entry(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hospital = app.login("hospital1").await;
    let admin = app.login("admin1").await;
    let ok = |response: Value| {
        assert!(response["errors"].is_null(), "{response}");
        response["data"].clone()
    };
    let (id, phone) = app.register_patient(&clinic, "カンサ タロウ", json!({})).await;
    let test = ok(app
        .gql(
            Some(&clinic),
            "mutation($p: ID!) { recordTest(input: { patientId: $p, kind: PCR }) { id } }",
            json!({ "p": id }),
        )
        .await);
    ok(app
        .gql(
            Some(&clinic),
            "mutation($t: ID!) { recordTestResult(testId: $t, result: POSITIVE) { id } }",
            json!({ "t": test["recordTest"]["id"] }),
        )
        .await);
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { id } }",
            json!({ "p": id }),
        )
        .await);
    let login = app
        .gql(
            None,
            "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1980-04-01\") { token } }",
            json!({ "s": phone }),
        )
        .await;
    let patient = login["data"]["patientLogin"]["token"].as_str().unwrap_or_default().to_owned();
    ok(app
        .gql(
            Some(&patient),
            "mutation { submitHealthReport(input: { bodyTemperature: 36.9, symptoms: [] }) { id } }",
            json!({}),
        )
        .await);
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { recordFollowUpCall(input: { patientId: $p, reached: false }) { id } }",
            json!({ "p": id }),
        )
        .await);
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { recordMedicalVisit(input: { patientId: $p, visitedOn: \"2024-01-05\", institutionName: \"港診療所\" }) { id } }",
            json!({ "p": id }),
        )
        .await);
    let stay = ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { admitPatient(patientId: $p, facilityId: \"2\", severity: MILD) { id } }",
            json!({ "p": id }),
        )
        .await);
    let stay = stay["admitPatient"]["id"].clone();
    ok(app
        .gql(
            Some(&hospital),
            "mutation($h: ID!) { recordCondition(hospitalisationId: $h, severity: MODERATE_I) { id } }",
            json!({ "h": stay }),
        )
        .await);
    ok(app
        .gql(
            Some(&hospital),
            "mutation($h: ID!) { dischargePatient(hospitalisationId: $h) { id } }",
            json!({ "h": stay }),
        )
        .await);
    let hc2 = app.health_centre_id(&hc1, "131041").await;
    let (other, _) = app.register_patient(&clinic, "カンサ ジロウ", json!({})).await;
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { id } }",
            json!({ "p": other, "to": hc2 }),
        )
        .await);
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { recordOutcome(patientId: $p, outcome: RECOVERED) { id } }",
            json!({ "p": id }),
        )
        .await);
    try_login(&app, "hc2", "not-the-password").await;
    let pharmacist = ok(app
        .gql(
            Some(&admin),
            "mutation { createAccount(username: \"audit.check\", password: \"a quiet river at dawn\", organisationId: \"3\") { id } }",
            json!({}),
        )
        .await);
    let new_id = pharmacist["createAccount"]["id"].clone();
    // Accounts that read personal data take a second administrator.
    let admin2 = app.login("admin2").await;
    let approve_pending = || async {
        let pending = ok(app.gql(Some(&admin2), "{ accountChanges { id } }", json!({})).await);
        for change in pending["accountChanges"].as_array().into_iter().flatten() {
            ok(app
                .gql(
                    Some(&admin2),
                    "mutation($c: ID!) { approveAccountChange(changeId: $c) { id } }",
                    json!({ "c": change["id"] }),
                )
                .await);
        }
    };
    approve_pending().await;
    ok(app
        .gql(Some(&admin), "mutation($a: ID!) { disableAccount(accountId: $a) { id } }", json!({ "a": new_id }))
        .await);
    ok(app
        .gql(Some(&admin), "mutation($a: ID!) { enableAccount(accountId: $a) { id } }", json!({ "a": new_id }))
        .await);
    ok(app
        .gql(
            Some(&admin),
            "mutation($a: ID!) { assignOrganisation(accountId: $a, organisationId: \"4\") { id } }",
            json!({ "a": new_id }),
        )
        .await);
    approve_pending().await;
    let second = app.login("hc3").await;
    ok(app
        .gql(
            Some(&second),
            "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"mountain tea and paper\") }",
            json!({ "c": DEMO_PASSWORD }),
        )
        .await);
    ok(app.gql(Some(&second), "mutation { logoutEverywhere }", json!({})).await);
    ok(app.gql(Some(&clinic), "mutation { logout }", json!({})).await);

    // A first reading of the log, which the second must show.
    ok(app.gql(Some(&admin), "{ auditLog(first: 1) { edges { node { action } } } }", json!({})).await);
    let mut actions = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .gql(
                Some(&admin),
                "query($after: String) { auditLog(first: 500, after: $after) { edges { node { action } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let log = &page["data"]["auditLog"];
        for edge in log["edges"].as_array().into_iter().flatten() {
            actions.insert(edge["node"]["action"].as_str().unwrap_or_default().to_owned());
        }
        if log["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = log["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let expected = [
        "REGISTER_PATIENT",
        "RECORD_TEST",
        "RECORD_TEST_RESULT",
        "SET_CARE_SETTING",
        "SUBMIT_HEALTH_REPORT",
        "RECORD_FOLLOW_UP_CALL",
        "RECORD_MEDICAL_VISIT",
        "ADMIT_PATIENT",
        "RECORD_CONDITION",
        "DISCHARGE_PATIENT",
        "TRANSFER_PATIENT",
        "RECORD_OUTCOME",
        "LOGIN",
        "LOGIN_REFUSED",
        "PATIENT_LOGIN",
        "LOGOUT",
        "LOGOUT_EVERYWHERE",
        "CHANGE_PASSWORD",
        "CREATE_ACCOUNT",
        "APPROVE_ACCOUNT_CHANGE",
        "DISABLE_ACCOUNT",
        "ENABLE_ACCOUNT",
        "REQUEST_ASSIGN_ORGANISATION",
        "READ_AUDIT_LOG",
    ];
    let missing: Vec<&str> = expected.iter().copied().filter(|a| !actions.contains(*a)).collect();
    assert!(missing.is_empty(), "no audit entry for {missing:?}; found {actions:?}");
}

async fn the_database_itself_refuses_to_change_or_delete_audit_entries(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = spawn_app(backend).await;
    app.login("hc1").await;
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("direct connection");
    let count = "SELECT COUNT(*) AS n FROM audit_entries";
    let before = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), count)).await;
    let before: i64 = before.ok().flatten().and_then(|row| row.try_get("", "n").ok()).expect("a count");
    assert!(before >= 1, "the sign-in was audited");
    assert!(db.execute_unprepared("UPDATE audit_entries SET action = 'NOTHING'").await.is_err());
    assert!(db.execute_unprepared("DELETE FROM audit_entries").await.is_err());
    let after = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), count)).await;
    let after: i64 = after.ok().flatten().and_then(|row| row.try_get("", "n").ok()).expect("a count");
    assert_eq!(before, after);
    let _ = db.close().await;
}

const ME: &str = "{ me { username role } }";

async fn try_login(app: &TestApp, username: &str, password: &str) -> Value {
    app.gql(
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": password }),
    )
    .await
}

async fn five_failed_sign_ins_lock_the_account_with_the_same_answer_as_a_wrong_password(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let wrong = try_login(&app, "hc2", "not-the-password").await;
    for _ in 0..4 {
        try_login(&app, "hc2", "not-the-password").await;
    }
    // Locked now: the right password is refused, with the same answer.
    let locked = try_login(&app, "hc2", DEMO_PASSWORD).await;
    assert_eq!(error_code(&locked), Some("UNAUTHENTICATED"), "{locked}");
    assert_eq!(locked["errors"][0]["message"], wrong["errors"][0]["message"]);
    let unknown = try_login(&app, "nobody-at-all", DEMO_PASSWORD).await;
    assert_eq!(unknown["errors"][0]["message"], wrong["errors"][0]["message"]);
    // Other accounts are not affected.
    assert!(try_login(&app, "hc1", DEMO_PASSWORD).await["errors"].is_null());

    // The lock ends after 15 minutes.
    clock.advance(Duration::minutes(16));
    let later = try_login(&app, "hc2", DEMO_PASSWORD).await;
    assert!(later["data"]["login"]["token"].is_string(), "{later}");

    // Failures spread over more than the window do not lock.
    for _ in 0..4 {
        try_login(&app, "hc3", "not-the-password").await;
    }
    clock.advance(Duration::minutes(16));
    try_login(&app, "hc3", "not-the-password").await;
    assert!(try_login(&app, "hc3", DEMO_PASSWORD).await["errors"].is_null());
}

async fn a_session_ends_after_thirty_idle_minutes_and_after_twelve_hours_in_any_case(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let idle = app.login("hc1").await;
    let busy = app.login("hc2").await;

    // Used every 20 minutes, the busy session stays; the idle one ends.
    clock.advance(Duration::minutes(20));
    assert_eq!(app.gql(Some(&busy), ME, json!({})).await["data"]["me"]["username"], "hc2");
    clock.advance(Duration::minutes(11));
    let ended = app.gql(Some(&idle), ME, json!({})).await;
    assert_eq!(error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
    assert_eq!(app.gql(Some(&busy), ME, json!({})).await["data"]["me"]["username"], "hc2");

    // Even in constant use, a session ends 12 hours after sign-in.
    // 31 minutes have passed; 34 more uses 20 minutes apart reach 11 h 51 min.
    for _ in 0..34 {
        clock.advance(Duration::minutes(20));
        let alive = app.gql(Some(&busy), ME, json!({})).await;
        assert_eq!(alive["data"]["me"]["username"], "hc2", "{alive}");
    }
    clock.advance(Duration::minutes(20));
    let expired = app.gql(Some(&busy), ME, json!({})).await;
    assert_eq!(error_code(&expired), Some("UNAUTHENTICATED"), "{expired}");
}

async fn logout_everywhere_ends_every_session_of_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.login("hc1").await;
    let second = app.login("hc1").await;
    let other_account = app.login("hc2").await;
    let out = app.gql(Some(&first), "mutation { logoutEverywhere }", json!({})).await;
    assert_eq!(out["data"]["logoutEverywhere"], 2, "{out}");
    for token in [&first, &second] {
        assert_eq!(error_code(&app.gql(Some(token), ME, json!({})).await), Some("UNAUTHENTICATED"));
    }
    assert_eq!(app.gql(Some(&other_account), ME, json!({})).await["data"]["me"]["username"], "hc2");
}

async fn account_id(app: &TestApp, admin: &str, username: &str) -> String {
    let accounts = app.gql(Some(admin), "{ accounts(first: 500) { nodes { id username } } }", json!({})).await;
    accounts["data"]["accounts"]["nodes"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["username"] == username))
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no account {username}: {accounts}"))
        .to_owned()
}

async fn a_disabled_account_cannot_sign_in_and_loses_its_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let clinic = app.login("clinic1").await;
    let id = account_id(&app, &admin, "clinic1").await;

    // Only administrators manage accounts.
    let by_staff =
        app.gql(Some(&clinic), "mutation($a: ID!) { disableAccount(accountId: $a) { id } }", json!({ "a": id })).await;
    assert_eq!(error_code(&by_staff), Some("FORBIDDEN"), "{by_staff}");

    let disabled = app
        .gql(Some(&admin), "mutation($a: ID!) { disableAccount(accountId: $a) { disabledAt } }", json!({ "a": id }))
        .await;
    assert!(disabled["data"]["disableAccount"]["disabledAt"].is_string(), "{disabled}");
    assert_eq!(error_code(&app.gql(Some(&clinic), ME, json!({})).await), Some("UNAUTHENTICATED"));
    assert_eq!(error_code(&try_login(&app, "clinic1", DEMO_PASSWORD).await), Some("UNAUTHENTICATED"));

    let enabled = app
        .gql(Some(&admin), "mutation($a: ID!) { enableAccount(accountId: $a) { disabledAt } }", json!({ "a": id }))
        .await;
    assert_eq!(enabled["data"]["enableAccount"]["disabledAt"], Value::Null, "{enabled}");
    assert!(try_login(&app, "clinic1", DEMO_PASSWORD).await["errors"].is_null());
}

async fn a_password_change_follows_the_policy_and_ends_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let current = app.login("hc1").await;
    let other = app.login("hc1").await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    for (new, why) in [("short", "too short"), ("password1234", "common"), ("my-hc1-password-x", "has the username")] {
        let refused = app.gql(Some(&current), change, json!({ "c": DEMO_PASSWORD, "n": new })).await;
        assert_eq!(
            (error_code(&refused), error_field(&refused)),
            (Some("BAD_USER_INPUT"), Some("newPassword")),
            "{why}: {refused}"
        );
    }
    let wrong_current =
        app.gql(Some(&current), change, json!({ "c": "guess", "n": "a long and unusual phrase" })).await;
    assert_eq!(error_code(&wrong_current), Some("FORBIDDEN"), "{wrong_current}");

    let changed =
        app.gql(Some(&current), change, json!({ "c": DEMO_PASSWORD, "n": "a long and unusual phrase" })).await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    assert_eq!(app.gql(Some(&current), ME, json!({})).await["data"]["me"]["username"], "hc1");
    assert_eq!(error_code(&app.gql(Some(&other), ME, json!({})).await), Some("UNAUTHENTICATED"));
    assert_eq!(error_code(&try_login(&app, "hc1", DEMO_PASSWORD).await), Some("UNAUTHENTICATED"));
    assert!(try_login(&app, "hc1", "a long and unusual phrase").await["errors"].is_null());
}

async fn administrators_create_accounts_and_assign_roles_through_organisations(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let organisations =
        app.gql(Some(&admin), "{ organisations(first: 500) { nodes { id name kind } } }", json!({})).await;
    let find = |kind: &str| {
        organisations["data"]["organisations"]["nodes"]
            .as_array()
            .and_then(|list| list.iter().find(|o| o["kind"] == kind))
            .and_then(|o| o["id"].as_str())
            .unwrap_or_else(|| panic!("no {kind} organisation: {organisations}"))
            .to_owned()
    };
    let centre = find("HEALTH_CENTRE");
    let national = find("NATIONAL");
    let create = "mutation($u: String!, $p: String!, $o: ID!) {
        createAccount(username: $u, password: $p, organisationId: $o) { id username role } }";

    let weak = app.gql(Some(&admin), create, json!({ "u": "nurse.sato", "p": "short", "o": centre })).await;
    assert_eq!((error_code(&weak), error_field(&weak)), (Some("BAD_USER_INPUT"), Some("password")));
    let created = app
        .gql(Some(&admin), create, json!({ "u": "nurse.sato", "p": "tea kettle on a windy hill", "o": centre }))
        .await;
    assert_eq!(created["data"]["createAccount"]["role"], "HEALTH_CENTRE_STAFF", "{created}");
    // A second administrator approves the new health-centre account.
    let admin2 = app.login("admin2").await;
    let pending = app.gql(Some(&admin2), "{ accountChanges { id } }", json!({})).await;
    let change = pending["data"]["accountChanges"][0]["id"].clone();
    let approved = app
        .gql(
            Some(&admin2),
            "mutation($c: ID!) { approveAccountChange(changeId: $c) { decision } }",
            json!({ "c": change }),
        )
        .await;
    assert_eq!(approved["data"]["approveAccountChange"]["decision"], "APPROVED", "{approved}");
    let duplicate =
        app.gql(Some(&admin), create, json!({ "u": "nurse.sato", "p": "another long passphrase", "o": centre })).await;
    assert_eq!(error_code(&duplicate), Some("CONFLICT"), "{duplicate}");
    let by_staff = app
        .gql(
            Some(&app.login("hc1").await),
            create,
            json!({ "u": "x.y.z", "p": "tea kettle on a windy hill", "o": centre }),
        )
        .await;
    assert_eq!(error_code(&by_staff), Some("FORBIDDEN"));

    let token = try_login(&app, "nurse.sato", "tea kettle on a windy hill").await["data"]["login"]["token"]
        .as_str()
        .map(str::to_owned)
        .expect("the new account signs in");
    assert_eq!(app.gql(Some(&token), ME, json!({})).await["data"]["me"]["role"], "HEALTH_CENTRE_STAFF");

    // Assigning another organisation changes the role and ends the sessions.
    let id = created["data"]["createAccount"]["id"].as_str().unwrap_or_default().to_owned();
    let moved = app
        .gql(
            Some(&admin),
            "mutation($a: ID!, $o: ID!) { assignOrganisation(accountId: $a, organisationId: $o) { role } }",
            json!({ "a": id, "o": national }),
        )
        .await;
    assert_eq!(moved["data"]["assignOrganisation"]["role"], "NATIONAL_ANALYST", "{moved}");
    assert_eq!(error_code(&app.gql(Some(&token), ME, json!({})).await), Some("UNAUTHENTICATED"));
    let again = try_login(&app, "nurse.sato", "tea kettle on a windy hill").await["data"]["login"]["token"]
        .as_str()
        .map(str::to_owned)
        .expect("signs in again");
    assert_eq!(app.gql(Some(&again), ME, json!({})).await["data"]["me"]["role"], "NATIONAL_ANALYST");
}

const AUDIT: &str = "query($p: ID, $a: ID) { auditLog(patientId: $p, accountId: $a, first: 100) {
    edges { node { at action patientId fields operation account { username } actorPatientId } }
    pageInfo { hasNextPage } } }";

fn entries(response: &Value) -> Vec<Value> {
    response["data"]["auditLog"]["edges"]
        .as_array()
        .map(|e| e.iter().map(|x| x["node"].clone()).collect())
        .unwrap_or_default()
}

async fn every_kind_of_audit_entry_is_written_and_only_administrators_read_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let analyst = app.login("analyst1").await;
    let (id, phone) = app.register_patient(&clinic, "キロク タロウ", json!({ "phone": "03-1111-2222" })).await;
    app.gql(
        Some(&clinic),
        "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
        json!({ "input": { "patientId": id, "kind": "PCR", "result": "POSITIVE" } }),
    )
    .await;
    // Clients name their operations (`operationName`); the audit keeps it.
    let named = json!({
        "query": "query CaseFile($id: ID!) { patient(id: $id) { nameKanji phone caseType } }",
        "operationName": "CaseFile",
        "variables": { "id": id },
    });
    let response = app.client.post(app.url("/graphql")).bearer_auth(&hc1).json(&named).send().await.expect("sent");
    assert!(response.json::<Value>().await.expect("json")["errors"].is_null());
    // The analyst's view reads no personal field, so it is not a personal read.
    app.gql(Some(&analyst), "query($id: ID!) { patient(id: $id) { caseType nameKanji } }", json!({ "id": id })).await;
    let login = app
        .gql(
            None,
            "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1980-04-01\") { token } }",
            json!({ "s": phone }),
        )
        .await;
    let patient_token = login["data"]["patientLogin"]["token"].as_str().unwrap_or_default().to_owned();
    app.gql(Some(&patient_token), "{ me { role } patients { nodes { nameKana } } }", json!({})).await;

    let denied = app.gql(Some(&hc1), AUDIT, json!({ "p": id })).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");

    let log = app.gql(Some(&admin), AUDIT, json!({ "p": id })).await;
    let about_patient = entries(&log);
    let find = |action: &str, who: Option<&str>| {
        about_patient
            .iter()
            .find(|e| e["action"] == action && who.is_none_or(|w| e["account"]["username"] == w))
            .cloned()
            .unwrap_or_else(|| panic!("no {action} entry by {who:?}: {log}"))
    };
    assert_eq!(
        find("REGISTER_PATIENT", Some("clinic1"))["fields"].as_array().map(|f| f.contains(&json!("nameKanji"))),
        Some(true)
    );
    find("RECORD_TEST", Some("clinic1"));
    let read = find("READ_PERSONAL", Some("hc1"));
    assert_eq!(read["fields"], json!(["nameKanji", "phone"]));
    assert_eq!(read["operation"], "CaseFile", "{read}");
    let patient_read = about_patient
        .iter()
        .find(|e| e["action"] == "READ_PERSONAL" && e["account"].is_null())
        .unwrap_or_else(|| panic!("the patient's own read is audited: {log}"));
    assert_eq!(patient_read["actorPatientId"], id.as_str());
    assert!(
        !about_patient.iter().any(|e| e["action"] == "READ_PERSONAL" && e["account"]["username"] == "analyst1"),
        "no personal read by the analyst: {log}"
    );
    find("PATIENT_LOGIN", None);

    // Filter by account, and reading the log is itself audited.
    let by_admin_id = account_id(&app, &admin, "admin1").await;
    let own = app.gql(Some(&admin), AUDIT, json!({ "a": by_admin_id })).await;
    let own_entries = entries(&own);
    assert!(own_entries.iter().all(|e| e["account"]["username"] == "admin1"), "{own}");
    assert!(own_entries.iter().any(|e| e["action"] == "READ_AUDIT_LOG"), "{own}");
    assert!(own_entries.iter().any(|e| e["action"] == "LOGIN"), "{own}");

    // There is no way to change or delete entries through the API.
    let schema = app.gql(Some(&admin), "{ __type(name: \"Mutation\") { fields { name } } }", json!({})).await;
    let names: Vec<String> = schema["data"]["__type"]["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| !n.to_lowercase().contains("audit")), "{names:?}");
}

async fn personal_data_tokens_and_passwords_never_reach_the_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let secrets = json!({
        "address": "東京都港区芝公園九丁目九番九号",
        "phone": "03-9876-5432",
        "email": "kimitsu.hanako@example.jp",
    });
    let (id, phone) = app.register_patient(&clinic, "キミツ ハナコ", secrets.clone()).await;
    // A refused input and a failed sign-in, which must not echo values.
    app.gql(
        Some(&clinic),
        "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
        json!({ "input": { "caseType": "CONFIRMED", "nameKanji": "機密 次郎", "nameKana": "機密ジロウ", "sex": "MALE", "birthDate": "1979-02-03" } }),
    )
    .await;
    try_login(&app, "hc1", "Wrong-Password-Typed-9").await;
    let login = app
        .gql(
            None,
            "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1980-04-01\") { token } }",
            json!({ "s": phone }),
        )
        .await;
    let patient_token = login["data"]["patientLogin"]["token"].as_str().unwrap_or_default().to_owned();
    app.gql(
        Some(&patient_token),
        "mutation { submitHealthReport(input: { bodyTemperature: 37.1, symptoms: [COUGH], note: \"夜に咳がひどい\" }) { id } }",
        json!({}),
    )
    .await;
    app.gql(
        Some(&hc1),
        "query($id: ID!) { patient(id: $id) { nameKanji address phone email healthReports { note } } }",
        json!({ "id": id }),
    )
    .await;
    app.gql(Some(&hc1), "mutation { logout }", json!({})).await;

    let logs = captured_logs();
    assert!(logs.contains("signed in"), "the log capture works");
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let forbidden = [
        "試験 太郎",
        "キミツ ハナコ",
        "機密 次郎",
        "機密ジロウ",
        "1980-04-01",
        "1979-02-03",
        "東京都港区芝公園",
        "03-9876-5432",
        "kimitsu.hanako",
        "夜に咳がひどい",
        DEMO_PASSWORD,
        "Wrong-Password-Typed-9",
        &clinic,
        &hc1,
        &patient_token,
        &phone,
        &digits,
    ];
    for secret in forbidden {
        assert!(!logs.contains(secret), "the logs contain personal data or a secret ({} characters)", secret.len());
    }
}

/// `totalCount` counts every page of the audit log as filtered, and of a
/// patient list within the caller's reach; `first: 0` answers the count
/// alone, with no items; a negative size is refused naming `first`.
async fn connections_count_their_items_and_first_0_asks_for_the_count_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let admin = app.login("admin1").await;
    for kana in ["カウント イチ", "カウント ニ", "カウント サン"] {
        app.register_patient(&clinic, kana, json!({})).await;
    }
    let me = app.gql(Some(&clinic), "{ me { id } }", json!({})).await;
    let clinic_id = me["data"]["me"]["id"].as_str().unwrap_or_else(|| panic!("{me}")).to_owned();

    // The clinic's entries, page by page (two at a time), against the count.
    let log = "query($a: ID, $first: Int, $after: String, $from: DateTime) { auditLog(accountId: $a, first: $first, \
               after: $after, from: $from) { totalCount edges { node { action } } pageInfo { hasNextPage endCursor } } }";
    let mut listed = 0;
    let mut after: Option<String> = None;
    let mut counts = Vec::new();
    loop {
        let page = app.gql(Some(&admin), log, json!({ "a": clinic_id, "first": 2, "after": after })).await;
        assert!(page["errors"].is_null(), "{page}");
        let page = &page["data"]["auditLog"];
        listed += page["edges"].as_array().map_or(0, Vec::len);
        counts.push(page["totalCount"].as_u64().unwrap_or_else(|| panic!("{page}")));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    // A sign-in and three registrations at least, over several pages.
    assert!(listed >= 4 && counts.len() >= 2, "{listed} entries, counts {counts:?}");
    assert!(counts.iter().all(|count| *count == listed as u64), "every page counts them all: {listed} vs {counts:?}");

    let alone = app.gql(Some(&admin), log, json!({ "a": clinic_id, "first": 0 })).await;
    assert!(alone["errors"].is_null(), "{alone}");
    assert_eq!(alone["data"]["auditLog"]["totalCount"], listed, "{alone}");
    assert_eq!(alone["data"]["auditLog"]["edges"], json!([]), "{alone}");
    assert_eq!(alone["data"]["auditLog"]["pageInfo"]["hasNextPage"], true, "{alone}");
    let none = app.gql(Some(&admin), log, json!({ "a": clinic_id, "first": 0, "from": "2999-01-01T00:00:00Z" })).await;
    assert_eq!(none["data"]["auditLog"]["totalCount"], 0, "{none}");
    assert_eq!(none["data"]["auditLog"]["pageInfo"]["hasNextPage"], false, "{none}");
    let refused = app.gql(Some(&clinic), log, json!({ "a": clinic_id, "first": 0 })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");

    // A patient list: the count alone equals the rows of the whole list.
    let patients =
        "query($first: Int) { patients(first: $first) { totalCount nodes { id } pageInfo { hasNextPage } } }";
    let whole = app.gql(Some(&clinic), patients, json!({ "first": 500 })).await;
    let rows = whole["data"]["patients"]["nodes"].as_array().map_or(0, Vec::len);
    assert!(rows >= 3, "{whole}");
    let count = app.gql(Some(&clinic), patients, json!({ "first": 0 })).await;
    assert!(count["errors"].is_null(), "{count}");
    assert_eq!(count["data"]["patients"]["totalCount"], rows, "{count}");
    assert_eq!(count["data"]["patients"]["nodes"], json!([]), "{count}");
    assert_eq!(count["data"]["patients"]["pageInfo"]["hasNextPage"], true, "{count}");
    for first in [-1, 100_000] {
        let wrong = app.gql(Some(&clinic), patients, json!({ "first": first })).await;
        assert_eq!(wrong["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{wrong}");
        assert_eq!(wrong["errors"][0]["extensions"]["field"], "first", "{wrong}");
    }
}
