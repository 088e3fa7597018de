//! The audit log and the outbox no longer check their references with
//! foreign keys on PostgreSQL. Each row is written in the transaction that
//! read or wrote the rows it names, nothing in the gateway deletes a
//! patient, account, test or health centre, and an append-only log must not
//! stop a write because of a reference. What the checks cost was not small:
//! every positive result ran seven of them, and each takes a share lock on
//! the row it names, so concurrent writes of one account or one health
//! centre queued on that row (a multixact per lock). SQLite keeps them: it
//! cannot drop a constraint, and with one writer its checks lock nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Table, constraint (as the initial schema named it), column, and the
/// table it refers to.
const REFERENCES: [(&str, &str, &str, &str); 7] = [
    ("audit_entries", "fk_audit_entries_account_id", "account_id", "accounts"),
    ("audit_entries", "fk_audit_entries_actor_patient_id", "actor_patient_id", "patients"),
    ("audit_entries", "fk_audit_entries_patient_id", "patient_id", "patients"),
    ("outbox_events", "fk_outbox_events_lab_test_id", "lab_test_id", "lab_tests"),
    ("outbox_events", "fk_outbox_events_patient_id", "patient_id", "patients"),
    ("outbox_events", "fk_outbox_events_health_centre_id", "health_centre_id", "health_centres"),
    ("outbox_events", "fk_outbox_events_prefecture_id", "prefecture_id", "prefectures"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (table, constraint, _, _) in REFERENCES {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (table, constraint, column, target) in REFERENCES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY ({column}) REFERENCES {target} (id) \
                 ON DELETE RESTRICT"
            ))
            .await?;
        }
        Ok(())
    }
}
