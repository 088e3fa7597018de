//! What a health centre's staff did with an event of their work queue. An
//! event of a queue kind without a row here is open.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "work_items")]
pub struct Model {
    /// The outbox event the item is.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: i64,
    /// The health centre whose queue holds it.
    pub health_centre_id: i64,
    /// `ACKNOWLEDGED`, `DONE`, or `OPEN` once reopened (an item never
    /// acted on has no row).
    pub state: String,
    /// The staff member it is assigned to.
    pub assignee_account_id: Option<i64>,
    /// The staff account that last changed it; none when the watch closed
    /// it because its cause ended.
    pub updated_by_account_id: Option<i64>,
    pub updated_at: DateTimeUtc,
    pub version: i32,
    /// Why the watch closed it (`CARE_SETTING_DECIDED`, `REPORTED`,
    /// `NOTIFICATION_DECIDED`, `CASE_ENDED`); none when staff changed it
    /// last.
    pub closed_because: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
