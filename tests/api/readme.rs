//! The README's walk-through, run as written against the real server.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, spawn_app};

both!(the_readme_walk_through_works_as_written);

/// The (account, operation) blocks of the README, in order.
fn walk_through() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(account) = line.strip_prefix("<!-- as: ").and_then(|rest| rest.strip_suffix(" -->")) else {
            continue;
        };
        assert_eq!(lines.next(), Some("```graphql"), "a graphql block follows the marker for {account}");
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push((account.to_owned(), body.join("\n")));
    }
    blocks
}

async fn the_readme_walk_through_works_as_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let blocks = walk_through();
    assert!(blocks.len() >= 10, "the walk-through has its steps");
    let mut smartphone_id = None;
    for (account, operation) in blocks {
        let token = match account.strip_prefix("patient ") {
            Some(patient) => {
                let id: &String = smartphone_id.as_ref().expect("the patient was registered first");
                assert_eq!(patient, "1");
                let login = app
                    .gql(
                        None,
                        "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1980-04-01\") { token } }",
                        json!({ "s": id }),
                    )
                    .await;
                login["data"]["patientLogin"]["token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned()
            }
            None => app.login(&account).await,
        };
        let response = app.gql(Some(&token), &operation, json!({})).await;
        if account == "analyst1" {
            // The de-identified view: FORBIDDEN at each personal field only.
            let errors = response["errors"].as_array().cloned().unwrap_or_default();
            assert!(!errors.is_empty(), "{response}");
            assert!(errors.iter().all(|e| e["extensions"]["code"] == "FORBIDDEN"), "{response}");
            assert_eq!(response["data"]["patients"]["totalCount"], 1, "{response}");
        } else {
            assert!(response["errors"].is_null(), "README step as {account} failed:\n{operation}\n{response}");
        }
        if let Some(Value::String(id)) = response["data"]["registerPatient"].get("smartphoneId") {
            smartphone_id = Some(id.clone());
        }
        if operation.contains("patient(id: \"1\")") {
            let patient = &response["data"]["patient"];
            assert_eq!(patient["outcome"], "RELEASED_FROM_CARE");
            assert_eq!(patient["tests"].as_array().map(Vec::len), Some(2));
            assert_eq!(patient["healthReports"][0]["byPatient"], true);
        }
    }
}
