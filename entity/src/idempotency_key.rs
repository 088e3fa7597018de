//! A mutation sent with an `Idempotency-Key`, and its first response.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who sent it: `account:<id>` or `patient:<id>`.
    pub actor: String,
    /// The client's key.
    pub key: String,
    /// Hex SHA-256 of the request body, so a key reused for another request
    /// is noticed.
    pub request_hash: String,
    /// The JSON response of the first execution; `None` while it runs.
    pub response: Option<String>,
    pub created_at: DateTimeUtc,
    /// The session that sent the first request: only it may replay.
    pub session_id: Option<i64>,
    /// The caller's organisation at the first request.
    pub organisation_id: Option<i64>,
    /// The personal fields the response carries, per patient, as JSON
    /// `[[patient_id, "field,field"], …]`: a replay audits them again.
    pub reads: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
