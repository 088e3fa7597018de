//! Clusters (クラスター): five or more cases linked to one place or event,
//! named by a health centre, with the cases and contacts added to them over
//! time. Members are append-only with the moment they were added, so a
//! cluster's size is reproducible as of any moment.

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
                    .table("clusters")
                    .col(big_pk_auto("id"))
                    .col(text("name"))
                    .col(text("setting"))
                    .col(text_null("place"))
                    .col(big_integer("health_centre_id"))
                    .col(big_integer("created_by_account_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("cluster_members")
                    .col(big_pk_auto("id"))
                    .col(big_integer("cluster_id"))
                    .col(big_integer("patient_id"))
                    .col(big_integer("added_by_account_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [("cluster_members_cluster", "cluster_id"), ("cluster_members_patient", "patient_id")] {
            manager.create_index(Index::create().name(name).table("cluster_members").col(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("cluster_members").to_owned()).await?;
        manager.drop_table(Table::drop().table("clusters").to_owned()).await
    }
}
