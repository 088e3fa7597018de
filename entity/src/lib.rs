//! The tables of the HER-SYS gateway as sea-orm entities, one module per
//! table, and the enumerations stored in them.
//!
//! This crate holds no logic and knows nothing of GraphQL or HTTP: it is the
//! shape of the data and nothing else. Every clinical row carries both when
//! the event happened and when it was recorded (`recorded_at`), so that any
//! figure can be recomputed as the data stood at an earlier moment.

pub mod account;
pub mod account_change;
pub mod api_key;
pub mod audit_entry;
pub mod audit_entry_patient;
pub mod behaviour_entry;
pub mod break_glass_access;
pub mod care_setting_change;
pub mod cluster;
pub mod cluster_member;
pub mod condition_entry;
pub mod daily_case_count;
pub mod enums;
pub mod facility;
pub mod follow_up_call;
pub mod health_centre;
pub mod health_report;
pub mod hospitalisation;
pub mod idempotency_key;
pub mod import_job;
pub mod lab_test;
pub mod lab_test_result;
pub mod medical_visit;
pub mod organisation;
pub mod outbox_event;
pub mod patient;
pub mod patient_change;
pub mod patient_contact;
pub mod patient_referral;
pub mod patient_transfer;
pub mod prefecture;
pub mod prefecture_capacity;
pub mod service_account;
pub mod session;
pub mod sign_in_failure;
pub mod work_item;

pub use sea_orm;
