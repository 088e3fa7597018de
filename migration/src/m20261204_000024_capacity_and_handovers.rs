//! What prefectures secure for care, and handovers of contacts.
//!
//! - `prefecture_capacity`: the hospital beds (and of them for severe
//!   cases) and accommodation rooms a prefecture has secured for a day,
//!   as it reported them. A later report for the same day replaces the
//!   earlier one from the moment it is recorded; rows are never changed,
//!   so the figures of any moment can be reproduced.
//! - `patient_transfers.keeps_access`: a case moved to another health
//!   centre stays readable by the one it left; a close contact handed to
//!   the centre of the area they live in does not (the link to the case
//!   stays, without the other centre's personal data).

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
                    .table("prefecture_capacity")
                    .col(big_pk_auto("id"))
                    .col(integer("prefecture_id"))
                    .col(date("day"))
                    .col(big_integer("beds"))
                    .col(big_integer("severe_beds"))
                    .col(big_integer("accommodation_rooms"))
                    .col(big_integer("recorded_by_account_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("prefecture_capacity_day")
                    .table("prefecture_capacity")
                    .col("prefecture_id")
                    .col("day")
                    .to_owned(),
            )
            .await?;
        let mut keeps_access = boolean("keeps_access").default(true).to_owned();
        manager.alter_table(Table::alter().table("patient_transfers").add_column(&mut keeps_access).to_owned()).await?;
        crate::append_only::make(manager, "prefecture_capacity", "capacity reports are append-only").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("prefecture_capacity").to_owned()).await?;
        crate::append_only::drop_function(manager, "prefecture_capacity").await?;
        manager.alter_table(Table::alter().table("patient_transfers").drop_column("keeps_access").to_owned()).await
    }
}
