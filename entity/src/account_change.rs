//! A change to an account that waits for a second administrator: its
//! creation in, or its move into, an organisation whose staff read
//! personal data.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "account_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `CREATE` or `ASSIGN_ORGANISATION`.
    pub kind: String,
    pub account_id: i64,
    /// The organisation before a move; none for a creation.
    pub from_organisation_id: Option<i64>,
    pub to_organisation_id: i64,
    /// The administrator who asked.
    pub requested_by: i64,
    pub requested_at: DateTimeUtc,
    /// The second administrator who decided.
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTimeUtc>,
    /// `APPROVED` or `REJECTED` once decided.
    pub decision: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
