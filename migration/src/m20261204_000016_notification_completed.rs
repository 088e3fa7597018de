//! The notification form completed after registration (発生届):
//!
//! - the form's remaining items and its COVID-19 additions on `patients`
//!   (current location, visit, infection and diagnosis details, SpO2, risk
//!   factors, vaccination, severity and need for admission at diagnosis,
//!   the free-text note of an earlier infection elsewhere);
//! - the record's status (`ACTIVE`, `NOT_A_CASE`, `WITHDRAWN`), with the
//!   reason and, for a withdrawn duplicate, the record that survives;
//! - the search keys: the name reading normalised (`name_kana_key`) and the
//!   telephone number's digits (`phone_digits`), each under an index, filled
//!   here for the records that exist;
//! - `patient_changes`: every change of an item, old → new, who made it
//!   and for which facility, append-only like the audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns added to `patients`.
fn columns() -> Vec<ColumnDef> {
    vec![
        text_null("current_location"),
        date_null("first_visit_date"),
        date_null("estimated_infection_date"),
        text_null("infection_route"),
        text_null("symptoms"),
        text_null("specimen"),
        small_integer_null("spo2_at_diagnosis"),
        text_null("severity_at_diagnosis"),
        boolean_null("needs_admission"),
        text_null("risk_factors"),
        small_integer_null("vaccination_doses"),
        text_null("prior_infection_note"),
        text("record_status").default("ACTIVE").to_owned(),
        text_null("status_reason"),
        big_integer_null("withdrawn_into_patient_id"),
        text("name_kana_key").default("").to_owned(),
        text_null("phone_digits"),
    ]
}

/// An SQL expression that removes each of `from` from `column`'s value,
/// or replaces it with its pair.
fn replaced(column: &str, pairs: &[(&str, &str)]) -> String {
    pairs.iter().fold(column.to_owned(), |inner, (from, to)| format!("REPLACE({inner}, '{from}', '{to}')"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for mut column in columns() {
            manager.alter_table(Table::alter().table("patients").add_column(&mut column).to_owned()).await?;
        }
        let db = manager.get_connection();
        // The keys of the records that exist. A stored reading is already
        // full-width katakana (the registration refuses anything else), so
        // its key is the reading without spaces and with small kana made
        // large, as `domain::kana::search_key` computes it.
        let small = [
            (" ", ""),
            ("\u{3000}", ""),
            ("ァ", "ア"),
            ("ィ", "イ"),
            ("ゥ", "ウ"),
            ("ェ", "エ"),
            ("ォ", "オ"),
            ("ッ", "ツ"),
            ("ャ", "ヤ"),
            ("ュ", "ユ"),
            ("ョ", "ヨ"),
            ("ヮ", "ワ"),
            ("ヵ", "カ"),
            ("ヶ", "ケ"),
        ];
        let separators = [(" ", ""), ("-", ""), ("(", ""), (")", ""), ("+", ""), (".", "")];
        db.execute_unprepared(&format!(
            "UPDATE patients SET name_kana_key = {}, phone_digits = {}",
            replaced("name_kana", &small),
            replaced("phone", &separators)
        ))
        .await?;
        for (name, columns) in [
            ("patients_name_kana_key", &["name_kana_key", "birth_date"][..]),
            ("patients_phone_digits", &["phone_digits"][..]),
            ("patients_birth_date", &["birth_date"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table("patients");
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("patient_changes")
                    .col(big_pk_auto("id"))
                    .col(big_integer("patient_id"))
                    .col(integer("version"))
                    .col(text("field"))
                    .col(text_null("old_value"))
                    .col(text_null("new_value"))
                    .col(big_integer("account_id"))
                    .col(big_integer_null("facility_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patient_changes_patient")
                    .table("patient_changes")
                    .col("patient_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION patient_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'the history of a patient record is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER patient_changes_append_only BEFORE UPDATE OR DELETE ON patient_changes \
                     FOR EACH ROW EXECUTE FUNCTION patient_changes_append_only()",
                )
                .await?;
            }
            _ => {
                for event in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER patient_changes_no_{} BEFORE {event} ON patient_changes \
                         BEGIN SELECT RAISE(ABORT, 'the history of a patient record is append-only'); END",
                        event.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("patient_changes").to_owned()).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS patient_changes_append_only()")
                .await?;
        }
        for name in ["patients_name_kana_key", "patients_phone_digits", "patients_birth_date"] {
            manager.drop_index(Index::drop().name(name).table("patients").to_owned()).await?;
        }
        for column in columns() {
            let name = column.get_column_name();
            manager.alter_table(Table::alter().table("patients").drop_column(name).to_owned()).await?;
        }
        Ok(())
    }
}
