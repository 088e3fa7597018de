//! The notification after 新規作成: completing and correcting the record
//! (`updatePatient`, its history and the record as it stood), a contact
//! confirmed, a suspected case closed, a duplicate withdrawn, finding
//! people (`searchPatients`) and the duplicate check of a registration,
//! and the release date under the rule in force.

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{
    Backend, TestApp, error_code, error_field, spawn_app, spawn_app_configured, spawn_app_with_clock,
};

both!(
    a_clinic_registers_basic_items_and_completes_the_form_the_next_day,
    the_health_centre_corrects_a_date_of_birth_and_the_age_band_moves_as_of_that_moment_only,
    a_contact_turns_positive_with_its_diagnosis_date,
    a_duplicate_is_withdrawn_and_the_figures_drop_by_one_from_then_on,
    a_suspected_case_with_negative_tests_is_closed_as_not_a_case,
    a_search_finds_the_reading_whatever_its_width_spacing_or_small_kana,
    registration_warns_of_a_likely_duplicate_and_proceeds_when_confirmed,
    release_dates_follow_the_rule_in_force_on_the_onset_date,
    a_release_from_care_follows_the_rule_in_force_and_records_it,
    the_health_centre_accepts_or_returns_a_notification_and_the_facility_sees_where_it_stands,
    records_lacking_required_items_wait_in_a_queue_oldest_first,
    a_health_centre_refers_its_patient_to_a_facility_which_then_tests_it,
    the_release_round_lists_the_cases_due_soonest_first,
    from_the_limited_notification_facilities_count_the_others_and_the_statistics_count_both,
);

const UPDATE: &str = "mutation($id: ID!, $v: Int!, $input: UpdatePatientInput!) { \
    updatePatient(patientId: $id, expectedVersion: $v, input: $input) { id version caseType birthDate ageBand \
    nameKana phone occupation guardianName currentLocation onsetDate diagnosisDate diagnosisMethod specimen \
    firstVisitDate estimatedInfectionDate infectionRoute symptoms spo2AtDiagnosis severityAtDiagnosis \
    needsAdmission riskFactors vaccinationDoses priorInfectionNote notes recordStatus } }";

const REGISTER: &str = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id version } }";

const SEARCH: &str = "query($k: String, $b: Date, $p: String) { searchPatients(nameKana: $k, birthDate: $b, \
    phone: $p, first: 50) { nodes { id nameKana } totalCount } }";

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

async fn update(app: &TestApp, token: &str, id: &str, version: i64, input: Value) -> Value {
    app.gql(Some(token), UPDATE, json!({ "id": id, "v": version, "input": input })).await
}

fn updated(response: &Value) -> &Value {
    assert!(response["errors"].is_null(), "updatePatient failed: {response}");
    &response["data"]["updatePatient"]
}

/// The record's version and every item, as `token` reads it.
async fn record(app: &TestApp, token: &str, id: &str) -> Value {
    let query = "query($id: ID!) { patient(id: $id) { version caseType birthDate occupation onsetDate recordStatus \
        history { field oldValue newValue version facility { id } } } }";
    let response = app.gql(Some(token), query, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["patient"].clone()
}

async fn record_positive(app: &TestApp, token: &str, id: &str, sampled_at: Option<String>) {
    let mut input = json!({ "patientId": id, "kind": "PCR", "result": "POSITIVE" });
    if let Some(at) = sampled_at {
        input["sampledAt"] = json!(at);
    }
    let response = app
        .gql(
            Some(token),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert!(response["errors"].is_null(), "recordTest failed: {response}");
}

async fn a_clinic_registers_basic_items_and_completes_the_form_the_next_day(backend: Backend) {
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "カンセイ ハナコ", json!({ "birthDate": "1985-03-03" })).await;
    clock.advance(Duration::days(1));
    // The next day, signed in again.
    let clinic = app.login("clinic1").await;
    let today = (Utc::now() + Duration::days(1)).date_naive();
    let yesterday = today - Duration::days(1);
    let input = json!({
        "occupation": "会社員",
        "guardianName": null,
        "currentLocation": "東京都港区のホテル",
        "onsetDate": (today - Duration::days(3)).to_string(),
        "diagnosisDate": yesterday.to_string(),
        "diagnosisMethod": "NUCLEIC_ACID_AMPLIFICATION",
        "specimen": "NASOPHARYNGEAL_SWAB",
        "firstVisitDate": yesterday.to_string(),
        "estimatedInfectionDate": (today - Duration::days(6)).to_string(),
        "infectionRoute": "家族内感染（推定）",
        "symptoms": ["COUGH", "FEVER", "COUGH"],
        "spo2AtDiagnosis": 95,
        "severityAtDiagnosis": "MODERATE_I",
        "needsAdmission": false,
        "riskFactors": ["DIABETES", "HYPERTENSION"],
        "vaccinationDoses": 3,
        "notes": "夜間は電話に出られない",
    });
    let response = update(&app, &clinic, &id, 1, input).await;
    let p = updated(&response);
    assert_eq!(p["version"], 2, "{p}");
    assert_eq!(p["occupation"], "会社員");
    assert_eq!(p["guardianName"], Value::Null);
    assert_eq!(p["diagnosisMethod"], "NUCLEIC_ACID_AMPLIFICATION");
    assert_eq!(p["symptoms"], json!(["FEVER", "COUGH"]));
    assert_eq!(p["riskFactors"], json!(["HYPERTENSION", "DIABETES"]));
    assert_eq!(p["spo2AtDiagnosis"], 95);
    assert_eq!(p["needsAdmission"], false);
    assert_eq!(p["recordStatus"], "ACTIVE");

    // Each item changed is a history entry, entered for the clinic.
    let stored = record(&app, &clinic, &id).await;
    let history = stored["history"].as_array().expect("history");
    let fields: Vec<&str> = history.iter().filter_map(|c| c["field"].as_str()).collect();
    for item in ["occupation", "onsetDate", "diagnosisMethod", "symptoms", "riskFactors", "notes"] {
        assert!(fields.contains(&item), "{item} not in the history: {stored}");
    }
    assert!(!fields.contains(&"guardianName"), "an item left empty is no change: {stored}");
    let occupation = history.iter().find(|c| c["field"] == "occupation").expect("occupation");
    assert_eq!((&occupation["oldValue"], &occupation["newValue"]), (&Value::Null, &json!("会社員")));
    assert_eq!(occupation["version"], 2);
    assert!(occupation["facility"]["id"].is_string(), "{occupation}");

    // An older version, an impossible value, a day before birth: refused,
    // nothing changed.
    let stale = update(&app, &clinic, &id, 1, json!({ "occupation": "教員" })).await;
    assert_eq!(error_code(&stale), Some("CONFLICT"), "{stale}");
    for (input, field) in [
        (json!({ "spo2AtDiagnosis": 150 }), "input.spo2AtDiagnosis"),
        (json!({ "vaccinationDoses": -1 }), "input.vaccinationDoses"),
        (json!({ "onsetDate": "1980-01-01" }), "input.onsetDate"),
        (json!({ "diagnosisDate": (today + Duration::days(2)).to_string() }), "input.diagnosisDate"),
        (json!({ "occupation": "会社員\u{202E}" }), "input.occupation"),
        (json!({ "nameKana": "Yamada" }), "input.nameKana"),
    ] {
        let refused = update(&app, &clinic, &id, 2, input.clone()).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{input}: {refused}");
        assert_eq!(error_field(&refused), Some(field), "{input}: {refused}");
    }
    let after = record(&app, &clinic, &id).await;
    assert_eq!(after["version"], 2);
    assert_eq!(after["occupation"], "会社員");

    // Another facility does not reach it; the analyst reads the dates but
    // not the occupation; the hospital that did not register it may not
    // change it.
    let hospital = app.login("hospital1").await;
    let other = update(&app, &hospital, &id, 2, json!({ "occupation": "教員" })).await;
    assert_eq!(error_code(&other), Some("NOT_FOUND"), "{other}");
    let analyst = app.login("analyst1").await;
    let seen = app
        .gql(Some(&analyst), "query($id: ID!) { patient(id: $id) { onsetDate occupation } }", json!({ "id": id }))
        .await;
    assert_eq!(seen["data"]["patient"]["onsetDate"], json!((today - Duration::days(3)).to_string()), "{seen}");
    assert_eq!(seen["data"]["patient"]["occupation"], Value::Null, "{seen}");
    assert_eq!(seen["errors"][0]["extensions"]["code"], "FORBIDDEN", "{seen}");
    let history = app
        .gql(Some(&analyst), "query($id: ID!) { patient(id: $id) { history { field } } }", json!({ "id": id }))
        .await;
    assert_eq!(error_code(&history), Some("FORBIDDEN"), "{history}");

    // The change is audited.
    let admin = app.login("admin1").await;
    let log = app
        .gql(
            Some(&admin),
            "query($p: ID) { auditLog(patientId: $p, first: 50) { edges { node { action fields } } } }",
            json!({ "p": id }),
        )
        .await;
    let entries: Vec<&Value> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert!(
        entries.iter().any(|e| e["action"] == "UPDATE_PATIENT"
            && e["fields"].as_array().is_some_and(|f| f.contains(&json!("occupation")))),
        "{log}"
    );
}

/// The patient's contribution to the cross-tabulations by age decade, as
/// the ledger held it at `at`.
async fn age_decades(app: &TestApp, patient: &str, at: DateTime<Utc>) -> Vec<(i64, i64)> {
    let db = sea_orm::Database::connect(app.database_url.clone()).await.expect("direct connection");
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT CAST(age_decade AS BIGINT) AS a, CAST(SUM(delta) AS BIGINT) AS n FROM stat_cases \
             WHERE patient_id = $1 AND recorded_at <= $2 GROUP BY age_decade HAVING SUM(delta) <> 0 ORDER BY 1"
        }
        _ => {
            "SELECT CAST(age_decade AS BIGINT) AS a, CAST(SUM(delta) AS BIGINT) AS n FROM stat_cases \
             WHERE patient_id = ? AND recorded_at <= ? GROUP BY age_decade HAVING SUM(delta) <> 0 ORDER BY 1"
        }
    };
    let id: i64 = patient.parse().expect("a numeric ID");
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [id.into(), at.into()]))
        .await
        .expect("the ledger");
    rows.iter().map(|row| (row.try_get::<i64>("", "a").expect("a"), row.try_get::<i64>("", "n").expect("n"))).collect()
}

async fn the_health_centre_corrects_a_date_of_birth_and_the_age_band_moves_as_of_that_moment_only(backend: Backend) {
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "ネンレイ タロウ", json!({ "birthDate": "1990-01-01" })).await;
    record_positive(&app, &clinic, &id, None).await;
    let before = Utc::now() + Duration::minutes(1);
    clock.advance(Duration::hours(2));
    let health_centre = app.login("hc1").await;
    let version = record(&app, &health_centre, &id).await["version"].as_i64().expect("version");
    let response = update(&app, &health_centre, &id, version, json!({ "birthDate": "1950-01-01" })).await;
    let p = updated(&response);
    assert_eq!(p["birthDate"], "1950-01-01");
    assert_eq!(p["ageBand"], "AGE_70_TO_79", "{p}");
    let after = Utc::now() + Duration::hours(3);

    // As of before the correction the person counts in the thirties, from
    // the correction on in the seventies, never in both.
    assert_eq!(age_decades(&app, &id, before).await, vec![(3, 1)]);
    assert_eq!(age_decades(&app, &id, after).await, vec![(7, 1)]);

    // The record as it stood before, from its history.
    let query = "query($id: ID!, $at: DateTime!) { patient(id: $id) { asRecordedAt(at: $at) { birthDate version } \
        history { field oldValue newValue } } }";
    let then = app.gql(Some(&health_centre), query, json!({ "id": id, "at": rfc3339(before) })).await;
    let p = &then["data"]["patient"];
    assert_eq!(p["asRecordedAt"]["birthDate"], "1990-01-01", "{then}");
    assert!(p["asRecordedAt"]["version"].as_i64() < Some(version + 1), "{then}");
    assert_eq!(p["history"], json!([{ "field": "birthDate", "oldValue": "1990-01-01", "newValue": "1950-01-01" }]));
}

async fn a_contact_turns_positive_with_its_diagnosis_date(backend: Backend) {
    let app = spawn_app(backend).await;
    let health_centre = app.login("hc1").await;
    let (id, _) =
        app.register_patient(&health_centre, "セッショク ジロウ", json!({ "caseType": "CLOSE_CONTACT" })).await;
    let without_date = update(&app, &health_centre, &id, 1, json!({ "caseType": "CONFIRMED" })).await;
    assert_eq!(error_code(&without_date), Some("BAD_USER_INPUT"), "{without_date}");
    assert_eq!(error_field(&without_date), Some("input.diagnosisDate"));
    let today = Utc::now().date_naive().to_string();
    let response =
        update(&app, &health_centre, &id, 1, json!({ "caseType": "CONFIRMED", "diagnosisDate": today })).await;
    let p = updated(&response);
    assert_eq!((&p["caseType"], &p["diagnosisDate"]), (&json!("CONFIRMED"), &json!(today)));
    let history = record(&app, &health_centre, &id).await["history"].clone();
    let change = history.as_array().and_then(|h| h.iter().find(|c| c["field"] == "caseType")).cloned();
    assert_eq!(
        change.map(|c| (c["oldValue"].clone(), c["newValue"].clone())),
        Some((json!("CLOSE_CONTACT"), json!("CONFIRMED")))
    );
}

const DAILY: &str = "query($from: Date!, $to: Date!, $asOf: DateTime) { statistics { \
    daily(from: $from, to: $to, asOf: $asOf) { date positives } } }";

/// The nation's new positives of today, as of `at`.
async fn positives_today(app: &TestApp, token: &str, at: DateTime<Utc>) -> i64 {
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST")).date_naive();
    let response = app
        .gql(Some(token), DAILY, json!({ "from": today.to_string(), "to": today.to_string(), "asOf": rfc3339(at) }))
        .await;
    response["data"]["statistics"]["daily"][0]["positives"].as_i64().unwrap_or_else(|| panic!("{response}"))
}

async fn a_duplicate_is_withdrawn_and_the_figures_drop_by_one_from_then_on(backend: Backend) {
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let analyst = app.login("analyst1").await;
    let start = positives_today(&app, &analyst, Utc::now()).await;
    let (kept, _) = app.register_patient(&clinic, "ジュウフク サブロウ", json!({})).await;
    record_positive(&app, &clinic, &kept, None).await;
    let (duplicate, _) =
        app.register_patient(&clinic, "ジュウフク サブロウ", json!({ "confirmNewPerson": true })).await;
    record_positive(&app, &clinic, &duplicate, None).await;
    let published = Utc::now();
    assert_eq!(positives_today(&app, &analyst, published).await, start + 2);
    clock.advance(Duration::minutes(30));
    let (clinic, health_centre, analyst) =
        (app.login("clinic1").await, app.login("hc1").await, app.login("analyst1").await);

    // The clinic may not withdraw; the health centre withdraws it into the
    // record that stays.
    let version = record(&app, &health_centre, &duplicate).await["version"].as_i64().expect("version");
    let withdraw = "mutation($id: ID!, $v: Int!, $into: ID!) { withdrawPatient(patientId: $id, expectedVersion: $v, \
        survivingPatientId: $into, reason: \"同一人物の二重登録\") { recordStatus withdrawnIntoPatientId version } }";
    let refused = app.gql(Some(&clinic), withdraw, json!({ "id": duplicate, "v": version, "into": kept })).await;
    assert!(matches!(error_code(&refused), Some("FORBIDDEN") | Some("NOT_FOUND")), "{refused}");
    let into_itself =
        app.gql(Some(&health_centre), withdraw, json!({ "id": duplicate, "v": version, "into": duplicate })).await;
    assert_eq!(error_field(&into_itself), Some("survivingPatientId"), "{into_itself}");
    let done = app.gql(Some(&health_centre), withdraw, json!({ "id": duplicate, "v": version, "into": kept })).await;
    assert!(done["errors"].is_null(), "{done}");
    let p = &done["data"]["withdrawPatient"];
    assert_eq!((&p["recordStatus"], &p["withdrawnIntoPatientId"]), (&json!("WITHDRAWN"), &json!(kept)));
    let again =
        app.gql(Some(&health_centre), withdraw, json!({ "id": duplicate, "v": p["version"], "into": kept })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");

    // The figure published before is the same; from the withdrawal on it
    // is one less.
    assert_eq!(positives_today(&app, &analyst, published).await, start + 2);
    assert_eq!(positives_today(&app, &analyst, Utc::now() + Duration::minutes(30)).await, start + 1);

    // Lists can leave withdrawn records out.
    let active = app
        .gql(
            Some(&health_centre),
            "{ patients(first: 500, filter: { recordStatus: ACTIVE }) { nodes { id } } }",
            json!({}),
        )
        .await;
    let ids: Vec<&Value> =
        active["data"]["patients"]["nodes"].as_array().expect("nodes").iter().map(|n| &n["id"]).collect();
    assert!(ids.contains(&&json!(kept)) && !ids.contains(&&json!(duplicate)), "{active}");
}

async fn a_suspected_case_with_negative_tests_is_closed_as_not_a_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let close = "mutation($id: ID!, $v: Int!) { closePatientAsNotACase(patientId: $id, expectedVersion: $v, \
        reason: \"PCR陰性\") { recordStatus statusReason version } }";
    let (negative, _) = app.register_patient(&clinic, "ギジ シロウ", json!({ "caseType": "SUSPECTED" })).await;
    let test = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }";
    let recorded = app
        .gql(Some(&clinic), test, json!({ "input": { "patientId": negative, "kind": "PCR", "result": "NEGATIVE" } }))
        .await;
    assert!(recorded["errors"].is_null(), "{recorded}");
    let closed = app.gql(Some(&health_centre), close, json!({ "id": negative, "v": 1 })).await;
    assert!(closed["errors"].is_null(), "{closed}");
    assert_eq!(closed["data"]["closePatientAsNotACase"]["recordStatus"], "NOT_A_CASE");
    assert_eq!(closed["data"]["closePatientAsNotACase"]["statusReason"], "PCR陰性");

    // A positive suspected case, and a confirmed case, are not closed so.
    let (positive, _) = app.register_patient(&clinic, "ギジ ゴロウ", json!({ "caseType": "SUSPECTED" })).await;
    record_positive(&app, &clinic, &positive, None).await;
    let refused = app.gql(Some(&health_centre), close, json!({ "id": positive, "v": 1 })).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    let (confirmed, _) = app.register_patient(&clinic, "ギジ ロクロウ", json!({})).await;
    let refused = app.gql(Some(&health_centre), close, json!({ "id": confirmed, "v": 1 })).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    let by_clinic = app.gql(Some(&clinic), close, json!({ "id": confirmed, "v": 1 })).await;
    assert_eq!(error_code(&by_clinic), Some("FORBIDDEN"), "{by_clinic}");
}

fn found(response: &Value) -> Vec<String> {
    assert!(response["errors"].is_null(), "searchPatients failed: {response}");
    response["data"]["searchPatients"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect()
}

async fn a_search_finds_the_reading_whatever_its_width_spacing_or_small_kana(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app
        .register_patient(
            &clinic,
            "ヤマダ タロウ",
            json!({ "birthDate": "1971-07-07", "phone": "03-1234-5678", "confirmNewPerson": true }),
        )
        .await;
    let (kyoko, _) = app.register_patient(&clinic, "キョウコ", json!({ "birthDate": "1972-02-02" })).await;
    let search = |k: Value, b: Value, p: Value| {
        let clinic = clinic.clone();
        let app = &app;
        async move { app.gql(Some(&clinic), SEARCH, json!({ "k": k, "b": b, "p": p })).await }
    };
    for reading in ["ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞﾀﾛｳ", "やまだ たろう", "ヤマダ　タロウ"] {
        let response = search(json!(reading), json!("1971-07-07"), Value::Null).await;
        assert_eq!(found(&response), vec![id.clone()], "{reading}: {response}");
        assert_eq!(response["data"]["searchPatients"]["totalCount"], 1);
    }
    assert_eq!(found(&search(json!("キヨウコ"), Value::Null, Value::Null).await), vec![kyoko.clone()]);
    assert!(found(&search(json!("ﾔﾏﾀﾞ ﾀﾛｳ"), json!("1971-07-08"), Value::Null).await).is_empty());
    assert_eq!(found(&search(Value::Null, Value::Null, json!("0312345678")).await), vec![id.clone()]);
    assert_eq!(found(&search(Value::Null, Value::Null, json!("(03) 1234-5678")).await), vec![id.clone()]);

    // A match is a read of the items searched by, audited.
    let admin = app.login("admin1").await;
    let log = app
        .gql(
            Some(&admin),
            "query($p: ID) { auditLog(patientId: $p, first: 50) { edges { node { action fields } } } }",
            json!({ "p": id }),
        )
        .await;
    let searched = log["data"]["auditLog"]["edges"].as_array().is_some_and(|entries| {
        entries.iter().any(|e| {
            e["node"]["action"] == "READ_PERSONAL"
                && e["node"]["fields"].as_array().is_some_and(|f| f.contains(&json!("phone")))
        })
    });
    assert!(searched, "{log}");

    // Out of reach, nothing; analysts may not search people; a search
    // needs a criterion and a reading.
    let other_centre = app.login("hc2").await;
    let response = app.gql(Some(&other_centre), SEARCH, json!({ "k": "ヤマダ タロウ" })).await;
    assert!(found(&response).is_empty(), "{response}");
    let analyst = app.login("analyst1").await;
    let response = app.gql(Some(&analyst), SEARCH, json!({ "k": "ヤマダ タロウ" })).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");
    let response = search(Value::Null, Value::Null, Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let response = search(json!("Yamada"), Value::Null, Value::Null).await;
    assert_eq!(error_field(&response), Some("nameKana"), "{response}");
    let response = search(Value::Null, Value::Null, json!("12")).await;
    assert_eq!(error_field(&response), Some("phone"), "{response}");
}

async fn registration_warns_of_a_likely_duplicate_and_proceeds_when_confirmed(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let person = json!({ "caseType": "CONFIRMED", "nameKanji": "二重 登録", "nameKana": "ニジュウ トウロク",
        "sex": "FEMALE", "birthDate": "1966-06-06", "phone": "090-1111-2222" });
    let first = app.gql(Some(&clinic), REGISTER, json!({ "input": person })).await;
    assert!(first["errors"].is_null(), "{first}");
    let first_id = first["data"]["registerPatient"]["id"].clone();

    let count = "{ patients(first: 1) { totalCount } }";
    let before = app.gql(Some(&health_centre), count, json!({})).await["data"]["patients"]["totalCount"].clone();
    // The same reading in half-width, or the same phone, and the birth date.
    let mut again = person.clone();
    again["nameKana"] = json!("ﾆｼﾞｭｳ ﾄｳﾛｸ");
    let mut by_phone = person.clone();
    by_phone["nameKana"] = json!("ベツ ヨミ");
    by_phone["phone"] = json!("09011112222");
    for input in [again.clone(), by_phone] {
        let warned = app.gql(Some(&health_centre), REGISTER, json!({ "input": input })).await;
        assert_eq!(error_code(&warned), Some("CONFLICT"), "{warned}");
        assert_eq!(error_field(&warned), Some("input.confirmNewPerson"), "{warned}");
        assert_eq!(warned["errors"][0]["extensions"]["candidates"], json!([first_id]), "{warned}");
    }
    let after = app.gql(Some(&health_centre), count, json!({})).await["data"]["patients"]["totalCount"].clone();
    assert_eq!(before, after, "a warned registration writes nothing");

    // A reinfection whose earlier record is in another district: the
    // earlier infection as free text.
    let mut elsewhere = json!({ "caseType": "CONFIRMED", "nameKanji": "再感染 花子", "nameKana": "サイカンセン ハナコ",
        "sex": "FEMALE", "birthDate": "1977-07-07", "priorInfectionNote": "2021年8月 大阪市、旧ID 1234-5678" });
    let query = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { priorInfection \
        priorInfectionNote previousPatientId } }";
    let response = app.gql(Some(&clinic), query, json!({ "input": elsewhere })).await;
    assert_eq!(
        response["data"]["registerPatient"],
        json!({ "priorInfection": true, "priorInfectionNote": "2021年8月 大阪市、旧ID 1234-5678", "previousPatientId": null }),
        "{response}"
    );
    elsewhere["priorInfectionNote"] = json!("x".repeat(501));
    elsewhere["nameKana"] = json!("サイカンセン ジロウ");
    let response = app.gql(Some(&clinic), query, json!({ "input": elsewhere })).await;
    assert_eq!(error_field(&response), Some("input.priorInfectionNote"), "{response}");

    // Another birth date is another person; confirmed, the same goes in.
    let mut other = again.clone();
    other["birthDate"] = json!("1966-06-07");
    let response = app.gql(Some(&health_centre), REGISTER, json!({ "input": other })).await;
    assert!(response["errors"].is_null(), "{response}");
    again["confirmNewPerson"] = json!(true);
    let response = app.gql(Some(&health_centre), REGISTER, json!({ "input": again })).await;
    assert!(response["errors"].is_null(), "{response}");

    // A health centre of another district does not see the first record,
    // so it is not warned of it (and learns nothing of it).
    let other_centre = app.login("hc2").await;
    let response = app.gql(Some(&other_centre), REGISTER, json!({ "input": person })).await;
    assert!(response["errors"].is_null(), "{response}");
}

async fn release_dates_follow_the_rule_in_force_on_the_onset_date(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "カイジョ タロウ", json!({ "birthDate": "1980-01-01" })).await;
    let query = "query($id: ID!) { patient(id: $id) { expectedReleaseDate releaseRule } }";
    let mut version = 1;
    for (onset, expected, rule) in [
        ("2020-06-01", "2020-06-16", "2020-05"),
        ("2020-06-12", "2020-06-23", "2020-06"),
        ("2022-09-06", "2022-09-17", "2020-06"),
        ("2022-09-07", "2022-09-15", "2022-09"),
    ] {
        let response = update(&app, &clinic, &id, version, json!({ "onsetDate": onset })).await;
        version = updated(&response)["version"].as_i64().expect("version");
        let p = app.gql(Some(&clinic), query, json!({ "id": id })).await;
        assert_eq!(p["data"]["patient"], json!({ "expectedReleaseDate": expected, "releaseRule": rule }), "{onset}");
    }

    // Without symptoms: from the first positive sample.
    let response = update(&app, &clinic, &id, version, json!({ "onsetDate": null })).await;
    updated(&response);
    let p = app.gql(Some(&clinic), query, json!({ "id": id })).await;
    assert_eq!(p["data"]["patient"], json!({ "expectedReleaseDate": null, "releaseRule": null }), "{p}");
    record_positive(&app, &clinic, &id, Some("2022-10-01T10:00:00+09:00".to_owned())).await;
    let p = app.gql(Some(&clinic), query, json!({ "id": id })).await;
    assert_eq!(p["data"]["patient"], json!({ "expectedReleaseDate": "2022-10-09", "releaseRule": "2022-09" }), "{p}");
}

async fn a_release_from_care_follows_the_rule_in_force_and_records_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let (id, _) = app.register_patient(&clinic, "カイジョ ジロウ", json!({})).await;
    let response = update(&app, &clinic, &id, 1, json!({ "onsetDate": "2022-09-07" })).await;
    updated(&response);
    let outcome = "mutation($p: ID!, $at: DateTime!) { recordOutcome(patientId: $p, outcome: RELEASED_FROM_CARE, \
        outcomeAt: $at) { outcome outcomeRule expectedReleaseDate } }";
    let early = app.gql(Some(&health_centre), outcome, json!({ "p": id, "at": "2022-09-14T12:00:00+09:00" })).await;
    assert_eq!(error_code(&early), Some("BAD_USER_INPUT"), "{early}");
    assert_eq!(error_field(&early), Some("outcomeAt"), "{early}");
    let released = app.gql(Some(&health_centre), outcome, json!({ "p": id, "at": "2022-09-15T10:00:00+09:00" })).await;
    assert!(released["errors"].is_null(), "{released}");
    assert_eq!(
        released["data"]["recordOutcome"],
        json!({ "outcome": "RELEASED_FROM_CARE", "outcomeRule": "2022-09", "expectedReleaseDate": null })
    );
}

const NOTIFICATION: &str = "query($id: ID!) { patient(id: $id) { version notificationStatus notificationReason \
    notificationDecidedAt } }";

async fn notification(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.gql(Some(token), NOTIFICATION, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["patient"].clone()
}

/// The IDs of a work queue, in order.
async fn queue(app: &TestApp, token: &str, name: &str) -> Vec<String> {
    let response = app.gql(Some(token), &format!("{{ {name}(first: 500) {{ nodes {{ id }} }} }}"), json!({})).await;
    assert!(response["errors"].is_null(), "{name}: {response}");
    response["data"][name]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect()
}

async fn the_health_centre_accepts_or_returns_a_notification_and_the_facility_sees_where_it_stands(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let (id, _) = app.register_patient(&clinic, "ジュリ ハナコ", json!({})).await;
    assert_eq!(notification(&app, &clinic, &id).await["notificationStatus"], "RECEIVED");
    assert!(queue(&app, &health_centre, "notificationsAwaitingAcceptance").await.contains(&id));

    let decide = "mutation($id: ID!, $v: Int!) { acceptNotification(patientId: $id, expectedVersion: $v) { \
        notificationStatus notificationDecidedAt version } }";
    let give_back = "mutation($id: ID!, $v: Int!, $r: String!) { returnNotification(patientId: $id, \
        expectedVersion: $v, reason: $r) { notificationStatus notificationReason version } }";
    let by_clinic = app.gql(Some(&clinic), decide, json!({ "id": id, "v": 1 })).await;
    assert_eq!(error_code(&by_clinic), Some("FORBIDDEN"), "{by_clinic}");
    let no_reason = app.gql(Some(&health_centre), give_back, json!({ "id": id, "v": 1, "r": "  " })).await;
    assert_eq!(error_field(&no_reason), Some("reason"), "{no_reason}");
    let returned =
        app.gql(Some(&health_centre), give_back, json!({ "id": id, "v": 1, "r": "発病日を記入してください" })).await;
    assert!(returned["errors"].is_null(), "{returned}");

    // The facility sees why; the centre cannot accept it until corrected.
    let seen = notification(&app, &clinic, &id).await;
    assert_eq!(
        (&seen["notificationStatus"], &seen["notificationReason"]),
        (&json!("RETURNED"), &json!("発病日を記入してください"))
    );
    assert!(!queue(&app, &health_centre, "notificationsAwaitingAcceptance").await.contains(&id));
    let version = seen["version"].as_i64().expect("version");
    let early = app.gql(Some(&health_centre), decide, json!({ "id": id, "v": version })).await;
    assert_eq!(error_code(&early), Some("CONFLICT"), "{early}");
    let today = Utc::now().date_naive().to_string();
    let response = update(&app, &clinic, &id, version, json!({ "onsetDate": today })).await;
    let version = updated(&response)["version"].as_i64().expect("version");
    assert_eq!(notification(&app, &clinic, &id).await["notificationStatus"], "RECEIVED");
    assert!(queue(&app, &health_centre, "notificationsAwaitingAcceptance").await.contains(&id));

    let accepted = app.gql(Some(&health_centre), decide, json!({ "id": id, "v": version })).await;
    assert!(accepted["errors"].is_null(), "{accepted}");
    assert_eq!(accepted["data"]["acceptNotification"]["notificationStatus"], "ACCEPTED");
    assert!(accepted["data"]["acceptNotification"]["notificationDecidedAt"].is_string());
    assert!(!queue(&app, &health_centre, "notificationsAwaitingAcceptance").await.contains(&id));
    let history = record(&app, &health_centre, &id).await["history"].clone();
    let statuses: Vec<&Value> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|c| c["field"] == "notificationStatus")
        .map(|c| &c["newValue"])
        .collect();
    assert_eq!(statuses, vec![&json!("RETURNED"), &json!("RECEIVED"), &json!("ACCEPTED")]);

    // A health centre's own entry needs no acceptance.
    let (own, _) = app.register_patient(&health_centre, "ジュリ タロウ", json!({})).await;
    assert_eq!(notification(&app, &health_centre, &own).await["notificationStatus"], "ACCEPTED");
}

async fn records_lacking_required_items_wait_in_a_queue_oldest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let (first, _) = app.register_patient(&clinic, "ミカンリョウ イチ", json!({})).await;
    let complete = json!({ "caseType": "CLOSE_CONTACT", "address": "東京都港区芝公園4-2-8", "phone": "03-1111-2222" });
    let (contact, _) = app.register_patient(&clinic, "ミカンリョウ ニ", complete).await;
    let (second, _) = app.register_patient(&clinic, "ミカンリョウ サン", json!({})).await;

    let missing = "query($id: ID!) { patient(id: $id) { missingItems } }";
    let response = app.gql(Some(&clinic), missing, json!({ "id": first })).await;
    assert_eq!(
        response["data"]["patient"]["missingItems"],
        json!([
            "address",
            "phone",
            "onsetDate",
            "diagnosisDate",
            "diagnosisMethod",
            "severityAtDiagnosis",
            "needsAdmission"
        ]),
        "{response}"
    );
    let response = app.gql(Some(&clinic), missing, json!({ "id": contact })).await;
    assert_eq!(response["data"]["patient"]["missingItems"], json!([]), "{response}");

    for token in [&clinic, &health_centre] {
        let ids = queue(&app, token, "incompleteRecords").await;
        let at = |id: &String| ids.iter().position(|x| x == id);
        assert!(at(&first).is_some() && at(&first) < at(&second), "oldest first: {ids:?}");
        assert_eq!(at(&contact), None, "{ids:?}");
    }

    // Completed, the record leaves the queue.
    let today = Utc::now().date_naive().to_string();
    let input = json!({ "address": "東京都港区芝公園4-2-8", "phone": "03-3333-4444", "onsetDate": today,
        "diagnosisDate": today, "diagnosisMethod": "ANTIGEN_QUALITATIVE", "severityAtDiagnosis": "MILD",
        "needsAdmission": false });
    updated(&update(&app, &clinic, &first, 1, input).await);
    let ids = queue(&app, &clinic, "incompleteRecords").await;
    assert!(!ids.contains(&first) && ids.contains(&second), "{ids:?}");
    let response = app.gql(Some(&clinic), missing, json!({ "id": first })).await;
    assert_eq!(response["data"]["patient"]["missingItems"], json!([]), "{response}");

    let analyst = app.login("analyst1").await;
    let refused = app.gql(Some(&analyst), "{ incompleteRecords { nodes { id } } }", json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
}

async fn clinic_facility(app: &TestApp, token: &str) -> String {
    let response = app.gql(Some(token), "{ facilities { id code } }", json!({})).await;
    response["data"]["facilities"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["code"] == "F13-0001"))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no F13-0001: {response}"))
        .to_owned()
}

async fn a_health_centre_refers_its_patient_to_a_facility_which_then_tests_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let facility = clinic_facility(&app, &health_centre).await;
    // A contact the health centre registered: out of the clinic's reach.
    let (id, _) =
        app.register_patient(&health_centre, "ショウカイ ハナコ", json!({ "caseType": "CLOSE_CONTACT" })).await;
    let lookup = "query($id: ID!) { patient(id: $id) { id nameKanji referrals { facility { id } note } } }";
    let unseen = app.gql(Some(&clinic), lookup, json!({ "id": id })).await;
    assert_eq!(unseen["data"]["patient"], Value::Null, "{unseen}");

    let refer =
        "mutation($p: ID!, $f: ID!) { referPatient(patientId: $p, facilityId: $f, note: \"発熱あり、検査を\") { id } }";
    let by_clinic = app.gql(Some(&clinic), refer, json!({ "p": id, "f": facility })).await;
    assert!(matches!(error_code(&by_clinic), Some("NOT_FOUND" | "FORBIDDEN")), "{by_clinic}");
    for _ in 0..2 {
        let referred = app.gql(Some(&health_centre), refer, json!({ "p": id, "f": facility })).await;
        assert!(referred["errors"].is_null(), "{referred}");
    }
    let seen = app.gql(Some(&clinic), lookup, json!({ "id": id })).await;
    assert!(seen["errors"].is_null(), "{seen}");
    assert_eq!(seen["data"]["patient"]["nameKanji"], "試験 太郎");
    assert_eq!(
        seen["data"]["patient"]["referrals"],
        json!([{ "facility": { "id": facility }, "note": "発熱あり、検査を" }]),
        "referring twice is one referral"
    );
    record_positive(&app, &clinic, &id, None).await;

    // A facility's own registration is not referred to it.
    let (own, _) = app.register_patient(&clinic, "ショウカイ タロウ", json!({})).await;
    let again = app.gql(Some(&health_centre), refer, json!({ "p": own, "f": facility })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
}

async fn the_release_round_lists_the_cases_due_soonest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let health_centre = app.login("hc1").await;
    let today = Utc::now().date_naive().to_string();
    let mut ids = Vec::new();
    for (kana, onset) in
        [("カイジョ イチ", "2022-09-07"), ("カイジョ ニ", "2022-09-01"), ("カイジョ サン", today.as_str())]
    {
        let (id, _) = app.register_patient(&clinic, kana, json!({})).await;
        updated(&update(&app, &clinic, &id, 1, json!({ "onsetDate": onset })).await);
        let home = app
            .gql(
                Some(&health_centre),
                "mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { id } }",
                json!({ "p": id }),
            )
            .await;
        assert!(home["errors"].is_null(), "{home}");
        ids.push(id);
    }
    let round = |on: Option<&str>| {
        let app = &app;
        let token = health_centre.clone();
        let ids = ids.clone();
        let on = on.map(str::to_owned);
        async move {
            let query = "query($on: Date) { patientsDueForRelease(on: $on) { id expectedReleaseDate } }";
            let response = app.gql(Some(&token), query, json!({ "on": on })).await;
            let list = response["data"]["patientsDueForRelease"].as_array().unwrap_or_else(|| panic!("{response}"));
            list.iter()
                .filter(|p| p["id"].as_str().is_some_and(|id| ids.iter().any(|mine| mine == id)))
                .map(|p| (p["id"].as_str().unwrap_or_default().to_owned(), p["expectedReleaseDate"].clone()))
                .collect::<Vec<_>>()
        }
    };
    let (a, b) = (ids[0].clone(), ids[1].clone());
    assert_eq!(
        round(Some("2022-09-15")).await,
        vec![(b.clone(), json!("2022-09-12")), (a.clone(), json!("2022-09-15"))]
    );
    assert_eq!(round(Some("2022-09-13")).await, vec![(b.clone(), json!("2022-09-12"))]);
    assert_eq!(round(None).await.len(), 2, "today: the two, not the case that began today");

    // Released, a case leaves the round.
    let outcome = "mutation($p: ID!) { recordOutcome(patientId: $p, outcome: RELEASED_FROM_CARE) { outcomeRule } }";
    let released = app.gql(Some(&health_centre), outcome, json!({ "p": b })).await;
    assert_eq!(released["data"]["recordOutcome"]["outcomeRule"], "2020-06", "{released}");
    assert_eq!(round(Some("2022-09-15")).await, vec![(a, json!("2022-09-15"))]);
    let refused = app.gql(Some(&app.login("admin1").await), "{ patientsDueForRelease { id } }", json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
}

async fn from_the_limited_notification_facilities_count_the_others_and_the_statistics_count_both(backend: Backend) {
    let jst = chrono::FixedOffset::east_opt(9 * 3600).expect("JST");
    let today = Utc::now().with_timezone(&jst).date_naive();
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let from = today - Duration::days(1);
    let app =
        spawn_app_configured(backend, clock.clone(), |config| config.limited_notification_from = Some(from)).await;
    let clinic = app.login("clinic1").await;
    let analyst = app.login("analyst1").await;
    let start = positives_today(&app, &analyst, Utc::now()).await;

    // Under 65 without a group: not notified individually.
    let person = json!({ "caseType": "CONFIRMED", "nameKanji": "限定 太郎", "nameKana": "ゲンテイ タロウ",
        "sex": "MALE", "birthDate": "1990-05-05" });
    let refused = app.gql(Some(&clinic), REGISTER, json!({ "input": person })).await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    assert_eq!(error_field(&refused), Some("input.notificationGroup"), "{refused}");
    let mut admitted = person.clone();
    admitted["notificationGroup"] = json!("NEEDS_ADMISSION");
    let response = app.gql(Some(&clinic), REGISTER, json!({ "input": admitted })).await;
    assert!(response["errors"].is_null(), "{response}");
    let mut elderly = person.clone();
    elderly["birthDate"] = json!("1940-01-01");
    elderly["nameKana"] = json!("ゲンテイ ハナコ");
    let response = app
        .gql(
            Some(&clinic),
            "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { notificationGroup } }",
            json!({ "input": elderly }),
        )
        .await;
    assert_eq!(response["data"]["registerPatient"]["notificationGroup"], "AGED_65_OR_OVER", "{response}");

    // The others are counted by age band.
    let report = "mutation($input: DailyCountsInput!) { reportDailyCounts(input: $input) { day total \
        counts { ageBand count } } }";
    let counts = json!({ "day": today.to_string(), "counts": [
        { "ageBand": "AGE_20_TO_29", "count": 5 }, { "ageBand": "AGE_30_TO_39", "count": 3 } ] });
    let reported = app.gql(Some(&clinic), report, json!({ "input": counts })).await;
    assert!(reported["errors"].is_null(), "{reported}");
    assert_eq!(reported["data"]["reportDailyCounts"]["total"], 8);
    let published = Utc::now();
    assert_eq!(positives_today(&app, &analyst, published).await, start + 8);

    // A correction of one band replaces it, from the moment it is recorded.
    clock.advance(Duration::minutes(5));
    let (clinic, analyst) = (app.login("clinic1").await, app.login("analyst1").await);
    let correction = json!({ "day": today.to_string(), "counts": [{ "ageBand": "AGE_20_TO_29", "count": 6 }] });
    let corrected = app.gql(Some(&clinic), report, json!({ "input": correction })).await;
    assert_eq!(corrected["data"]["reportDailyCounts"]["total"], 9, "{corrected}");
    assert_eq!(
        corrected["data"]["reportDailyCounts"]["counts"],
        json!([{ "ageBand": "AGE_20_TO_29", "count": 6 }, { "ageBand": "AGE_30_TO_39", "count": 3 }])
    );
    assert_eq!(positives_today(&app, &analyst, published).await, start + 8, "the figure published before");
    assert_eq!(positives_today(&app, &analyst, Utc::now() + Duration::minutes(5)).await, start + 9);

    // Bad reports change nothing.
    for (input, field) in [
        (
            json!({ "day": (from - Duration::days(1)).to_string(), "counts": [{ "ageBand": "AGE_20_TO_29", "count": 1 }] }),
            "input.day",
        ),
        (json!({ "day": today.to_string(), "counts": [{ "ageBand": "AGE_20_TO_29", "count": -1 }] }), "input.counts"),
        (
            json!({ "day": today.to_string(), "counts": [{ "ageBand": "AGE_20_TO_29", "count": 1 }, { "ageBand": "AGE_20_TO_29", "count": 2 }] }),
            "input.counts",
        ),
        (json!({ "day": today.to_string(), "counts": [] }), "input.counts"),
    ] {
        let refused = app.gql(Some(&clinic), report, json!({ "input": input })).await;
        assert_eq!(error_field(&refused), Some(field), "{input}: {refused}");
    }
    assert_eq!(positives_today(&app, &analyst, Utc::now() + Duration::minutes(5)).await, start + 9);
    let by_analyst = app
        .gql(
            Some(&analyst),
            report,
            json!({ "input": { "day": today.to_string(), "counts": [{ "ageBand": "AGE_20_TO_29", "count": 1 }] } }),
        )
        .await;
    assert_eq!(error_code(&by_analyst), Some("FORBIDDEN"), "{by_analyst}");

    // Where every case is notified, there are no daily counts.
    let plain = spawn_app(backend).await;
    let clinic = plain.login("clinic1").await;
    let counts = json!({ "day": today.to_string(), "counts": [{ "ageBand": "AGE_20_TO_29", "count": 1 }] });
    let refused = plain.gql(Some(&clinic), report, json!({ "input": counts })).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
}
