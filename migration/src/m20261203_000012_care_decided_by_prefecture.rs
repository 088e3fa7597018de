//! Whether a patient's current care setting was decided by the prefecture
//! itself. Prefecture staff read personal data of patients in accommodation
//! care only when the responsible health centre placed them there.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut column = boolean("care_decided_by_prefecture").default(false).to_owned();
        manager.alter_table(Table::alter().table("patients").add_column(&mut column).to_owned()).await?;
        // Placements made so far: the latest decision's account tells.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE patients SET care_decided_by_prefecture = TRUE \
                 WHERE care_setting = 'ACCOMMODATION' AND ( \
                   SELECT o.kind FROM care_setting_changes c \
                   JOIN accounts a ON a.id = c.decided_by_account_id \
                   JOIN organisations o ON o.id = a.organisation_id \
                   WHERE c.patient_id = patients.id ORDER BY c.id DESC LIMIT 1) = 'PREFECTURE'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("patients").drop_column("care_decided_by_prefecture").to_owned()).await
    }
}
