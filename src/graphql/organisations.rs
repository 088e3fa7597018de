//! Reference data administrators manage: health centres and medical
//! institutions, with the organisations their staff accounts belong to
//! (`services::organisations`). A part of the root `Mutation`
//! (`graphql::MutationRoot`); the lists themselves are `healthCentres`,
//! `facilities` and `organisations` of the root `Query`.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::context::{signed_in, state};
use super::enums::FacilityKind;
use super::types::{Facility, HealthCentre};
use crate::auth::policy;
use crate::domain::{InstitutionCode, InstitutionName, PrefectureCode};
use crate::error::{AppError, AppResult};
use crate::services::organisations::{Actor, FacilityChanges, HealthCentreChanges, NewFacility, NewHealthCentre};
use crate::services::{self, parse_id};

fn field<T>(result: Result<T, &'static str>, name: &str) -> AppResult<T> {
    result.map_err(|why| AppError::bad_input(name, why))
}

fn name(raw: Option<&str>, field_name: &str) -> AppResult<Option<InstitutionName>> {
    raw.map(|raw| field(InstitutionName::parse(raw), field_name)).transpose()
}

/// A new health centre (保健所).
#[derive(InputObject)]
pub struct CreateHealthCentreInput {
    /// Public code, unique among health centres and never changed: 1 to 20
    /// ASCII letters, digits and hyphens (e.g. "131032").
    pub code: String,
    /// English name: 1 to 100 characters of one line. Its organisation is
    /// named the same.
    pub name: String,
    /// Japanese name: 1 to 100 characters of one line.
    pub name_ja: String,
    /// JIS X 0401 code of the prefecture it lies in, "01" to "47"; never
    /// changed.
    pub prefecture_code: String,
}

impl CreateHealthCentreInput {
    fn parse(self) -> AppResult<NewHealthCentre> {
        Ok(NewHealthCentre {
            code: field(InstitutionCode::parse(&self.code), "input.code")?,
            name: field(InstitutionName::parse(&self.name), "input.name")?,
            name_ja: field(InstitutionName::parse(&self.name_ja), "input.nameJa")?,
            prefecture: field(PrefectureCode::parse(&self.prefecture_code), "input.prefectureCode")?,
        })
    }
}

/// Changes to a health centre: the items given change, the others stay.
#[derive(InputObject)]
pub struct UpdateHealthCentreInput {
    /// English name: 1 to 100 characters of one line. Its organisation is
    /// renamed with it.
    pub name: Option<String>,
    /// Japanese name: 1 to 100 characters of one line.
    pub name_ja: Option<String>,
}

impl UpdateHealthCentreInput {
    fn parse(self) -> AppResult<HealthCentreChanges> {
        Ok(HealthCentreChanges {
            name: name(self.name.as_deref(), "input.name")?,
            name_ja: name(self.name_ja.as_deref(), "input.nameJa")?,
        })
    }
}

/// A new medical institution (医療機関).
#[derive(InputObject)]
pub struct CreateFacilityInput {
    /// Public code, unique among facilities and never changed: 1 to 20
    /// ASCII letters, digits and hyphens (e.g. "F13-0004").
    pub code: String,
    /// English name: 1 to 100 characters of one line. Its organisation, if
    /// it has one, is named the same.
    pub name: String,
    /// Japanese name: 1 to 100 characters of one line.
    pub name_ja: String,
    /// Testing clinic, testing centre or hospital; never changed.
    pub kind: FacilityKind,
    /// The health centre whose district covers it; never changed.
    pub health_centre_id: ID,
    /// Whether it enters its own data; it then gets an organisation for
    /// its staff accounts. Without, its health centre enters data on its
    /// behalf.
    pub has_system_access: bool,
}

impl CreateFacilityInput {
    fn parse(self) -> AppResult<NewFacility> {
        Ok(NewFacility {
            code: field(InstitutionCode::parse(&self.code), "input.code")?,
            name: field(InstitutionName::parse(&self.name), "input.name")?,
            name_ja: field(InstitutionName::parse(&self.name_ja), "input.nameJa")?,
            kind: self.kind.into(),
            health_centre_id: parse_id(&self.health_centre_id, "input.healthCentreId")?,
            has_system_access: self.has_system_access,
        })
    }
}

/// Changes to a medical institution: the items given change, the others
/// stay.
#[derive(InputObject)]
pub struct UpdateFacilityInput {
    /// English name: 1 to 100 characters of one line. Its organisation is
    /// renamed with it.
    pub name: Option<String>,
    /// Japanese name: 1 to 100 characters of one line.
    pub name_ja: Option<String>,
    /// Whether it enters its own data. Given access, it gets an
    /// organisation if it has none; access is taken away only once every
    /// account of its organisation is disabled (else CONFLICT).
    pub has_system_access: Option<bool>,
}

impl UpdateFacilityInput {
    fn parse(self) -> AppResult<FacilityChanges> {
        Ok(FacilityChanges {
            name: name(self.name.as_deref(), "input.name")?,
            name_ja: name(self.name_ja.as_deref(), "input.nameJa")?,
            has_system_access: self.has_system_access,
        })
    }
}

/// Managing health centres and facilities.
#[derive(Default)]
pub struct OrganisationMutation;

/// Managing health centres and facilities, for system administrators.
#[Object]
impl OrganisationMutation {
    /// Creates a health centre and its organisation (kind HEALTH_CENTRE,
    /// listed by `organisations`), in which staff accounts can then be
    /// created. For system administrators only; audited
    /// (`CREATE_HEALTH_CENTRE`). A code already taken is refused
    /// (BAD_USER_INPUT, `input.code`).
    async fn create_health_centre(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The health centre.")] input: CreateHealthCentreInput,
    ) -> Result<HealthCentre> {
        let principal = signed_in(ctx)?;
        // Refused before its input is looked at.
        policy::may_manage_reference_data(principal)?;
        let new = input.parse()?;
        let (centre, _) =
            services::organisations::create_health_centre(state(ctx), Actor::Caller(principal), new).await?;
        Ok(HealthCentre(centre))
    }

    /// Changes the names of a health centre; its organisation is renamed
    /// with it. Its code and prefecture never change. For system
    /// administrators only; audited (`UPDATE_HEALTH_CENTRE`).
    async fn update_health_centre(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The health centre.")] id: ID,
        #[graphql(desc = "What changes; at least one item.")] input: UpdateHealthCentreInput,
    ) -> Result<HealthCentre> {
        let principal = signed_in(ctx)?;
        policy::may_manage_reference_data(principal)?;
        let id = parse_id(&id, "id")?;
        let changes = input.parse()?;
        let centre =
            services::organisations::update_health_centre(state(ctx), Actor::Caller(principal), id, changes).await?;
        Ok(HealthCentre(centre))
    }

    /// Creates a medical institution covered by a health centre and, when
    /// it enters its own data (`hasSystemAccess`), its organisation (kind
    /// MEDICAL_INSTITUTION, listed by `organisations`). For system
    /// administrators only; audited (`CREATE_FACILITY`). A code already
    /// taken is refused (BAD_USER_INPUT, `input.code`).
    async fn create_facility(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The facility.")] input: CreateFacilityInput,
    ) -> Result<Facility> {
        let principal = signed_in(ctx)?;
        policy::may_manage_reference_data(principal)?;
        let new = input.parse()?;
        let (facility, _) = services::organisations::create_facility(state(ctx), Actor::Caller(principal), new).await?;
        Ok(Facility(facility))
    }

    /// Changes the names of a medical institution (its organisation is
    /// renamed with it) or whether it enters its own data. Its code, kind
    /// and health centre never change. For system administrators only;
    /// audited (`UPDATE_FACILITY`).
    async fn update_facility(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The facility.")] id: ID,
        #[graphql(desc = "What changes; at least one item.")] input: UpdateFacilityInput,
    ) -> Result<Facility> {
        let principal = signed_in(ctx)?;
        policy::may_manage_reference_data(principal)?;
        let id = parse_id(&id, "id")?;
        let changes = input.parse()?;
        let facility =
            services::organisations::update_facility(state(ctx), Actor::Caller(principal), id, changes).await?;
        Ok(Facility(facility))
    }
}
