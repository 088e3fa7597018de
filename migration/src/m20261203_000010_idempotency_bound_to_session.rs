//! An idempotent response is bound to the session and organisation that
//! made the first request, and keeps which personal fields it carried, so
//! that a replay is checked and audited like a read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Keys kept so far carry none of this: they are forgotten rather
        // than replayed unchecked.
        manager.exec_stmt(Query::delete().from_table("idempotency_keys").to_owned()).await?;
        // One column per statement: SQLite alters a table one change at a
        // time.
        for column in [big_integer_null("session_id"), big_integer_null("organisation_id"), text_null("reads")] {
            let mut column = column;
            manager.alter_table(Table::alter().table("idempotency_keys").add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["reads", "organisation_id", "session_id"] {
            manager.alter_table(Table::alter().table("idempotency_keys").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
