//! Beds and accommodation rooms a prefecture has secured for a day, as it
//! reported them (append-only; the latest report recorded by a moment
//! holds as of that moment).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prefecture_capacity")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prefecture_id: i32,
    pub day: Date,
    /// Hospital beds secured for COVID-19 patients (確保病床数).
    pub beds: i64,
    /// Of them, beds for severe cases (重症者用確保病床数).
    pub severe_beds: i64,
    /// Accommodation-care rooms secured (宿泊療養施設居室確保数).
    pub accommodation_rooms: i64,
    pub recorded_by_account_id: i64,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
