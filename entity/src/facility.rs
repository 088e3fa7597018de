//! A medical institution that tests or admits patients; covered by one health centre.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "facilities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name_en: String,
    pub name_ja: String,
    pub kind: FacilityKind,
    /// The health centre whose district covers the facility.
    pub health_centre_id: i64,
    /// Whether the facility enters its own data; when not, its health
    /// centre enters it on its behalf.
    pub has_system_access: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
