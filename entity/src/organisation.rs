//! An organisation that accounts belong to; its kind fixes their role.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "organisations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: OrganisationKind,
    pub name: String,
    /// Set for medical institutions.
    pub facility_id: Option<i64>,
    /// Set for health centres.
    pub health_centre_id: Option<i64>,
    /// Set for prefectures.
    pub prefecture_id: Option<i32>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
