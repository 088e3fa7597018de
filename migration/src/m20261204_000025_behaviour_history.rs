//! The behaviour history before onset (行動歴) that the active
//! epidemiological investigation records per case: dated entries with the
//! kind of place, the place and a note. Entries are kept as entered
//! (append-only); personal data, read under the personal-field rules.
//!
//! And care in a welfare facility (施設療養): a home-care decision for a
//! resident cared for in their elderly or welfare facility, counted apart
//! in the care-status report (`care_setting_changes.welfare_facility`, and
//! the patient's current `in_welfare_facility`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("behaviour_entries")
                    .col(big_pk_auto("id"))
                    .col(big_integer("patient_id"))
                    .col(date("day"))
                    .col(text("place_kind"))
                    .col(text("place"))
                    .col(text_null("note"))
                    .col(big_integer("recorded_by_account_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("behaviour_entries_patient")
                    .table("behaviour_entries")
                    .col("patient_id")
                    .to_owned(),
            )
            .await?;
        for table in ["care_setting_changes", "patients"] {
            let column = if table == "patients" { "in_welfare_facility" } else { "welfare_facility" };
            let mut flag = boolean(column).default(false).to_owned();
            manager.alter_table(Table::alter().table(table).add_column(&mut flag).to_owned()).await?;
        }
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE FUNCTION behaviour_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION 'the behaviour history is append-only'; END $$",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER behaviour_entries_append_only BEFORE UPDATE OR DELETE ON behaviour_entries \
                 FOR EACH ROW EXECUTE FUNCTION behaviour_entries_append_only()",
            )
            .await?;
        } else {
            for event in ["UPDATE", "DELETE"] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER behaviour_entries_no_{} BEFORE {event} ON behaviour_entries \
                     BEGIN SELECT RAISE(ABORT, 'the behaviour history is append-only'); END",
                    event.to_lowercase()
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("behaviour_entries").to_owned()).await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS behaviour_entries_append_only()")
                .await?;
        }
        manager.alter_table(Table::alter().table("patients").drop_column("in_welfare_facility").to_owned()).await?;
        manager
            .alter_table(Table::alter().table("care_setting_changes").drop_column("welfare_facility").to_owned())
            .await
    }
}
