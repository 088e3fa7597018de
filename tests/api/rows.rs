//! Rows read by column position (the tables a page reads most of) are the
//! rows sea-orm reads by name, and a select whose columns are not the
//! model's is refused, never read into the wrong fields.

use entity::{health_report, hospitalisation, lab_test, patient};
use hersys::db::rows;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, QueryTrait, Statement};

use crate::both;
use crate::helpers::{Backend, spawn_app};

both!(rows_read_by_position_are_the_rows_read_by_name, a_select_unlike_the_model_is_refused);

async fn rows_read_by_position_are_the_rows_read_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    crate::planned::patients(&app).await;
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("connect");
    let backend = db.get_database_backend();

    let by_name = patient::Entity::find().order_by_asc(patient::Column::Id).all(&db).await.expect("by name");
    let statement = patient::Entity::find().order_by_asc(patient::Column::Id).build(backend);
    let by_position: Vec<patient::Model> = rows::all(&db, statement).await.expect("by position");
    assert_eq!(by_name.len(), 3);
    assert_eq!(by_position, by_name);
    let first = patient::Entity::find().order_by_asc(patient::Column::Id).build(backend);
    assert_eq!(rows::one::<patient::Model>(&db, first).await.expect("one"), by_name.first().cloned());

    let by_name = lab_test::Entity::find().order_by_asc(lab_test::Column::Id).all(&db).await.expect("by name");
    let statement = lab_test::Entity::find().order_by_asc(lab_test::Column::Id).build(backend);
    assert_eq!(by_name.len(), 5);
    assert_eq!(rows::all::<lab_test::Model>(&db, statement).await.expect("by position"), by_name);

    let by_name =
        hospitalisation::Entity::find().order_by_asc(hospitalisation::Column::Id).all(&db).await.expect("by name");
    let statement = hospitalisation::Entity::find().order_by_asc(hospitalisation::Column::Id).build(backend);
    assert_eq!(by_name.len(), 2);
    assert_eq!(rows::all::<hospitalisation::Model>(&db, statement).await.expect("by position"), by_name);

    let by_name =
        health_report::Entity::find().order_by_asc(health_report::Column::Id).all(&db).await.expect("by name");
    let statement = health_report::Entity::find().order_by_asc(health_report::Column::Id).build(backend);
    assert_eq!(by_name.len(), 4);
    assert_eq!(rows::all::<health_report::Model>(&db, statement).await.expect("by position"), by_name);

    // No rows: nothing to check, nothing read.
    let none = Statement::from_string(backend, "SELECT * FROM lab_tests WHERE id < 0");
    assert_eq!(rows::all::<lab_test::Model>(&db, none).await.expect("empty"), Vec::new());
    db.close().await.expect("close");
}

/// The lab tests read by position from a select of `columns`.
async fn read_tests(db: &DatabaseConnection, columns: &str) -> Result<Vec<lab_test::Model>, sea_orm::DbErr> {
    let sql = format!("SELECT {columns} FROM lab_tests ORDER BY id");
    rows::all(db, Statement::from_string(db.get_database_backend(), sql)).await
}

const COLUMNS: &str = "id, patient_id, facility_id, kind, specimen, result, sampled_at, resulted_at, recorded_at, \
                       recorded_by_account_id, entered_by_organisation_id, version, specimen_id";

async fn a_select_unlike_the_model_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    crate::planned::patients(&app).await;
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("connect");
    assert_eq!(read_tests(&db, COLUMNS).await.expect("the model's columns").len(), 5);

    // Two columns of the same type in each other's place.
    let swapped = COLUMNS.replacen("patient_id, facility_id", "facility_id, patient_id", 1);
    let error = read_tests(&db, &swapped).await.expect_err("swapped columns").to_string();
    assert!(error.contains("column 1") && error.contains("not patient_id"), "{error}");

    // A column of the right name and the wrong type.
    let retyped = COLUMNS.replacen("version", "CAST(version AS TEXT) AS version", 1);
    let error = read_tests(&db, &retyped).await.expect_err("a text version").to_string();
    assert!(error.contains("version"), "{error}");

    // One column too many, or one too few.
    let error = read_tests(&db, &format!("{COLUMNS}, id AS extra")).await.expect_err("an extra column").to_string();
    assert!(error.contains("14 columns") && error.contains("the model 13"), "{error}");
    let shorter = COLUMNS.replacen(", specimen_id", "", 1);
    let error = read_tests(&db, &shorter).await.expect_err("a missing column").to_string();
    assert!(error.contains("specimen_id"), "{error}");
    db.close().await.expect("close");
}
