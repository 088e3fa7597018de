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
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE FUNCTION prefecture_capacity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION 'capacity reports are append-only'; END $$",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER prefecture_capacity_append_only BEFORE UPDATE OR DELETE ON prefecture_capacity \
                 FOR EACH ROW EXECUTE FUNCTION prefecture_capacity_append_only()",
            )
            .await?;
        } else {
            for event in ["UPDATE", "DELETE"] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER prefecture_capacity_no_{} BEFORE {event} ON prefecture_capacity \
                     BEGIN SELECT RAISE(ABORT, 'capacity reports are append-only'); END",
                    event.to_lowercase()
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("prefecture_capacity").to_owned()).await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS prefecture_capacity_append_only()")
                .await?;
        }
        manager.alter_table(Table::alter().table("patient_transfers").drop_column("keeps_access").to_owned()).await
    }
}
