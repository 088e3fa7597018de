//! A prefecture (都道府県), identified by its JIS X 0401 code.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prefectures")]
pub struct Model {
    /// The JIS X 0401 number, 1 (Hokkaido) to 47 (Okinawa).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// The two-digit JIS code, "01" to "47".
    #[sea_orm(unique)]
    pub code: String,
    /// English name as the MHLW open-data files spell it.
    pub name_en: String,
    /// Japanese name.
    pub name_ja: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
