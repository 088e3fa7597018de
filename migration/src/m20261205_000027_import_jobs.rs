//! Imports of files from facility systems (CSV or FHIR), one row per
//! upload: who sent it, whether it only checked the file, how far it has
//! come (records read, accepted, already there, refused) and, once it has
//! ended, its report. The report names lines, columns and codes, never a
//! value from the file.

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
                    .table("import_jobs")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("account_id"))
                    .col(big_integer_null("service_account_id"))
                    .col(big_integer("organisation_id"))
                    .col(text("format"))
                    .col(boolean("dry_run"))
                    .col(text("status"))
                    .col(big_integer("records_read"))
                    .col(big_integer("accepted"))
                    .col(big_integer("unchanged"))
                    .col(big_integer("refused"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(text_null("report"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("import_jobs_organisation")
                    .table("import_jobs")
                    .col("organisation_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("import_jobs").to_owned()).await
    }
}
