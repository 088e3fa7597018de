//! The whole domain in one first schema: reference data (prefectures,
//! health centres, facilities), organisations, accounts and sessions, the
//! patient record with its tests, stays, reports, calls, visits and
//! histories, the audit log and the outbox of positive results.
//!
//! Every foreign key is indexed, and so is every column lists filter or sort
//! by. Clinical rows carry both the moment of the event and `recorded_at`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A foreign key from `table.column` to `target.id`.
fn fk(table: &'static str, column: &'static str, target: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

/// A (non-unique) index named after its table and columns.
fn index(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(format!("ix_{table}_{}", columns.join("_"))).table(table);
    for column in columns {
        statement.col(*column);
    }
    statement.to_owned()
}

fn created(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table.col(timestamp_with_time_zone("created_at"))
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("prefectures")
            .col(integer("id").primary_key())
            .col(string_len_uniq("code", 2))
            .col(string("name_en"))
            .col(string("name_ja"))
            .to_owned(),
        created(
            Table::create()
                .table("health_centres")
                .col(big_pk_auto("id"))
                .col(string_uniq("code"))
                .col(string("name_en"))
                .col(string("name_ja"))
                .col(integer("prefecture_id"))
                .foreign_key(&mut fk("health_centres", "prefecture_id", "prefectures")),
        )
        .to_owned(),
        created(
            Table::create()
                .table("facilities")
                .col(big_pk_auto("id"))
                .col(string_uniq("code"))
                .col(string("name_en"))
                .col(string("name_ja"))
                .col(string("kind"))
                .col(big_integer("health_centre_id"))
                .col(boolean("has_system_access"))
                .foreign_key(&mut fk("facilities", "health_centre_id", "health_centres")),
        )
        .to_owned(),
        created(
            Table::create()
                .table("organisations")
                .col(big_pk_auto("id"))
                .col(string("kind"))
                .col(string("name"))
                .col(big_integer_null("facility_id"))
                .col(big_integer_null("health_centre_id"))
                .col(integer_null("prefecture_id"))
                .foreign_key(&mut fk("organisations", "facility_id", "facilities"))
                .foreign_key(&mut fk("organisations", "health_centre_id", "health_centres"))
                .foreign_key(&mut fk("organisations", "prefecture_id", "prefectures")),
        )
        .to_owned(),
        created(
            Table::create()
                .table("accounts")
                .col(big_pk_auto("id"))
                .col(string_uniq("username"))
                .col(string("password_hash"))
                .col(big_integer("organisation_id"))
                .col(integer("failed_logins").default(0))
                .col(timestamp_with_time_zone_null("last_failed_login_at"))
                .col(timestamp_with_time_zone_null("locked_until"))
                .col(timestamp_with_time_zone_null("disabled_at"))
                .col(timestamp_with_time_zone("password_changed_at"))
                .foreign_key(&mut fk("accounts", "organisation_id", "organisations")),
        )
        .to_owned(),
        Table::create()
            .table("patients")
            .col(big_pk_auto("id"))
            .col(string("case_type"))
            .col(string("name_kanji"))
            .col(string("name_kana"))
            .col(string("sex"))
            .col(date("birth_date"))
            .col(string_null("address"))
            .col(string_null("phone"))
            .col(string_null("email"))
            .col(string_null("occupation"))
            .col(string_null("guardian_name"))
            .col(date_null("onset_date"))
            .col(date_null("diagnosis_date"))
            .col(string_null("diagnosis_method"))
            .col(text_null("notes"))
            .col(string_uniq("smartphone_id"))
            .col(string_null("previous_smartphone_id"))
            .col(big_integer_null("previous_patient_id"))
            .col(boolean("prior_infection").default(false))
            .col(big_integer("responsible_health_centre_id"))
            .col(big_integer_null("registering_facility_id"))
            .col(big_integer("registered_by_account_id"))
            .col(string("care_setting"))
            .col(string_null("outcome"))
            .col(timestamp_with_time_zone_null("outcome_at"))
            .col(timestamp_with_time_zone_null("outcome_recorded_at"))
            .col(integer("version").default(1))
            .col(timestamp_with_time_zone("registered_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .foreign_key(&mut fk("patients", "previous_patient_id", "patients"))
            .foreign_key(&mut fk("patients", "responsible_health_centre_id", "health_centres"))
            .foreign_key(&mut fk("patients", "registering_facility_id", "facilities"))
            .foreign_key(&mut fk("patients", "registered_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("sessions")
            .col(big_pk_auto("id"))
            .col(string_uniq("token_hash"))
            .col(big_integer_null("account_id"))
            .col(big_integer_null("patient_id"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("last_seen_at"))
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .foreign_key(&mut fk("sessions", "account_id", "accounts"))
            .foreign_key(&mut fk("sessions", "patient_id", "patients"))
            .to_owned(),
        Table::create()
            .table("lab_tests")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(big_integer("facility_id"))
            .col(string("kind"))
            .col(string_null("specimen"))
            .col(string("result"))
            .col(timestamp_with_time_zone("sampled_at"))
            .col(timestamp_with_time_zone_null("resulted_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .col(big_integer("recorded_by_account_id"))
            .col(big_integer("entered_by_organisation_id"))
            .col(integer("version").default(1))
            .foreign_key(&mut fk("lab_tests", "patient_id", "patients"))
            .foreign_key(&mut fk("lab_tests", "facility_id", "facilities"))
            .foreign_key(&mut fk("lab_tests", "recorded_by_account_id", "accounts"))
            .foreign_key(&mut fk("lab_tests", "entered_by_organisation_id", "organisations"))
            .to_owned(),
        Table::create()
            .table("lab_test_results")
            .col(big_pk_auto("id"))
            .col(big_integer("lab_test_id"))
            .col(string("result"))
            .col(timestamp_with_time_zone("resulted_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .col(big_integer("recorded_by_account_id"))
            .foreign_key(&mut fk("lab_test_results", "lab_test_id", "lab_tests"))
            .foreign_key(&mut fk("lab_test_results", "recorded_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("hospitalisations")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(big_integer("facility_id"))
            .col(timestamp_with_time_zone("admitted_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .col(timestamp_with_time_zone_null("discharged_at"))
            .col(timestamp_with_time_zone_null("discharge_recorded_at"))
            .col(string("severity"))
            .col(boolean("icu").default(false))
            .col(boolean("ventilator").default(false))
            .col(boolean("ecmo").default(false))
            .col(big_integer("recorded_by_account_id"))
            .col(big_integer("entered_by_organisation_id"))
            .col(integer("version").default(1))
            .foreign_key(&mut fk("hospitalisations", "patient_id", "patients"))
            .foreign_key(&mut fk("hospitalisations", "facility_id", "facilities"))
            .foreign_key(&mut fk("hospitalisations", "recorded_by_account_id", "accounts"))
            .foreign_key(&mut fk("hospitalisations", "entered_by_organisation_id", "organisations"))
            .to_owned(),
        Table::create()
            .table("condition_entries")
            .col(big_pk_auto("id"))
            .col(big_integer("hospitalisation_id"))
            .col(string("severity"))
            .col(boolean("icu").default(false))
            .col(boolean("ventilator").default(false))
            .col(boolean("ecmo").default(false))
            .col(text_null("note"))
            .col(timestamp_with_time_zone("observed_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .col(big_integer("recorded_by_account_id"))
            .foreign_key(&mut fk("condition_entries", "hospitalisation_id", "hospitalisations"))
            .foreign_key(&mut fk("condition_entries", "recorded_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("health_reports")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(string("reporter"))
            .col(big_integer_null("reported_by_account_id"))
            .col(double("body_temperature"))
            .col(integer_null("spo2"))
            .col(string("symptoms"))
            .col(text_null("note"))
            .col(timestamp_with_time_zone("reported_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .foreign_key(&mut fk("health_reports", "patient_id", "patients"))
            .foreign_key(&mut fk("health_reports", "reported_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("follow_up_calls")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(big_integer("caller_account_id"))
            .col(boolean("reached"))
            .col(text_null("note"))
            .col(timestamp_with_time_zone("called_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .foreign_key(&mut fk("follow_up_calls", "patient_id", "patients"))
            .foreign_key(&mut fk("follow_up_calls", "caller_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("medical_visits")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(date("visited_on"))
            .col(string("institution_name"))
            .col(big_integer("recorded_by_account_id"))
            .col(timestamp_with_time_zone("recorded_at"))
            .foreign_key(&mut fk("medical_visits", "patient_id", "patients"))
            .foreign_key(&mut fk("medical_visits", "recorded_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("care_setting_changes")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(string("care_setting"))
            .col(big_integer("decided_by_account_id"))
            .col(timestamp_with_time_zone("decided_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .foreign_key(&mut fk("care_setting_changes", "patient_id", "patients"))
            .foreign_key(&mut fk("care_setting_changes", "decided_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("patient_transfers")
            .col(big_pk_auto("id"))
            .col(big_integer("patient_id"))
            .col(big_integer("from_health_centre_id"))
            .col(big_integer("to_health_centre_id"))
            .col(big_integer("transferred_by_account_id"))
            .col(timestamp_with_time_zone("transferred_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .foreign_key(&mut fk("patient_transfers", "patient_id", "patients"))
            .foreign_key(&mut fk("patient_transfers", "from_health_centre_id", "health_centres"))
            .foreign_key(&mut fk("patient_transfers", "to_health_centre_id", "health_centres"))
            .foreign_key(&mut fk("patient_transfers", "transferred_by_account_id", "accounts"))
            .to_owned(),
        Table::create()
            .table("audit_entries")
            .col(big_pk_auto("id"))
            .col(timestamp_with_time_zone("at"))
            .col(big_integer_null("account_id"))
            .col(big_integer_null("actor_patient_id"))
            .col(string("action"))
            .col(big_integer_null("patient_id"))
            .col(text("fields"))
            .col(string_null("operation"))
            .foreign_key(&mut fk("audit_entries", "account_id", "accounts"))
            .foreign_key(&mut fk("audit_entries", "actor_patient_id", "patients"))
            .foreign_key(&mut fk("audit_entries", "patient_id", "patients"))
            .to_owned(),
        Table::create()
            .table("outbox_events")
            .col(big_pk_auto("id"))
            .col(string("kind"))
            .col(big_integer("lab_test_id"))
            .col(big_integer("patient_id"))
            .col(big_integer("health_centre_id"))
            .col(integer("prefecture_id"))
            .col(timestamp_with_time_zone("occurred_at"))
            .foreign_key(&mut fk("outbox_events", "lab_test_id", "lab_tests"))
            .foreign_key(&mut fk("outbox_events", "patient_id", "patients"))
            .foreign_key(&mut fk("outbox_events", "health_centre_id", "health_centres"))
            .foreign_key(&mut fk("outbox_events", "prefecture_id", "prefectures"))
            .to_owned(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("health_centres", &["prefecture_id"]),
        index("facilities", &["health_centre_id"]),
        index("organisations", &["facility_id"]),
        index("organisations", &["health_centre_id"]),
        index("organisations", &["prefecture_id"]),
        index("accounts", &["organisation_id"]),
        index("sessions", &["account_id"]),
        index("sessions", &["patient_id"]),
        index("patients", &["responsible_health_centre_id", "id"]),
        index("patients", &["registering_facility_id"]),
        index("patients", &["registered_by_account_id"]),
        index("patients", &["previous_patient_id"]),
        index("patients", &["case_type"]),
        index("patients", &["care_setting"]),
        index("patients", &["registered_at"]),
        index("lab_tests", &["patient_id"]),
        index("lab_tests", &["facility_id", "patient_id"]),
        index("lab_tests", &["recorded_by_account_id"]),
        index("lab_tests", &["entered_by_organisation_id"]),
        index("lab_tests", &["sampled_at"]),
        index("lab_test_results", &["lab_test_id"]),
        index("lab_test_results", &["recorded_by_account_id"]),
        index("hospitalisations", &["patient_id"]),
        index("hospitalisations", &["facility_id", "patient_id"]),
        index("hospitalisations", &["recorded_by_account_id"]),
        index("hospitalisations", &["entered_by_organisation_id"]),
        index("condition_entries", &["hospitalisation_id"]),
        index("condition_entries", &["recorded_by_account_id"]),
        index("health_reports", &["patient_id", "reported_at"]),
        index("health_reports", &["reported_by_account_id"]),
        index("follow_up_calls", &["patient_id"]),
        index("follow_up_calls", &["caller_account_id"]),
        index("medical_visits", &["patient_id"]),
        index("medical_visits", &["recorded_by_account_id"]),
        index("care_setting_changes", &["patient_id"]),
        index("care_setting_changes", &["decided_by_account_id"]),
        index("patient_transfers", &["patient_id"]),
        index("patient_transfers", &["from_health_centre_id", "patient_id"]),
        index("patient_transfers", &["to_health_centre_id"]),
        index("patient_transfers", &["transferred_by_account_id"]),
        index("audit_entries", &["at"]),
        index("audit_entries", &["account_id", "at"]),
        index("audit_entries", &["actor_patient_id"]),
        index("audit_entries", &["patient_id", "at"]),
        index("outbox_events", &["health_centre_id", "id"]),
        index("outbox_events", &["prefecture_id", "id"]),
        index("outbox_events", &["lab_test_id"]),
        index("outbox_events", &["patient_id"]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables().into_iter().rev() {
            let name = table.get_table_name().cloned().ok_or_else(|| DbErr::Custom("table without a name".into()))?;
            manager.drop_table(Table::drop().table(name).to_owned()).await?;
        }
        Ok(())
    }
}
