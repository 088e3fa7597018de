//! Account changes that give access to personal data (a new account in, or
//! a move into, a medical institution, health centre or prefecture) wait
//! for a second administrator; account actions in the audit log name their
//! target account and what changed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("account_changes")
                    .col(big_pk_auto("id"))
                    // CREATE or ASSIGN_ORGANISATION.
                    .col(string("kind"))
                    .col(big_integer("account_id"))
                    .col(big_integer_null("from_organisation_id"))
                    .col(big_integer("to_organisation_id"))
                    .col(big_integer("requested_by"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(big_integer_null("decided_by"))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    // APPROVED or REJECTED once decided.
                    .col(string_null("decision"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_account_changes_account")
                    .table("account_changes")
                    .col("account_id")
                    .col("decided_at")
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters a table one change at a
        // time.
        let additions = [
            ("accounts", timestamp_with_time_zone_null("awaiting_approval_since")),
            ("audit_entries", big_integer_null("target_account_id")),
            ("audit_entries", text_null("detail")),
        ];
        for (table, mut column) in additions {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            ("audit_entries", "detail"),
            ("audit_entries", "target_account_id"),
            ("accounts", "awaiting_approval_since"),
        ] {
            manager.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("account_changes").to_owned()).await
    }
}
