//! The rules of ARCHITECTURE.md that a reading of the source can check,
//! checked: no import cycle between top-level modules, no GraphQL below the
//! GraphQL layer and no HTTP outside the transports, no role matched
//! outside the policy, no optional caller in a service, no case row written
//! outside the unit of work, no placeholder written outside `db::Sql`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                found.push((path, text));
            }
        }
    }
    found.sort();
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source without comments, so that prose may name what code may not.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`src/services/care.rs` →
/// `services`).
fn top_module(path: &Path) -> String {
    let relative = path.strip_prefix(src()).expect("a file under src/");
    let first = relative.components().next().expect("a first component");
    Path::new(first.as_os_str()).file_stem().expect("a name").to_string_lossy().into_owned()
}

/// The top-level modules each top-level module names (`crate::x`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources(&src());
    let modules: BTreeSet<String> =
        files.iter().map(|(path, _)| top_module(path)).filter(|m| m != "main" && m != "lib").collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let from = top_module(path);
        if !modules.contains(&from) {
            continue;
        }
        let text = code(text);
        let mut named = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a, b::c}`
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for part in group.split(',') {
                    named.insert(part.trim().split("::").next().unwrap_or_default().to_owned());
                }
            } else {
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                named.insert(name);
            }
        }
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(named.into_iter().filter(|m| modules.contains(m) && *m != from));
    }
    graph
}

/// A cycle of the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("services") && graph["graphql"].contains("services"), "the reading works: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle between top-level modules: {}", cycle.join(" → "));
    }
}

#[test]
fn a_cycle_would_be_found() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(4));
    if let Some(c) = graph.get_mut("c") {
        c.clear();
    }
    assert_eq!(find_cycle(&graph), None);
}

/// Below the GraphQL layer nothing knows GraphQL: services, the domain,
/// authentication and policy, events, the database, errors, state.
#[test]
fn the_layers_below_graphql_know_nothing_of_it() {
    let below = ["services", "domain", "auth", "events", "db", "error", "state", "config", "clock"];
    let mut offenders = Vec::new();
    for (path, text) in sources(&src()) {
        if below.contains(&top_module(&path).as_str()) && code(&text).contains("async_graphql") {
            offenders.push(path.display().to_string());
        }
    }
    assert!(offenders.is_empty(), "async_graphql used below the GraphQL layer: {offenders:?}");
}

/// Who may read and do what is decided in `auth::policy` alone: no other
/// file matches on a role. (Building a principal names its role; the
/// authorisation matrix is the policy's own table.)
#[test]
fn no_role_is_matched_outside_the_policy() {
    let variants =
        ["MedicalStaff", "HealthCentreStaff", "PrefectureStaff", "NationalAnalyst", "SystemAdmin", "Patient"];
    let allowed = |path: &Path| {
        let path = path.to_string_lossy().replace('\\', "/");
        path.contains("/src/auth/policy/")
            || path.ends_with("/src/auth/principal.rs")
            || path.ends_with("/src/auth/matrix.rs")
    };
    let mut offenders = Vec::new();
    for (path, text) in sources(&src()) {
        if allowed(&path) {
            continue;
        }
        let text = code(&text);
        for (n, line) in text.lines().enumerate() {
            let matches_variant = variants.iter().any(|v| line.contains(&format!("Role::{v}")));
            let compares =
                line.contains(".role ==") || line.contains(".role !=") || line.contains("match principal.role");
            let matches_tuple = line.contains("(principal.role");
            if matches_variant || compares || matches_tuple {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "roles matched outside auth::policy:\n{}", offenders.join("\n"));
}

/// Services take the caller as a `&Principal` the resolver obtained once
/// (never an `Option` to unwrap again); a use case that also runs at the
/// command line says so with `services::Actor`.
#[test]
fn services_take_a_principal_never_an_option() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&src().join("services")) {
        for (n, line) in code(&text).lines().enumerate() {
            if line.contains("Option<&Principal>") {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "services taking an optional caller:\n{}", offenders.join("\n"));
}

/// The rows of a patient's case (its tests, stays, reports, calls, visits,
/// care decisions and transfers, and the patient row itself once
/// registered) are written only through the unit of work in
/// `services::patient_write`, which locks the patient, asks the policy,
/// refreshes the statistics ledger and audits before it commits: no other
/// service that writes them opens a transaction of its own. (Registering
/// creates the row; the demo loader writes a whole data set at once.)
#[test]
fn the_rows_of_a_case_are_written_through_the_unit_of_work() {
    let owned = [
        "lab_test::ActiveModel",
        "lab_test_result::ActiveModel",
        "hospitalisation::ActiveModel",
        "condition_entry::ActiveModel",
        "care_setting_change::ActiveModel",
        "patient_transfer::ActiveModel",
        "health_report::ActiveModel",
        "follow_up_call::ActiveModel",
        "medical_visit::ActiveModel",
        "patient_change::ActiveModel",
        "patient_referral::ActiveModel",
        "patient_contact::ActiveModel",
        "behaviour_entry::ActiveModel",
        "versioned_update::<lab_test::Entity>",
        "versioned_update::<hospitalisation::Entity>",
        "versioned_update::<patient::Entity>",
        "patient::Entity::update",
    ];
    let exempt = ["patient_write.rs", "demo.rs"];
    let mut offenders = Vec::new();
    let mut writers = 0;
    for (path, text) in sources(&src().join("services")) {
        let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        let text = code(&text);
        if exempt.contains(&name.as_str()) || !owned.iter().any(|row| text.contains(row)) {
            continue;
        }
        writers += 1;
        for (n, line) in text.lines().enumerate() {
            if line.contains("begin_write") || line.contains(".begin()") || line.contains("txn.commit()") {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(writers >= 3, "the rows of a case are written somewhere: only {writers} services found");
    assert!(offenders.is_empty(), "a case written outside the unit of work:\n{}", offenders.join("\n"));
}

/// axum lives in the transport layer (and in the start-up that binds it):
/// the pipeline, GraphQL and everything below know nothing of HTTP. The
/// `entity` and `migration` crates know nothing of GraphQL or HTTP.
#[test]
fn http_stays_in_the_transport_layer_and_the_entities_know_neither() {
    let allowed = ["http", "startup", "config"];
    let mut offenders = Vec::new();
    for (path, text) in sources(&src()) {
        if !allowed.contains(&top_module(&path).as_str()) && code(&text).contains("axum") {
            offenders.push(path.display().to_string());
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for crate_dir in ["entity/src", "migration/src"] {
        for (path, text) in sources(&root.join(crate_dir)) {
            let text = code(&text);
            if text.contains("axum") || text.contains("async_graphql") {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(offenders.is_empty(), "HTTP or GraphQL used outside its layer: {offenders:?}");
}

/// A statement written by hand binds its values through the one SQL
/// builder (`db::Sql`): nothing else writes placeholders.
#[test]
fn hand_written_statements_bind_through_the_one_builder() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&src()) {
        if path.starts_with(src().join("db")) {
            continue;
        }
        for (n, line) in code(&text).lines().enumerate() {
            if line.contains("from_sql_and_values") || line.contains("Values(vec!") {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "placeholders written outside db::Sql:\n{}", offenders.join("\n"));
}
