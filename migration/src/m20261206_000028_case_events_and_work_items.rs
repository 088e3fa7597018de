//! The health centre's day as events and a work queue.
//!
//! The outbox now carries more kinds of case events (a transfer in, a
//! health report with emergency or warning signs, a patient not reported
//! by the configured time, a positive whose care setting is still
//! undecided, a change to a work item): `health_report_id` names the
//! report an alert is about, `item_event_id` the queue item a change is
//! about, `detail` what the event says beyond its rows (the signs, the
//! reasons, the day), and `dedup_key` makes an event the watch writes on
//! a timer at most once, whichever server writes it first.
//!
//! `work_items` holds what staff did with an event of their queue: an event
//! without a row is open; a row says acknowledged or done, by whom and
//! when, and to whom it is assigned. Every change is also in the audit log.
//!
//! A health report keeps the emergency signs (the national list of
//! thirteen) the patient ticked.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new("health_report_id").big_integer().null().to_owned(),
            ColumnDef::new("item_event_id").big_integer().null().to_owned(),
            ColumnDef::new("detail").text().null().to_owned(),
            ColumnDef::new("dedup_key").text().null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table("outbox_events").add_column(column).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_events_dedup_key")
                    .table("outbox_events")
                    .col("dedup_key")
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A centre's queue: its events of some kinds, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_events_health_centre_id_kind_id")
                    .table("outbox_events")
                    .col("health_centre_id")
                    .col("kind")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        // The watch's look for positives still undecided.
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_events_kind_occurred_at")
                    .table("outbox_events")
                    .col("kind")
                    .col("occurred_at")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("health_reports")
                    .add_column(ColumnDef::new("emergency_signs").text().not_null().default("").to_owned())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("work_items")
                    .col(big_integer("event_id").primary_key())
                    .col(big_integer("health_centre_id"))
                    .col(text("state"))
                    .col(big_integer_null("assignee_account_id"))
                    .col(big_integer("updated_by_account_id"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(integer("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_work_items_health_centre_id_state")
                    .table("work_items")
                    .col("health_centre_id")
                    .col("state")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("work_items").to_owned()).await?;
        manager.alter_table(Table::alter().table("health_reports").drop_column("emergency_signs").to_owned()).await?;
        for index in [
            "ux_outbox_events_dedup_key",
            "ix_outbox_events_health_centre_id_kind_id",
            "ix_outbox_events_kind_occurred_at",
        ] {
            manager.drop_index(Index::drop().name(index).table("outbox_events").to_owned()).await?;
        }
        for column in ["health_report_id", "item_event_id", "detail", "dedup_key"] {
            manager.alter_table(Table::alter().table("outbox_events").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
