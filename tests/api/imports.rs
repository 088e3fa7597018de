//! Sending the same thing twice changes nothing: a test carries the
//! facility's own specimen ID, the natural key by which a result sent
//! again (a re-sent file, a retried request) is recognised.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hersys::pipeline::Transport;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app};
use crate::transports::Socket;

both!(a_specimen_sent_twice_is_one_test_and_its_id_is_the_facility_s_own);

const RECORD: &str = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id specimenId result } }";

/// A clinic records a specimen, sends it again (same test back, nothing
/// written, no second positive for the health centre), may not reuse the
/// ID for another result or person, and another facility has IDs of its
/// own. Bad IDs are refused by field.
async fn a_specimen_sent_twice_is_one_test_and_its_id_is_the_facility_s_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let (patient, _) = app.register_patient(&clinic, "ケンタイ タロウ", json!({})).await;
    let (other, _) = app.register_patient(&clinic, "ケンタイ ハナコ", json!({})).await;
    let input = |p: &str, result: &str, specimen: Value| json!({ "input": { "patientId": p, "kind": "PCR", "result": result, "specimenId": specimen } });
    let first = app.gql(Some(&clinic), RECORD, input(&patient, "POSITIVE", json!("S-0001"))).await;
    assert_eq!(first["data"]["recordTest"]["specimenId"], "S-0001", "{first}");
    let again = app.gql(Some(&clinic), RECORD, input(&patient, "POSITIVE", json!(" S-0001 "))).await;
    assert_eq!(again["data"]["recordTest"]["id"], first["data"]["recordTest"]["id"], "the same test: {again}");
    let tests =
        app.gql(Some(&clinic), "query($id: ID!) { patient(id: $id) { tests { id } } }", json!({ "id": patient })).await;
    assert_eq!(tests["data"]["patient"]["tests"].as_array().map(Vec::len), Some(1), "{tests}");
    let history = app
        .gql(Some(&app.login("hc1").await), "{ positiveResultHistory { edges { node { test { id } } } } }", json!({}))
        .await;
    assert_eq!(
        history["data"]["positiveResultHistory"]["edges"].as_array().map(Vec::len),
        Some(1),
        "one positive: {history}"
    );

    for variables in [input(&patient, "NEGATIVE", json!("S-0001")), input(&other, "POSITIVE", json!("S-0001"))] {
        let refused = app.gql(Some(&clinic), RECORD, variables).await;
        assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
        assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.contains("input.specimenId")), "{refused}");
    }
    let tests =
        app.gql(Some(&clinic), "query($id: ID!) { patient(id: $id) { tests { id } } }", json!({ "id": other })).await;
    assert_eq!(tests["data"]["patient"]["tests"], json!([]), "nothing written: {tests}");
    for bad in [json!("S\u{202E}1"), json!("x".repeat(65))] {
        let refused = app.gql(Some(&clinic), RECORD, input(&other, "NEGATIVE", bad)).await;
        assert_eq!(error_field(&refused), Some("input.specimenId"), "{refused}");
    }

    // Another facility's IDs are its own.
    let (at_hospital, _) = app.register_patient(&hospital, "ケンタイ ジロウ", json!({})).await;
    let own = app.gql(Some(&hospital), RECORD, input(&at_hospital, "NEGATIVE", json!("S-0001"))).await;
    assert_eq!(own["data"]["recordTest"]["specimenId"], "S-0001", "{own}");
}

// ---------------------------------------------------------------------------
// Files from facility systems: `POST /import/csv` and `POST /import/fhir`.
// ---------------------------------------------------------------------------

both!(
    a_testing_centre_s_day_in_shift_jis_reaches_the_health_centre_live,
    a_hospital_s_fhir_bundle_records_the_admission,
    a_dry_run_names_ten_kinds_of_mistakes_and_writes_nothing,
    the_same_file_imported_twice_changes_nothing_the_second_time,
    a_clinic_row_for_another_facility_is_refused_alone,
    a_likely_duplicate_in_a_file_is_refused_and_never_created,
);

/// How long a test waits for a live event that should come.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Today in Japan: the calendar the gateway checks every date against.
fn japan_today() -> NaiveDate {
    hersys::domain::calendar::local_day(Utc::now())
}

/// The day `n` days before today in Japan (never in the future).
fn days_ago(n: i64) -> NaiveDate {
    japan_today() - Duration::days(n)
}

/// Posts a file to an import endpoint (`path` with its query string) and
/// returns the status and the JSON answer.
async fn post_file(app: &TestApp, token: Option<&str>, path: &str, body: Vec<u8>) -> (u16, Value) {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the import answered");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
    (status, report)
}

/// Imports a CSV file as `token` (a dry run if `dry_run`); the report,
/// which must have been answered with 200.
async fn import_csv(app: &TestApp, token: &str, dry_run: bool, body: impl Into<Vec<u8>>) -> Value {
    let path = if dry_run { "/import/csv?dryRun=true" } else { "/import/csv" };
    let (status, report) = post_file(app, Some(token), path, body.into()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["format"], &report["dryRun"], &report["status"]),
        (&json!("CSV"), &json!(dry_run), &json!("DONE"))
    );
    report
}

/// A report's counts: records, accepted, unchanged, refused, positives.
fn counts(report: &Value) -> [i64; 5] {
    ["records", "accepted", "unchanged", "refused", "positives"].map(|k| report[k].as_i64().unwrap_or(-1))
}

/// A report's refusals as (line or entry, field, code), in file order.
fn refusals(report: &Value) -> Vec<(u64, Option<String>, String)> {
    let mut out: Vec<(u64, Option<String>, String)> = report["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list: {report}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "every refusal says why: {e}");
            let place = e["line"].as_u64().or_else(|| e["entry"].as_u64()).unwrap_or(0);
            (place, e["field"].as_str().map(str::to_owned), e["code"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    out.sort();
    out
}

/// (line or entry, field, code) as `refusals` lists them.
fn refusal(place: u64, field: Option<&str>, code: &str) -> (u64, Option<String>, String) {
    (place, field.map(str::to_owned), code.to_owned())
}

/// The code of each kind of facility of the demo data set, as the clinic
/// reads them: (the clinic's, the hospital's, the testing centre's without
/// system access).
async fn facility_codes(app: &TestApp, token: &str) -> (String, String, String) {
    let response = app.gql(Some(token), "{ facilities { code kind hasSystemAccess } }", json!({})).await;
    let list = response["data"]["facilities"].as_array().unwrap_or_else(|| panic!("{response}"));
    let code = |kind: &str, access: bool| {
        list.iter()
            .find(|f| f["kind"] == kind && f["hasSystemAccess"] == access)
            .and_then(|f| f["code"].as_str())
            .unwrap_or_else(|| panic!("no {kind} (system access {access}): {response}"))
            .to_owned()
    };
    (code("TESTING_CLINIC", true), code("HOSPITAL", true), code("TESTING_CENTRE", false))
}

const PATIENTS: &str =
    "{ patients(first: 500) { totalCount nodes { id nameKanji nameKana birthDate careSetting onsetDate
      tests { id specimenId kind result sampledAt facility { code } }
      hospitalisations { hospital { code } admittedAt dischargedAt } } } }";

/// The patients within `token`'s reach (all of them: the tests make few).
async fn patients(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.gql(Some(token), PATIENTS, json!({})).await;
    let connection = &response["data"]["patients"];
    let nodes = connection["nodes"].as_array().unwrap_or_else(|| panic!("{response}")).clone();
    assert_eq!(connection["totalCount"].as_u64(), Some(nodes.len() as u64), "one page holds them all: {response}");
    nodes
}

/// The one patient of `list` with this name in kanji.
fn named<'a>(list: &'a [Value], name_kanji: &str) -> &'a Value {
    let found: Vec<&Value> = list.iter().filter(|p| p["nameKanji"] == name_kanji).collect();
    assert_eq!(found.len(), 1, "one record of {name_kanji}: {list:?}");
    found[0]
}

/// The specimen IDs of a patient's tests, sorted.
fn specimens(patient: &Value) -> Vec<String> {
    let mut ids: Vec<String> = patient["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("{patient}"))
        .iter()
        .map(|t| t["specimenId"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The specimen IDs of every positive `positiveResultHistory` gives
/// `token`, sorted, and the last cursor. Read as a client must: page after
/// page while `hasNextPage`, which on PostgreSQL also holds while an
/// event's transaction is not yet settled (the page may then be empty and
/// is asked again from the same cursor).
async fn positives_received(app: &TestApp, token: &str) -> (Vec<String>, Option<String>) {
    const HISTORY: &str = "query($after: String) { positiveResultHistory(after: $after, first: 500) {
        edges { node { test { specimenId } } } pageInfo { hasNextPage endCursor } } }";
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let response = app.gql(Some(token), HISTORY, json!({ "after": after })).await;
        let history = &response["data"]["positiveResultHistory"];
        let edges = history["edges"].as_array().unwrap_or_else(|| panic!("{response}"));
        ids.extend(edges.iter().map(|e| e["node"]["test"]["specimenId"].as_str().unwrap_or_default().to_owned()));
        if let Some(cursor) = history["pageInfo"]["endCursor"].as_str() {
            after = Some(cursor.to_owned());
        }
        if history["pageInfo"]["hasNextPage"] == false {
            ids.sort();
            return (ids, after);
        }
    }
    panic!("positiveResultHistory never reached its end for {token}");
}

const POSITIVE_RESULTS: &str = "subscription($after: String) { positiveResults(after: $after) {
    cursor test { id specimenId result } patient { id nameKanji } } }";

/// A testing centre exports its day from a Japanese system: Shift_JIS
/// (CP932, with a character only CP932 has, 髙, and ソ, whose second byte
/// is a backslash), Japanese headers in its own order, CRLF line ends,
/// dates written either way. The health centre, subscribed before the
/// file arrives, is told of exactly the two positives as they are
/// written; the five people are on its list under their names as
/// written, and the person with two specimens has one record holding both
/// tests.
async fn a_testing_centre_s_day_in_shift_jis_reaches_the_health_centre_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let before = patients(&app, &hc1).await.len();

    // Subscribed from the last event the centre has: whatever the moment
    // the server registers the subscription, nothing written after this
    // cursor can be missed, and nothing before it is sent again.
    let (_, cursor) = positives_received(&app, &hc1).await;
    let mut socket = Socket::connect(&app, Transport::TransportWs, &hc1).await;
    let after = cursor.unwrap_or_else(|| "0".to_owned());
    socket.start("positives", &json!({ "query": POSITIVE_RESULTS, "variables": { "after": after } })).await;

    let day = days_ago(1).format("%Y/%-m/%-d").to_string();
    let iso = days_ago(1).format("%Y-%m-%d").to_string();
    let text = format!(
        "氏名,フリガナ,検体ID,性別,生年月日,電話番号,住所,検査方法,検査結果,検体採取日時\r\n\
         山田 太郎,ヤマダ タロウ,S-101,男,1980/4/1,090-1234-5678,東京都港区芝公園4-2-8,PCR,陰性,{day} 09:30\r\n\
         山田　太郎,ヤマダ タロウ,S-102,男,1980-04-01,,,抗原定性,陽性,{iso} 15:00\r\n\
         髙橋 美咲,タカハシ ミサキ,S-103,女,1992/12/24,,\"東京都港区芝5-1, 101号\",LAMP,陰性,{day}\r\n\
         相馬 翔,ソウマ ショウ,S-104,男,2001/7/7,03-5555-0101,,PCR,陽性,{day} 11:15\r\n\
         鈴木 一郎,スズキ イチロウ,S-105,男,1955/1/15,,,抗原定量,陰性,{day} 13:00\r\n\
         渡辺 恵子,ワタナベ ケイコ,S-106,女,1978/3/3,,,PCR,判定中,{day} 14:00\r\n"
    );
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable, "every character has a Shift_JIS code");
    assert!(std::str::from_utf8(&bytes).is_err(), "the file is not UTF-8");
    let report = import_csv(&app, &clinic, false, bytes.into_owned()).await;
    assert_eq!(counts(&report), [6, 6, 0, 0, 2], "records, accepted, unchanged, refused, positives: {report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["errorsNotListed"], 0, "{report}");
    assert!(report["jobId"].as_i64().is_some(), "{report}");

    // The names as written: the file was read as Shift_JIS.
    let list = patients(&app, &hc1).await;
    assert_eq!(list.len(), before + 5, "five people, one of them with two specimens: {list:?}");
    let yamada = named(&list, "山田 太郎");
    assert_eq!(yamada["nameKana"], "ヤマダ タロウ");
    assert_eq!(yamada["birthDate"], "1980-04-01");
    assert_eq!(specimens(yamada), ["S-101", "S-102"], "the second specimen is on the same record: {yamada}");
    assert_eq!(specimens(named(&list, "髙橋 美咲")), ["S-103"]);
    assert_eq!(named(&list, "相馬 翔")["nameKana"], "ソウマ ショウ");
    assert_eq!(specimens(named(&list, "渡辺 恵子")), ["S-106"]);
    let suzuki = named(&list, "鈴木 一郎");
    let kinds: Vec<(&Value, &Value)> =
        yamada["tests"].as_array().into_iter().flatten().map(|t| (&t["kind"], &t["result"])).collect();
    assert!(kinds.contains(&(&json!("ANTIGEN_QUALITATIVE"), &json!("POSITIVE"))), "{yamada}");
    assert_eq!(suzuki["tests"][0]["kind"], "ANTIGEN_QUANTITATIVE", "{suzuki}");

    // A positive recorded after the import marks the end of what the file
    // caused: the events before it are exactly the file's two positives.
    let marker = app
        .gql(
            Some(&clinic),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": suzuki["id"], "kind": "PCR", "result": "POSITIVE", "specimenId": "S-MARK" } }),
        )
        .await;
    assert!(marker["data"]["recordTest"]["id"].is_string(), "{marker}");
    let mut told = Vec::new();
    loop {
        let message = socket.next_within(PATIENCE).await;
        assert_eq!((&message["type"], &message["id"]), (&json!("next"), &json!("positives")), "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        let event = &message["payload"]["data"]["positiveResults"];
        let specimen = event["test"]["specimenId"].as_str().unwrap_or_default().to_owned();
        if specimen == "S-MARK" {
            break;
        }
        assert_eq!(event["test"]["result"], "POSITIVE", "{event}");
        told.push((specimen, event["patient"]["nameKanji"].as_str().unwrap_or_default().to_owned()));
    }
    told.sort();
    assert_eq!(
        told,
        [("S-102".to_owned(), "山田 太郎".to_owned()), ("S-104".to_owned(), "相馬 翔".to_owned())],
        "exactly the two positives of the file, each once"
    );
    assert_ledger_matches_the_records(&app).await;
}

/// Every record's rows in the statistics ledger are exactly what a recount
/// of its rows gives: an import writes a new person's figures from what
/// it wrote, without reading them back, and they must be the same.
async fn assert_ledger_matches_the_records(app: &TestApp) {
    use hersys::services::statistics::ledger;
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("direct connection");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT id FROM patients ORDER BY id"))
        .await
        .expect("patients");
    assert!(!rows.is_empty());
    for row in rows {
        let id: i64 = row.try_get("", "id").expect("an ID");
        let facts = ledger::load_facts(&db, id).await.expect("facts");
        let made = facts.map(|facts| ledger::contribution(&facts)).unwrap_or_default();
        let held = ledger::recorded(&db, id).await.expect("the ledger");
        assert!(
            made.minus(&held).is_empty() && held.minus(&made).is_empty(),
            "patient {id}: the ledger holds {held:?}, the records make {made:?}"
        );
    }
}

/// An R4 Organization entry of the bundles below: the facility by its
/// code.
fn organisation(full_url: &str, code: &str) -> Value {
    json!({ "fullUrl": full_url, "resource": { "resourceType": "Organization",
        "identifier": [{ "system": "urn:oid:1.2.392.100495.20.3.21", "value": code }], "name": "病院" } })
}

/// A JP Core person: the name in kanji (IDE) and, if given, its reading
/// (SYL).
fn fhir_patient(full_url: &str, id: &str, kanji: &str, kana: Option<&str>, birth: &str) -> Value {
    let representation = |code: &str| json!([{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": code }]);
    let mut names = vec![json!({ "extension": representation("IDE"), "use": "official", "text": kanji })];
    if let Some(kana) = kana {
        names.push(json!({ "extension": representation("SYL"), "use": "official", "text": kana }));
    }
    json!({ "fullUrl": full_url, "resource": { "resourceType": "Patient", "id": id, "name": names,
        "gender": "female", "birthDate": birth,
        "telecom": [{ "system": "phone", "value": "03-3333-4444", "use": "home" }] } })
}

/// A SARS-CoV-2 PCR observation, detected, of `subject` on `specimen`
/// (none: no specimen reference) performed by `performer`.
fn pcr_detected(subject: &str, specimen: Option<&str>, performer: &str) -> Value {
    let mut resource = json!({ "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "94500-6",
            "display": "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe detection" }] },
        "subject": { "reference": subject },
        "performer": [{ "reference": performer }],
        "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "260373001",
            "display": "Detected" }] } });
    if let Some(specimen) = specimen {
        resource["specimen"] = json!({ "reference": specimen });
    }
    json!({ "resource": resource })
}

fn fhir_specimen(full_url: &str, subject: &str, specimen_id: &str, taken: &str) -> Value {
    json!({ "fullUrl": full_url, "resource": { "resourceType": "Specimen",
        "identifier": [{ "system": "urn:oid:1.2.392.200119.4.504", "value": specimen_id }],
        "subject": { "reference": subject },
        "collection": { "collectedDateTime": taken } } })
}

/// A hospital sends a FHIR transaction bundle: a person (JP Core names),
/// the specimen, a PCR detected by the hospital, the condition's onset and
/// the inpatient encounter. The person's record then holds the test, the
/// onset, the admission to the hospital and the care setting HOSPITAL.
/// Items of the bundle with a problem (a person without the reading, an
/// observation without its specimen) are refused by entry and element,
/// and nothing of them is written.
async fn a_hospital_s_fhir_bundle_records_the_admission(backend: Backend) {
    let app = spawn_app(backend).await;
    let hospital = app.login("hospital1").await;
    let (_, hospital_code, _) = facility_codes(&app, &hospital).await;
    let before = patients(&app, &hospital).await.len();
    let taken = format!("{}T08:00:00+09:00", days_ago(2).format("%Y-%m-%d"));
    let onset = days_ago(3).format("%Y-%m-%d").to_string();
    let admitted = format!("{}T14:00:00+09:00", days_ago(1).format("%Y-%m-%d"));
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            // 1: the person, referred to as Patient/pt-1 and by fullUrl.
            fhir_patient("urn:uuid:0b8a7c4e-0001-4000-8000-000000000001", "pt-1", "入院 花子", Some("ニュウイン ハナコ"), "1950-05-05"),
            // 2
            organisation("urn:uuid:0b8a7c4e-0002-4000-8000-000000000002", &hospital_code),
            // 3
            fhir_specimen("urn:uuid:0b8a7c4e-0003-4000-8000-000000000003", "Patient/pt-1", "H-2001", &taken),
            // 4
            pcr_detected("Patient/pt-1", Some("urn:uuid:0b8a7c4e-0003-4000-8000-000000000003"), "urn:uuid:0b8a7c4e-0002-4000-8000-000000000002"),
            // 5
            { "resource": { "resourceType": "Condition",
                "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "840539006" }] },
                "subject": { "reference": "urn:uuid:0b8a7c4e-0001-4000-8000-000000000001" },
                "onsetDateTime": onset } },
            // 6
            { "resource": { "resourceType": "Encounter", "status": "in-progress",
                "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
                "subject": { "reference": "Patient/pt-1" },
                "period": { "start": admitted } } },
            // 7: a person without the reading of the name.
            fhir_patient("urn:uuid:0b8a7c4e-0007-4000-8000-000000000007", "pt-2", "読無 花子", None, "1960-06-06"),
            // 8
            fhir_specimen("urn:uuid:0b8a7c4e-0008-4000-8000-000000000008", "Patient/pt-2", "H-2002", &taken),
            // 9
            pcr_detected("Patient/pt-2", Some("urn:uuid:0b8a7c4e-0008-4000-8000-000000000008"), "urn:uuid:0b8a7c4e-0002-4000-8000-000000000002"),
            // 10: a person whose observation has no specimen.
            fhir_patient("urn:uuid:0b8a7c4e-0010-4000-8000-000000000010", "pt-3", "検体 無子", Some("ケンタイ ナコ"), "1970-07-07"),
            // 11
            pcr_detected("Patient/pt-3", None, "urn:uuid:0b8a7c4e-0002-4000-8000-000000000002"),
        ],
    });
    let (status, report) =
        post_file(&app, Some(&hospital), "/import/fhir", serde_json::to_vec(&bundle).unwrap_or_default()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["format"], &report["status"], &report["dryRun"]),
        (&json!("FHIR"), &json!("DONE"), &json!(false))
    );
    assert_eq!(counts(&report), [3, 1, 0, 2, 1], "records, accepted, unchanged, refused, positives: {report}");
    assert_eq!(
        refusals(&report),
        [
            refusal(7, Some("Patient.name"), "BAD_USER_INPUT"),
            refusal(11, Some("Observation.specimen"), "BAD_USER_INPUT"),
        ],
        "{report}"
    );
    assert!(
        report["errors"].as_array().into_iter().flatten().all(|e| e["line"].is_null()),
        "entries, not lines: {report}"
    );

    let list = patients(&app, &hospital).await;
    assert_eq!(list.len(), before + 1, "only the person without a problem: {list:?}");
    let patient = named(&list, "入院 花子");
    assert_eq!(patient["nameKana"], "ニュウイン ハナコ", "{patient}");
    assert_eq!(patient["birthDate"], "1950-05-05", "{patient}");
    assert_eq!(patient["onsetDate"], onset.as_str(), "{patient}");
    assert_eq!(patient["careSetting"], "HOSPITAL", "{patient}");
    let tests = patient["tests"].as_array().unwrap_or_else(|| panic!("{patient}"));
    assert_eq!(tests.len(), 1, "{patient}");
    assert_eq!(
        (&tests[0]["specimenId"], &tests[0]["kind"], &tests[0]["result"], &tests[0]["facility"]["code"]),
        (&json!("H-2001"), &json!("PCR"), &json!("POSITIVE"), &json!(hospital_code)),
        "{patient}"
    );
    assert_eq!(instant(&tests[0]["sampledAt"]), instant(&json!(taken)), "{patient}");
    let stays = patient["hospitalisations"].as_array().unwrap_or_else(|| panic!("{patient}"));
    assert_eq!(stays.len(), 1, "{patient}");
    assert_eq!(stays[0]["hospital"]["code"], hospital_code.as_str(), "{patient}");
    assert_eq!(instant(&stays[0]["admittedAt"]), instant(&json!(admitted)), "{patient}");
    assert!(stays[0]["dischargedAt"].is_null(), "{patient}");

    // The responsible health centre sees the same record and its positive.
    let hc1 = app.login("hc1").await;
    let seen = patients(&app, &hc1).await;
    assert_eq!(named(&seen, "入院 花子")["careSetting"], "HOSPITAL");
    assert_eq!(positives_received(&app, &hc1).await.0, ["H-2001"]);
    assert_ledger_matches_the_records(&app).await;
}

/// A moment as the gateway writes it, for comparison with one written
/// with another offset.
fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
}

/// A clinic checks a file before sending it: each row with a mistake is
/// named by its line (of the record's start, blank lines and line breaks
/// inside quotes counted) and its column, the good rows are counted as
/// they would be imported, and nothing is written. Sent for real, the same
/// file writes the good rows and refuses the same mistakes.
async fn a_dry_run_names_ten_kinds_of_mistakes_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (clinic_code, _, _) = facility_codes(&app, &clinic).await;
    let before = patients(&app, &clinic).await;
    let positives_before = positives_received(&app, &hc1).await.0;
    let y = days_ago(1).format("%Y-%m-%d").to_string();
    let tomorrow = (japan_today() + Duration::days(1)).format("%Y-%m-%d").to_string();
    let long_id = "X".repeat(65);
    let lines = [
        /* 1 */
        "specimen_id,name_kanji,name_kana,sex,birth_date,phone,address,test_kind,result,sampled_at,facility_code"
            .to_owned(),
        /* 2 */ format!("G-1,正常 一郎,セイジョウ イチロウ,M,1985-02-03,,,PCR,NEGATIVE,{y} 09:00,"),
        /* 3 */ format!("E-1,空欄 太郎,,M,1985-01-01,,,PCR,NEGATIVE,{y},"),
        /* 4 */ format!("E-2,平仮名 太郎,ひらがな たろう,M,1985-01-01,,,PCR,NEGATIVE,{y},"),
        /* 5 */ format!("E-3,性別 太郎,セイベツ タロウ,X,1985-01-01,,,PCR,NEGATIVE,{y},"),
        /* 6 */ format!("E-4,未来 太郎,ミライ タロウ,M,{tomorrow},,,PCR,NEGATIVE,{y},"),
        /* 7 */ format!("E-5,方法 太郎,ホウホウ タロウ,M,1985-01-01,,,CT,NEGATIVE,{y},"),
        /* 8 */ format!("E-6,結果 太郎,ケッカ タロウ,M,1985-01-01,,,PCR,maybe,{y},"),
        /* 9 */ format!("E-7,明日 太郎,アシタ タロウ,M,1985-01-01,,,PCR,NEGATIVE,{tomorrow} 09:00,"),
        /* 10 */ "E-8,前日 太郎,ゼンジツ タロウ,M,2021-06-01,,,PCR,NEGATIVE,2021-05-01 09:00,".to_owned(),
        /* 11 */ String::new(),
        /* 12 */ "E-9,足りない 太郎,タリナイ タロウ,M".to_owned(),
        /* 13 */ format!("{long_id},長い 太郎,ナガイ タロウ,M,1985-01-01,,,PCR,NEGATIVE,{y},"),
        /* 14 */ format!("E-11,双方向\u{202E}太郎,ソウホウコウ タロウ,M,1985-01-01,,,PCR,NEGATIVE,{y},"),
        /* 15-16 */
        format!("E-12,住所 太郎,ジュウショ タロウ,M,1985-01-01,,\"東京都港区\n芝公園\",PCR,NEGATIVE,{y},"),
        /* 17 */ format!("E-13,電話 太郎,デンワ タロウ,M,1985-01-01,abc,,PCR,NEGATIVE,{y},"),
        /* 18 */
        format!(
            "G-2,正常 花子,セイジョウ ハナコ,F,1990/7/8,03-1234-5678,\"東京都港区芝公園4-2-8, \"\"A\"\"棟\",ANTIGEN_QUALITATIVE,POSITIVE,{y} 10:30,"
        ),
        /* 19 */ format!("E-14,施設 太郎,シセツ タロウ,M,1985-01-01,,,PCR,NEGATIVE,{y},NOPE-999"),
        /* 20 */ format!("E-15,引用 太郎,インヨウ タロウ,M,1985-01-01,,\"東京都\"港区,PCR,NEGATIVE,{y},"),
        /* 21 */ format!("G-3,正常 次郎,セイジョウ ジロウ,男,1970/1/2,,,LAMP,陰性,{y},{clinic_code}"),
        /* 22 */ format!("E-16,\"閉じない 太郎,トジナイ タロウ,M,1985-01-01,,,PCR,NEGATIVE,{y},"),
    ];
    let file = lines.join("\n") + "\n";
    let expected = [
        refusal(3, Some("name_kana"), "BAD_USER_INPUT"),
        refusal(4, Some("name_kana"), "BAD_USER_INPUT"),
        refusal(5, Some("sex"), "BAD_USER_INPUT"),
        refusal(6, Some("birth_date"), "BAD_USER_INPUT"),
        refusal(7, Some("test_kind"), "BAD_USER_INPUT"),
        refusal(8, Some("result"), "BAD_USER_INPUT"),
        refusal(9, Some("sampled_at"), "BAD_USER_INPUT"),
        refusal(10, Some("sampled_at"), "BAD_USER_INPUT"),
        refusal(12, None, "BAD_USER_INPUT"),
        refusal(13, Some("specimen_id"), "BAD_USER_INPUT"),
        refusal(14, Some("name_kanji"), "BAD_USER_INPUT"),
        refusal(15, Some("address"), "BAD_USER_INPUT"),
        refusal(17, Some("phone"), "BAD_USER_INPUT"),
        refusal(19, Some("facility_code"), "NOT_FOUND"),
        refusal(20, None, "BAD_USER_INPUT"),
        refusal(22, None, "BAD_USER_INPUT"),
    ];

    let dry = import_csv(&app, &clinic, true, file.clone()).await;
    assert_eq!(refusals(&dry), expected, "{dry}");
    assert_eq!(counts(&dry), [19, 3, 0, 16, 1], "records, accepted, unchanged, refused, positives: {dry}");
    assert_eq!(dry["errorsNotListed"], 0, "{dry}");
    let messages: Vec<&str> =
        dry["errors"].as_array().into_iter().flatten().filter_map(|e| e["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("has 4 fields where the header has 11")), "{dry}");
    assert!(messages.iter().any(|m| m.contains("not closed")), "{dry}");
    assert_eq!(patients(&app, &clinic).await, before, "a dry run writes nothing");
    assert_eq!(positives_received(&app, &hc1).await.0, positives_before, "nor tells the health centre anything");

    let real = import_csv(&app, &clinic, false, file).await;
    assert_eq!(refusals(&real), expected, "{real}");
    assert_eq!(counts(&real), [19, 3, 0, 16, 1], "{real}");
    let after = patients(&app, &clinic).await;
    assert_eq!(after.len(), before.len() + 3, "the good rows only: {after:?}");
    for (name, specimen) in [("正常 一郎", "G-1"), ("正常 花子", "G-2"), ("正常 次郎", "G-3")] {
        assert_eq!(specimens(named(&after, name)), [specimen]);
    }
    let hanako = named(&after, "正常 花子");
    assert_eq!(hanako["birthDate"], "1990-07-08", "{hanako}");
    assert_eq!(hanako["tests"][0]["facility"]["code"], clinic_code.as_str(), "{hanako}");
    let mut positives = positives_before;
    positives.push("G-2".to_owned());
    positives.sort();
    assert_eq!(positives_received(&app, &hc1).await.0, positives);
}

/// What a clinic has, and what its health centre was told: the patients
/// (names and their tests' specimens and results) and the positives.
async fn holdings(app: &TestApp, clinic: &str, hc: &str) -> (Vec<(String, Vec<(String, String)>)>, Vec<String>) {
    let mut people: Vec<(String, Vec<(String, String)>)> = patients(app, clinic)
        .await
        .iter()
        .map(|p| {
            let mut tests: Vec<(String, String)> = p["tests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t["specimenId"].as_str().unwrap_or_default().to_owned(),
                        t["result"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            tests.sort();
            (p["nameKanji"].as_str().unwrap_or_default().to_owned(), tests)
        })
        .collect();
    people.sort();
    (people, positives_received(app, hc).await.0)
}

fn test_pair(specimen: &str, result: &str) -> (String, String) {
    (specimen.to_owned(), result.to_owned())
}

/// A facility sends its file again (a retry, a re-export): nothing is
/// written and the health centre is told nothing twice. A file that
/// overlaps an earlier one adds only its new rows, and a specimen first
/// sent as pending and now with its result has the result recorded.
async fn the_same_file_imported_twice_changes_nothing_the_second_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (people_before, positives_before) = holdings(&app, &clinic, &hc1).await;
    let y = days_ago(1).format("%Y-%m-%d").to_string();
    let header = "specimen_id,name_kanji,name_kana,sex,birth_date,test_kind,result,sampled_at";
    let row = |specimen: &str, who: &str, result: &str| {
        let person = match who {
            "ichiro" => "二度 一郎,ニド イチロウ,MALE,1980-01-01",
            "hanako" => "二度 花子,ニド ハナコ,FEMALE,1982-02-02",
            "taro" => "保留 太郎,ホリュウ タロウ,MALE,1990-03-03",
            _ => "新規 三郎,シンキ サブロウ,MALE,2000-04-04",
        };
        format!("{specimen},{person},PCR,{result},{y} 10:00")
    };
    let file = |rows: &[String]| format!("{header}\n{}\n", rows.join("\n"));
    let first = file(&[
        row("R-1", "ichiro", "POSITIVE"),
        row("R-2", "ichiro", "NEGATIVE"),
        row("R-3", "hanako", "NEGATIVE"),
        row("R-4", "taro", "PENDING"),
    ]);
    let report = import_csv(&app, &clinic, false, first.clone()).await;
    assert_eq!(counts(&report), [4, 4, 0, 0, 1], "records, accepted, unchanged, refused, positives: {report}");
    let (people, positives) = holdings(&app, &clinic, &hc1).await;
    assert_eq!(people.len(), people_before.len() + 3, "{people:?}");
    let mut expected_positives = positives_before.clone();
    expected_positives.push("R-1".to_owned());
    expected_positives.sort();
    assert_eq!(positives, expected_positives);

    // Again, for real and as a dry run, and exported again by another
    // program (a byte-order mark, CRLF): all of it is already there.
    let mut exported_again = b"\xEF\xBB\xBF".to_vec();
    exported_again.extend(first.replace('\n', "\r\n").into_bytes());
    for (dry_run, body) in
        [(false, first.clone().into_bytes()), (true, first.clone().into_bytes()), (false, exported_again)]
    {
        let again = import_csv(&app, &clinic, dry_run, body).await;
        assert_eq!(counts(&again), [4, 0, 4, 0, 0], "dry run {dry_run}: {again}");
        assert_eq!(again["errors"], json!([]), "{again}");
        assert_eq!(holdings(&app, &clinic, &hc1).await, (people.clone(), positives.clone()), "nothing changed");
    }

    // A specimen already sent may not come back with another result: the
    // row is refused and nothing changes (a result changes with
    // recordTestResult).
    let changed = import_csv(&app, &clinic, false, file(&[row("R-1", "ichiro", "NEGATIVE")])).await;
    assert_eq!(counts(&changed), [1, 0, 0, 1, 0], "{changed}");
    let errors = refusals(&changed);
    assert_eq!((errors.len(), errors[0].0, errors[0].2.as_str()), (1, 2, "CONFLICT"), "{changed}");
    assert_eq!(holdings(&app, &clinic, &hc1).await, (people.clone(), positives.clone()), "nothing changed");

    // Half old, half new: a new person, and a new specimen of a known one.
    let overlapping = file(&[
        row("R-3", "hanako", "NEGATIVE"),
        row("R-4", "taro", "PENDING"),
        row("R-5", "saburo", "POSITIVE"),
        row("R-6", "hanako", "POSITIVE"),
    ]);
    let report = import_csv(&app, &clinic, false, overlapping).await;
    assert_eq!(counts(&report), [4, 2, 2, 0, 2], "{report}");
    let (people, positives) = holdings(&app, &clinic, &hc1).await;
    assert_eq!(people.len(), people_before.len() + 4, "one new person: {people:?}");
    let hanako = people.iter().find(|(name, _)| name == "二度 花子").map(|(_, tests)| tests.clone());
    assert_eq!(hanako, Some(vec![test_pair("R-3", "NEGATIVE"), test_pair("R-6", "POSITIVE")]));
    expected_positives.extend(["R-5".to_owned(), "R-6".to_owned()]);
    expected_positives.sort();
    assert_eq!(positives, expected_positives);

    // The pending specimen's result arrives in a later file.
    let resulted = file(&[row("R-4", "taro", "POSITIVE")]);
    let report = import_csv(&app, &clinic, false, resulted.clone()).await;
    assert_eq!(counts(&report), [1, 1, 0, 0, 1], "{report}");
    let (after, positives) = holdings(&app, &clinic, &hc1).await;
    let taro = after.iter().find(|(name, _)| name == "保留 太郎").map(|(_, tests)| tests.clone());
    assert_eq!(taro, Some(vec![test_pair("R-4", "POSITIVE")]), "the same test, now with its result");
    assert_eq!(after.len(), people.len());
    expected_positives.push("R-4".to_owned());
    expected_positives.sort();
    assert_eq!(positives, expected_positives);
    let report = import_csv(&app, &clinic, false, resulted).await;
    assert_eq!(counts(&report), [1, 0, 1, 0, 0], "the result is known now: {report}");
    assert_eq!(holdings(&app, &clinic, &hc1).await, (after, positives));
    assert_ledger_matches_the_records(&app).await;
}

/// A clinic imports its own tests only: a row naming the hospital is
/// refused alone (FORBIDDEN, on facility_code) while the clinic's other
/// rows are written. A health centre names the facility it enters for,
/// one of its district without system access: a row without it is
/// refused. Who may not import at all (an analyst) or is not signed in is
/// refused as a whole.
async fn a_clinic_row_for_another_facility_is_refused_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let hc1 = app.login("hc1").await;
    let (clinic_code, hospital_code, centre_code) = facility_codes(&app, &clinic).await;
    let clinic_before = patients(&app, &clinic).await.len();
    let hospital_before = patients(&app, &hospital).await.len();
    let y = days_ago(1).format("%Y-%m-%d").to_string();
    let header = "facility_code,specimen_id,name_kanji,name_kana,sex,birth_date,test_kind,result,sampled_at";
    let file = format!(
        "{header}\n\
         {clinic_code},C-1,自院 一郎,ジイン イチロウ,MALE,1980-01-01,PCR,NEGATIVE,{y}\n\
         {hospital_code},C-2,他院 二郎,タイン ジロウ,MALE,1980-01-01,PCR,POSITIVE,{y}\n\
         ,C-3,自院 三郎,ジイン サブロウ,MALE,1980-01-01,PCR,NEGATIVE,{y}\n"
    );
    let report = import_csv(&app, &clinic, false, file).await;
    assert_eq!(counts(&report), [3, 2, 0, 1, 0], "records, accepted, unchanged, refused, positives: {report}");
    let errors = refusals(&report);
    assert_eq!((errors.len(), errors[0].0, errors[0].2.as_str()), (1, 3, "FORBIDDEN"), "{report}");
    let list = patients(&app, &clinic).await;
    assert_eq!(list.len(), clinic_before + 2, "{list:?}");
    assert_eq!(specimens(named(&list, "自院 一郎")), ["C-1"]);
    assert_eq!(specimens(named(&list, "自院 三郎")), ["C-3"]);
    assert!(list.iter().all(|p| p["nameKanji"] != "他院 二郎"), "{list:?}");
    assert_eq!(patients(&app, &hospital).await.len(), hospital_before, "nothing at the hospital");

    // A health centre without the facility: each row refused; with the
    // testing centre of its district (no system access) the row is
    // entered on its behalf.
    let without = format!(
        "specimen_id,name_kanji,name_kana,sex,birth_date,test_kind,result,sampled_at\n\
         K-1,代理 一郎,ダイリ イチロウ,MALE,1980-01-01,PCR,NEGATIVE,{y}\n\
         K-2,代理 二郎,ダイリ ジロウ,MALE,1980-01-01,PCR,NEGATIVE,{y}\n"
    );
    let report = import_csv(&app, &hc1, false, without).await;
    assert_eq!(counts(&report), [2, 0, 0, 2, 0], "{report}");
    assert_eq!(
        refusals(&report),
        [refusal(2, Some("facility_code"), "BAD_USER_INPUT"), refusal(3, Some("facility_code"), "BAD_USER_INPUT")]
    );
    let on_behalf =
        format!("{header}\n{centre_code},K-3,代理 三郎,ダイリ サブロウ,MALE,1980-01-01,LAMP,NEGATIVE,{y}\n");
    let report = import_csv(&app, &hc1, false, on_behalf).await;
    assert_eq!(counts(&report), [1, 1, 0, 0, 0], "{report}");
    let seen = patients(&app, &hc1).await;
    assert_eq!(named(&seen, "代理 三郎")["tests"][0]["facility"]["code"], centre_code.as_str());
    assert!(seen.iter().all(|p| !p["nameKanji"].as_str().unwrap_or_default().starts_with("代理 一")), "{seen:?}");

    // Refused as a whole: a role that does not import, and no token.
    let any = format!("{header}\n,Z-1,全体 一郎,ゼンタイ イチロウ,MALE,1980-01-01,PCR,NEGATIVE,{y}\n");
    let analyst = app.login("analyst1").await;
    for (token, status, code) in [(Some(analyst.as_str()), 403, "FORBIDDEN"), (None, 401, "UNAUTHENTICATED")] {
        let (answered, body) = post_file(&app, token, "/import/csv", any.clone().into_bytes()).await;
        assert_eq!(answered, status, "{body}");
        assert_eq!((&body["accepted"], &body["refused"]), (&json!(0), &json!(0)), "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let (answered, body) = post_file(&app, Some("not-a-token"), "/import/fhir", b"{}".to_vec()).await;
    assert_eq!((answered, &body["errors"][0]["code"]), (401, &json!("UNAUTHENTICATED")), "{body}");
    assert!(patients(&app, &hc1).await.iter().all(|p| p["nameKanji"] != "全体 一郎"));

    // The clinic's refused row names its column. (Checked last so that the
    // rest of this story is proved whatever happens here.)
    // SERVER BUG, failing until fixed: `Worker::facility` in
    // src/services/import.rs refuses another facility's row with
    // `AppError::Forbidden`, which carries no field, so `Worker::refusal`
    // reports `"field": null` instead of `"facility_code"` (FHIR:
    // `Organization.identifier`).
    assert_eq!(errors, [refusal(3, Some("facility_code"), "FORBIDDEN")], "{errors:?}");
}

/// A person registered through the API is met again in a file with the
/// same reading and date of birth but another name in kanji (or with the
/// same telephone number and date of birth): likely the same person, so
/// the row is refused as a suspected duplicate and nobody is created. The
/// row that is exactly that person adds its test to the record.
async fn a_likely_duplicate_in_a_file_is_refused_and_never_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    // 試験 太郎, MALE, 1980-04-01 (the helper's person).
    let (registered, _) = app.register_patient(&clinic, "ドウイツ タロウ", json!({ "phone": "090-1111-2222" })).await;
    let before = patients(&app, &clinic).await;
    let y = days_ago(1).format("%Y-%m-%d").to_string();
    let file = format!(
        "name_kanji,name_kana,sex,birth_date,phone,specimen_id,test_kind,result,sampled_at\n\
         別人 太郎,ドウイツ タロウ,MALE,1980-04-01,,D-1,PCR,POSITIVE,{y}\n\
         別人 次郎,ベツジン ジロウ,MALE,1980-04-01,09011112222,D-2,PCR,NEGATIVE,{y}\n\
         試験 太郎,ドウイツ タロウ,MALE,1980/4/1,,D-3,PCR,NEGATIVE,{y}\n"
    );
    for dry_run in [true, false] {
        let report = import_csv(&app, &clinic, dry_run, file.clone()).await;
        assert_eq!(counts(&report), [3, 1, 0, 2, 0], "dry run {dry_run}: {report}");
        assert_eq!(
            refusals(&report),
            [
                refusal(2, Some("name_kana"), "DUPLICATE_SUSPECTED"),
                refusal(3, Some("name_kana"), "DUPLICATE_SUSPECTED")
            ],
            "{report}"
        );
    }
    let after = patients(&app, &clinic).await;
    assert_eq!(after.len(), before.len(), "nobody created: {after:?}");
    assert!(after.iter().all(|p| p["nameKanji"] != "別人 太郎" && p["nameKanji"] != "別人 次郎"), "{after:?}");
    let record = named(&after, "試験 太郎");
    assert_eq!(record["id"], registered.as_str());
    assert_eq!(specimens(record), ["D-3"], "the matching row's test is on the registered record");
}

both!(the_command_line_sends_the_sample_files_and_the_jobs_keep_their_reports);

/// Runs `hersys import` against the test server with `token`; its exit
/// code and the report it printed.
async fn command_line(app: &TestApp, token: &str, args: &[&str]) -> (Option<i32>, Value) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hersys"))
        .arg("import")
        .args(["--url", &app.url("")])
        .args(args)
        .env("HERSYS_TOKEN", token)
        .env_remove("HERSYS_URL")
        .output()
        .await
        .expect("hersys import runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!("no report on standard output: {stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    (output.status.code(), report)
}

/// A facility's nightly batch: `hersys import` streams the committed sample
/// files (the testing centre's day in Shift_JIS, the hospital's FHIR
/// bundle) to the gateway, checks first with `--dry-run`, and exits 0
/// when everything was accepted or already there, 2 when items were
/// refused. Each upload is a job whose counts and refusals the
/// organisation's staff read in GraphQL, and nobody else.
async fn the_command_line_sends_the_sample_files_and_the_jobs_keep_their_reports(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/import");
    let day = format!("{samples}/testing-centre-day.sjis.csv");

    let (code, checked) = command_line(&app, &clinic, &["--dry-run", &day]).await;
    assert_eq!((code, checked["dryRun"].as_bool(), checked["accepted"].as_u64()), (Some(0), Some(true), Some(5)));
    let (code, first) = command_line(&app, &clinic, &[&day]).await;
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(counts(&first), [5, 5, 0, 0, 2], "records, accepted, unchanged, refused, positives: {first}");
    let (code, again) = command_line(&app, &clinic, &[&day]).await;
    assert_eq!((code, counts(&again)), (Some(0), [5, 0, 5, 0, 0]), "{again}");
    let names: Vec<String> =
        patients(&app, &clinic).await.iter().filter_map(|p| p["nameKanji"].as_str().map(str::to_owned)).collect();
    assert!(names.iter().any(|n| n == "山田 太郎"), "decoded from Shift_JIS: {names:?}");
    // A new person's onset date (発症日) is written with the registration.
    let listed = patients(&app, &clinic).await;
    assert_eq!(named(&listed, "山田 太郎")["onsetDate"], "2026-11-28", "{listed:?}");

    let bundle = format!("{samples}/hospital-admission.fhir.json");
    let (code, admitted) = command_line(&app, &hospital, &[&bundle]).await;
    assert_eq!((code, counts(&admitted)), (Some(0), [1, 1, 0, 0, 1]), "{admitted}");

    // A file with a refused row exits 2.
    let broken = std::env::temp_dir().join(format!("hersys-import-{}-{:?}.csv", std::process::id(), backend));
    std::fs::write(
        &broken,
        "specimen_id,name_kanji,name_kana,sex,birth_date,test_kind,result,sampled_at\nX-1,試験 一,シケン イチ,X,1980-01-01,PCR,陰性,2026-11-30\n",
    )
    .expect("written");
    let (code, refused) = command_line(&app, &clinic, &[broken.to_str().unwrap_or_default()]).await;
    let _ = std::fs::remove_file(&broken);
    assert_eq!((code, counts(&refused)), (Some(2), [1, 0, 0, 1, 0]), "{refused}");

    // The jobs: the clinic's four, newest first, with their counts and
    // refusals; the hospital sees only its own; an unknown ID is null.
    let jobs = "{ importJobs(first: 10) { totalCount edges { node { id format dryRun status recordsRead accepted \
                unchanged refused finishedAt errors { line field code } errorsNotListed } } } }";
    let listed = app.gql(Some(&clinic), jobs, json!({})).await;
    let list = &listed["data"]["importJobs"];
    assert_eq!(list["totalCount"], 4, "{listed}");
    let latest = &list["edges"][0]["node"];
    assert_eq!(latest["id"].as_str(), refused["jobId"].as_i64().map(|id| id.to_string()).as_deref(), "{listed}");
    assert_eq!((latest["status"].as_str(), latest["refused"].as_i64()), (Some("DONE"), Some(1)), "{listed}");
    assert_eq!(latest["errors"], json!([{ "line": 2, "field": "sex", "code": "BAD_USER_INPUT" }]), "{listed}");
    assert!(latest["finishedAt"].is_string(), "{listed}");
    let dry = &list["edges"][3]["node"];
    assert_eq!((dry["dryRun"].as_bool(), dry["accepted"].as_i64()), (Some(true), Some(5)), "{listed}");
    let theirs = app.gql(Some(&hospital), jobs, json!({})).await;
    assert_eq!(theirs["data"]["importJobs"]["totalCount"], 1, "{theirs}");
    assert_eq!(theirs["data"]["importJobs"]["edges"][0]["node"]["format"], "FHIR", "{theirs}");
    let job = "query($id: ID!) { importJob(id: $id) { id accepted } }";
    let other = app.gql(Some(&hospital), job, json!({ "id": refused["jobId"].to_string() })).await;
    assert_eq!(other["data"]["importJob"], Value::Null, "another organisation's job is out of reach: {other}");
    let own = app.gql(Some(&clinic), job, json!({ "id": first["jobId"].to_string() })).await;
    assert_eq!(own["data"]["importJob"]["accepted"], 5, "{own}");
    let bad = app.gql(Some(&clinic), job, json!({ "id": "x" })).await;
    assert_eq!(error_field(&bad), Some("id"), "{bad}");

    // The jobs' reach is the same on every transport.
    for transport in Transport::ALL {
        let body = |id: &Value| json!({ "query": job, "variables": { "id": id.to_string() } });
        let other = crate::transports::send(&app, transport, Some(&hospital), body(&refused["jobId"])).await;
        assert_eq!(
            other.data().get("importJob"),
            Some(&Value::Null),
            "answered, out of reach: {transport:?}: {other:?}"
        );
        let own = crate::transports::send(&app, transport, Some(&clinic), body(&first["jobId"])).await;
        assert_eq!(own.data()["importJob"]["accepted"], 5, "{transport:?}: {own:?}");
    }
}

both!(a_third_import_at_once_is_told_to_retry_and_changes_nothing);

/// The answer to an upload: its status, `Retry-After`, and its JSON.
type Answer = tokio::task::JoinHandle<(u16, Option<String>, Value)>;

/// An upload whose body the test sends piece by piece: the sender of the
/// pieces, and the answer once the body ends.
fn open_upload(app: &TestApp, token: &str) -> (tokio::sync::mpsc::Sender<Vec<u8>>, Answer) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let pieces = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (Ok::<_, std::io::Error>(piece), receiver))
    });
    let request = app.client.post(app.url("/import/csv")).bearer_auth(token).body(reqwest::Body::wrap_stream(pieces));
    let answer = tokio::spawn(async move {
        let response = request.send().await.expect("the import answered");
        let status = response.status().as_u16();
        let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (status, retry, response.json().await.expect("JSON"))
    });
    (sender, answer)
}

/// Each import keeps database connections busy for as long as its file
/// lasts, so a gateway runs two at once: a third upload is refused at once
/// with `RATE_LIMITED` and `Retry-After`, before its body is read, and
/// writes nothing; once one ends, the next is taken.
async fn a_third_import_at_once_is_told_to_retry_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let header = b"specimen_id,name_kanji,name_kana,sex,birth_date,test_kind,result,sampled_at\n".to_vec();
    let row = |n: u32| {
        format!(
            "AT-{n},同時 {n},ドウジ {},MALE,1980-01-0{n},PCR,NEGATIVE,{}\n",
            ["イチ", "ニ", "サン"][n as usize - 1],
            days_ago(1)
        )
        .into_bytes()
    };
    let (first, first_answer) = open_upload(&app, &clinic);
    let (second, second_answer) = open_upload(&app, &clinic);
    first.send(header.clone()).await.expect("sent");
    second.send(header.clone()).await.expect("sent");
    // Both are running once their jobs say so.
    let running = "{ importJobs { edges { node { status } } } }";
    let mut waited = 0;
    loop {
        let jobs = app.gql(Some(&clinic), running, json!({})).await;
        let count = jobs["data"]["importJobs"]["edges"].as_array().map_or(0, |e| e.len());
        if count == 2 {
            break;
        }
        waited += 1;
        assert!(waited < 200, "the two imports did not start: {jobs}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mut third = header.clone();
    third.extend(row(3));
    let response = app
        .client
        .post(app.url("/import/csv"))
        .bearer_auth(&clinic)
        .body(third.clone())
        .send()
        .await
        .expect("answered");
    let (status, retry) = (response.status().as_u16(), response.headers().get("retry-after").cloned());
    let refused: Value = response.json().await.expect("JSON");
    assert_eq!(status, 429, "{refused}");
    assert!(retry.is_some(), "Retry-After is set");
    assert_eq!(refused["errors"][0]["code"], "RATE_LIMITED", "{refused}");
    assert!(patients(&app, &clinic).await.is_empty(), "the third file wrote nothing");

    for (n, (pieces, answer)) in [(first, first_answer), (second, second_answer)].into_iter().enumerate() {
        pieces.send(row(n as u32 + 1)).await.expect("sent");
        drop(pieces);
        let (status, retry, report) = answer.await.expect("answered");
        assert_eq!((status, retry), (200, None), "{report}");
        assert_eq!(counts(&report), [1, 1, 0, 0, 0], "{report}");
    }
    let report = import_csv(&app, &clinic, false, third).await;
    assert_eq!(counts(&report), [1, 1, 0, 0, 0], "the retry is taken: {report}");
    assert_eq!(patients(&app, &clinic).await.len(), 3);
}
