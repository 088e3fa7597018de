//! The audit log refuses updates and deletes in the database itself, so
//! that not even a fault in the gateway (or a stray SQL session) can
//! rewrite history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries \
                     FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
                )
                .await?;
            }
            _ => {
                for event in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_entries_no_{} BEFORE {event} ON audit_entries \
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
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries").await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS audit_entries_append_only()").await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_entries_no_update").await?;
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_entries_no_delete").await?;
            }
        }
        Ok(())
    }
}
