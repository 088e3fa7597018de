//! Append-only tables: a trigger refuses every UPDATE and DELETE of their
//! rows, on both databases, with `message`.

use sea_orm_migration::prelude::*;

/// Makes `table` append-only. On PostgreSQL a function
/// `{table}_append_only()` raises `message` and a trigger of the same name
/// calls it; on SQLite one trigger per statement kind aborts with it.
pub async fn make(manager: &SchemaManager<'_>, table: &str, message: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared(&format!(
            "CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION '{message}'; END $$"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        ))
        .await?;
    } else {
        for event in ["UPDATE", "DELETE"] {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_no_{} BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END",
                event.to_lowercase()
            ))
            .await?;
        }
    }
    Ok(())
}

/// Drops what [`make`] created with `table` (the table's own triggers go
/// with the table; the PostgreSQL function does not).
pub async fn drop_function(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        manager.get_connection().execute_unprepared(&format!("DROP FUNCTION IF EXISTS {table}_append_only()")).await?;
    }
    Ok(())
}
