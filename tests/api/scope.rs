//! Who sees which patients (row scope), what analysts may not see (field
//! rules), and paging through a list.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, spawn_app};

both!(
    a_clinic_sees_exactly_the_patients_it_registered,
    health_centres_see_exactly_the_patients_they_are_responsible_for,
    a_hospital_that_registered_tested_and_admitted_no_one_sees_no_one,
    a_prefecture_sees_the_patients_of_its_own_health_centres_only,
    an_analyst_sees_every_patient_without_personal_data,
    a_system_administrator_reads_no_patients,
    pages_of_patients_follow_their_cursors_newest_first,
);

/// Patients of three origins: 3 registered by clinic1 (responsible: hc1's
/// centre, 131032), 2 by hc2 (131041, Tokyo), 1 by hc3 (271004, Osaka).
struct MixedSet {
    clinic: BTreeSet<String>,
    hc2: BTreeSet<String>,
    hc3: BTreeSet<String>,
}

impl MixedSet {
    fn tokyo(&self) -> BTreeSet<String> {
        self.clinic.union(&self.hc2).cloned().collect()
    }
    fn all(&self) -> BTreeSet<String> {
        self.tokyo().union(&self.hc3).cloned().collect()
    }
}

async fn mixed_set(app: &TestApp) -> MixedSet {
    let mut set = MixedSet { clinic: BTreeSet::new(), hc2: BTreeSet::new(), hc3: BTreeSet::new() };
    for (username, count) in [("clinic1", 3), ("hc2", 2), ("hc3", 1)] {
        let token = app.login(username).await;
        for _ in 0..count {
            let (id, _) = app.register_patient(&token, "ヤマダ タロウ", json!({})).await;
            match username {
                "clinic1" => set.clinic.insert(id),
                "hc2" => set.hc2.insert(id),
                _ => set.hc3.insert(id),
            };
        }
    }
    set
}

/// The caller's whole list: (totalCount, ids). Fails on any error.
async fn visible(app: &TestApp, token: &str) -> (u64, BTreeSet<String>) {
    let response = app.gql(Some(token), "{ patients(first: 500) { totalCount nodes { id } } }", json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    let total =
        response["data"]["patients"]["totalCount"].as_u64().unwrap_or_else(|| panic!("no totalCount: {response}"));
    let ids = response["data"]["patients"]["nodes"]
        .as_array()
        .map(|nodes| nodes.iter().filter_map(|n| n["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    (total, ids)
}

async fn patient(app: &TestApp, token: &str, id: &str, fields: &str) -> Value {
    let query = format!("query($id: ID!) {{ patient(id: $id) {{ {fields} }} }}");
    app.gql(Some(token), &query, json!({ "id": id })).await
}

fn first<T: Clone>(set: &BTreeSet<T>) -> T {
    set.iter().next().cloned().expect("a non-empty set")
}

async fn a_clinic_sees_exactly_the_patients_it_registered(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = mixed_set(&app).await;
    let clinic = app.login("clinic1").await;

    let (total, ids) = visible(&app, &clinic).await;

    assert_eq!(total, 3);
    assert_eq!(ids, set.clinic);
    let other = patient(&app, &clinic, &first(&set.hc2), "id").await;
    assert!(other["errors"].is_null(), "out of reach is not an error: {other}");
    assert!(other["data"]["patient"].is_null(), "hc2's patient is out of the clinic's reach: {other}");
}

async fn health_centres_see_exactly_the_patients_they_are_responsible_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = mixed_set(&app).await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let hc3 = app.login("hc3").await;

    let (hc1_total, hc1_ids) = visible(&app, &hc1).await;
    let (hc2_total, hc2_ids) = visible(&app, &hc2).await;
    let (hc3_total, hc3_ids) = visible(&app, &hc3).await;
    let clinics_patient = patient(&app, &hc2, &first(&set.clinic), "id nameKanji").await;

    assert_eq!((hc1_total, &hc1_ids), (3, &set.clinic), "the clinic's patients default to hc1's centre");
    assert_eq!((hc2_total, &hc2_ids), (2, &set.hc2));
    assert_eq!((hc3_total, &hc3_ids), (1, &set.hc3));
    assert!(clinics_patient["errors"].is_null(), "{clinics_patient}");
    assert!(clinics_patient["data"]["patient"].is_null(), "{clinics_patient}");
    let own = patient(&app, &hc2, &first(&set.hc2), "id nameKanji responsibleHealthCentre { code }").await;
    assert_eq!(own["data"]["patient"]["responsibleHealthCentre"]["code"], "131041", "{own}");
    assert_eq!(own["data"]["patient"]["nameKanji"], "試験 太郎", "{own}");
}

async fn a_hospital_that_registered_tested_and_admitted_no_one_sees_no_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = mixed_set(&app).await;
    let hospital = app.login("hospital1").await;

    let (total, ids) = visible(&app, &hospital).await;
    let clinics_patient = patient(&app, &hospital, &first(&set.clinic), "id").await;

    assert_eq!(total, 0);
    assert!(ids.is_empty(), "{ids:?}");
    assert!(
        clinics_patient["data"]["patient"].is_null(),
        "same health centre is no care relationship: {clinics_patient}"
    );
}

async fn a_prefecture_sees_the_patients_of_its_own_health_centres_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = mixed_set(&app).await;
    let pref13 = app.login("pref13").await;

    let (total, ids) = visible(&app, &pref13).await;
    let osaka = patient(&app, &pref13, &first(&set.hc3), "id").await;

    assert_eq!(total, 5);
    assert_eq!(ids, set.tokyo());
    assert!(osaka["errors"].is_null(), "{osaka}");
    assert!(osaka["data"]["patient"].is_null(), "Osaka is out of Tokyo's reach: {osaka}");
}

async fn an_analyst_sees_every_patient_without_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = mixed_set(&app).await;
    let analyst = app.login("analyst1").await;
    let id = first(&set.clinic);

    let (total, ids) = visible(&app, &analyst).await;
    let one = patient(&app, &analyst, &id, "id caseType sex ageBand nameKanji").await;
    let listed = app
        .gql(Some(&analyst), "{ patients(first: 500) { edges { node { id caseType nameKanji } } } }", json!({}))
        .await;

    assert_eq!(total, 6);
    assert_eq!(ids, set.all());
    let record = &one["data"]["patient"];
    assert_eq!(record["id"], id.as_str(), "{one}");
    assert_eq!(record["caseType"], "CONFIRMED", "{one}");
    assert_eq!(record["sex"], "MALE", "{one}");
    assert!(record["ageBand"].as_str().is_some_and(|band| band.starts_with("AGE_")), "{one}");
    assert!(record["nameKanji"].is_null(), "{one}");
    let errors = one["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{one}");
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{one}");
    assert_eq!(errors[0]["path"], json!(["patient", "nameKanji"]), "{one}");

    let edges = listed["data"]["patients"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 6, "{listed}");
    assert!(edges.iter().all(|e| e["node"]["nameKanji"].is_null() && e["node"]["caseType"] == "CONFIRMED"), "{listed}");
    let errors = listed["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 6, "one error per refused field: {listed}");
    for error in &errors {
        assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{listed}");
        let path = error["path"].as_array().cloned().unwrap_or_default();
        assert_eq!(path.len(), 5, "{error}");
        assert_eq!(path[..2], [json!("patients"), json!("edges")], "{error}");
        assert_eq!(path[3..], [json!("node"), json!("nameKanji")], "{error}");
        assert!(path[2].as_u64().is_some_and(|i| i < 6), "{error}");
    }
    let indices: BTreeSet<u64> = errors.iter().filter_map(|e| e["path"][2].as_u64()).collect();
    assert_eq!(indices, (0..6).collect(), "every row's name is refused: {listed}");
}

async fn a_system_administrator_reads_no_patients(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = mixed_set(&app).await;
    let admin = app.login("admin1").await;

    let list = app.gql(Some(&admin), "{ patients { totalCount nodes { id } } }", json!({})).await;
    let one = patient(&app, &admin, &first(&set.clinic), "id").await;

    assert_eq!(error_code(&list), Some("FORBIDDEN"), "{list}");
    assert!(list["data"].is_null(), "nothing of the list is shown: {list}");
    assert_eq!(error_code(&one), Some("FORBIDDEN"), "{one}");
    assert!(one["data"]["patient"].is_null(), "{one}");
}

async fn pages_of_patients_follow_their_cursors_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let mut registered = BTreeSet::new();
    for _ in 0..25 {
        let (id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;
        registered.insert(id);
    }
    const PAGE: &str = "query($after: String) { patients(first: 10, after: $after) {
        edges { cursor node { id } } totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

    let mut pages = Vec::new();
    let mut after = Value::Null;
    for _ in 0..3 {
        let response = app.gql(Some(&clinic), PAGE, json!({ "after": after })).await;
        assert!(response["errors"].is_null(), "{response}");
        let connection = response["data"]["patients"].clone();
        after = connection["pageInfo"]["endCursor"].clone();
        pages.push(connection);
    }

    let sizes: Vec<usize> = pages.iter().map(|p| p["edges"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let has_next: Vec<&Value> = pages.iter().map(|p| &p["pageInfo"]["hasNextPage"]).collect();
    assert_eq!(has_next, [&json!(true), &json!(true), &json!(false)]);
    let has_previous: Vec<&Value> = pages.iter().map(|p| &p["pageInfo"]["hasPreviousPage"]).collect();
    assert_eq!(has_previous, [&json!(false), &json!(true), &json!(true)]);
    for page in &pages {
        assert_eq!(page["totalCount"], 25, "totalCount counts all pages: {page}");
        let edges = page["edges"].as_array().cloned().unwrap_or_default();
        assert_eq!(page["pageInfo"]["startCursor"], edges[0]["cursor"], "{page}");
        assert_eq!(page["pageInfo"]["endCursor"], edges[edges.len() - 1]["cursor"], "{page}");
    }
    let ids: Vec<i64> = pages
        .iter()
        .flat_map(|p| p["edges"].as_array().cloned().unwrap_or_default())
        .map(|e| e["node"]["id"].as_str().and_then(|id| id.parse().ok()).expect("numeric ids"))
        .collect();
    assert_eq!(ids.len(), 25);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, none repeated: {ids:?}");
    let seen: BTreeSet<String> = ids.iter().map(i64::to_string).collect();
    assert_eq!(seen, registered, "every registered patient is seen once");
}
