//! The operators' commands, run as the real `hersys` binary against a
//! SQLite file: `health-centre add|update` and `facility add|update` make
//! what the API's mutations make (the institution, its organisation, the
//! audit entry, here saying it came from the command line), and refuse
//! what they refuse, naming the flag.

use std::process::{Command, Output, Stdio};

use sea_orm::{ConnectionTrait, Database, Statement};

fn hersys(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hersys"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn printed(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The rows `sql` selects, each column as text.
async fn rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    let db = Database::connect(url).await.expect("a connection");
    let found = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await;
    let found = found.expect("the query runs");
    let _ = db.close().await;
    found
        .iter()
        .map(|row| {
            let names = row.column_names();
            names
                .iter()
                .map(|name| {
                    let text = row.try_get::<Option<String>>("", name).ok();
                    let number = || row.try_get::<Option<i64>>("", name).ok().map(|n| n.map(|n| n.to_string()));
                    text.or_else(number).flatten().unwrap_or_default()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn health_centres_and_facilities_are_added_and_changed_on_the_command_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display());

    let added = hersys(
        &url,
        &[
            "health-centre",
            "add",
            "--code",
            "131130",
            "--name",
            "Shibuya City Health Centre",
            "--name-ja",
            "渋谷区保健所",
            "--prefecture-code",
            "13",
        ],
    );
    assert!(added.status.success(), "{}", printed(&added));
    assert!(printed(&added).contains("created health centre"), "{}", printed(&added));
    let centres = rows(&url, "SELECT id, code, name_en, name_ja, prefecture_id FROM health_centres").await;
    assert_eq!(centres.len(), 1, "{centres:?}");
    let centre = centres[0][0].clone();
    assert_eq!(centres[0][1..], ["131130", "Shibuya City Health Centre", "渋谷区保健所", "13"]);
    let organisations =
        rows(&url, &format!("SELECT kind, name FROM organisations WHERE health_centre_id = {centre}")).await;
    assert_eq!(organisations, [["HEALTH_CENTRE", "Shibuya City Health Centre"]]);

    // Refused, naming the flag, changing nothing: a taken code, a bad one.
    let again = hersys(
        &url,
        &["health-centre", "add", "--code", "131130", "--name", "X", "--name-ja", "X", "--prefecture-code", "13"],
    );
    assert!(!again.status.success());
    assert!(printed(&again).contains("--code: a health centre already has this code"), "{}", printed(&again));
    let bad = hersys(
        &url,
        &["health-centre", "add", "--code", "131131", "--name", "X", "--name-ja", "X", "--prefecture-code", "48"],
    );
    assert!(!bad.status.success());
    assert!(printed(&bad).contains("--prefecture-code"), "{}", printed(&bad));
    assert_eq!(rows(&url, "SELECT id FROM health_centres").await.len(), 1);

    let renamed = hersys(&url, &["health-centre", "update", "--id", &centre, "--name", "Shibuya Health Centre"]);
    assert!(renamed.status.success(), "{}", printed(&renamed));
    let organisations = rows(&url, &format!("SELECT name FROM organisations WHERE health_centre_id = {centre}")).await;
    assert_eq!(organisations, [["Shibuya Health Centre"]]);

    let facility = hersys(
        &url,
        &[
            "facility",
            "add",
            "--code",
            "F13-0101",
            "--name",
            "Shibuya General Hospital",
            "--name-ja",
            "渋谷総合病院",
            "--kind",
            "hospital",
            "--health-centre-id",
            &centre,
            "--has-system-access",
            "false",
        ],
    );
    assert!(facility.status.success(), "{}", printed(&facility));
    let facilities = rows(&url, "SELECT id, kind, has_system_access FROM facilities").await;
    let facility = facilities[0][0].clone();
    assert_eq!(facilities[0][1], "HOSPITAL");
    assert!(rows(&url, &format!("SELECT id FROM organisations WHERE facility_id = {facility}")).await.is_empty());
    let unknown = hersys(&url, &["facility", "update", "--id", "999", "--has-system-access", "true"]);
    assert!(printed(&unknown).contains("--id: no facility has this ID"), "{}", printed(&unknown));
    let nothing = hersys(&url, &["facility", "update", "--id", &facility]);
    assert!(!nothing.status.success() && printed(&nothing).contains("say what changes"), "{}", printed(&nothing));
    let access = hersys(&url, &["facility", "update", "--id", &facility, "--has-system-access", "true"]);
    assert!(access.status.success(), "{}", printed(&access));
    let organisations =
        rows(&url, &format!("SELECT kind, name FROM organisations WHERE facility_id = {facility}")).await;
    assert_eq!(organisations, [["MEDICAL_INSTITUTION", "Shibuya General Hospital"]]);

    // Audited as the command line's, with no account.
    let entries = rows(&url, "SELECT action, operation, detail, account_id FROM audit_entries ORDER BY id").await;
    let actions: Vec<&str> = entries.iter().map(|e| e[0].as_str()).collect();
    assert_eq!(actions, ["CREATE_HEALTH_CENTRE", "UPDATE_HEALTH_CENTRE", "CREATE_FACILITY", "UPDATE_FACILITY"]);
    assert_eq!(entries[0][1], "hersys health-centre add");
    assert_eq!(entries[3][1], "hersys facility update");
    for entry in &entries {
        assert!(entry[2].starts_with("from the command line: "), "{entry:?}");
        assert_eq!(entry[3], "", "no account acted: {entry:?}");
    }
}
