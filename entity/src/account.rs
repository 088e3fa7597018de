//! A staff account. Its role follows from its organisation.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub username: String,
    /// argon2id hash in PHC string format; never the password.
    pub password_hash: String,
    pub organisation_id: i64,
    /// Failed sign-ins since the last success, for lockout.
    pub failed_logins: i32,
    pub last_failed_login_at: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    pub password_changed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// Set while the account's creation waits for a second administrator's
    /// approval; it cannot sign in until then.
    pub awaiting_approval_since: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
