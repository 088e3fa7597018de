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
//! On PostgreSQL every row of a result has the columns the server described
//! once for the statement, so they are checked once, on the first row
//! (names, and types each field can be read from), and every row is then
//! read without asking each cell again. SQLite types each value on its own,
//! so there each cell is checked as it is read.
//!
//! Use: [`all`] or [`one`] with the entity's own select (all its columns,
//! as `find()` makes it), or a statement whose columns are the model's.

use sea_orm::sqlx::{self, Column as _, Row};
use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryResult, QueryTrait, Select, Statement};

/// A model whose columns can be read by position from either database.
pub trait Positional: Sized {
    /// Whether `row`'s columns are the model's: each named as the field it
    /// fills, in order, of a type that field can be read from.
    fn check_postgres(row: &sqlx::postgres::PgRow) -> Result<(), DbErr>;
    /// A row whose columns [`Positional::check_postgres`] accepted (for a
    /// row of the same result).
    fn from_checked_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, DbErr>;
    /// A row, each cell checked as it is read.
    fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Self, DbErr>;
}

/// What [`all`] and [`one`] run: a select, built for the connection's
/// database, or a statement already built.
pub trait Query {
    /// The statement to run on `backend`.
    fn statement(self, backend: DbBackend) -> Statement;
}

impl Query for Statement {
    fn statement(self, _: DbBackend) -> Statement {
        self
    }
}

impl<E: EntityTrait> Query for Select<E> {
    fn statement(self, backend: DbBackend) -> Statement {
        self.build(backend)
    }
}

/// Every row of `query`, read as `M`.
pub async fn all<M: Positional>(db: &impl ConnectionTrait, query: impl Query) -> Result<Vec<M>, DbErr> {
    read(&db.query_all_raw(query.statement(db.get_database_backend())).await?)
}

/// The first row of `query`, read as `M`, if there is one.
pub async fn one<M: Positional>(db: &impl ConnectionTrait, query: impl Query) -> Result<Option<M>, DbErr> {
    let Some(row) = db.query_one_raw(query.statement(db.get_database_backend())).await? else { return Ok(None) };
    Ok(read(std::slice::from_ref(&row))?.pop())
}

/// The rows of one result: on PostgreSQL the first row's columns checked
/// for all, on SQLite each cell as it is read.
fn read<M: Positional>(rows: &[QueryResult]) -> Result<Vec<M>, DbErr> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    // Sized once: a collected `Result` would grow the models (a few
    // hundred bytes each) by doubling, copying them each time.
    let mut models = Vec::with_capacity(rows.len());
    if let Some(first) = first.try_as_pg_row() {
        M::check_postgres(first)?;
        for row in rows {
            models.push(M::from_checked_postgres(pg_row(row)?)?);
        }
    } else {
        for row in rows {
            models.push(from_sqlite(row)?);
        }
    }
    Ok(models)
}

fn pg_row(row: &QueryResult) -> Result<&sqlx::postgres::PgRow, DbErr> {
    row.try_as_pg_row().ok_or_else(|| DbErr::Type("a result mixes PostgreSQL rows with others".to_owned()))
}

fn from_sqlite<M: Positional>(row: &QueryResult) -> Result<M, DbErr> {
    match row.try_as_sqlite_row() {
        Some(row) => M::from_sqlite(row),
        None => Err(DbErr::Type("rows are read by position on PostgreSQL and SQLite only".to_owned())),
    }
}

/// The column at `index` if it is named `name`.
fn named<'r, R: Row>(
    row: &'r R,
    index: usize,
    name: &str,
) -> Result<&'r <R::Database as sqlx::Database>::Column, DbErr> {
    match row.columns().get(index) {
        Some(found) if found.name() == name => Ok(found),
        found => Err(DbErr::Type(format!(
            "column {index} is {:?}, not {name}: the select does not match the model",
            found.map(|c| c.name())
        ))),
    }
}

/// How a field is read from its column: [`Plain`], [`Enumerated`] or
/// [`MaybeEnumerated`], for a field of type `T`.
trait Cell<R: Row, T> {
    /// Whether the column at `index` is named `name` and of a type `T` can
    /// be read from.
    fn check(row: &R, index: usize, name: &str) -> Result<(), DbErr>;
    /// The cell, its column and its value's type checked.
    fn read(row: &R, index: usize, name: &str) -> Result<T, DbErr>;
    /// The cell of a column already checked.
    fn read_checked(row: &R, index: usize, name: &str) -> Result<T, DbErr>;
}

/// A field read as the column's own type.
struct Plain;
/// A stored enumeration (text).
struct Enumerated;
/// An optional stored enumeration.
struct MaybeEnumerated;

fn decode_error(name: &str, error: sqlx::Error) -> DbErr {
    DbErr::Type(format!("column {name}: {error}"))
}

/// Whether a column of `name` can fill a field read as `T`.
fn compatible<R: Row, T: sqlx::Type<R::Database>>(row: &R, index: usize, name: &str) -> Result<(), DbErr> {
    use sqlx::TypeInfo;
    let column = named(row, index, name)?;
    let ty = column.type_info();
    if T::compatible(ty) {
        return Ok(());
    }
    Err(DbErr::Type(format!(
        "column {name} is of type {}, which does not fit the model's {}",
        ty.name(),
        T::type_info().name()
    )))
}

impl<R, T> Cell<R, T> for Plain
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    T: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn check(row: &R, index: usize, name: &str) -> Result<(), DbErr> {
        compatible::<R, T>(row, index, name)
    }

    fn read(row: &R, index: usize, name: &str) -> Result<T, DbErr> {
        named(row, index, name)?;
        row.try_get(index).map_err(|error| decode_error(name, error))
    }

    fn read_checked(row: &R, index: usize, name: &str) -> Result<T, DbErr> {
        row.try_get_unchecked(index).map_err(|error| decode_error(name, error))
    }
}

impl<R, E> Cell<R, E> for Enumerated
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    E: ActiveEnum<Value = String>,
{
    fn check(row: &R, index: usize, name: &str) -> Result<(), DbErr> {
        compatible::<R, &str>(row, index, name)
    }

    fn read(row: &R, index: usize, name: &str) -> Result<E, DbErr> {
        named(row, index, name)?;
        from_text(row.try_get::<&str, _>(index).map_err(|error| decode_error(name, error))?)
    }

    fn read_checked(row: &R, index: usize, name: &str) -> Result<E, DbErr> {
        from_text(row.try_get_unchecked::<&str, _>(index).map_err(|error| decode_error(name, error))?)
    }
}

impl<R, E> Cell<R, Option<E>> for MaybeEnumerated
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    E: ActiveEnum<Value = String>,
{
    fn check(row: &R, index: usize, name: &str) -> Result<(), DbErr> {
        compatible::<R, &str>(row, index, name)
    }

    fn read(row: &R, index: usize, name: &str) -> Result<Option<E>, DbErr> {
        named(row, index, name)?;
        let text: Option<&str> = row.try_get(index).map_err(|error| decode_error(name, error))?;
        text.map(from_text).transpose()
    }

    fn read_checked(row: &R, index: usize, name: &str) -> Result<Option<E>, DbErr> {
        let text: Option<&str> = row.try_get_unchecked(index).map_err(|error| decode_error(name, error))?;
        text.map(from_text).transpose()
    }
}

/// Checks the column at `index` for the field `_field` selects (its type
/// named by the accessor, as no value is at hand).
fn check_field<K, R, M, T>(row: &R, index: usize, name: &str, _field: impl Fn(&M) -> &T) -> Result<(), DbErr>
where
    K: Cell<R, T>,
    R: Row,
{
    K::check(row, index, name)
}

/// Whether `row` has exactly the model's `count` columns.
fn all_columns<R: Row>(row: &R, count: usize) -> Result<(), DbErr> {
    match row.columns().len() {
        found if found == count => Ok(()),
        found => Err(DbErr::Type(format!(
            "the select has {found} columns, the model {count}: the select does not match the model"
        ))),
    }
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
/// ([`Plain`], [`Enumerated`] or [`MaybeEnumerated`]); the struct literal
/// makes the compiler check that no field is missing.
macro_rules! positional {
    ($model:path { $($field:ident: $read:ident),* $(,)? }) => {
        impl Positional for $model {
            fn check_postgres(row: &sqlx::postgres::PgRow) -> Result<(), DbErr> {
                let mut index = 0..;
                $(check_field::<$read, _, Self, _>(row, index.next().unwrap_or_default(), stringify!($field), |model: &Self| &model.$field)?;)*
                all_columns(row, index.next().unwrap_or_default())
            }
            fn from_checked_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, DbErr> {
                let mut index = 0..;
                Ok(Self { $($field: <$read as Cell<_, _>>::read_checked(row, index.next().unwrap_or_default(), stringify!($field))?),* })
            }
            fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Self, DbErr> {
                let mut index = 0..;
                let model = Self { $($field: <$read as Cell<_, _>>::read(row, index.next().unwrap_or_default(), stringify!($field))?),* };
                all_columns(row, index.next().unwrap_or_default())?;
                Ok(model)
            }
        }
    };
}

positional!(entity::patient::Model {
    id: Plain,
    case_type: Enumerated,
    name_kanji: Plain,
    name_kana: Plain,
    sex: Enumerated,
    birth_date: Plain,
    address: Plain,
    phone: Plain,
    email: Plain,
    occupation: Plain,
    guardian_name: Plain,
    onset_date: Plain,
    diagnosis_date: Plain,
    diagnosis_method: MaybeEnumerated,
    notes: Plain,
    smartphone_id: Plain,
    previous_smartphone_id: Plain,
    previous_patient_id: Plain,
    prior_infection: Plain,
    responsible_health_centre_id: Plain,
    registering_facility_id: Plain,
    registered_by_account_id: Plain,
    care_setting: Enumerated,
    care_decided_by_prefecture: Plain,
    in_welfare_facility: Plain,
    outcome: MaybeEnumerated,
    outcome_at: Plain,
    outcome_recorded_at: Plain,
    version: Plain,
    registered_at: Plain,
    recorded_at: Plain,
    updated_at: Plain,
    current_location: Plain,
    first_visit_date: Plain,
    estimated_infection_date: Plain,
    infection_route: Plain,
    symptoms: Plain,
    specimen: MaybeEnumerated,
    spo2_at_diagnosis: Plain,
    severity_at_diagnosis: MaybeEnumerated,
    needs_admission: Plain,
    risk_factors: Plain,
    vaccination_doses: Plain,
    prior_infection_note: Plain,
    record_status: Enumerated,
    status_reason: Plain,
    withdrawn_into_patient_id: Plain,
    name_kana_key: Plain,
    phone_digits: Plain,
    notification_status: Enumerated,
    notification_reason: Plain,
    notification_decided_at: Plain,
    outcome_rule: Plain,
    notification_group: MaybeEnumerated,
    infection_route_category: MaybeEnumerated,
    infection_route_certainty: MaybeEnumerated,
});

positional!(entity::lab_test::Model {
    id: Plain,
    patient_id: Plain,
    facility_id: Plain,
    kind: Enumerated,
    specimen: Plain,
    result: Enumerated,
    sampled_at: Plain,
    resulted_at: Plain,
    recorded_at: Plain,
    recorded_by_account_id: Plain,
    entered_by_organisation_id: Plain,
    version: Plain,
    specimen_id: Plain,
});

positional!(entity::hospitalisation::Model {
    id: Plain,
    patient_id: Plain,
    facility_id: Plain,
    admitted_at: Plain,
    recorded_at: Plain,
    discharged_at: Plain,
    discharge_recorded_at: Plain,
    severity: Enumerated,
    icu: Plain,
    ventilator: Plain,
    ecmo: Plain,
    recorded_by_account_id: Plain,
    entered_by_organisation_id: Plain,
    version: Plain,
});

positional!(entity::health_report::Model {
    id: Plain,
    patient_id: Plain,
    reporter: Enumerated,
    reported_by_account_id: Plain,
    body_temperature: Plain,
    spo2: Plain,
    symptoms: Plain,
    note: Plain,
    emergency_signs: Plain,
    reported_at: Plain,
    recorded_at: Plain,
});
