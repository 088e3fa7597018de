//! A facility's count of the people it found positive on a day, in one age
//! band, who are not notified individually (from the change of September
//! 2022). The latest row of a facility, day and band is the count.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "daily_case_counts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub facility_id: i64,
    pub day: Date,
    /// The ten-year band: 0 under 10, …, 9 ninety and over.
    pub age_decade: i16,
    pub count: i32,
    pub reported_by_account_id: i64,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
