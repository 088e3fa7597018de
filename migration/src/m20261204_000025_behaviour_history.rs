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
        crate::append_only::make(manager, "behaviour_entries", "the behaviour history is append-only").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("behaviour_entries").to_owned()).await?;
        crate::append_only::drop_function(manager, "behaviour_entries").await?;
        manager.alter_table(Table::alter().table("patients").drop_column("in_welfare_facility").to_owned()).await?;
        manager
            .alter_table(Table::alter().table("care_setting_changes").drop_column("welfare_facility").to_owned())
            .await
    }
}
