//! On PostgreSQL, an entry naming several patients (a page read) holds
//! them in its own `patient_ids` array, under a GIN index, instead of a
//! row each in `audit_entry_patients`: one row and one pending-list append
//! per entry rather than a hundred B-tree insertions, and "who read patient
//! X" is still answered by index (`patient_ids @> ARRAY[X]`). The
//! append-only trigger of the entries covers the column. Entries written
//! before keep their rows in `audit_entry_patients` (nothing in the log is
//! rewritten), and the log is read in every form. SQLite, without arrays,
//! keeps `audit_entry_patients`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE audit_entries ADD COLUMN patient_ids BIGINT[] NULL").await?;
        db.execute_unprepared("CREATE INDEX ix_audit_entries_patient_ids ON audit_entries USING gin (patient_ids)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_audit_entries_patient_ids").await?;
        db.execute_unprepared("ALTER TABLE audit_entries DROP COLUMN patient_ids").await?;
        Ok(())
    }
}
