//! The statistics ledger: what each patient contributes to the published
//! figures, kept as append-only signed deltas stamped with the moment they
//! were recorded, so a figure as of any moment is a sum over the ledger.
//!
//! - `stat_events`: per patient, metric (tests, negatives, positives,
//!   deaths, the severe and requiring-care flows), day, area, delta and
//!   `recorded_at`. `folded` marks the rows already added into `stat_daily`.
//! - `stat_cases`: per newly confirmed person, the cross-tabulation
//!   dimensions (day, area, age band, sex, case type, care setting,
//!   severity, outcome), as deltas in the same way.
//! - `stat_daily`: the folded deltas summed per area level (nation,
//!   prefecture, health centre), area, day, metric and the day they were
//!   recorded; the key to fast figures over long ranges.
//!
//! The ledger rows carry no foreign key: patients are never deleted, and a
//! per-row check would slow every write and bulk load for nothing.

use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(Alias::new(table));
    for column in columns {
        statement.col(Alias::new(*column));
    }
    statement.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("stat_events")
                    .col(big_pk_auto("id"))
                    .col(big_integer("patient_id"))
                    .col(small_integer("metric"))
                    .col(integer("day"))
                    .col(big_integer("health_centre_id"))
                    .col(integer("prefecture_id"))
                    .col(integer("delta"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(integer("recorded_day"))
                    .col(boolean("folded").default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("stat_cases")
                    .col(big_pk_auto("id"))
                    .col(big_integer("patient_id"))
                    .col(integer("day"))
                    .col(big_integer("health_centre_id"))
                    .col(integer("prefecture_id"))
                    .col(small_integer("age_decade"))
                    .col(string("sex"))
                    .col(string("case_type"))
                    .col(string("care_setting"))
                    .col(string_null("severity"))
                    .col(string_null("outcome"))
                    .col(integer("delta"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("stat_daily")
                    .col(small_integer("level"))
                    .col(big_integer("area_id"))
                    .col(integer("day"))
                    .col(small_integer("metric"))
                    .col(integer("recorded_day"))
                    .col(integer("n"))
                    .primary_key(
                        Index::create().col("level").col("area_id").col("day").col("metric").col("recorded_day"),
                    )
                    .to_owned(),
            )
            .await?;
        for statement in [
            index("ix_stat_events_patient_id", "stat_events", &["patient_id"]),
            index("ix_stat_events_recorded_at", "stat_events", &["recorded_at"]),
            index("ix_stat_cases_patient_id", "stat_cases", &["patient_id"]),
            index("ix_stat_cases_day", "stat_cases", &["day"]),
        ] {
            manager.create_index(statement).await?;
        }
        // The rows still to fold: few at any time, found without a scan.
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX ix_stat_events_unfolded ON stat_events (id) WHERE NOT folded")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["stat_daily", "stat_cases", "stat_events"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
