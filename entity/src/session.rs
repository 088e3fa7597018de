//! A signed-in session. Only the SHA-256 of its token is stored.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex SHA-256 of the opaque bearer token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The staff account, for staff sessions.
    pub account_id: Option<i64>,
    /// The patient, for sessions opened with a smartphone input ID.
    pub patient_id: Option<i64>,
    pub created_at: DateTimeUtc,
    /// Last use, for the idle timeout.
    pub last_seen_at: DateTimeUtc,
    /// Absolute end of the session.
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// The client's address at sign-in, when known.
    pub client_address: Option<String>,
    /// The `User-Agent` header at sign-in (bounded), when sent.
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
