//! The patients of an audit entry that names several (a read of a page):
//! append-only, like the entries.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entry_patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
