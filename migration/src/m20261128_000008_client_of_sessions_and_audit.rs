//! Where a session was opened from, and where each audited request came
//! from: the client's address (and, for a session, its `User-Agent`), so
//! that an account can recognise its own sessions and an audit reader can
//! tell where a sign-in, a refusal or a change came from. Nullable: rows
//! written before have none, and a request may arrive without an address.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Table and column added (one statement each: SQLite alters one column at
/// a time).
const COLUMNS: [(&str, &str); 3] =
    [("sessions", "client_address"), ("sessions", "user_agent"), ("audit_entries", "client_address")];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in COLUMNS {
            let mut definition = if column == "user_agent" { text_null(column) } else { string_null(column) };
            manager.alter_table(Table::alter().table(table).add_column(&mut definition).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in COLUMNS.into_iter().rev() {
            manager.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
