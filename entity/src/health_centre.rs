//! A health centre (保健所); each lies in exactly one prefecture.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "health_centres")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Public code of the health centre, unique nationwide.
    #[sea_orm(unique)]
    pub code: String,
    pub name_en: String,
    pub name_ja: String,
    pub prefecture_id: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
