//! The history of a patient's responsible health centre.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_transfers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    pub from_health_centre_id: i64,
    pub to_health_centre_id: i64,
    pub transferred_by_account_id: i64,
    pub transferred_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    /// Whether the centre it left keeps read access: yes after a transfer
    /// of a case, no after a close contact is handed to the centre of the
    /// area they live in.
    pub keeps_access: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
