//! The infection-route category as a dimension of the statistics ledger's
//! cases (`stat_cases.route`): what the weekly unknown-route share is made
//! of, as of any moment. Cases recorded before have none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut route = text_null("route");
        manager.alter_table(Table::alter().table("stat_cases").add_column(&mut route).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("stat_cases").drop_column("route").to_owned()).await
    }
}
