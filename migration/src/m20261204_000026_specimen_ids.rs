//! The facility's own specimen ID of a test (検体ID): with the facility,
//! the natural key of a test, so that a result sent twice (a re-sent file,
//! an overlapping import, a retried request) is recognised and not counted
//! twice. Tests recorded before have none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut specimen_id = text_null("specimen_id");
        manager.alter_table(Table::alter().table("lab_tests").add_column(&mut specimen_id).to_owned()).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX lab_tests_facility_specimen ON lab_tests (facility_id, specimen_id) \
                 WHERE specimen_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("lab_tests_facility_specimen").table("lab_tests").to_owned()).await?;
        manager.alter_table(Table::alter().table("lab_tests").drop_column("specimen_id").to_owned()).await
    }
}
