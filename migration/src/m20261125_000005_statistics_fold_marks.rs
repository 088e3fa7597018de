//! Per recording day, the newest `recorded_at` among the statistics deltas
//! already folded into `stat_daily`. A figure as of a moment past it may
//! read that day's folded sums instead of the day's raw deltas. Existing
//! folded deltas are marked as the table is created.

use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("stat_fold_marks")
                    .col(integer("recorded_day").primary_key())
                    .col(timestamp_with_time_zone("folded_until"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO stat_fold_marks (recorded_day, folded_until) \
                 SELECT recorded_day, MAX(recorded_at) FROM stat_events WHERE folded GROUP BY recorded_day",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("stat_fold_marks")).to_owned()).await
    }
}
