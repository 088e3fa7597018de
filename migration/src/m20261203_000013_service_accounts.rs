//! Service accounts and their API keys, for machine clients. A key is
//! stored only as the SHA-256 of its text; each key has a session row of
//! its own, so that revoking it ends its streams like any ended session.
//! Audit entries name the service account and key that acted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_accounts")
                    .col(big_pk_auto("id"))
                    .col(string("name"))
                    .col(big_integer("organisation_id"))
                    .col(big_integer("created_by_account_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        &mut ForeignKey::create()
                            .from("service_accounts", "organisation_id")
                            .to("organisations", "id")
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(big_pk_auto("id"))
                    .col(big_integer("service_account_id"))
                    .col(string("name"))
                    .col(string_uniq("token_hash"))
                    .col(string("scope"))
                    .col(big_integer("session_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(
                        &mut ForeignKey::create()
                            .from("api_keys", "service_account_id")
                            .to("service_accounts", "id")
                            .to_owned(),
                    )
                    .foreign_key(
                        &mut ForeignKey::create().from("api_keys", "session_id").to("sessions", "id").to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_service_account_id")
                    .table("api_keys")
                    .col("service_account_id")
                    .to_owned(),
            )
            .await?;
        // No foreign keys on the audit log (see migration 6).
        for name in ["service_account_id", "api_key_id"] {
            let mut column = big_integer_null(name);
            manager.alter_table(Table::alter().table("audit_entries").add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["api_key_id", "service_account_id"] {
            manager.alter_table(Table::alter().table("audit_entries").drop_column(name).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("api_keys").to_owned()).await?;
        manager.drop_table(Table::drop().table("service_accounts").to_owned()).await
    }
}
