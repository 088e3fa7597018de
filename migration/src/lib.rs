//! Schema migrations of the HER-SYS gateway.
//!
//! One file per change, named by date. A migration that has landed is never
//! edited: a later change to the schema is a new migration.

pub use sea_orm_migration::prelude::*;

mod append_only;
mod m20261124_000001_initial_schema;
mod m20261124_000002_idempotency_keys;
mod m20261124_000003_append_only_audit;
mod m20261125_000004_statistics_ledger;
mod m20261125_000005_statistics_fold_marks;
mod m20261126_000006_append_only_logs_without_foreign_keys;
mod m20261127_000007_outbox_ordered_by_transaction;
mod m20261128_000008_client_of_sessions_and_audit;
mod m20261128_000009_sign_in_failures;
mod m20261203_000010_idempotency_bound_to_session;
mod m20261203_000011_account_changes_need_two;
mod m20261203_000012_care_decided_by_prefecture;
mod m20261203_000013_service_accounts;
mod m20261203_000014_break_glass;
mod m20261204_000015_audit_read_groups;
mod m20261204_000016_notification_completed;
mod m20261204_000017_notification_acceptance;
mod m20261204_000018_patient_referrals;
mod m20261204_000019_limited_notification;
mod m20261204_000020_patient_contacts;
mod m20261204_000021_infection_route;
mod m20261204_000022_clusters;
mod m20261204_000023_ledger_route;
mod m20261204_000024_capacity_and_handovers;
mod m20261204_000025_behaviour_history;
mod m20261204_000026_specimen_ids;
mod m20261205_000027_import_jobs;
mod m20261206_000028_case_events_and_work_items;
mod m20261206_000029_work_items_closed_by_the_watch;
mod m20261206_000030_audit_read_arrays;

/// The ordered list of every migration of the gateway's database.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_initial_schema::Migration),
            Box::new(m20261124_000002_idempotency_keys::Migration),
            Box::new(m20261124_000003_append_only_audit::Migration),
            Box::new(m20261125_000004_statistics_ledger::Migration),
            Box::new(m20261125_000005_statistics_fold_marks::Migration),
            Box::new(m20261126_000006_append_only_logs_without_foreign_keys::Migration),
            Box::new(m20261127_000007_outbox_ordered_by_transaction::Migration),
            Box::new(m20261128_000008_client_of_sessions_and_audit::Migration),
            Box::new(m20261128_000009_sign_in_failures::Migration),
            Box::new(m20261203_000010_idempotency_bound_to_session::Migration),
            Box::new(m20261203_000011_account_changes_need_two::Migration),
            Box::new(m20261203_000012_care_decided_by_prefecture::Migration),
            Box::new(m20261203_000013_service_accounts::Migration),
            Box::new(m20261203_000014_break_glass::Migration),
            Box::new(m20261204_000015_audit_read_groups::Migration),
            Box::new(m20261204_000016_notification_completed::Migration),
            Box::new(m20261204_000017_notification_acceptance::Migration),
            Box::new(m20261204_000018_patient_referrals::Migration),
            Box::new(m20261204_000019_limited_notification::Migration),
            Box::new(m20261204_000020_patient_contacts::Migration),
            Box::new(m20261204_000021_infection_route::Migration),
            Box::new(m20261204_000022_clusters::Migration),
            Box::new(m20261204_000023_ledger_route::Migration),
            Box::new(m20261204_000024_capacity_and_handovers::Migration),
            Box::new(m20261204_000025_behaviour_history::Migration),
            Box::new(m20261204_000026_specimen_ids::Migration),
            Box::new(m20261205_000027_import_jobs::Migration),
            Box::new(m20261206_000028_case_events_and_work_items::Migration),
            Box::new(m20261206_000029_work_items_closed_by_the_watch::Migration),
            Box::new(m20261206_000030_audit_read_arrays::Migration),
        ]
    }
}
