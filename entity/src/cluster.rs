//! A cluster (クラスター): cases linked to one place or event, named by a
//! health centre.
use sea_orm::entity::prelude::*;

use crate::enums::ExposureSetting;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clusters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub setting: ExposureSetting,
    pub place: Option<String>,
    /// The health centre that named it.
    pub health_centre_id: i64,
    pub created_by_account_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
