//! Referrals (紹介): a health centre refers one of its patients to a
//! facility, which from then on reaches the record for testing and care,
//! so that the facility works on the person's one record instead of
//! registering them again. Append-only: a referral is history.

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
                    .table("patient_referrals")
                    .col(big_pk_auto("id"))
                    .col(big_integer("patient_id"))
                    .col(big_integer("facility_id"))
                    .col(big_integer("referred_by_account_id"))
                    .col(text_null("note"))
                    .col(timestamp_with_time_zone("referred_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patient_referrals_facility")
                    .table("patient_referrals")
                    .col("facility_id")
                    .col("patient_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patient_referrals_patient")
                    .table("patient_referrals")
                    .col("patient_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("patient_referrals").to_owned()).await
    }
}
