//! An API key of a service account. Only the SHA-256 of its text is
//! stored; the text is shown once, when the key is created.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub service_account_id: i64,
    pub name: String,
    /// Hex SHA-256 of the key's text.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// `READ_ONLY`, or `OPERATIONS:` and the root field names it may run,
    /// comma-separated.
    pub scope: String,
    /// The session row the key's uses run under: revoking the key ends it.
    pub session_id: i64,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
