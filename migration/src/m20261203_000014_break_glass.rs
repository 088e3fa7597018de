//! Break-glass access: staff open a record outside their reach by stating
//! why, for a limited time. Each access is a row of `break_glass_accesses`
//! (who, which patient, the reason and its explanation, until when, and an
//! administrator's review), and an outbox event that tells the patient's
//! responsible health centre live. An outbox event now concerns either a
//! test (a positive result) or a break-glass access, so `lab_test_id` may be
//! empty. SQLite cannot drop a `NOT NULL`: there the outbox table is
//! rebuilt with its rows, IDs and indexes.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn reference(table: &str, column: &str, target: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table.to_owned(), column.to_owned())
        .to(target.to_owned(), "id")
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

/// The outbox as it now is, under `name` (SQLite only: PostgreSQL keeps
/// its table and alters it).
fn sqlite_outbox(name: &str) -> TableCreateStatement {
    Table::create()
        .table(name.to_owned())
        .col(big_pk_auto("id"))
        .col(string("kind"))
        .col(big_integer_null("lab_test_id"))
        .col(big_integer("patient_id"))
        .col(big_integer("health_centre_id"))
        .col(integer("prefecture_id"))
        .col(timestamp_with_time_zone("occurred_at"))
        .col(big_integer("tx_id").default(0))
        .col(big_integer_null("break_glass_access_id"))
        .foreign_key(&mut reference(name, "lab_test_id", "lab_tests"))
        .foreign_key(&mut reference(name, "patient_id", "patients"))
        .foreign_key(&mut reference(name, "health_centre_id", "health_centres"))
        .foreign_key(&mut reference(name, "prefecture_id", "prefectures"))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("break_glass_accesses")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("session_id"))
                    .col(big_integer("patient_id"))
                    // The responsible health centre when access was opened.
                    .col(big_integer("health_centre_id"))
                    .col(string("reason"))
                    .col(text("explanation"))
                    .col(timestamp_with_time_zone("granted_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(big_integer_null("reviewed_by"))
                    .col(timestamp_with_time_zone_null("reviewed_at"))
                    .col(string_null("finding"))
                    .col(text_null("review_note"))
                    .foreign_key(&mut reference("break_glass_accesses", "account_id", "accounts"))
                    .foreign_key(&mut reference("break_glass_accesses", "patient_id", "patients"))
                    .to_owned(),
            )
            .await?;
        // The row scope asks for a caller's open accesses on every read of
        // patients; the review lists the unreviewed ones.
        for columns in [&["account_id", "expires_at"][..], &["patient_id"], &["reviewed_at", "id"]] {
            let mut index = Index::create();
            index.name(format!("ix_break_glass_accesses_{}", columns.join("_"))).table("break_glass_accesses");
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE outbox_events ALTER COLUMN lab_test_id DROP NOT NULL").await?;
            db.execute_unprepared("ALTER TABLE outbox_events ADD COLUMN break_glass_access_id BIGINT NULL").await?;
            return Ok(());
        }
        let indexes: Vec<String> = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox_events' AND sql IS NOT NULL",
            ))
            .await?
            .into_iter()
            .map(|row| row.try_get::<String>("", "sql"))
            .collect::<Result<_, _>>()?;
        // One script, so that every statement runs on one connection.
        let mut script = vec![DbBackend::Sqlite.build(&sqlite_outbox("outbox_events_next")).to_string()];
        let old_columns = "id, kind, lab_test_id, patient_id, health_centre_id, prefecture_id, occurred_at, tx_id";
        script.push(format!("INSERT INTO outbox_events_next ({old_columns}) SELECT {old_columns} FROM outbox_events"));
        script.push("DROP TABLE outbox_events".to_owned());
        script.push("ALTER TABLE outbox_events_next RENAME TO outbox_events".to_owned());
        script.extend(indexes);
        db.execute_unprepared(&script.join(";\n")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Events of break-glass accesses have no test: they go with them.
        db.execute_unprepared("DELETE FROM outbox_events WHERE lab_test_id IS NULL").await?;
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE outbox_events DROP COLUMN break_glass_access_id").await?;
            db.execute_unprepared("ALTER TABLE outbox_events ALTER COLUMN lab_test_id SET NOT NULL").await?;
        } else {
            // The column stays nullable: SQLite cannot add `NOT NULL` back.
            manager
                .alter_table(Table::alter().table("outbox_events").drop_column("break_glass_access_id").to_owned())
                .await?;
        }
        manager.drop_table(Table::drop().table("break_glass_accesses").to_owned()).await
    }
}
