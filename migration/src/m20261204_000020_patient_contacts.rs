//! Close contacts linked to the case they met (積極的疫学調査): each row
//! links a contact's record to the index case's, with the setting and the
//! last day of exposure. The link stays when the contact becomes a case
//! itself: it is then an edge of the transmission chain. Append-only.

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
                    .table("patient_contacts")
                    .col(big_pk_auto("id"))
                    .col(big_integer("index_patient_id"))
                    .col(big_integer("contact_patient_id"))
                    .col(text("setting"))
                    .col(date("last_exposure_on"))
                    .col(big_integer("registered_by_account_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        for (name, column) in
            [("patient_contacts_index", "index_patient_id"), ("patient_contacts_contact", "contact_patient_id")]
        {
            manager.create_index(Index::create().name(name).table("patient_contacts").col(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("patient_contacts").to_owned()).await
    }
}
