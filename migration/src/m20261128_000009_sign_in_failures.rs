//! Failed patient sign-ins, counted per subject: the patient a smartphone
//! input ID names (`patient:<id>`), or the client address the attempts come
//! from (`address:<ip>`). One row per subject, counted and locked by one
//! upsert each, so that concurrent guesses cannot slip past the count; a
//! successful sign-in or the responsible health centre removes a patient's.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sign_in_failures")
                    .col(string("subject").primary_key())
                    .col(integer("failures"))
                    .col(timestamp_with_time_zone("last_failed_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("sign_in_failures").to_owned()).await
    }
}
