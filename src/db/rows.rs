//! Reading the rows of the busiest tables by column position.
//!
//! sea-orm reads a model's columns by name, and reads a NULL in an optional
//! column by formatting an error first; for a page of a hundred patients
//! with their tests that was a seventh of the gateway's work. A model listed
//! here is read by position instead, through sqlx directly: each column's
//! name is still compared with the field it fills, so a select whose
//! columns are not the model's, in the model's order, fails loudly instead
//! of filling one field with another's value.
//!
//! Use: `Entity::find()…into_model::<ByPosition<Model>>()`, then `.0`. The
//! select must be the entity's own (all its columns, as `find()` makes it).

use sea_orm::sqlx::{self, Row};
use sea_orm::{ActiveEnum, DbErr, FromQueryResult, QueryResult};

/// A model read by position.
#[derive(Debug, Clone)]
pub struct ByPosition<M>(pub M);

/// A model whose columns can be read by position from either database.
pub trait Positional: Sized {
    fn from_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, DbErr>;
    fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Self, DbErr>;
}

impl<M: Positional> FromQueryResult for ByPosition<M> {
    fn from_query_result(result: &QueryResult, _prefix: &str) -> Result<Self, DbErr> {
        if let Some(row) = result.try_as_pg_row() {
            return M::from_postgres(row).map(ByPosition);
        }
        if let Some(row) = result.try_as_sqlite_row() {
            return M::from_sqlite(row).map(ByPosition);
        }
        Err(DbErr::Type("rows are read by position on PostgreSQL and SQLite only".to_owned()))
    }
}

/// The column at `index`, which must be named `name`.
fn column<'r, R, T>(row: &'r R, index: usize, name: &str) -> Result<T, DbErr>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use sqlx::Column;
    match row.columns().get(index) {
        Some(found) if found.name() == name => {}
        found => {
            return Err(DbErr::Type(format!(
                "column {index} is {:?}, not {name}: the select does not match the model",
                found.map(|c| c.name())
            )));
        }
    }
    row.try_get(index).map_err(|error| DbErr::Type(format!("column {name}: {error}")))
}

/// A stored enumeration (text) at `index`.
fn enumerated<'r, R, E>(row: &'r R, index: usize, name: &str) -> Result<E, DbErr>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    E: ActiveEnum<Value = String>,
{
    let text: &str = column(row, index, name)?;
    from_text(text)
}

/// An optional stored enumeration at `index`.
fn maybe_enumerated<'r, R, E>(row: &'r R, index: usize, name: &str) -> Result<Option<E>, DbErr>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    Option<&'r str>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    E: ActiveEnum<Value = String>,
{
    let text: Option<&str> = column(row, index, name)?;
    text.map(from_text).transpose()
}

/// The enumeration stored as `text`. sea-orm reads a stored value from a
/// `String`; a page holds thousands of them, so the text borrowed from the
/// row is copied into one buffer per thread rather than a new string each.
fn from_text<E: ActiveEnum<Value = String>>(text: &str) -> Result<E, DbErr> {
    thread_local!(static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
    TEXT.with_borrow_mut(|buffer| {
        buffer.clear();
        buffer.push_str(text);
        E::try_from_value(buffer)
    })
}

/// Lists a model's fields in column order, each with how it is read
/// (`column`, `enumerated` or `maybe_enumerated`); the struct literal makes
/// the compiler check that no field is missing.
macro_rules! positional {
    ($model:path { $($field:ident: $read:ident),* $(,)? }) => {
        impl Positional for $model {
            fn from_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, DbErr> {
                let mut index = 0..;
                Ok(Self { $($field: $read(row, index.next().unwrap_or_default(), stringify!($field))?),* })
            }
            fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Self, DbErr> {
                let mut index = 0..;
                Ok(Self { $($field: $read(row, index.next().unwrap_or_default(), stringify!($field))?),* })
            }
        }
    };
}

positional!(entity::patient::Model {
    id: column,
    case_type: enumerated,
    name_kanji: column,
    name_kana: column,
    sex: enumerated,
    birth_date: column,
    address: column,
    phone: column,
    email: column,
    occupation: column,
    guardian_name: column,
    onset_date: column,
    diagnosis_date: column,
    diagnosis_method: maybe_enumerated,
    notes: column,
    smartphone_id: column,
    previous_smartphone_id: column,
    previous_patient_id: column,
    prior_infection: column,
    responsible_health_centre_id: column,
    registering_facility_id: column,
    registered_by_account_id: column,
    care_setting: enumerated,
    care_decided_by_prefecture: column,
    in_welfare_facility: column,
    outcome: maybe_enumerated,
    outcome_at: column,
    outcome_recorded_at: column,
    version: column,
    registered_at: column,
    recorded_at: column,
    updated_at: column,
    current_location: column,
    first_visit_date: column,
    estimated_infection_date: column,
    infection_route: column,
    symptoms: column,
    specimen: maybe_enumerated,
    spo2_at_diagnosis: column,
    severity_at_diagnosis: maybe_enumerated,
    needs_admission: column,
    risk_factors: column,
    vaccination_doses: column,
    prior_infection_note: column,
    record_status: enumerated,
    status_reason: column,
    withdrawn_into_patient_id: column,
    name_kana_key: column,
    phone_digits: column,
    notification_status: enumerated,
    notification_reason: column,
    notification_decided_at: column,
    outcome_rule: column,
    notification_group: maybe_enumerated,
    infection_route_category: maybe_enumerated,
    infection_route_certainty: maybe_enumerated,
});

positional!(entity::lab_test::Model {
    id: column,
    patient_id: column,
    facility_id: column,
    kind: enumerated,
    specimen: column,
    result: enumerated,
    sampled_at: column,
    resulted_at: column,
    recorded_at: column,
    recorded_by_account_id: column,
    entered_by_organisation_id: column,
    version: column,
    specimen_id: column,
});

positional!(entity::hospitalisation::Model {
    id: column,
    patient_id: column,
    facility_id: column,
    admitted_at: column,
    recorded_at: column,
    discharged_at: column,
    discharge_recorded_at: column,
    severity: enumerated,
    icu: column,
    ventilator: column,
    ecmo: column,
    recorded_by_account_id: column,
    entered_by_organisation_id: column,
    version: column,
});

positional!(entity::health_report::Model {
    id: column,
    patient_id: column,
    reporter: enumerated,
    reported_by_account_id: column,
    body_temperature: column,
    spo2: column,
    symptoms: column,
    note: column,
    emergency_signs: column,
    reported_at: column,
    recorded_at: column,
});
