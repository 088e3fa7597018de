//! The change of what is notified (September 2022): from a date the
//! operator sets, only people of four groups are notified individually
//! (`patients.notification_group` records which), and facilities report
//! the others as daily counts by age band (`daily_case_counts`, each row a
//! facility's count of a day and band as reported at `recorded_at`; a
//! later row for the same day and band replaces it). Append-only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut group = text_null("notification_group");
        manager.alter_table(Table::alter().table("patients").add_column(&mut group).to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table("daily_case_counts")
                    .col(big_pk_auto("id"))
                    .col(big_integer("facility_id"))
                    .col(date("day"))
                    .col(small_integer("age_decade"))
                    .col(integer("count"))
                    .col(big_integer("reported_by_account_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("daily_case_counts_facility_day")
                    .table("daily_case_counts")
                    .col("facility_id")
                    .col("day")
                    .col("age_decade")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("daily_case_counts").to_owned()).await?;
        manager.alter_table(Table::alter().table("patients").drop_column("notification_group").to_owned()).await
    }
}
