//! The health centre's acceptance of a notification (受理): each record's
//! notification is received, then accepted or returned with a reason (and
//! received again once the facility has corrected it). Records made before
//! count as accepted. Also the release rule a release from care was
//! decided under (`outcome_rule`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn columns() -> Vec<ColumnDef> {
    vec![
        text("notification_status").default("ACCEPTED").to_owned(),
        text_null("notification_reason"),
        timestamp_with_time_zone_null("notification_decided_at"),
        text_null("outcome_rule"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in columns() {
            manager.alter_table(Table::alter().table("patients").add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("patients_notification_status")
                    .table("patients")
                    .col("notification_status")
                    .col("responsible_health_centre_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("patients_notification_status").table("patients").to_owned()).await?;
        for column in columns() {
            let name = column.get_column_name();
            manager.alter_table(Table::alter().table("patients").drop_column(name).to_owned()).await?;
        }
        Ok(())
    }
}
