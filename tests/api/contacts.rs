//! Close contacts linked to their cases: registering them from a case,
//! handing one to another district, a contact turning positive with the
//! link kept, and linking someone already in reach.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app, spawn_app_with_clock};

both!(
    a_health_centre_registers_four_household_contacts_and_one_turns_positive,
    only_the_case_s_health_centre_registers_its_contacts_and_bad_input_changes_nothing,
    a_chain_shows_the_responsible_centre_its_cases_in_full_and_an_analyst_no_personal_field,
    a_cluster_of_six_cases_across_two_centres_keeps_its_size_as_of_each_moment,
    the_unknown_route_share_of_a_prefecture_and_week_is_the_one_computed_by_hand,
    the_behaviour_history_is_kept_by_the_responsible_centre_and_read_as_personal_data,
);

const REGISTER_CONTACT: &str = "mutation($input: RegisterContactInput!) { registerContact(input: $input) { \
    id caseType smartphoneId indexPatient { id } } }";

const LINKS: &str = "query($id: ID!) { patient(id: $id) { contacts { id nameKanji } indexPatient { id } \
    contactLinks { indexPatientId contactPatientId setting lastExposureOn observationEndsOn observationRule } } }";

fn contact(index: &str, kana: &str, extra: Value) -> Value {
    let today = Utc::now().date_naive();
    let mut input = json!({
        "indexPatientId": index, "lastExposureOn": (today - Duration::days(1)).to_string(), "setting": "HOUSEHOLD",
        "nameKanji": "接触 太郎", "nameKana": kana, "sex": "MALE", "birthDate": "1985-01-01",
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            input.insert(key.clone(), value.clone());
        }
    }
    json!({ "input": input })
}

async fn registered(app: &TestApp, token: &str, variables: Value) -> Value {
    let response = app.gql(Some(token), REGISTER_CONTACT, variables).await;
    assert!(response["errors"].is_null(), "registerContact failed: {response}");
    response["data"]["registerContact"].clone()
}

async fn a_health_centre_registers_four_household_contacts_and_one_turns_positive(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let osaka = app.login("hc3").await;
    let (case, _) = app.register_patient(&clinic, "インデックス タロウ", json!({})).await;
    let osaka_centre = app.health_centre_id(&hc1, "271004").await;

    let mut contacts = Vec::new();
    for kana in ["セッショク イチ", "セッショク ニ", "セッショク サン"] {
        let c = registered(&app, &hc1, contact(&case, kana, json!({}))).await;
        assert_eq!(c["caseType"], "CLOSE_CONTACT");
        assert_eq!(c["indexPatient"]["id"], json!(case));
        assert!(c["smartphoneId"].is_string(), "a contact reports with their own ID: {c}");
        contacts.push(c["id"].as_str().expect("id").to_owned());
    }
    // The fourth lives in Osaka: registered to the Osaka health centre.
    let away =
        registered(&app, &hc1, contact(&case, "セッショク ヨン", json!({ "healthCentreId": osaka_centre }))).await;
    let away_id = away["id"].as_str().expect("id").to_owned();

    let seen = app.gql(Some(&hc1), LINKS, json!({ "id": case })).await;
    let p = &seen["data"]["patient"];
    let listed: Vec<&str> =
        p["contacts"].as_array().expect("contacts").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        listed,
        contacts.iter().map(String::as_str).collect::<Vec<_>>(),
        "the Osaka contact is not in reach: {seen}"
    );
    let links = p["contactLinks"].as_array().expect("links");
    assert_eq!(links.len(), 4, "{seen}");
    let exposure = Utc::now().date_naive() - Duration::days(1);
    assert!(
        links.iter().all(|l| l["observationEndsOn"] == json!((exposure + Duration::days(5)).to_string())
            && l["observationRule"] == "2022-07-22"),
        "{seen}"
    );
    assert!(links.iter().any(|l| l["contactPatientId"] == json!(away_id)));

    // Osaka sees its contact (and the link, not the case's record).
    let there = app.gql(Some(&osaka), LINKS, json!({ "id": away_id })).await;
    assert!(there["errors"].is_null(), "{there}");
    assert_eq!(there["data"]["patient"]["indexPatient"], Value::Null);
    assert_eq!(there["data"]["patient"]["contactLinks"][0]["indexPatientId"], json!(case));

    // A contact tests positive (at the clinic, referred there) and becomes
    // a case; the link stays.
    let facility = {
        let response = app.gql(Some(&hc1), "{ facilities { id code } }", json!({})).await;
        response["data"]["facilities"]
            .as_array()
            .and_then(|l| l.iter().find(|f| f["code"] == "F13-0001"))
            .map(|f| f["id"].clone())
            .expect("F13-0001")
    };
    let first = &contacts[0];
    let refer = "mutation($p: ID!, $f: ID!) { referPatient(patientId: $p, facilityId: $f) { id } }";
    let referred = app.gql(Some(&hc1), refer, json!({ "p": first, "f": facility })).await;
    assert!(referred["errors"].is_null(), "{referred}");
    let test = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }";
    let tested = app
        .gql(Some(&clinic), test, json!({ "input": { "patientId": first, "kind": "PCR", "result": "POSITIVE" } }))
        .await;
    assert!(tested["errors"].is_null(), "{tested}");
    let version = app.gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { version } }", json!({ "id": first })).await;
    let confirm = "mutation($id: ID!, $v: Int!, $d: Date!) { updatePatient(patientId: $id, expectedVersion: $v, \
        input: { caseType: CONFIRMED, diagnosisDate: $d }) { caseType indexPatient { id } } }";
    let vars =
        json!({ "id": first, "v": version["data"]["patient"]["version"], "d": Utc::now().date_naive().to_string() });
    let confirmed = app.gql(Some(&hc1), confirm, vars).await;
    assert_eq!(
        confirmed["data"]["updatePatient"],
        json!({ "caseType": "CONFIRMED", "indexPatient": { "id": case } }),
        "{confirmed}"
    );

    // Someone already in reach is linked rather than registered again.
    let (known, _) = app.register_patient(&clinic, "キチ ノ ヒト", json!({})).await;
    let link = "mutation($c: ID!, $k: ID!, $d: Date!) { linkContact(indexPatientId: $c, contactPatientId: $k, \
        lastExposureOn: $d, setting: WORKPLACE) { id } }";
    for _ in 0..2 {
        let linked = app.gql(Some(&hc1), link, json!({ "c": case, "k": known, "d": exposure.to_string() })).await;
        assert!(linked["errors"].is_null(), "{linked}");
    }
    let seen = app.gql(Some(&hc1), LINKS, json!({ "id": case })).await;
    assert_eq!(seen["data"]["patient"]["contactLinks"].as_array().map(Vec::len), Some(5), "linked once: {seen}");

    // The contact signs in with their own smartphone input ID and reports.
    let phone_id = registered(&app, &hc1, contact(&case, "セッショク ゴ", json!({}))).await["smartphoneId"]
        .as_str()
        .expect("smartphone ID")
        .to_owned();
    let login = app
        .gql(
            None,
            "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1985-01-01\") { token } }",
            json!({ "s": phone_id }),
        )
        .await;
    let token = login["data"]["patientLogin"]["token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned();
    // Contacts under observation are on the morning's list until they
    // report; a fever puts them among the warning signs.
    let not_reported = "{ patientsNotReported(first: 500) { nodes { nameKana caseType } } }";
    let listed = app.gql(Some(&hc1), not_reported, json!({})).await;
    let names = |response: &Value, list: &str| -> Vec<String> {
        response["data"][list]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{response}"))
            .iter()
            .filter_map(|p| p["nameKana"].as_str().map(str::to_owned))
            .collect()
    };
    let before = names(&listed, "patientsNotReported");
    assert!(before.contains(&"セッショク ゴ".to_owned()), "{listed}");
    assert!(before.contains(&"セッショク ニ".to_owned()), "{listed}");
    assert!(!before.contains(&"セッショク ヨン".to_owned()), "Osaka's contact is not hc1's: {listed}");
    let report = "mutation { submitHealthReport(input: { bodyTemperature: 38.9, symptoms: [FEVER] }) { id } }";
    let reported = app.gql(Some(&token), report, json!({})).await;
    assert!(reported["errors"].is_null(), "{reported}");
    let after = app.gql(Some(&hc1), not_reported, json!({})).await;
    assert!(!names(&after, "patientsNotReported").contains(&"セッショク ゴ".to_owned()), "{after}");
    let warning =
        app.gql(Some(&hc1), "{ patientsWithWarningSigns(first: 500) { nodes { nameKana } } }", json!({})).await;
    assert!(names(&warning, "patientsWithWarningSigns").contains(&"セッショク ゴ".to_owned()), "{warning}");
}

async fn only_the_case_s_health_centre_registers_its_contacts_and_bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let (case, _) = app.register_patient(&clinic, "インデックス ハナコ", json!({})).await;
    let count = "{ patients(first: 1, filter: { caseType: CLOSE_CONTACT }) { totalCount } }";
    let before = app.gql(Some(&hc1), count, json!({})).await["data"]["patients"]["totalCount"].clone();
    let by_clinic = app.gql(Some(&clinic), REGISTER_CONTACT, contact(&case, "セッショク イチ", json!({}))).await;
    assert_eq!(error_code(&by_clinic), Some("FORBIDDEN"), "{by_clinic}");
    let by_other = app.gql(Some(&hc2), REGISTER_CONTACT, contact(&case, "セッショク イチ", json!({}))).await;
    assert_eq!(error_code(&by_other), Some("NOT_FOUND"), "{by_other}");
    let tomorrow = (Utc::now().date_naive() + Duration::days(2)).to_string();
    for (variables, field) in [
        (contact(&case, "セッショク イチ", json!({ "lastExposureOn": tomorrow })), "input.lastExposureOn"),
        (contact(&case, "Sesshoku", json!({})), "input.nameKana"),
        (contact("0", "セッショク イチ", json!({})), "input.indexPatientId"),
    ] {
        let refused = app.gql(Some(&hc1), REGISTER_CONTACT, variables).await;
        assert_eq!(error_field(&refused), Some(field), "{refused}");
    }
    let seen = app.gql(Some(&hc1), LINKS, json!({ "id": case })).await;
    assert_eq!(seen["data"]["patient"]["contactLinks"], json!([]), "{seen}");
    let after = app.gql(Some(&hc1), count, json!({})).await["data"]["patients"]["totalCount"].clone();
    assert_eq!(before, after, "nothing registered");
}

const CHAIN: &str = "query($id: ID!, $d: Int) { transmissionChain(patientId: $id, depth: $d) { truncated \
    links { indexPatientId contactPatientId } patients { id nameKanji } } }";

fn chain_links(response: &Value) -> Vec<(String, String)> {
    let mut links: Vec<(String, String)> = response["data"]["transmissionChain"]["links"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|l| {
            (
                l["indexPatientId"].as_str().unwrap_or_default().to_owned(),
                l["contactPatientId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    links.sort();
    links
}

fn chain_people(response: &Value) -> Vec<String> {
    let mut ids: Vec<String> = response["data"]["transmissionChain"]["patients"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

async fn a_chain_shows_the_responsible_centre_its_cases_in_full_and_an_analyst_no_personal_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (a, _) = app.register_patient(&clinic, "レンサ エー", json!({})).await;
    let b = registered(&app, &hc1, contact(&a, "レンサ ビー", json!({}))).await["id"].as_str().expect("b").to_owned();
    let c = registered(&app, &hc1, contact(&b, "レンサ シー", json!({}))).await["id"].as_str().expect("c").to_owned();
    let osaka = app.health_centre_id(&hc1, "271004").await;
    let d = registered(&app, &hc1, contact(&a, "レンサ ディー", json!({ "healthCentreId": osaka }))).await["id"]
        .as_str()
        .expect("d")
        .to_owned();

    // The route of B's infection, as a category with its certainty.
    let route = "mutation($id: ID!) { updatePatient(patientId: $id, expectedVersion: 1, input: { \
        infectionRouteCategory: HOUSEHOLD, infectionRouteCertainty: CONFIRMED }) { infectionRouteCategory \
        infectionRouteCertainty } }";
    let routed = app.gql(Some(&hc1), route, json!({ "id": b })).await;
    assert_eq!(
        routed["data"]["updatePatient"],
        json!({ "infectionRouteCategory": "HOUSEHOLD", "infectionRouteCertainty": "CONFIRMED" }),
        "{routed}"
    );

    let mut expected_links = vec![(a.clone(), b.clone()), (b.clone(), c.clone()), (a.clone(), d.clone())];
    expected_links.sort();
    let mine = app.gql(Some(&hc1), CHAIN, json!({ "id": c, "d": 3 })).await;
    assert!(mine["errors"].is_null(), "{mine}");
    assert_eq!(chain_links(&mine), expected_links);
    let mut in_reach = vec![a.clone(), b.clone(), c.clone()];
    in_reach.sort();
    assert_eq!(chain_people(&mine), in_reach, "Osaka's contact by ID only: {mine}");
    let names = mine["data"]["transmissionChain"]["patients"].as_array().expect("patients");
    assert!(names.iter().all(|p| p["nameKanji"].is_string()), "{mine}");
    assert_eq!(mine["data"]["transmissionChain"]["truncated"], false);

    // One link deep: only C's own link.
    let near = app.gql(Some(&hc1), CHAIN, json!({ "id": c, "d": 1 })).await;
    assert_eq!(chain_links(&near), vec![(b.clone(), c.clone())]);

    // An analyst sees every node, without a personal field.
    let analyst = app.login("analyst1").await;
    let seen = app.gql(Some(&analyst), CHAIN, json!({ "id": c, "d": 3 })).await;
    let mut everyone = vec![a.clone(), b.clone(), c.clone(), d.clone()];
    everyone.sort();
    assert_eq!(chain_people(&seen), everyone);
    let people = seen["data"]["transmissionChain"]["patients"].as_array().expect("patients");
    assert!(people.iter().all(|p| p["nameKanji"].is_null()), "{seen}");
    let errors = seen["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 4, "{seen}");
    assert!(errors.iter().all(|e| e["extensions"]["code"] == "FORBIDDEN"), "{seen}");

    // Out of reach, nothing; the depth is bounded.
    let hc2 = app.login("hc2").await;
    let other = app.gql(Some(&hc2), CHAIN, json!({ "id": c })).await;
    assert_eq!(other["data"]["transmissionChain"], Value::Null, "{other}");
    let deep = app.gql(Some(&hc1), CHAIN, json!({ "id": c, "d": 7 })).await;
    assert_eq!(error_field(&deep), Some("depth"), "{deep}");
}

async fn a_cluster_of_six_cases_across_two_centres_keeps_its_size_as_of_each_moment(backend: Backend) {
    use chrono::{Datelike, SecondsFormat};
    let clock = std::sync::Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let mut ours = Vec::new();
    for kana in ["クラスタ イチ", "クラスタ ニ", "クラスタ サン", "クラスタ ヨン"] {
        ours.push(app.register_patient(&clinic, kana, json!({})).await.0);
    }
    let mut theirs = Vec::new();
    for kana in ["クラスタ ゴ", "クラスタ ロク"] {
        theirs.push(app.register_patient(&hc2, kana, json!({})).await.0);
    }
    let create = "mutation($input: CreateClusterInput!) { createCluster(input: $input) { id name setting } }";
    let by_clinic = app.gql(Some(&clinic), create, json!({ "input": { "name": "X", "setting": "DINING" } })).await;
    assert_eq!(error_code(&by_clinic), Some("FORBIDDEN"), "{by_clinic}");
    let unnamed = app.gql(Some(&hc1), create, json!({ "input": { "name": " ", "setting": "DINING" } })).await;
    assert_eq!(error_field(&unnamed), Some("input.name"), "{unnamed}");
    let created = app
        .gql(
            Some(&hc1),
            create,
            json!({ "input": { "name": "港区飲食店 12月", "setting": "DINING", "place": "港区芝" } }),
        )
        .await;
    let cluster = created["data"]["createCluster"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();

    let add = "mutation($c: ID!, $p: ID!) { addToCluster(clusterId: $c, patientId: $p) { id } }";
    for p in &ours {
        let added = app.gql(Some(&hc1), add, json!({ "c": cluster, "p": p })).await;
        assert!(added["errors"].is_null(), "{added}");
    }
    let across = app.gql(Some(&hc2), add, json!({ "c": cluster, "p": ours[0] })).await;
    assert_eq!(error_code(&across), Some("NOT_FOUND"), "another centre adds only its own: {across}");
    let first_four = Utc::now();
    clock.advance(Duration::hours(1));
    let (hc1, hc2) = (app.login("hc1").await, app.login("hc2").await);
    for p in &theirs {
        for _ in 0..2 {
            let added = app.gql(Some(&hc2), add, json!({ "c": cluster, "p": p })).await;
            assert!(added["errors"].is_null(), "{added}");
        }
    }

    let query = "query($id: ID!, $at: DateTime) { cluster(id: $id) { name size then: size(asOf: $at) \
        weeks { weekStart cases } earlier: weeks(asOf: $at) { weekStart cases } patients { id nameKanji } } }";
    let at = first_four.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let seen = app.gql(Some(&hc1), query, json!({ "id": cluster, "at": at })).await;
    let c = &seen["data"]["cluster"];
    assert_eq!((&c["size"], &c["then"]), (&json!(6), &json!(4)), "{seen}");
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST")).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    assert_eq!(c["weeks"], json!([{ "weekStart": monday.to_string(), "cases": 6 }]), "{seen}");
    assert_eq!(c["earlier"], json!([{ "weekStart": monday.to_string(), "cases": 4 }]), "{seen}");
    assert_eq!(c["patients"].as_array().map(Vec::len), Some(4), "hc1 reads its own four: {seen}");

    // The cluster's graph: the links between its members only.
    let clinic = app.login("clinic1").await;
    let (outsider, _) = app.register_patient(&clinic, "クラスタ ソト", json!({})).await;
    let link = "mutation($c: ID!, $k: ID!, $d: Date!) { linkContact(indexPatientId: $c, contactPatientId: $k, \
        lastExposureOn: $d, setting: DINING) { id } }";
    let day = (today - Duration::days(2)).to_string();
    for (index, contact) in [(&ours[0], &ours[1]), (&ours[1], &ours[2]), (&ours[0], &outsider)] {
        let linked = app.gql(Some(&hc1), link, json!({ "c": index, "k": contact, "d": day })).await;
        assert!(linked["errors"].is_null(), "{linked}");
    }
    let graph = "query($id: ID!) { cluster(id: $id) { links { indexPatientId contactPatientId setting } } }";
    let seen = app.gql(Some(&hc1), graph, json!({ "id": cluster })).await;
    assert_eq!(
        seen["data"]["cluster"]["links"],
        json!([
            { "indexPatientId": ours[0], "contactPatientId": ours[1], "setting": "DINING" },
            { "indexPatientId": ours[1], "contactPatientId": ours[2], "setting": "DINING" },
        ]),
        "{seen}"
    );

    // The analyst sees all six, without a personal field.
    let analyst = app.login("analyst1").await;
    let seen = app.gql(Some(&analyst), query, json!({ "id": cluster, "at": at })).await;
    let people = seen["data"]["cluster"]["patients"].as_array().unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(people.len(), 6);
    assert!(people.iter().all(|p| p["nameKanji"].is_null()), "{seen}");
    let admin = app.login("admin1").await;
    let refused = app.gql(Some(&admin), "{ clusters { id } }", json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
}

async fn the_unknown_route_share_of_a_prefecture_and_week_is_the_one_computed_by_hand(backend: Backend) {
    use chrono::SecondsFormat;
    let clock = std::sync::Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let analyst = app.login("analyst1").await;
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST")).date_naive();
    let query = "query($d: Date!, $at: DateTime) { statistics { unknownRoute(from: $d, to: $d, prefectureCode: \"13\", \
        asOf: $at) { weekStart cases unknown share } } }";
    let week = |response: &Value| -> (i64, i64, Value) {
        let w = &response["data"]["statistics"]["unknownRoute"][0];
        (
            w["cases"].as_i64().unwrap_or_else(|| panic!("{response}")),
            w["unknown"].as_i64().unwrap_or(-1),
            w["share"].clone(),
        )
    };
    let stamp = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let (cases0, unknown0, _) = week(&app.gql(Some(&analyst), query, json!({ "d": today.to_string() })).await);

    let routes = ["UNKNOWN", "UNKNOWN", "HOUSEHOLD", ""];
    let mut ids = Vec::new();
    for (n, route) in routes.iter().enumerate() {
        let (id, _) =
            app.register_patient(&clinic, &format!("ケイロ {}", ["イチ", "ニ", "サン", "ヨン"][n]), json!({})).await;
        let test = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }";
        let tested = app
            .gql(Some(&clinic), test, json!({ "input": { "patientId": id, "kind": "PCR", "result": "POSITIVE" } }))
            .await;
        assert!(tested["errors"].is_null(), "{tested}");
        if !route.is_empty() {
            let version =
                app.gql(Some(&clinic), "query($id: ID!) { patient(id: $id) { version } }", json!({ "id": id })).await;
            let set = "mutation($id: ID!, $v: Int!, $r: InfectionRoute!) { updatePatient(patientId: $id, \
                expectedVersion: $v, input: { infectionRouteCategory: $r }) { id } }";
            let vars = json!({ "id": id, "v": version["data"]["patient"]["version"], "r": route });
            let done = app.gql(Some(&clinic), set, vars).await;
            assert!(done["errors"].is_null(), "{done}");
        }
        ids.push(id);
    }
    let published = Utc::now();
    let response = app.gql(Some(&analyst), query, json!({ "d": today.to_string(), "at": stamp(published) })).await;
    let (cases, unknown, share) = week(&response);
    assert_eq!((cases, unknown), (cases0 + 4, unknown0 + 2), "{response}");
    let by_hand = (unknown0 + 2) as f64 / (cases0 + 4) as f64;
    assert!((share.as_f64().unwrap_or(-1.0) - by_hand).abs() < 1e-9, "{share} vs {by_hand}");

    // The route of one is found later: the week's share drops from then on,
    // and stays as published before.
    clock.advance(Duration::minutes(10));
    let (clinic, analyst) = (app.login("clinic1").await, app.login("analyst1").await);
    let version =
        app.gql(Some(&clinic), "query($id: ID!) { patient(id: $id) { version } }", json!({ "id": ids[0] })).await;
    let found = "mutation($id: ID!, $v: Int!) { updatePatient(patientId: $id, expectedVersion: $v, \
        input: { infectionRouteCategory: DINING, infectionRouteCertainty: PRESUMED }) { id } }";
    let done = app.gql(Some(&clinic), found, json!({ "id": ids[0], "v": version["data"]["patient"]["version"] })).await;
    assert!(done["errors"].is_null(), "{done}");
    let before = app.gql(Some(&analyst), query, json!({ "d": today.to_string(), "at": stamp(published) })).await;
    assert_eq!(week(&before).1, unknown0 + 2, "as published: {before}");
    let now = app
        .gql(Some(&analyst), query, json!({ "d": today.to_string(), "at": stamp(Utc::now() + Duration::minutes(10)) }))
        .await;
    assert_eq!(week(&now).0, cases0 + 4);
    assert_eq!(week(&now).1, unknown0 + 1, "{now}");
}

/// The responsible centre records where a case was before onset; the
/// entries come back by day, to those who may read the record's personal
/// data, and each read is audited. Analysts get null with FORBIDDEN in
/// place; other centres do not reach the case; wrong entries are refused by
/// field and add nothing.
async fn the_behaviour_history_is_kept_by_the_responsible_centre_and_read_as_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (case, _) = app.register_patient(&clinic, "コウドウ タロウ", json!({})).await;
    let today = Utc::now().date_naive();
    let record = "mutation($p: ID!, $input: BehaviourInput!) { recordBehaviour(patientId: $p, input: $input) { \
        id date placeKind place note } }";
    let entry = |days: i64, kind: &str, place: &str| {
        json!({ "p": case, "input": { "date": (today - Duration::days(days)).to_string(), "placeKind": kind,
            "place": place, "note": "2時間滞在" } })
    };
    for (days, kind, place) in [(2, "DINING", "居酒屋 みなと"), (5, "WORKPLACE", "港区の事務所")] {
        let done = app.gql(Some(&hc1), record, entry(days, kind, place)).await;
        assert!(done["errors"].is_null(), "{done}");
    }
    for (variables, field) in [
        (entry(1, "DINING", "   "), "input.place"),
        (entry(-2, "DINING", "未来の店"), "input.date"),
        (entry(1, "DINING", &"長".repeat(201)), "input.place"),
    ] {
        let refused = app.gql(Some(&hc1), record, variables).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
        assert_eq!(error_field(&refused), Some(field), "{refused}");
    }
    let refused = app.gql(Some(&clinic), record, entry(1, "OTHER", "駅")).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "only the responsible centre investigates: {refused}");

    let read = "query($id: ID!) { patient(id: $id) { id behaviourHistory { date placeKind place note } } }";
    let seen = app.gql(Some(&hc1), read, json!({ "id": case })).await;
    assert_eq!(
        seen["data"]["patient"]["behaviourHistory"],
        json!([
            { "date": (today - Duration::days(5)).to_string(), "placeKind": "WORKPLACE", "place": "港区の事務所",
              "note": "2時間滞在" },
            { "date": (today - Duration::days(2)).to_string(), "placeKind": "DINING", "place": "居酒屋 みなと",
              "note": "2時間滞在" },
        ]),
        "by day, nothing refused added: {seen}"
    );
    let facility = app.gql(Some(&clinic), read, json!({ "id": case })).await;
    assert_eq!(facility["data"]["patient"]["behaviourHistory"].as_array().map(Vec::len), Some(2), "{facility}");
    let analyst = app.login("analyst1").await;
    let hidden = app.gql(Some(&analyst), read, json!({ "id": case })).await;
    assert_eq!(hidden["data"]["patient"]["id"], json!(case), "{hidden}");
    assert_eq!(hidden["data"]["patient"]["behaviourHistory"], Value::Null, "{hidden}");
    assert_eq!(error_code(&hidden), Some("FORBIDDEN"), "{hidden}");
    let other = app.login("hc2").await;
    let away = app.gql(Some(&other), read, json!({ "id": case })).await;
    assert_eq!(away["data"]["patient"], Value::Null, "{away}");

    let admin = app.login("admin1").await;
    let log = app
        .gql(
            Some(&admin),
            "query($p: ID) { auditLog(patientId: $p, first: 50) { edges { node { action fields account { username } } } } }",
            json!({ "p": case }),
        )
        .await;
    let entries = log["data"]["auditLog"]["edges"].as_array().cloned().unwrap_or_default();
    let audited = |action: &str, username: &str| {
        entries.iter().any(|e| {
            e["node"]["action"] == action
                && e["node"]["account"]["username"] == username
                && e["node"]["fields"].as_array().is_some_and(|f| f.contains(&json!("behaviourHistory")))
        })
    };
    assert!(audited("RECORD_BEHAVIOUR", "hc1"), "{log}");
    assert!(audited("READ_PERSONAL", "hc1"), "{log}");
    assert!(audited("READ_PERSONAL", "clinic1"), "{log}");
    assert!(!audited("READ_PERSONAL", "analyst1"), "nothing read, nothing audited: {log}");

    // The entries are kept as entered, even against the database directly.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("direct connection");
    assert!(db.execute_unprepared("UPDATE behaviour_entries SET place = 'x'").await.is_err());
    assert!(db.execute_unprepared("DELETE FROM behaviour_entries").await.is_err());
    let _ = db.close().await;
}
