//! Outbox events are read in the order of the transaction that wrote them,
//! then of their ID, instead of one after another under a lock.
//!
//! On PostgreSQL a sequence hands out IDs in the order rows are inserted,
//! not the order their transactions commit, so a reader that has seen ID
//! n+1 could later miss a slower n. Until now every positive result took
//! one lock from its outbox insert to its commit, so that IDs became
//! visible in order; that made positive results commit one at a time. Now
//! each row records its transaction (`tx_id`, PostgreSQL's `txid_current()`),
//! and readers take only rows whose transaction is older than every
//! transaction still running (`txid_snapshot_xmin`), in `(tx_id, id)`
//! order: no row can appear later before them. Rows written before this
//! change keep `tx_id` 0 and come first, in ID order, as they committed.
//! SQLite has one writer, so its IDs commit in order and `tx_id` stays 0.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("outbox_events")
                    .add_column(ColumnDef::new("tx_id").big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE outbox_events ALTER COLUMN tx_id SET DEFAULT txid_current()").await?;
        }
        // The dispatcher's order, and a subscriber's replay by audience.
        for columns in [&["tx_id", "id"][..], &["health_centre_id", "tx_id", "id"], &["prefecture_id", "tx_id", "id"]] {
            let mut index = Index::create();
            index.name(format!("ix_outbox_events_{}", columns.join("_"))).table("outbox_events");
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        for old in ["ix_outbox_events_health_centre_id_id", "ix_outbox_events_prefecture_id_id"] {
            manager.drop_index(Index::drop().name(old).table("outbox_events").to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in [
            ("ix_outbox_events_health_centre_id_id", "health_centre_id"),
            ("ix_outbox_events_prefecture_id_id", "prefecture_id"),
        ] {
            manager
                .create_index(Index::create().name(name).table("outbox_events").col(column).col("id").to_owned())
                .await?;
        }
        for name in [
            "ix_outbox_events_tx_id_id",
            "ix_outbox_events_health_centre_id_tx_id_id",
            "ix_outbox_events_prefecture_id_tx_id_id",
        ] {
            manager.drop_index(Index::drop().name(name).table("outbox_events").to_owned()).await?;
        }
        manager.alter_table(Table::alter().table("outbox_events").drop_column("tx_id").to_owned()).await
    }
}
