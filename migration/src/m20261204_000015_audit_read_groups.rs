//! A read of several patients' personal data is one audit entry naming
//! them all, instead of one entry per patient: `audit_entry_patients` holds
//! the patients of such an entry (its `patient_id` is null), one narrow row
//! each under one index, so that "who read patient X" is still answered by
//! index. Append-only like the entries themselves, and without foreign
//! keys like the rest of the log (migration 6). Entries written before stay
//! as they are (one per patient): nothing in the log is rewritten, and the
//! log is read in both forms.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_entry_patients")
                    .col(ColumnDef::new("patient_id").big_integer().not_null())
                    .col(ColumnDef::new("entry_id").big_integer().not_null())
                    .primary_key(Index::create().col("patient_id").col("entry_id"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // The function of migration 3 refuses every change.
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entry_patients_append_only BEFORE UPDATE OR DELETE ON audit_entry_patients \
                     FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
                )
                .await?;
            }
            _ => {
                for event in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_entry_patients_no_{} BEFORE {event} ON audit_entry_patients \
                         BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
                        event.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("audit_entry_patients").to_owned()).await
    }
}
