//! The whole case lifecycle, one story per test, as the people who really do
//! each step would do it.

use chrono::{Duration, FixedOffset, Utc};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app};

both!(
    a_home_care_case_runs_from_first_test_to_recovery,
    a_hospital_case_is_admitted_treated_discharged_and_closed,
    a_reinfection_is_a_new_record_that_keeps_the_earlier_one,
    a_transfer_gives_the_new_centre_full_access_and_the_old_one_read_access,
    a_health_centre_enters_for_a_facility_without_system_access,
    a_stale_version_is_refused_with_conflict_and_changes_nothing,
    a_retried_mutation_with_the_same_idempotency_key_writes_once,
    refused_state_transitions_write_nothing,
);

const PATIENT_VIEW: &str = "query($id: ID!) { patient(id: $id) {
    id version careSetting outcome priorInfection smartphoneId previousSmartphoneId previousPatientId
    responsibleHealthCentre { code }
    tests { id kind result enteredOnBehalf enteredBy { kind } facility { code } }
    hospitalisations { id severity icu dischargedAt conditions { severity note } }
    healthReports { bodyTemperature spo2 symptoms byPatient }
    latestHealthReport { spo2 }
    followUpCalls { reached note }
    medicalVisits { visitedOn institutionName }
    transfers { from { code } to { code } transferredBy { kind } }
    registeredBy { kind }
    registeringFacility { code }
} }";

async fn view(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.gql(Some(token), PATIENT_VIEW, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["patient"].clone()
}

async fn facility_id(app: &TestApp, token: &str, code: &str) -> String {
    let response = app.gql(Some(token), "{ facilities { id code } }", json!({})).await;
    response["data"]["facilities"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["code"] == code))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no facility {code}: {response}"))
        .to_owned()
}

async fn record_test(app: &TestApp, token: &str, patient: &str, kind: &str, result: &str) -> Value {
    app.gql(
        Some(token),
        "mutation($input: RecordTestInput!) { recordTest(input: $input) { id result } }",
        json!({ "input": { "patientId": patient, "kind": kind, "result": result } }),
    )
    .await
}

async fn set_care(app: &TestApp, token: &str, patient: &str, setting: &str) -> Value {
    app.gql(
        Some(token),
        "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s) { careSetting version } }",
        json!({ "p": patient, "s": setting }),
    )
    .await
}

async fn record_outcome(app: &TestApp, token: &str, patient: &str, outcome: &str) -> Value {
    app.gql(
        Some(token),
        "mutation($p: ID!, $o: Outcome!) { recordOutcome(patientId: $p, outcome: $o) { outcome } }",
        json!({ "p": patient, "o": outcome }),
    )
    .await
}

const SUBMIT_REPORT: &str =
    "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id bodyTemperature byPatient } }";

async fn a_home_care_case_runs_from_first_test_to_recovery(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;

    // The clinic registers the patient and records both tests.
    let (id, smartphone_id) = app.register_patient(&clinic, "ヤマダ ハナコ", json!({ "sex": "FEMALE" })).await;
    assert!(record_test(&app, &clinic, &id, "PCR", "POSITIVE").await["errors"].is_null());
    assert!(record_test(&app, &clinic, &id, "ANTIGEN_QUALITATIVE", "NEGATIVE").await["errors"].is_null());

    // The health centre decides home care.
    let decided = set_care(&app, &hc1, &id, "HOME").await;
    assert_eq!(decided["data"]["setCareSetting"]["careSetting"], "HOME", "{decided}");

    // The patient signs in with the smartphone ID and reports for the three
    // days before today (Japan time); nothing yet today.
    let login = app
        .gql(
            None,
            "mutation($s: String!, $b: Date!) { patientLogin(smartphoneId: $s, birthDate: $b) { token account { role } } }",
            json!({ "s": smartphone_id, "b": "1980-04-01" }),
        )
        .await;
    assert_eq!(login["data"]["patientLogin"]["account"]["role"], "PATIENT", "{login}");
    let patient_token = login["data"]["patientLogin"]["token"].as_str().unwrap_or_default().to_owned();
    let jst = FixedOffset::east_opt(9 * 3600).expect("offset");
    let today = Utc::now().with_timezone(&jst).date_naive();
    for days_ago in [3, 2, 1] {
        let noon = (today - Duration::days(days_ago)).and_hms_opt(12, 0, 0).expect("noon").and_local_timezone(jst);
        let at = noon.single().expect("a moment").with_timezone(&Utc).to_rfc3339();
        let report = app
            .gql(
                Some(&patient_token),
                SUBMIT_REPORT,
                json!({ "input": { "bodyTemperature": 37.2, "spo2": 97, "symptoms": ["COUGH", "FATIGUE"], "reportedAt": at } }),
            )
            .await;
        assert_eq!(report["data"]["submitHealthReport"]["byPatient"], true, "{report}");
    }
    // The patient cannot read another record or the district's list.
    let others = app.gql(Some(&patient_token), "{ patients { totalCount } }", json!({})).await;
    assert_eq!(others["data"]["patients"]["totalCount"], 1, "{others}");

    // The morning list: not reported today, but reported yesterday.
    let missing = app.gql(Some(&hc1), "{ patientsNotReported { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(
        missing["data"]["patientsNotReported"],
        json!({ "totalCount": 1, "nodes": [{ "id": id }] }),
        "{missing}"
    );
    let yesterday = (today - Duration::days(1)).to_string();
    let missing_yesterday = app
        .gql(
            Some(&hc1),
            "query($d: Date) { patientsNotReported(date: $d) { nodes { id } } }",
            json!({ "d": yesterday }),
        )
        .await;
    assert_eq!(missing_yesterday["data"]["patientsNotReported"]["nodes"], json!([]), "{missing_yesterday}");

    // Staff phone, record the call, and enter today's report for the patient.
    let call = app
        .gql(
            Some(&hc1),
            "mutation($input: FollowUpCallInput!) { recordFollowUpCall(input: $input) { reached note } }",
            json!({ "input": { "patientId": id, "reached": true, "note": "咳が続いている" } }),
        )
        .await;
    assert_eq!(call["data"]["recordFollowUpCall"]["reached"], true, "{call}");
    let on_behalf = app
        .gql(
            Some(&hc1),
            SUBMIT_REPORT,
            json!({ "input": { "patientId": id, "bodyTemperature": 38.7, "spo2": 92, "symptoms": ["SHORTNESS_OF_BREATH"] } }),
        )
        .await;
    assert_eq!(on_behalf["data"]["submitHealthReport"]["byPatient"], false, "{on_behalf}");
    let now_missing = app.gql(Some(&hc1), "{ patientsNotReported(first: 0) { totalCount } }", json!({})).await;
    assert_eq!(now_missing["data"]["patientsNotReported"]["totalCount"], 0, "{now_missing}");
    let warnings = app.gql(Some(&hc1), "{ patientsWithWarningSigns { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(
        warnings["data"]["patientsWithWarningSigns"],
        json!({ "totalCount": 1, "nodes": [{ "id": id }] }),
        "{warnings}"
    );
    let visit = app
        .gql(
            Some(&hc1),
            "mutation($input: MedicalVisitInput!) { recordMedicalVisit(input: $input) { visitedOn institutionName } }",
            json!({ "input": { "patientId": id, "visitedOn": today.to_string(), "institutionName": "みなと診療所" } }),
        )
        .await;
    assert_eq!(visit["data"]["recordMedicalVisit"]["institutionName"], "みなと診療所", "{visit}");

    // Recovery ends the case.
    let ended = record_outcome(&app, &hc1, &id, "RECOVERED").await;
    assert_eq!(ended["data"]["recordOutcome"]["outcome"], "RECOVERED", "{ended}");

    let record = view(&app, &hc1, &id).await;
    assert_eq!(record["healthReports"].as_array().map(Vec::len), Some(4));
    assert_eq!(record["latestHealthReport"]["spo2"], 92);
    assert_eq!(record["healthReports"][0]["symptoms"], json!(["COUGH", "FATIGUE"]));
    assert_eq!(record["followUpCalls"], json!([{ "reached": true, "note": "咳が続いている" }]));
    assert_eq!(record["medicalVisits"][0]["institutionName"], "みなと診療所");
    assert_eq!(record["tests"].as_array().map(Vec::len), Some(2));

    // The smartphone ID no longer works: the open session ended, and a new
    // sign-in is refused.
    let after = app
        .gql(Some(&patient_token), SUBMIT_REPORT, json!({ "input": { "bodyTemperature": 36.5, "symptoms": [] } }))
        .await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"), "{after}");
    let relogin = app
        .gql(
            None,
            "mutation($s: String!, $b: Date!) { patientLogin(smartphoneId: $s, birthDate: $b) { token } }",
            json!({ "s": smartphone_id, "b": "1980-04-01" }),
        )
        .await;
    assert_eq!(error_code(&relogin), Some("UNAUTHENTICATED"), "{relogin}");
    let staff_after = app
        .gql(
            Some(&hc1),
            SUBMIT_REPORT,
            json!({ "input": { "patientId": id, "bodyTemperature": 36.5, "symptoms": [] } }),
        )
        .await;
    assert_eq!(error_code(&staff_after), Some("CONFLICT"), "{staff_after}");
    assert_eq!(view(&app, &hc1, &id).await["healthReports"].as_array().map(Vec::len), Some(4));
}

const ADMIT: &str = "mutation($p: ID!, $f: ID!, $s: Severity!, $at: DateTime) {
    admitPatient(patientId: $p, facilityId: $f, severity: $s, admittedAt: $at) { id severity } }";
const CONDITION: &str = "mutation($h: ID!, $s: Severity!, $n: String, $icu: Boolean) {
    recordCondition(hospitalisationId: $h, severity: $s, note: $n, icu: $icu) { id severity icu conditions { severity } } }";
const DISCHARGE: &str = "mutation($h: ID!, $at: DateTime) {
    dischargePatient(hospitalisationId: $h, dischargedAt: $at) { id dischargedAt } }";

async fn a_hospital_case_is_admitted_treated_discharged_and_closed(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hospital = app.login("hospital1").await;
    let (id, _) = app.register_patient(&clinic, "タナカ イチロウ", json!({})).await;
    record_test(&app, &clinic, &id, "PCR", "POSITIVE").await;
    let hospital_id = facility_id(&app, &hc1, "F13-0002").await;
    let clinic_facility = facility_id(&app, &hc1, "F13-0001").await;

    // Before admission the hospital does not reach the patient.
    let unseen = app.gql(Some(&hospital), "query($id: ID!) { patient(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(unseen["data"]["patient"], Value::Null, "{unseen}");

    let not_hospital = app.gql(Some(&hc1), ADMIT, json!({ "p": id, "f": clinic_facility, "s": "MILD" })).await;
    assert_eq!((error_code(&not_hospital), error_field(&not_hospital)), (Some("BAD_USER_INPUT"), Some("facilityId")));

    let admitted_at = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let admitted =
        app.gql(Some(&hc1), ADMIT, json!({ "p": id, "f": hospital_id, "s": "MODERATE_I", "at": admitted_at })).await;
    let stay = admitted["data"]["admitPatient"]["id"].as_str().unwrap_or_else(|| panic!("{admitted}")).to_owned();
    let again = app.gql(Some(&hc1), ADMIT, json!({ "p": id, "f": hospital_id, "s": "MILD" })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    // While admitted, the patient cannot be sent home on paper.
    let home = set_care(&app, &hc1, &id, "HOME").await;
    assert_eq!(error_code(&home), Some("CONFLICT"), "{home}");

    // The hospital now reaches the patient and enters the condition twice.
    let first =
        app.gql(Some(&hospital), CONDITION, json!({ "h": stay, "s": "MODERATE_II", "n": "酸素投与開始" })).await;
    assert_eq!(first["data"]["recordCondition"]["severity"], "MODERATE_II", "{first}");
    let second = app.gql(Some(&hospital), CONDITION, json!({ "h": stay, "s": "SEVERE", "icu": true })).await;
    assert_eq!(second["data"]["recordCondition"]["severity"], "SEVERE", "{second}");
    assert_eq!(second["data"]["recordCondition"]["icu"], true);
    assert_eq!(
        second["data"]["recordCondition"]["conditions"],
        json!([{ "severity": "MODERATE_I" }, { "severity": "MODERATE_II" }, { "severity": "SEVERE" }])
    );
    // The clinic is not the admitting hospital.
    let clinic_entry = app.gql(Some(&clinic), CONDITION, json!({ "h": stay, "s": "MILD" })).await;
    assert!(matches!(error_code(&clinic_entry), Some("FORBIDDEN" | "NOT_FOUND")), "{clinic_entry}");

    // Discharge before the admission is refused; then the real discharge.
    let early = (Utc::now() - Duration::days(1)).to_rfc3339();
    let too_early = app.gql(Some(&hospital), DISCHARGE, json!({ "h": stay, "at": early })).await;
    assert_eq!((error_code(&too_early), error_field(&too_early)), (Some("BAD_USER_INPUT"), Some("dischargedAt")));
    let out = app.gql(Some(&hospital), DISCHARGE, json!({ "h": stay })).await;
    assert!(out["data"]["dischargePatient"]["dischargedAt"].is_string(), "{out}");
    let twice = app.gql(Some(&hospital), DISCHARGE, json!({ "h": stay })).await;
    assert_eq!(error_code(&twice), Some("CONFLICT"), "{twice}");
    let late_entry = app.gql(Some(&hospital), CONDITION, json!({ "h": stay, "s": "MILD" })).await;
    assert_eq!(error_code(&late_entry), Some("CONFLICT"), "{late_entry}");

    let ended = record_outcome(&app, &hc1, &id, "RECOVERED").await;
    assert_eq!(ended["data"]["recordOutcome"]["outcome"], "RECOVERED", "{ended}");
    let record = view(&app, &hc1, &id).await;
    assert_eq!(record["careSetting"], "HOSPITAL");
    assert_eq!(record["hospitalisations"][0]["severity"], "SEVERE");
    assert_eq!(record["hospitalisations"][0]["conditions"][1]["note"], "酸素投与開始");
}

async fn a_reinfection_is_a_new_record_that_keeps_the_earlier_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (first, first_phone) = app.register_patient(&clinic, "サトウ ジロウ", json!({})).await;
    record_test(&app, &clinic, &first, "PCR", "POSITIVE").await;

    // While the first case is open, a "reinfection" is refused.
    let early = app
        .gql(
            Some(&clinic),
            "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
            json!({ "input": { "caseType": "CONFIRMED", "nameKanji": "佐藤 次郎", "nameKana": "サトウ ジロウ", "sex": "MALE",
                               "birthDate": "1980-04-01", "previousPatientId": first } }),
        )
        .await;
    assert_eq!(error_code(&early), Some("CONFLICT"), "{early}");

    record_outcome(&app, &hc1, &first, "RECOVERED").await;
    let (second, second_phone) =
        app.register_patient(&clinic, "サトウ ジロウ", json!({ "previousPatientId": first })).await;
    assert_ne!(first, second);
    assert_ne!(first_phone, second_phone);

    let new_record = view(&app, &hc1, &second).await;
    assert_eq!(new_record["priorInfection"], true);
    assert_eq!(new_record["previousSmartphoneId"], first_phone);
    assert_eq!(new_record["previousPatientId"], first);
    assert_eq!(new_record["outcome"], Value::Null);
    let old_record = view(&app, &hc1, &first).await;
    assert_eq!(old_record["outcome"], "RECOVERED");
    assert_eq!(old_record["priorInfection"], false);
    assert_eq!(old_record["tests"].as_array().map(Vec::len), Some(1));
    // The clinic reads both too.
    assert_eq!(view(&app, &clinic, &first).await["smartphoneId"], first_phone);
    assert_eq!(view(&app, &clinic, &second).await["smartphoneId"], second_phone);
}

async fn a_transfer_gives_the_new_centre_full_access_and_the_old_one_read_access(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let hc3 = app.login("hc3").await;
    let (id, _) = app.register_patient(&clinic, "スズキ サブロウ", json!({})).await;
    let hc2_id = app.health_centre_id(&hc2, "131041").await;

    let unseen = app.gql(Some(&hc2), "query($id: ID!) { patient(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(unseen["data"]["patient"], Value::Null);
    let moved = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { responsibleHealthCentre { code } } }",
            json!({ "p": id, "to": hc2_id }),
        )
        .await;
    assert_eq!(moved["data"]["transferPatient"]["responsibleHealthCentre"]["code"], "131041", "{moved}");

    // The new centre has full access: it reads personal data and decides.
    let new_view = view(&app, &hc2, &id).await;
    assert!(new_view["smartphoneId"].is_string());
    assert_eq!(
        new_view["transfers"],
        json!([{ "from": { "code": "131032" }, "to": { "code": "131041" }, "transferredBy": { "kind": "HEALTH_CENTRE" } }])
    );
    assert_eq!(set_care(&app, &hc2, &id, "HOME").await["data"]["setCareSetting"]["careSetting"], "HOME");

    // The old centre still reads the case, but no longer changes it.
    let old_view = view(&app, &hc1, &id).await;
    assert_eq!(old_view["careSetting"], "HOME");
    assert!(old_view["smartphoneId"].is_string());
    let old_change = set_care(&app, &hc1, &id, "ACCOMMODATION").await;
    assert_eq!(error_code(&old_change), Some("FORBIDDEN"), "{old_change}");
    let back = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { id } }",
            json!({ "p": id, "to": app.health_centre_id(&hc1, "131032").await }),
        )
        .await;
    assert_eq!(error_code(&back), Some("FORBIDDEN"), "{back}");

    // Another centre has nothing to do with it.
    let other = app.gql(Some(&hc3), "query($id: ID!) { patient(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(other["data"]["patient"], Value::Null);
    assert_eq!(view(&app, &hc2, &id).await["careSetting"], "HOME");
}

async fn a_health_centre_enters_for_a_facility_without_system_access(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let offline = facility_id(&app, &hc1, "F13-0003").await;
    let online = facility_id(&app, &hc1, "F13-0001").await;

    let (id, _) = app.register_patient(&hc1, "イトウ シロウ", json!({ "facilityId": offline })).await;
    let test = app
        .gql(
            Some(&hc1),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": id, "kind": "LAMP", "result": "POSITIVE", "facilityId": offline } }),
        )
        .await;
    assert!(test["errors"].is_null(), "{test}");

    let record = view(&app, &hc1, &id).await;
    assert_eq!(record["registeringFacility"]["code"], "F13-0003");
    assert_eq!(record["registeredBy"]["kind"], "HEALTH_CENTRE");
    assert_eq!(record["tests"][0]["facility"]["code"], "F13-0003");
    assert_eq!(record["tests"][0]["enteredOnBehalf"], true);
    assert_eq!(record["tests"][0]["enteredBy"]["kind"], "HEALTH_CENTRE");

    // A facility with its own access enters its own data.
    let refused = app
        .gql(
            Some(&hc1),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": id, "kind": "PCR", "result": "NEGATIVE", "facilityId": online } }),
        )
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    assert_eq!(view(&app, &hc1, &id).await["tests"].as_array().map(Vec::len), Some(1));

    // The clinic's own entries are not "on behalf".
    let clinic = app.login("clinic1").await;
    let (own, _) = app.register_patient(&clinic, "イトウ ゴロウ", json!({})).await;
    record_test(&app, &clinic, &own, "PCR", "NEGATIVE").await;
    let own_record = view(&app, &clinic, &own).await;
    assert_eq!(own_record["tests"][0]["enteredOnBehalf"], false);
    assert_eq!(own_record["registeredBy"]["kind"], "MEDICAL_INSTITUTION");
}

async fn a_stale_version_is_refused_with_conflict_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (id, _) = app.register_patient(&clinic, "ワタナベ ミキ", json!({})).await;
    let version = view(&app, &hc1, &id).await["version"].as_i64().expect("a version");

    // Two staff decide from the same version; the second is refused.
    let query = "mutation($p: ID!, $s: CareSetting!, $v: Int) {
        setCareSetting(patientId: $p, setting: $s, expectedVersion: $v) { careSetting version } }";
    let first = app.gql(Some(&hc1), query, json!({ "p": id, "s": "HOME", "v": version })).await;
    assert_eq!(first["data"]["setCareSetting"]["version"], version + 1, "{first}");
    let second = app.gql(Some(&hc1), query, json!({ "p": id, "s": "ACCOMMODATION", "v": version })).await;
    assert_eq!(error_code(&second), Some("CONFLICT"), "{second}");
    let record = view(&app, &hc1, &id).await;
    assert_eq!(record["careSetting"], "HOME");
    assert_eq!(record["version"], version + 1);

    // Truly concurrent changes: of several transfers raced from one
    // version, exactly one wins.
    let hc2_id = app.health_centre_id(&hc1, "131041").await;
    let transfer = "mutation($p: ID!, $to: ID!, $v: Int) {
        transferPatient(patientId: $p, toHealthCentreId: $to, expectedVersion: $v) { version } }";
    let current = version + 1;
    let attempts = (0..4).map(|_| app.gql(Some(&hc1), transfer, json!({ "p": id, "to": hc2_id, "v": current })));
    let results = futures_util::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r["errors"].is_null()).count();
    let refused = results.iter().filter(|r| matches!(error_code(r), Some("CONFLICT" | "FORBIDDEN"))).count();
    assert_eq!((won, refused), (1, 3), "{results:?}");
    let hc2 = app.login("hc2").await;
    assert_eq!(view(&app, &hc2, &id).await["transfers"].as_array().map(Vec::len), Some(1));
}

async fn a_retried_mutation_with_the_same_idempotency_key_writes_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "コバヤシ ケン", json!({})).await;
    let body = json!({
        "query": "mutation($input: RecordTestInput!) { recordTest(input: $input) { id result } }",
        "variables": { "input": { "patientId": id, "kind": "PCR", "result": "POSITIVE" } },
    });
    let send = |key: &'static str, body: Value| {
        let request =
            app.client.post(app.url("/graphql")).bearer_auth(&clinic).header("Idempotency-Key", key).json(&body);
        async move { request.send().await.expect("sent").json::<Value>().await.expect("json") }
    };
    let first = send("lab-42-sample-7", body.clone()).await;
    let retry = send("lab-42-sample-7", body.clone()).await;
    assert!(first["data"]["recordTest"]["id"].is_string(), "{first}");
    assert_eq!(first, retry, "the retry returns the first result");
    assert_eq!(view(&app, &clinic, &id).await["tests"].as_array().map(Vec::len), Some(1));

    // The same key for another request is a client bug, and is refused.
    let mut other = body.clone();
    other["variables"]["input"]["kind"] = json!("LAMP");
    let reused = send("lab-42-sample-7", other.clone()).await;
    assert_eq!(error_code(&reused), Some("CONFLICT"), "{reused}");
    // A new key is a new test.
    let fresh = send("lab-42-sample-8", other).await;
    assert!(fresh["data"]["recordTest"]["id"].is_string(), "{fresh}");
    assert_eq!(view(&app, &clinic, &id).await["tests"].as_array().map(Vec::len), Some(2));

    // A refused mutation keeps nothing: after fixing the input, the same
    // key runs.
    let mut bad = body.clone();
    bad["variables"]["input"]["sampledAt"] = json!("2999-01-01T00:00:00Z");
    let refused = send("lab-42-sample-9", bad).await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    let fixed = send("lab-42-sample-9", body.clone()).await;
    assert!(fixed["data"]["recordTest"]["id"].is_string(), "{fixed}");
    assert_ne!(fixed["data"]["recordTest"]["id"], first["data"]["recordTest"]["id"]);
    assert_eq!(view(&app, &clinic, &id).await["tests"].as_array().map(Vec::len), Some(3));
}

async fn refused_state_transitions_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let pref = app.login("pref13").await;
    let analyst = app.login("analyst1").await;
    let (id, phone) = app.register_patient(&clinic, "カトウ ユミ", json!({})).await;
    let (other, _) = app.register_patient(&clinic, "カトウ アキ", json!({})).await;

    // A result on an unknown test.
    let unknown = app
        .gql(Some(&clinic), "mutation { recordTestResult(testId: \"987654\", result: POSITIVE) { id } }", json!({}))
        .await;
    assert_eq!((error_code(&unknown), error_field(&unknown)), (Some("NOT_FOUND"), Some("testId")));

    // A result before the sample was taken.
    let sampled = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let pending = app
        .gql(
            Some(&clinic),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": id, "kind": "PCR", "sampledAt": sampled } }),
        )
        .await;
    let test_id = pending["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{pending}")).to_owned();
    let before_sample = (Utc::now() - Duration::hours(3)).to_rfc3339();
    let early = app
        .gql(
            Some(&clinic),
            "mutation($t: ID!, $at: DateTime) { recordTestResult(testId: $t, result: POSITIVE, resultedAt: $at) { id } }",
            json!({ "t": test_id, "at": before_sample }),
        )
        .await;
    assert_eq!((error_code(&early), error_field(&early)), (Some("BAD_USER_INPUT"), Some("resultedAt")));
    assert_eq!(view(&app, &hc1, &id).await["tests"][0]["result"], "PENDING");

    // Roles: the analyst writes nothing; the prefecture only places patients
    // in its accommodation care.
    assert_eq!(error_code(&set_care(&app, &analyst, &id, "HOME").await), Some("FORBIDDEN"));
    assert_eq!(error_code(&set_care(&app, &pref, &id, "HOME").await), Some("FORBIDDEN"));
    let placed = set_care(&app, &pref, &id, "ACCOMMODATION").await;
    assert_eq!(placed["data"]["setCareSetting"]["careSetting"], "ACCOMMODATION", "{placed}");

    // A patient reports only about themself.
    let login = app
        .gql(
            None,
            "mutation($s: String!, $b: Date!) { patientLogin(smartphoneId: $s, birthDate: $b) { token } }",
            json!({ "s": phone, "b": "1980-04-01" }),
        )
        .await;
    let patient_token = login["data"]["patientLogin"]["token"].as_str().unwrap_or_default().to_owned();
    let for_other = app
        .gql(
            Some(&patient_token),
            SUBMIT_REPORT,
            json!({ "input": { "patientId": other, "bodyTemperature": 36.5, "symptoms": [] } }),
        )
        .await;
    assert!(matches!(error_code(&for_other), Some("FORBIDDEN" | "NOT_FOUND")), "{for_other}");
    let hot = app
        .gql(Some(&patient_token), SUBMIT_REPORT, json!({ "input": { "bodyTemperature": 47.0, "symptoms": [] } }))
        .await;
    assert_eq!((error_code(&hot), error_field(&hot)), (Some("BAD_USER_INPUT"), Some("input.bodyTemperature")));
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    let ahead = app
        .gql(
            Some(&patient_token),
            SUBMIT_REPORT,
            json!({ "input": { "bodyTemperature": 36.5, "symptoms": [], "reportedAt": future } }),
        )
        .await;
    assert_eq!((error_code(&ahead), error_field(&ahead)), (Some("BAD_USER_INPUT"), Some("input.reportedAt")));

    // No discharge without an admission; no second outcome.
    let no_stay = app.gql(Some(&hc1), DISCHARGE, json!({ "h": "424242" })).await;
    assert_eq!((error_code(&no_stay), error_field(&no_stay)), (Some("NOT_FOUND"), Some("hospitalisationId")));
    record_outcome(&app, &hc1, &id, "OTHER").await;
    let again = record_outcome(&app, &hc1, &id, "RECOVERED").await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    let record = view(&app, &hc1, &id).await;
    assert_eq!(record["outcome"], "OTHER");
    assert_eq!(record["healthReports"], json!([]));
}
