//! The infection route of a case (感染経路) as a category with its
//! certainty, beside the form's free text: what the unknown-route share and
//! the cross-tabulations by route are made of.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["infection_route_category", "infection_route_certainty"] {
            let mut column = text_null(name);
            manager.alter_table(Table::alter().table("patients").add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["infection_route_category", "infection_route_certainty"] {
            manager.alter_table(Table::alter().table("patients").drop_column(name).to_owned()).await?;
        }
        Ok(())
    }
}
