//! Work items the gateway closes itself: when the cause of an item ends
//! (the care setting of an undecided positive is decided, the patient not
//! reported reports, the notification is accepted or returned, the case of
//! a release due ends), the watch marks the item done. Such a change has
//! no staff account, so `updated_by_account_id` may be null, and
//! `closed_because` says which cause ended.
//!
//! SQLite cannot drop a NOT NULL constraint in place: there the table is
//! made anew under the same name with its rows and index, in one batch on
//! one connection.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The SQLite batch that remakes `work_items` with `updated_by` (its
/// column's definition) and, when given, `closed_because`.
fn sqlite_rebuild(updated_by: &str, closed_because: bool) -> String {
    let columns = "event_id, health_centre_id, state, assignee_account_id, updated_by_account_id, updated_at, version";
    let extra = if closed_because { ", closed_because text NULL" } else { "" };
    format!(
        "CREATE TABLE work_items_next (event_id integer NOT NULL PRIMARY KEY, health_centre_id integer NOT NULL, \
         state text NOT NULL, assignee_account_id integer NULL, updated_by_account_id {updated_by}, \
         updated_at timestamp_with_timezone_text NOT NULL, version integer NOT NULL{extra}); \
         INSERT INTO work_items_next ({columns}) SELECT {columns} FROM work_items; \
         DROP TABLE work_items; \
         ALTER TABLE work_items_next RENAME TO work_items; \
         CREATE INDEX ix_work_items_health_centre_id_state ON work_items (health_centre_id, state);"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared(&sqlite_rebuild("integer NULL", true)).await?;
            return Ok(());
        }
        db.execute_unprepared("ALTER TABLE work_items ALTER COLUMN updated_by_account_id DROP NOT NULL").await?;
        manager
            .alter_table(
                Table::alter()
                    .table("work_items")
                    .add_column(ColumnDef::new("closed_because").text().null().to_owned())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Items the watch closed have no account to give back: they go.
        let db = manager.get_connection();
        db.execute_unprepared("DELETE FROM work_items WHERE updated_by_account_id IS NULL").await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared(&sqlite_rebuild("integer NOT NULL", false)).await?;
            return Ok(());
        }
        manager.alter_table(Table::alter().table("work_items").drop_column("closed_because").to_owned()).await?;
        db.execute_unprepared("ALTER TABLE work_items ALTER COLUMN updated_by_account_id SET NOT NULL").await?;
        Ok(())
    }
}
