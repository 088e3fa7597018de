//! Insider paths to personal data, closed: an account that will read
//! personal data takes two administrators, no one assigns their own
//! account, account actions name their target in the audit log, and a
//! prefecture's own accommodation placement opens no personal data.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, DEMO_PASSWORD, TestApp, error_code, spawn_app};

both!(
    a_new_account_in_a_health_centre_signs_in_only_after_a_second_administrator_approves,
    a_move_into_a_health_centre_waits_for_a_second_administrator_and_no_one_moves_themself,
    account_actions_name_their_target_and_the_organisations_in_the_audit_log,
    a_prefecture_placing_a_patient_in_accommodation_itself_reads_no_personal_data,
);

fn ok(response: Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

async fn organisation(app: &TestApp, admin: &str, kind: &str) -> String {
    let organisations =
        ok(app.gql(Some(admin), "{ organisations(first: 500) { nodes { id kind } } }", json!({})).await);
    organisations["organisations"]["nodes"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["kind"] == kind))
        .and_then(|o| o["id"].as_str())
        .unwrap_or_else(|| panic!("no {kind} organisation: {organisations}"))
        .to_owned()
}

async fn account_id(app: &TestApp, admin: &str, username: &str) -> String {
    let accounts = ok(app.gql(Some(admin), "{ accounts(first: 500) { nodes { id username } } }", json!({})).await);
    accounts["accounts"]["nodes"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["username"] == username))
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no account {username}: {accounts}"))
        .to_owned()
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> Value {
    app.gql(
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": password }),
    )
    .await
}

const PENDING: &str = "{ accountChanges { id kind account { username awaitingApproval role } \
    fromOrganisation { id } toOrganisation { id kind } requestedBy { username } decision } }";
const APPROVE: &str = "mutation($c: ID!) { approveAccountChange(changeId: $c) { id decision decidedBy { username } } }";
const REJECT: &str = "mutation($c: ID!) { rejectAccountChange(changeId: $c) { id decision } }";
const ASSIGN: &str = "mutation($a: ID!, $o: ID!) { assignOrganisation(accountId: $a, organisationId: $o) { id role } }";

async fn a_new_account_in_a_health_centre_signs_in_only_after_a_second_administrator_approves(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin1 = app.login("admin1").await;
    let admin2 = app.login("admin2").await;
    let centre = organisation(&app, &admin1, "HEALTH_CENTRE").await;
    let password = "a lantern over the harbour";
    let created = ok(app
        .gql(
            Some(&admin1),
            "mutation($o: ID!) { createAccount(username: \"nurse.kato\", password: \"a lantern over the harbour\", \
             organisationId: $o) { id awaitingApproval role } }",
            json!({ "o": centre }),
        )
        .await);
    assert_eq!(created["createAccount"]["awaitingApproval"], true, "{created}");
    // Until approved, the account signs in no better than a wrong password.
    let refused = sign_in(&app, "nurse.kato", password).await;
    let wrong = sign_in(&app, "hc1", "not the password at all").await;
    assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    assert_eq!(refused["errors"][0]["message"], wrong["errors"][0]["message"]);

    let pending = ok(app.gql(Some(&admin2), PENDING, json!({})).await);
    let changes = pending["accountChanges"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), 1, "{pending}");
    let change = &changes[0];
    assert_eq!(change["kind"], "CREATE");
    assert_eq!(change["account"]["username"], "nurse.kato");
    assert_eq!(change["requestedBy"]["username"], "admin1");
    assert!(change["decision"].is_null());
    let change_id = change["id"].as_str().expect("an id").to_owned();

    // Not the one who asked, and not staff.
    let own = app.gql(Some(&admin1), APPROVE, json!({ "c": change_id })).await;
    assert_eq!(error_code(&own), Some("FORBIDDEN"), "{own}");
    let hc1 = app.login("hc1").await;
    assert_eq!(error_code(&app.gql(Some(&hc1), APPROVE, json!({ "c": change_id })).await), Some("FORBIDDEN"));
    assert_eq!(error_code(&app.gql(Some(&hc1), PENDING, json!({})).await), Some("FORBIDDEN"));
    assert_eq!(error_code(&sign_in(&app, "nurse.kato", password).await), Some("UNAUTHENTICATED"));

    let approved = ok(app.gql(Some(&admin2), APPROVE, json!({ "c": change_id })).await);
    assert_eq!(approved["approveAccountChange"]["decision"], "APPROVED");
    assert_eq!(approved["approveAccountChange"]["decidedBy"]["username"], "admin2");
    let again = app.gql(Some(&admin2), APPROVE, json!({ "c": change_id })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "decided once: {again}");
    let signed_in = sign_in(&app, "nurse.kato", password).await;
    assert!(signed_in["data"]["login"]["token"].is_string(), "{signed_in}");
    assert_eq!(ok(app.gql(Some(&admin1), PENDING, json!({})).await)["accountChanges"], json!([]));

    // A rejected creation never signs in, even when enabled again.
    let created = ok(app
        .gql(
            Some(&admin2),
            "mutation($o: ID!) { createAccount(username: \"nurse.mori\", password: \"a lantern over the harbour\", \
             organisationId: $o) { id } }",
            json!({ "o": centre }),
        )
        .await);
    let pending = ok(app.gql(Some(&admin1), PENDING, json!({})).await);
    let change_id = pending["accountChanges"][0]["id"].as_str().expect("a change").to_owned();
    assert_eq!(
        ok(app.gql(Some(&admin1), REJECT, json!({ "c": change_id })).await)["rejectAccountChange"]["decision"],
        "REJECTED"
    );
    let id = created["createAccount"]["id"].clone();
    ok(app.gql(Some(&admin1), "mutation($a: ID!) { enableAccount(accountId: $a) { id } }", json!({ "a": id })).await);
    assert_eq!(error_code(&sign_in(&app, "nurse.mori", password).await), Some("UNAUTHENTICATED"));

    // An account outside clinical organisations needs no second look.
    let national = organisation(&app, &admin1, "NATIONAL").await;
    let analyst = ok(app
        .gql(
            Some(&admin1),
            "mutation($o: ID!) { createAccount(username: \"analyst.ueda\", password: \"a lantern over the harbour\", \
             organisationId: $o) { awaitingApproval } }",
            json!({ "o": national }),
        )
        .await);
    assert_eq!(analyst["createAccount"]["awaitingApproval"], false);
    assert!(sign_in(&app, "analyst.ueda", password).await["data"]["login"]["token"].is_string());
    // The demo data set's second administrator signs in like the first.
    assert!(sign_in(&app, "admin2", DEMO_PASSWORD).await["data"]["login"]["token"].is_string());
}

async fn a_move_into_a_health_centre_waits_for_a_second_administrator_and_no_one_moves_themself(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin1 = app.login("admin1").await;
    let admin2 = app.login("admin2").await;
    let centre = organisation(&app, &admin1, "HEALTH_CENTRE").await;
    let admin1_id = account_id(&app, &admin1, "admin1").await;
    let admin2_id = account_id(&app, &admin1, "admin2").await;
    let analyst_id = account_id(&app, &admin1, "analyst1").await;

    // No one moves their own account, anywhere.
    let own = app.gql(Some(&admin1), ASSIGN, json!({ "a": admin1_id, "o": centre })).await;
    assert_eq!(error_code(&own), Some("FORBIDDEN"), "{own}");
    // Asked by one administrator for the other, it cannot be approved by
    // the one it moves, nor by the one who asked.
    let asked = ok(app.gql(Some(&admin1), ASSIGN, json!({ "a": admin2_id, "o": centre })).await);
    assert_eq!(asked["assignOrganisation"]["role"], "SYSTEM_ADMIN", "the account stays where it was");
    let change = ok(app.gql(Some(&admin1), PENDING, json!({})).await)["accountChanges"][0]["id"].clone();
    assert_eq!(error_code(&app.gql(Some(&admin2), APPROVE, json!({ "c": change })).await), Some("FORBIDDEN"));
    assert_eq!(error_code(&app.gql(Some(&admin1), APPROVE, json!({ "c": change })).await), Some("FORBIDDEN"));
    // The one who asked may withdraw it.
    ok(app.gql(Some(&admin1), REJECT, json!({ "c": change })).await);

    // The analyst asked to be moved into a health centre: nothing changes
    // until the second administrator approves; then the role changes and
    // the analyst's sessions end.
    let analyst = app.login("analyst1").await;
    let asked = ok(app.gql(Some(&admin1), ASSIGN, json!({ "a": analyst_id, "o": centre })).await);
    assert_eq!(asked["assignOrganisation"]["role"], "NATIONAL_ANALYST");
    let twice = app.gql(Some(&admin2), ASSIGN, json!({ "a": analyst_id, "o": centre })).await;
    assert_eq!(error_code(&twice), Some("CONFLICT"), "one pending change per account: {twice}");
    let me = ok(app.gql(Some(&analyst), "{ me { role } }", json!({})).await);
    assert_eq!(me["me"]["role"], "NATIONAL_ANALYST");
    let pending = ok(app.gql(Some(&admin2), PENDING, json!({})).await);
    let change = &pending["accountChanges"][0];
    assert_eq!(change["kind"], "ASSIGN_ORGANISATION", "{pending}");
    assert_eq!(change["toOrganisation"]["id"], centre.as_str());
    assert!(change["fromOrganisation"]["id"].is_string());
    let approved = ok(app.gql(Some(&admin2), APPROVE, json!({ "c": change["id"] })).await);
    assert_eq!(approved["approveAccountChange"]["decision"], "APPROVED");
    assert_eq!(error_code(&app.gql(Some(&analyst), "{ me { role } }", json!({})).await), Some("UNAUTHENTICATED"));
    let moved = app.login("analyst1").await;
    assert_eq!(ok(app.gql(Some(&moved), "{ me { role } }", json!({})).await)["me"]["role"], "HEALTH_CENTRE_STAFF");
}

async fn account_actions_name_their_target_and_the_organisations_in_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin1 = app.login("admin1").await;
    let admin2 = app.login("admin2").await;
    let national = organisation(&app, &admin1, "NATIONAL").await;
    let hc2_id = account_id(&app, &admin1, "hc2").await;
    ok(app
        .gql(Some(&admin1), "mutation($a: ID!) { disableAccount(accountId: $a) { id } }", json!({ "a": hc2_id }))
        .await);
    ok(app
        .gql(Some(&admin1), "mutation($a: ID!) { enableAccount(accountId: $a) { id } }", json!({ "a": hc2_id }))
        .await);
    ok(app.gql(Some(&admin1), ASSIGN, json!({ "a": hc2_id, "o": national })).await);
    let log = ok(app
        .gql(
            Some(&admin2),
            "query($a: ID) { auditLog(accountId: $a, first: 50) { edges { node { action targetAccount { username } detail } } } }",
            json!({ "a": account_id(&app, &admin2, "admin1").await }),
        )
        .await);
    let entries: Vec<Value> = log["auditLog"]["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
        .unwrap_or_default();
    for action in ["DISABLE_ACCOUNT", "ENABLE_ACCOUNT", "ASSIGN_ORGANISATION"] {
        let entry =
            entries.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action} entry: {entries:?}"));
        assert_eq!(entry["targetAccount"]["username"], "hc2", "{entry}");
        assert!(entry["detail"].as_str().is_some_and(|d| !d.is_empty()), "{entry}");
    }
    let moved = entries.iter().find(|e| e["action"] == "ASSIGN_ORGANISATION").expect("the move");
    let detail = moved["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("organisation {national}")), "the new organisation is named: {detail}");
    assert!(detail.contains('→'), "old and new organisation: {detail}");
}

async fn a_prefecture_placing_a_patient_in_accommodation_itself_reads_no_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let pref = app.login("pref13").await;
    let (id, _) = app.register_patient(&clinic, "ジブン デ キメタ", json!({})).await;
    let set = "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s) { careSetting nameKanji address phone } }";
    // The prefecture places the patient itself: the placement stands, but
    // the answer (and later reads) carry no personal data.
    let placed = app.gql(Some(&pref), set, json!({ "p": id, "s": "ACCOMMODATION" })).await;
    assert_eq!(placed["data"]["setCareSetting"]["careSetting"], "ACCOMMODATION", "{placed}");
    assert!(placed["data"]["setCareSetting"]["nameKanji"].is_null(), "{placed}");
    assert!(placed["data"]["setCareSetting"]["address"].is_null(), "{placed}");
    assert_eq!(error_code(&placed), Some("FORBIDDEN"), "{placed}");
    let read = "query($p: ID!) { patient(id: $p) { careSetting nameKanji } }";
    let seen = app.gql(Some(&pref), read, json!({ "p": id })).await;
    assert!(seen["data"]["patient"]["nameKanji"].is_null(), "{seen}");
    // Nor may it record follow-up on its own placement.
    let call = app
        .gql(
            Some(&pref),
            "mutation($p: ID!) { recordFollowUpCall(input: { patientId: $p, reached: true }) { id } }",
            json!({ "p": id }),
        )
        .await;
    assert_eq!(error_code(&call), Some("FORBIDDEN"), "{call}");
    // Placed by the responsible health centre, the prefecture reads it.
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { id } }",
            json!({ "p": id }),
        )
        .await);
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { setCareSetting(patientId: $p, setting: ACCOMMODATION) { id } }",
            json!({ "p": id }),
        )
        .await);
    let seen = ok(app.gql(Some(&pref), read, json!({ "p": id })).await);
    assert_eq!(seen["patient"]["nameKanji"], "試験 太郎", "{seen}");
    assert!(seen["patient"]["nameKanji"].is_string(), "{seen}");
}
