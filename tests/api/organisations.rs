//! What an organisation stands for (`Organisation.healthCentre`, `facility`,
//! `prefecture`), and the health centres and facilities administrators
//! create and change: validated at the edge, refused to everyone else,
//! audited, and usable at once (lists, accounts in their organisations).

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app};

both!(
    each_account_learns_from_me_what_its_organisation_stands_for,
    administrators_create_and_change_health_centres_and_facilities,
    a_new_health_centre_has_staff_who_sign_in_as_it,
    refused_input_names_its_field_and_changes_nothing,
    only_administrators_manage_health_centres_and_facilities,
    system_access_is_taken_away_only_once_the_accounts_are_disabled,
    a_scoped_api_key_and_an_idempotency_key_work_with_the_new_mutations,
    administrative_lists_page_as_connections_with_their_counts,
    a_node_id_names_one_object_under_the_callers_rules,
);

const ME: &str = "{ me { organisation { id kind \
    healthCentre { id code prefecture { code } } facility { id code kind } prefecture { id code } } } }";

const CREATE_CENTRE: &str = "mutation($input: CreateHealthCentreInput!) { createHealthCentre(input: $input) { \
    id code name nameJa prefecture { code } } }";
const UPDATE_CENTRE: &str = "mutation($id: ID!, $input: UpdateHealthCentreInput!) { \
    updateHealthCentre(id: $id, input: $input) { id code name nameJa prefecture { code } } }";
const CREATE_FACILITY: &str = "mutation($input: CreateFacilityInput!) { createFacility(input: $input) { \
    id code name nameJa kind hasSystemAccess healthCentre { id } } }";
const UPDATE_FACILITY: &str = "mutation($id: ID!, $input: UpdateFacilityInput!) { \
    updateFacility(id: $id, input: $input) { id code name nameJa kind hasSystemAccess } }";
const ORGANISATIONS: &str =
    "{ organisations(first: 500) { nodes { id name kind healthCentre { id } facility { id } prefecture { id } } } }";

fn ok(response: Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

fn centre_input() -> Value {
    json!({ "code": "131130", "name": "Shibuya City Health Centre", "nameJa": "渋谷区保健所", "prefectureCode": "13" })
}

async fn facility_id(app: &TestApp, token: &str, code: &str) -> String {
    let response = ok(app.gql(Some(token), "{ facilities { id code } }", json!({})).await);
    let list = response["facilities"].as_array().cloned().unwrap_or_default();
    list.iter()
        .find(|f| f["code"] == code)
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no facility {code}: {response}"))
        .to_owned()
}

/// The organisations standing for a health centre or facility with `id`.
async fn organisations_of(app: &TestApp, admin: &str, relation: &str, id: &str) -> Vec<Value> {
    let response = ok(app.gql(Some(admin), ORGANISATIONS, json!({})).await);
    let list = response["organisations"]["nodes"].as_array().cloned().unwrap_or_default();
    list.into_iter().filter(|o| o[relation]["id"] == id).collect()
}

/// How many health centres, facilities and organisations there are.
async fn counts(app: &TestApp, admin: &str) -> (usize, usize, usize) {
    let response = ok(app
        .gql(Some(admin), "{ healthCentres { id } facilities { id } organisations { totalCount } }", json!({}))
        .await);
    let len = |name: &str| response[name].as_array().map(Vec::len).unwrap_or_default();
    let organisations = response["organisations"]["totalCount"].as_u64().unwrap_or_default() as usize;
    (len("healthCentres"), len("facilities"), organisations)
}

/// The audit entries of reference data changes, oldest first.
async fn reference_audit(app: &TestApp, admin: &str) -> Vec<Value> {
    let response = ok(app
        .gql(
            Some(admin),
            "{ auditLog(first: 500) { edges { node { action detail operation account { username } } } } }",
            json!({}),
        )
        .await);
    let mut entries: Vec<Value> = response["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| edge["node"].clone())
        .filter(|node| {
            let action = node["action"].as_str().unwrap_or_default();
            action.ends_with("_HEALTH_CENTRE") || action.ends_with("_FACILITY")
        })
        .collect();
    entries.reverse();
    entries
}

async fn each_account_learns_from_me_what_its_organisation_stands_for(backend: Backend) {
    let app = spawn_app(backend).await;

    let hc1 = app.login("hc1").await;
    let me = ok(app.gql(Some(&hc1), ME, json!({})).await);
    let organisation = &me["me"]["organisation"];
    assert_eq!(organisation["kind"], "HEALTH_CENTRE", "{me}");
    assert_eq!(organisation["healthCentre"]["code"], "131032", "{me}");
    assert_eq!(organisation["healthCentre"]["id"], app.health_centre_id(&hc1, "131032").await.as_str());
    assert_ne!(organisation["healthCentre"]["id"], organisation["id"], "the centre's ID, not the organisation's");
    assert_eq!(organisation["healthCentre"]["prefecture"]["code"], "13", "{me}");
    assert!(organisation["facility"].is_null() && organisation["prefecture"].is_null(), "{me}");
    // The ID is the one health-centre arguments take.
    let centre = organisation["healthCentre"]["id"].as_str().expect("an ID").to_owned();
    let covered = ok(app
        .gql(Some(&hc1), "query($c: ID!) { facilities(healthCentreId: $c) { code } }", json!({ "c": centre }))
        .await);
    assert_eq!(covered["facilities"].as_array().map(Vec::len), Some(3), "{covered}");

    let clinic = app.login("clinic1").await;
    let me = ok(app.gql(Some(&clinic), ME, json!({})).await);
    let organisation = &me["me"]["organisation"];
    assert_eq!(organisation["kind"], "MEDICAL_INSTITUTION", "{me}");
    assert_eq!(organisation["facility"]["code"], "F13-0001", "{me}");
    assert_eq!(organisation["facility"]["kind"], "TESTING_CLINIC", "{me}");
    assert_eq!(organisation["facility"]["id"], facility_id(&app, &clinic, "F13-0001").await.as_str());
    assert!(organisation["healthCentre"].is_null() && organisation["prefecture"].is_null(), "{me}");

    let pref13 = app.login("pref13").await;
    let me = ok(app.gql(Some(&pref13), ME, json!({})).await);
    let organisation = &me["me"]["organisation"];
    assert_eq!(organisation["kind"], "PREFECTURE", "{me}");
    assert_eq!(organisation["prefecture"], json!({ "id": "13", "code": "13" }), "{me}");
    assert!(organisation["healthCentre"].is_null() && organisation["facility"].is_null(), "{me}");

    for (username, kind) in [("analyst1", "NATIONAL"), ("admin1", "OPERATOR")] {
        let token = app.login(username).await;
        let me = ok(app.gql(Some(&token), ME, json!({})).await);
        let organisation = &me["me"]["organisation"];
        assert_eq!(organisation["kind"], kind, "{me}");
        for relation in ["healthCentre", "facility", "prefecture"] {
            assert!(organisation[relation].is_null(), "{username}: {me}");
        }
    }

    // Wherever an organisation appears: a test's enteredBy is the clinic.
    let (patient, _) = app.register_patient(&clinic, "ソシキ タロウ", json!({})).await;
    ok(app
        .gql(
            Some(&clinic),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": patient, "kind": "PCR", "result": "NEGATIVE" } }),
        )
        .await);
    let tests = ok(app
        .gql(
            Some(&hc1),
            "query($id: ID!) { patient(id: $id) { tests { enteredBy { kind facility { code } } } } }",
            json!({ "id": patient }),
        )
        .await);
    assert_eq!(tests["patient"]["tests"][0]["enteredBy"]["facility"]["code"], "F13-0001", "{tests}");
}

async fn administrators_create_and_change_health_centres_and_facilities(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;

    let created = ok(app.gql(Some(&admin), CREATE_CENTRE, json!({ "input": centre_input() })).await);
    let centre = &created["createHealthCentre"];
    assert_eq!(centre["code"], "131130");
    assert_eq!(centre["name"], "Shibuya City Health Centre");
    assert_eq!(centre["nameJa"], "渋谷区保健所");
    assert_eq!(centre["prefecture"]["code"], "13");
    let centre_id = centre["id"].as_str().expect("an ID").to_owned();

    // Its organisation, ready for accounts; staff lists show the centre.
    let organisations = organisations_of(&app, &admin, "healthCentre", &centre_id).await;
    assert_eq!(organisations.len(), 1, "{organisations:?}");
    assert_eq!(organisations[0]["kind"], "HEALTH_CENTRE");
    assert_eq!(organisations[0]["name"], "Shibuya City Health Centre");
    let hc1 = app.login("hc1").await;
    let listed = ok(app.gql(Some(&hc1), "{ healthCentres(prefectureCode: \"13\") { id code } }", json!({})).await);
    assert!(
        listed["healthCentres"].as_array().into_iter().flatten().any(|c| c["id"] == centre_id.as_str()),
        "{listed}"
    );

    // Renamed, with its organisation; code and prefecture stay.
    let updated = ok(app
        .gql(Some(&admin), UPDATE_CENTRE, json!({ "id": centre_id, "input": { "name": "  Shibuya Health Centre " } }))
        .await);
    let centre = &updated["updateHealthCentre"];
    assert_eq!(centre["name"], "Shibuya Health Centre", "trimmed");
    assert_eq!(centre["nameJa"], "渋谷区保健所", "what is not given stays");
    assert_eq!(centre["code"], "131130");
    let organisations = organisations_of(&app, &admin, "healthCentre", &centre_id).await;
    assert_eq!(organisations[0]["name"], "Shibuya Health Centre", "{organisations:?}");

    // A facility with system access gets its organisation …
    let input = json!({
        "code": "F13-0101", "name": "Shibuya Fever Clinic", "nameJa": "渋谷発熱外来", "kind": "TESTING_CLINIC",
        "healthCentreId": centre_id, "hasSystemAccess": true,
    });
    let created = ok(app.gql(Some(&admin), CREATE_FACILITY, json!({ "input": input })).await);
    let clinic = &created["createFacility"];
    assert_eq!(clinic["kind"], "TESTING_CLINIC");
    assert_eq!(clinic["hasSystemAccess"], true);
    assert_eq!(clinic["healthCentre"]["id"], centre_id.as_str());
    let clinic_id = clinic["id"].as_str().expect("an ID").to_owned();
    let organisations = organisations_of(&app, &admin, "facility", &clinic_id).await;
    assert_eq!(organisations.len(), 1, "{organisations:?}");
    assert_eq!(organisations[0]["kind"], "MEDICAL_INSTITUTION");
    assert_eq!(organisations[0]["name"], "Shibuya Fever Clinic");

    // … one without has none until it is given access.
    let input = json!({
        "code": "F13-0102", "name": "Ebisu Testing Centre", "nameJa": "恵比寿検査センター", "kind": "TESTING_CENTRE",
        "healthCentreId": centre_id, "hasSystemAccess": false,
    });
    let created = ok(app.gql(Some(&admin), CREATE_FACILITY, json!({ "input": input })).await);
    let centre_facility = created["createFacility"]["id"].as_str().expect("an ID").to_owned();
    assert!(organisations_of(&app, &admin, "facility", &centre_facility).await.is_empty());
    let listed = ok(app
        .gql(Some(&hc1), "query($c: ID!) { facilities(healthCentreId: $c) { code } }", json!({ "c": centre_id }))
        .await);
    assert_eq!(listed["facilities"], json!([{ "code": "F13-0101" }, { "code": "F13-0102" }]), "{listed}");

    let updated = ok(app
        .gql(
            Some(&admin),
            UPDATE_FACILITY,
            json!({ "id": centre_facility, "input": { "hasSystemAccess": true, "nameJa": "恵比寿地域検査センター" } }),
        )
        .await);
    let facility = &updated["updateFacility"];
    assert_eq!(facility["hasSystemAccess"], true);
    assert_eq!(facility["nameJa"], "恵比寿地域検査センター");
    assert_eq!(facility["name"], "Ebisu Testing Centre");
    assert_eq!(facility["kind"], "TESTING_CENTRE");
    let organisations = organisations_of(&app, &admin, "facility", &centre_facility).await;
    assert_eq!(organisations.len(), 1, "{organisations:?}");
    assert_eq!(organisations[0]["name"], "Ebisu Testing Centre");
    // Given access again: still one organisation.
    ok(app
        .gql(Some(&admin), UPDATE_FACILITY, json!({ "id": centre_facility, "input": { "hasSystemAccess": true } }))
        .await);
    assert_eq!(organisations_of(&app, &admin, "facility", &centre_facility).await.len(), 1);

    // Every change is audited, by whom and what it was about.
    let entries = reference_audit(&app, &admin).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        actions,
        [
            "CREATE_HEALTH_CENTRE",
            "UPDATE_HEALTH_CENTRE",
            "CREATE_FACILITY",
            "CREATE_FACILITY",
            "UPDATE_FACILITY",
            "UPDATE_FACILITY"
        ],
        "{entries:?}"
    );
    assert!(entries.iter().all(|e| e["account"]["username"] == "admin1"), "{entries:?}");
    let detail = |i: usize| entries[i]["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail(0).contains(&format!("health centre {centre_id} (code 131130) in prefecture 13")), "{}", detail(0));
    assert!(detail(1).contains("name changed"), "{}", detail(1));
    assert!(detail(2).contains("code F13-0101") && detail(2).contains("system access, organisation"), "{}", detail(2));
    assert!(detail(3).contains("no system access"), "{}", detail(3));
    assert!(detail(4).contains("nameJa") && detail(4).contains("hasSystemAccess false → true"), "{}", detail(4));
    assert!(detail(4).contains("organisation") && detail(4).contains("created"), "{}", detail(4));
}

async fn a_new_health_centre_has_staff_who_sign_in_as_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin1 = app.login("admin1").await;
    let admin2 = app.login("admin2").await;
    let created = ok(app.gql(Some(&admin1), CREATE_CENTRE, json!({ "input": centre_input() })).await);
    let centre_id = created["createHealthCentre"]["id"].as_str().expect("an ID").to_owned();
    let organisation = organisations_of(&app, &admin1, "healthCentre", &centre_id).await[0]["id"].clone();

    let password = "a lantern over the harbour";
    ok(app
        .gql(
            Some(&admin1),
            "mutation($o: ID!, $p: String!) { createAccount(username: \"nurse.sato\", password: $p, organisationId: $o) { id } }",
            json!({ "o": organisation, "p": password }),
        )
        .await);
    let pending = ok(app.gql(Some(&admin2), "{ accountChanges { id } }", json!({})).await);
    let change = pending["accountChanges"][0]["id"].clone();
    ok(app
        .gql(Some(&admin2), "mutation($c: ID!) { approveAccountChange(changeId: $c) { id } }", json!({ "c": change }))
        .await);

    let login = ok(app
        .gql(
            None,
            "mutation($p: String!) { login(username: \"nurse.sato\", password: $p) { token } }",
            json!({ "p": password }),
        )
        .await);
    let token = login["login"]["token"].as_str().expect("a token").to_owned();
    let me = ok(app.gql(Some(&token), "{ me { role organisation { healthCentre { id code } } } }", json!({})).await);
    assert_eq!(me["me"]["role"], "HEALTH_CENTRE_STAFF");
    assert_eq!(me["me"]["organisation"]["healthCentre"], json!({ "id": centre_id, "code": "131130" }));
    // The centre's staff reach its patients only: none yet.
    let patients = ok(app.gql(Some(&token), "{ patients { totalCount } }", json!({})).await);
    assert_eq!(patients["patients"]["totalCount"], 0, "{patients}");
}

async fn refused_input_names_its_field_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let before = counts(&app, &admin).await;
    let hc1_centre = app.health_centre_id(&admin, "131032").await;
    let clinic = facility_id(&app, &admin, "F13-0001").await;

    let centre = |change: Value| {
        let mut input = centre_input();
        if let (Some(input), Some(change)) = (input.as_object_mut(), change.as_object()) {
            input.extend(change.clone());
        }
        json!({ "input": input })
    };
    let facility = |change: Value| {
        let mut input = json!({
            "code": "F13-0199", "name": "Refused Clinic", "nameJa": "拒否クリニック", "kind": "HOSPITAL",
            "healthCentreId": hc1_centre, "hasSystemAccess": true,
        });
        if let (Some(input), Some(change)) = (input.as_object_mut(), change.as_object()) {
            input.extend(change.clone());
        }
        json!({ "input": input })
    };
    let cases = [
        (CREATE_CENTRE, centre(json!({ "code": "" })), "BAD_USER_INPUT", "input.code"),
        (CREATE_CENTRE, centre(json!({ "code": "13 1130" })), "BAD_USER_INPUT", "input.code"),
        (CREATE_CENTRE, centre(json!({ "code": "C".repeat(21) })), "BAD_USER_INPUT", "input.code"),
        (CREATE_CENTRE, centre(json!({ "code": "131032" })), "BAD_USER_INPUT", "input.code"),
        (CREATE_CENTRE, centre(json!({ "name": "   " })), "BAD_USER_INPUT", "input.name"),
        (CREATE_CENTRE, centre(json!({ "name": "N".repeat(101) })), "BAD_USER_INPUT", "input.name"),
        (CREATE_CENTRE, centre(json!({ "nameJa": "渋谷\n保健所" })), "BAD_USER_INPUT", "input.nameJa"),
        (CREATE_CENTRE, centre(json!({ "nameJa": "渋谷\u{202E}保健所" })), "BAD_USER_INPUT", "input.nameJa"),
        (CREATE_CENTRE, centre(json!({ "prefectureCode": "48" })), "BAD_USER_INPUT", "input.prefectureCode"),
        (CREATE_CENTRE, centre(json!({ "prefectureCode": "Tokyo" })), "BAD_USER_INPUT", "input.prefectureCode"),
        (CREATE_FACILITY, facility(json!({ "code": "F13-0001" })), "BAD_USER_INPUT", "input.code"),
        (CREATE_FACILITY, facility(json!({ "code": "F13/0199" })), "BAD_USER_INPUT", "input.code"),
        (CREATE_FACILITY, facility(json!({ "name": "" })), "BAD_USER_INPUT", "input.name"),
        (CREATE_FACILITY, facility(json!({ "nameJa": "\u{0007}" })), "BAD_USER_INPUT", "input.nameJa"),
        (CREATE_FACILITY, facility(json!({ "healthCentreId": "centre" })), "BAD_USER_INPUT", "input.healthCentreId"),
        (CREATE_FACILITY, facility(json!({ "healthCentreId": "999999" })), "NOT_FOUND", "input.healthCentreId"),
        (UPDATE_CENTRE, json!({ "id": "999999", "input": { "name": "Nowhere" } }), "NOT_FOUND", "id"),
        (UPDATE_CENTRE, json!({ "id": "x", "input": { "name": "Nowhere" } }), "BAD_USER_INPUT", "id"),
        (UPDATE_CENTRE, json!({ "id": hc1_centre, "input": {} }), "BAD_USER_INPUT", "input"),
        (UPDATE_CENTRE, json!({ "id": hc1_centre, "input": { "name": "" } }), "BAD_USER_INPUT", "input.name"),
        (
            UPDATE_CENTRE,
            json!({ "id": hc1_centre, "input": { "nameJa": "a\u{2028}b" } }),
            "BAD_USER_INPUT",
            "input.nameJa",
        ),
        (UPDATE_FACILITY, json!({ "id": "999999", "input": { "hasSystemAccess": true } }), "NOT_FOUND", "id"),
        (UPDATE_FACILITY, json!({ "id": clinic, "input": {} }), "BAD_USER_INPUT", "input"),
        (
            UPDATE_FACILITY,
            json!({ "id": clinic, "input": { "name": "N".repeat(101) } }),
            "BAD_USER_INPUT",
            "input.name",
        ),
    ];
    for (operation, variables, code, field) in cases {
        let refused = app.gql(Some(&admin), operation, variables.clone()).await;
        assert_eq!(error_code(&refused), Some(code), "{variables}: {refused}");
        assert_eq!(error_field(&refused), Some(field), "{variables}: {refused}");
        let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("渋谷") && !message.contains("NNNN"), "the rule, not the value: {message}");
    }
    assert_eq!(counts(&app, &admin).await, before, "nothing was created");
    let names =
        ok(app.gql(Some(&admin), "{ healthCentres { code name nameJa } facilities { code name } }", json!({})).await);
    assert_eq!(
        names["healthCentres"][0],
        json!({ "code": "131032", "name": "Minato City Health Centre", "nameJa": "みなと保健所" })
    );
    assert_eq!(names["facilities"][0], json!({ "code": "F13-0001", "name": "Minato Fever Clinic" }));
    assert!(reference_audit(&app, &admin).await.is_empty(), "nothing was changed, nothing audited");
}

async fn only_administrators_manage_health_centres_and_facilities(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let before = counts(&app, &admin).await;
    let centre = app.health_centre_id(&admin, "131032").await;
    let facility = facility_id(&app, &admin, "F13-0001").await;
    let operations = [
        (CREATE_CENTRE, json!({ "input": centre_input() })),
        // Refused before the input is looked at: an invalid one too.
        (CREATE_CENTRE, json!({ "input": { "code": "", "name": "", "nameJa": "", "prefectureCode": "99" } })),
        (UPDATE_CENTRE, json!({ "id": centre, "input": { "name": "Taken Over" } })),
        (
            CREATE_FACILITY,
            json!({ "input": { "code": "F13-0199", "name": "Own Clinic", "nameJa": "自前クリニック",
                "kind": "TESTING_CLINIC", "healthCentreId": centre, "hasSystemAccess": true } }),
        ),
        (UPDATE_FACILITY, json!({ "id": facility, "input": { "hasSystemAccess": false } })),
    ];
    for username in ["clinic1", "hospital1", "hc1", "pref13", "analyst1"] {
        let token = app.login(username).await;
        for (operation, variables) in &operations {
            let refused = app.gql(Some(&token), operation, variables.clone()).await;
            assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{username}: {refused}");
        }
    }
    for (operation, variables) in &operations {
        let refused = app.gql(None, operation, variables.clone()).await;
        assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    }
    assert_eq!(counts(&app, &admin).await, before);
    let names = ok(app.gql(Some(&admin), "{ healthCentres { name } facilities { hasSystemAccess } }", json!({})).await);
    assert_eq!(names["healthCentres"][0]["name"], "Minato City Health Centre");
    assert_eq!(names["facilities"][0]["hasSystemAccess"], true);
    assert!(reference_audit(&app, &admin).await.is_empty());
}

async fn system_access_is_taken_away_only_once_the_accounts_are_disabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let facility = facility_id(&app, &admin, "F13-0001").await;
    let withdraw = json!({ "id": facility, "input": { "hasSystemAccess": false } });

    let refused = app.gql(Some(&admin), UPDATE_FACILITY, withdraw.clone()).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "clinic1 can still sign in: {refused}");
    let accounts = ok(app.gql(Some(&admin), "{ accounts(first: 500) { nodes { id username } } }", json!({})).await);
    let clinic1 = accounts["accounts"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["username"] == "clinic1")
        .map(|a| a["id"].clone())
        .expect("clinic1");
    ok(app
        .gql(Some(&admin), "mutation($a: ID!) { disableAccount(accountId: $a) { id } }", json!({ "a": clinic1 }))
        .await);

    let withdrawn = ok(app.gql(Some(&admin), UPDATE_FACILITY, withdraw).await);
    assert_eq!(withdrawn["updateFacility"]["hasSystemAccess"], false);
    // Its organisation stays (accounts and records name it).
    assert_eq!(organisations_of(&app, &admin, "facility", &facility).await.len(), 1);
    // The health centre now enters data for it.
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&hc1, "ダイコウ ハナコ", json!({ "facilityId": facility })).await;
    assert!(!patient.is_empty());
}

async fn a_scoped_api_key_and_an_idempotency_key_work_with_the_new_mutations(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let organisations =
        ok(app.gql(Some(&admin), "{ organisations(first: 500) { nodes { id kind } } }", json!({})).await);
    let operator = organisations["organisations"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["kind"] == "OPERATOR")
        .map(|o| o["id"].clone())
        .expect("the operator's organisation");
    let owner = ok(app
        .gql(
            Some(&admin),
            "mutation($o: ID!) { createServiceAccount(name: \"registry sync\", organisationId: $o) { id } }",
            json!({ "o": operator }),
        )
        .await)["createServiceAccount"]["id"]
        .clone();
    let expires_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let key = ok(app
        .gql(
            Some(&admin),
            "mutation($s: ID!, $e: DateTime!) { createApiKey(serviceAccountId: $s, name: \"sync\", expiresAt: $e, \
             scope: { operations: [\"createHealthCentre\", \"healthCentres\"] }) { key } }",
            json!({ "s": owner, "e": expires_at }),
        )
        .await)["createApiKey"]["key"]
        .as_str()
        .expect("a key")
        .to_owned();

    // Within its scope, sent twice with one Idempotency-Key: created once.
    let body = json!({ "query": CREATE_CENTRE, "variables": { "input": centre_input() } });
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response: Value = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "create-shibuya-1")
            .json(&body)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        answers.push(ok(response));
    }
    assert_eq!(answers[0], answers[1], "the replay answers the first answer");
    let listed = ok(app.gql(Some(&key), "{ healthCentres(prefectureCode: \"13\") { code } }", json!({})).await);
    let shibuya = listed["healthCentres"].as_array().into_iter().flatten().filter(|c| c["code"] == "131130").count();
    assert_eq!(shibuya, 1, "{listed}");
    // Outside its scope.
    let centre = answers[0]["createHealthCentre"]["id"].clone();
    let refused = app.gql(Some(&key), UPDATE_CENTRE, json!({ "id": centre, "input": { "name": "Renamed" } })).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    // The entry names the key.
    let entries = ok(app
        .gql(
            Some(&admin),
            "{ auditLog(first: 50) { edges { node { action serviceAccountId apiKeyId account { id } } } } }",
            json!({}),
        )
        .await);
    let created = entries["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| &edge["node"])
        .find(|node| node["action"] == "CREATE_HEALTH_CENTRE")
        .cloned()
        .expect("audited");
    assert_eq!(created["serviceAccountId"], owner, "{created}");
    assert!(created["apiKeyId"].is_string() && created["account"].is_null(), "{created}");
}

/// Pages through `field(args)` a page of `size` at a time and answers
/// every node's `key`, checking each page's cursors and count on the way.
async fn walk(app: &TestApp, token: &str, field: &str, args: &str, size: usize, key: &str) -> Vec<String> {
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    let mut total = None;
    for _ in 0..100 {
        let query = format!(
            "query($after: String) {{ {field}({args} first: {size}, after: $after) {{ totalCount \
             edges {{ cursor node {{ {key} }} }} nodes {{ {key} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"
        );
        let page = ok(app.gql(Some(token), &query, json!({ "after": after })).await)[field].clone();
        let nodes = page["nodes"].as_array().cloned().unwrap_or_default();
        assert!(nodes.len() <= size, "{page}");
        let edges = page["edges"].as_array().cloned().unwrap_or_default();
        assert_eq!(edges.iter().map(|e| e["node"].clone()).collect::<Vec<_>>(), nodes, "edges and nodes agree: {page}");
        assert_eq!(page["pageInfo"]["hasPreviousPage"], after.is_some(), "{page}");
        let count = page["totalCount"].as_u64().unwrap_or_else(|| panic!("{page}"));
        assert_eq!(*total.get_or_insert(count), count, "the count does not change between pages: {page}");
        seen.extend(nodes.iter().map(|n| n[key].as_str().unwrap_or_else(|| panic!("{n}")).to_owned()));
        if page["pageInfo"]["hasNextPage"] != true {
            assert_eq!(seen.len() as u64, count, "every item once: {seen:?}");
            return seen;
        }
        after = edges.last().and_then(|e| e["cursor"].as_str()).map(str::to_owned);
        assert_eq!(after.as_deref(), page["pageInfo"]["endCursor"].as_str(), "{page}");
    }
    panic!("{field} did not end");
}

/// Accounts, organisations and facilities are Relay connections: pages in
/// a stable order whose union is the whole list once, `totalCount` (alone
/// with `first: 0`), cursors refused when foreign, and the same
/// authorisation as before.
async fn administrative_lists_page_as_connections_with_their_counts(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let hc1 = app.login("hc1").await;

    let usernames = walk(&app, &admin, "accounts", "", 3, "username").await;
    for demo in ["clinic1", "hospital1", "hc1", "hc1b", "hc2", "hc3", "pref13", "analyst1", "admin1", "admin2"] {
        assert_eq!(usernames.iter().filter(|u| u.as_str() == demo).count(), 1, "{demo} once: {usernames:?}");
    }
    let organisations = walk(&app, &admin, "organisations", "", 2, "id").await;
    let mut unique = organisations.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), organisations.len(), "{organisations:?}");

    // The facilities, all and of one centre, as the plain list has them.
    let plain = ok(app.gql(Some(&hc1), "{ facilities { id healthCentre { id } } }", json!({})).await);
    let mut all: Vec<String> = plain["facilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect();
    all.sort();
    let mut paged = walk(&app, &hc1, "facilitiesConnection", "", 2, "id").await;
    paged.sort();
    assert_eq!(paged, all);
    let centre = plain["facilities"][0]["healthCentre"]["id"].as_str().unwrap_or_else(|| panic!("{plain}")).to_owned();
    let of_centre = plain["facilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["healthCentre"]["id"] == centre.as_str())
        .count();
    let args = format!("healthCentreId: \"{centre}\",");
    assert_eq!(walk(&app, &hc1, "facilitiesConnection", &args, 1, "id").await.len(), of_centre);

    // The count alone.
    let count = ok(app
        .gql(Some(&admin), "{ accounts(first: 0) { totalCount nodes { id } pageInfo { hasNextPage } } }", json!({}))
        .await);
    assert_eq!(count["accounts"]["totalCount"], usernames.len() as u64, "{count}");
    assert_eq!(count["accounts"]["nodes"], json!([]), "{count}");
    assert_eq!(count["accounts"]["pageInfo"]["hasNextPage"], true, "{count}");

    // A cursor of another list, a page too large: refused, naming the argument.
    let cursor = ok(app.gql(Some(&admin), "{ organisations(first: 1) { pageInfo { endCursor } } }", json!({})).await)
        ["organisations"]["pageInfo"]["endCursor"]
        .clone();
    let foreign =
        app.gql(Some(&admin), "query($c: String) { accounts(after: $c) { totalCount } }", json!({ "c": cursor })).await;
    assert_eq!((error_code(&foreign), error_field(&foreign)), (Some("BAD_USER_INPUT"), Some("after")), "{foreign}");
    let large = app.gql(Some(&admin), "{ organisations(first: 100000) { totalCount } }", json!({})).await;
    assert_eq!((error_code(&large), error_field(&large)), (Some("BAD_USER_INPUT"), Some("first")), "{large}");

    // Staff other than administrators list neither accounts nor organisations.
    for query in ["{ accounts { totalCount } }", "{ organisations(first: 0) { totalCount } }"] {
        let refused = app.gql(Some(&hc1), query, json!({})).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{query}: {refused}");
    }
}

/// `node(nodeId:)` answers the object a `nodeId` names, of any type that
/// has one, under the caller's rules; a patient out of reach is null like
/// one that does not exist; a made-up `nodeId` is refused naming it.
async fn a_node_id_names_one_object_under_the_callers_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let admin = app.login("admin1").await;
    let (patient, _) = app.register_patient(&clinic, "ノード タロウ", json!({})).await;

    let ids = ok(app
        .gql(
            Some(&hc1),
            "query($p: ID!) { patient(id: $p) { id nodeId responsibleHealthCentre { id nodeId prefecture { id nodeId } } } \
             facilities { id nodeId } }",
            json!({ "p": patient }),
        )
        .await);
    let centre = &ids["patient"]["responsibleHealthCentre"];
    let facility = &ids["facilities"][0];
    let mut every = Vec::new();
    for (typename, object) in [
        ("Patient", &ids["patient"]),
        ("HealthCentre", centre),
        ("Prefecture", &centre["prefecture"]),
        ("Facility", facility),
    ] {
        let node_id = object["nodeId"].as_str().unwrap_or_else(|| panic!("{ids}")).to_owned();
        assert!(!every.contains(&node_id), "unique across types: {node_id}");
        every.push(node_id.clone());
        let found = ok(app
            .gql(
                Some(&hc1),
                "query($n: ID!) { node(nodeId: $n) { __typename nodeId \
                 ... on Patient { id nameKana } ... on HealthCentre { id } ... on Prefecture { id } ... on Facility { id } } }",
                json!({ "n": node_id }),
            )
            .await);
        assert_eq!(found["node"]["__typename"], typename, "{found}");
        assert_eq!((&found["node"]["id"], &found["node"]["nodeId"]), (&object["id"], &object["nodeId"]), "{found}");
    }

    // A patient's global identity is no key for those without the record.
    let node = "query($n: ID!) { node(nodeId: $n) { nodeId } }";
    let patient_node = json!({ "n": every[0] });
    for other in ["hc3", "admin1"] {
        let token = if other == "admin1" { admin.clone() } else { app.login(other).await };
        let answer = app.gql(Some(&token), node, patient_node.clone()).await;
        assert!(answer["data"]["node"].is_null() && answer["errors"].is_null(), "{other}: {answer}");
    }
    // Reference rows are for staff, and a made-up ID names nothing.
    let absent = node_id_of("Facility", "999999");
    let answer = app.gql(Some(&hc1), node, json!({ "n": absent })).await;
    assert!(answer["data"]["node"].is_null() && answer["errors"].is_null(), "{answer}");
    for refused in [node_id_of("Account", "1"), node_id_of("Patient", "x"), "Patient:1".to_owned(), String::new()] {
        let answer = app.gql(Some(&hc1), node, json!({ "n": refused })).await;
        assert_eq!(
            (error_code(&answer), error_field(&answer)),
            (Some("BAD_USER_INPUT"), Some("nodeId")),
            "{refused}: {answer}"
        );
    }
    let anonymous = app.gql(None, node, patient_node).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
}

/// A `nodeId` as the server makes them (URL-safe base64 of `Type:id`), to
/// name rows and types the server never handed out.
fn node_id_of(typename: &str, id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{typename}:{id}"))
}
