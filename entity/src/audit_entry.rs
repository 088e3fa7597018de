//! The append-only audit log: who read or changed what, when.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub account_id: Option<i64>,
    /// For patient sessions: the patient acting.
    pub actor_patient_id: Option<i64>,
    /// What was done, e.g. READ_PERSONAL, REGISTER_PATIENT.
    pub action: String,
    /// The patient the entry is about; null for an entry that names
    /// several (a read of a page), whose patients are its
    /// `audit_entry_patient` rows.
    pub patient_id: Option<i64>,
    /// Comma-separated field names read or changed.
    pub fields: String,
    /// The GraphQL operation name, when the client gave one.
    pub operation: Option<String>,
    /// The client's address of the request that wrote the entry, when known.
    pub client_address: Option<String>,
    /// For account actions: the account acted on.
    pub target_account_id: Option<i64>,
    /// For account actions: what changed (e.g. the organisations before
    /// and after), never a secret or personal data.
    pub detail: Option<String>,
    /// When a machine client acted: its service account.
    pub service_account_id: Option<i64>,
    /// When a machine client acted: the API key it used.
    pub api_key_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
