//! A close contact linked to the case they met: the contact's record, the
//! index case's, the setting and the last day of exposure.
use sea_orm::entity::prelude::*;

use crate::enums::ExposureSetting;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub index_patient_id: i64,
    pub contact_patient_id: i64,
    pub setting: ExposureSetting,
    pub last_exposure_on: Date,
    pub registered_by_account_id: i64,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
