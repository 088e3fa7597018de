//! The committed schema files are what the code produces.

use std::path::Path;

fn check(file: &str, produced: &str, command: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema").join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == produced,
        "schema/{file} differs from the schema the code produces.\nRefresh it with:\n    {command}\nand commit the result."
    );
}

#[test]
fn the_committed_subgraph_schema_matches_the_code() {
    check(
        "hersys.graphql",
        &hersys::graphql::subgraph_sdl(),
        "cargo run --quiet -- export-schema > schema/hersys.graphql",
    );
}

/// Types that come from GraphQL itself, async-graphql or the federation
/// specification, whose descriptions are not ours to write.
const FOREIGN_TYPES: &[&str] = &[
    "String",
    "Int",
    "Float",
    "Boolean",
    "ID",
    "_Any",
    "_Service",
    "_Entity",
    "link__Import",
    "link__Purpose",
    "FieldSet",
];

#[test]
fn the_committed_api_schema_matches_the_code() {
    check(
        "hersys.api.graphql",
        &hersys::graphql::api_sdl(),
        "cargo run --quiet -- export-schema --api > schema/hersys.api.graphql",
    );
}

#[test]
fn the_subgraph_schema_links_federation_v2_and_declares_its_entities() {
    let sdl = hersys::graphql::subgraph_sdl();
    assert!(sdl.contains("@link(\n\turl: \"https://specs.apollo.dev/federation/v2"), "{sdl}");
    for entity in [
        "type Patient implements Node @key(fields: \"id\")",
        "type LabTest implements Node @key(fields: \"id\")",
        "type Hospitalisation implements Node @key(fields: \"id\")",
        "type Facility implements Node @key(fields: \"id\")",
        "type HealthCentre implements Node @key(fields: \"id\") @key(fields: \"code\") @shareable",
        "type Prefecture implements Node @key(fields: \"id\") @key(fields: \"code\") @shareable",
    ] {
        assert!(sdl.contains(entity), "missing: {entity}");
    }
    let api = hersys::graphql::api_sdl();
    assert!(!api.contains("@key") && !api.contains("@link"), "the API schema has no federation directives");
}

#[tokio::test]
async fn every_type_field_argument_and_value_of_our_own_is_documented() {
    let schema = hersys::graphql::build(None);
    let response = schema
        .execute(
            "{ __schema { types { name description \
               fields { name description args { name description } } \
               inputFields { name description } enumValues { name description } } } }",
        )
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().expect("introspection as JSON");
    let mut missing = Vec::new();
    let blank = |v: &serde_json::Value| v["description"].as_str().is_none_or(|d| d.trim().is_empty());
    for ty in data["__schema"]["types"].as_array().into_iter().flatten() {
        let name = ty["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || FOREIGN_TYPES.contains(&name) {
            continue;
        }
        if blank(ty) {
            missing.push(format!("type {name}"));
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field_name = field["name"].as_str().unwrap_or_default();
            if field_name.starts_with('_') {
                continue;
            }
            if blank(field) {
                missing.push(format!("field {name}.{field_name}"));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if blank(arg) {
                    missing.push(format!("argument {name}.{field_name}({})", arg["name"].as_str().unwrap_or_default()));
                }
            }
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            if blank(field) {
                missing.push(format!("input field {name}.{}", field["name"].as_str().unwrap_or_default()));
            }
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            if blank(value) {
                missing.push(format!("enum value {name}.{}", value["name"].as_str().unwrap_or_default()));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented parts of the schema:\n{}", missing.join("\n"));
}

#[test]
fn the_committed_authorisation_matrix_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join("authorisation.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == hersys::auth::matrix::markdown(),
        "docs/authorisation.md differs from src/auth/matrix.rs.\nRefresh it with:\n    \
         cargo run --quiet -- authorisation-matrix > docs/authorisation.md\nand commit the result."
    );
}
