//! Failed patient sign-ins of one subject: the patient a smartphone input
//! ID names, or a client address.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_failures")]
pub struct Model {
    /// `patient:<id>` or `address:<ip>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    /// Attempts of the current run that did not sign in (an attempt counts
    /// when it starts; a successful one is taken back).
    pub failures: i32,
    pub last_failed_at: DateTimeUtc,
    /// Until when the subject is locked, if it is.
    pub locked_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
