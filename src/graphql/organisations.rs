//! Reference data: prefectures, health centres and medical institutions,
//! with the organisations staff accounts belong to. Everyone signed in
//! reads the lists; administrators create and change health centres and
//! facilities (`services::reference`, `services::organisations`).

use async_graphql::{Context, ID, Object, Result};
use entity::{facility, health_centre, organisation, prefecture};

use super::context::{load_required, signed_in, state};
use super::enums::*;
use super::loaders::*;
use super::pages::{IdConnection, id_page_request};
use crate::auth::policy;
use crate::domain::{InstitutionCode, InstitutionName, PrefectureCode};
use crate::error::AppError;
use crate::error::AppResult;
use crate::services::organisations::{Actor, FacilityChanges, HealthCentreChanges, NewFacility, NewHealthCentre};
use crate::services::{self, parse_id};
use async_graphql::InputObject;

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

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
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
        Ok(Facility::new(facility))
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
        Ok(Facility::new(facility))
    }
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct OrganisationQuery;

#[Object]
impl OrganisationQuery {
    /// The 47 prefectures in JIS order.
    async fn prefectures(&self, ctx: &Context<'_>) -> Result<Vec<Prefecture>> {
        let principal = signed_in(ctx)?;
        Ok(services::reference::prefectures(state(ctx), principal).await?.into_iter().map(Prefecture).collect())
    }

    /// Health centres, optionally of one prefecture.
    async fn health_centres(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "JIS code of the prefecture, \"01\" to \"47\".")] prefecture_code: Option<String>,
    ) -> Result<Vec<HealthCentre>> {
        let principal = signed_in(ctx)?;
        let rows = services::reference::health_centres(state(ctx), principal, prefecture_code.as_deref()).await?;
        Ok(rows.into_iter().map(HealthCentre).collect())
    }

    /// Medical institutions, optionally those covered by one health centre.
    async fn facilities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The covering health centre.")] health_centre_id: Option<ID>,
    ) -> Result<Vec<Facility>> {
        let principal = signed_in(ctx)?;
        let centre = health_centre_id.map(|id| parse_id(&id, "healthCentreId")).transpose()?;
        let rows = services::reference::facilities(state(ctx), principal, centre).await?;
        Ok(rows.into_iter().map(Facility::new).collect())
    }

    /// Medical institutions in the order of their IDs, optionally those
    /// covered by one health centre (Relay connection): `facilities` a page
    /// at a time, with their count.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn facilities_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The covering health centre.")] health_centre_id: Option<ID>,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<IdConnection<Facility>> {
        let principal = signed_in(ctx)?;
        let centre = health_centre_id.map(|id| parse_id(&id, "healthCentreId")).transpose()?;
        let request = id_page_request(ctx, "facility", first, after.as_deref(), 50)?;
        let page = services::reference::facility_page(state(ctx), principal, centre, request).await?;
        Ok(IdConnection::new("facility", page, request, |row| row.id, Facility::new))
    }

    /// The organisations accounts can belong to, in the order they were
    /// made (Relay connection). For system administrators only.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<IdConnection<Organisation>> {
        let principal = signed_in(ctx)?;
        let request = id_page_request(ctx, "organisation", first, after.as_deref(), 50)?;
        let page = services::accounts::list_organisations(state(ctx), principal, request).await?;
        Ok(IdConnection::new("organisation", page, request, |row| row.id, Organisation))
    }
}

/// A prefecture (都道府県).
pub struct Prefecture(pub prefecture::Model);

/// A prefecture (都道府県), identified by its JIS X 0401 code.
#[Object(shareable)]
impl Prefecture {
    /// Identifier: the JIS X 0401 number.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Global identity (`Node`): opaque, unique across every type; pass it
    /// to `node`.
    pub(super) async fn node_id(&self) -> ID {
        super::node::node_id("Prefecture", self.0.id)
    }
    /// Two-digit JIS X 0401 code, "01" (Hokkaido) to "47" (Okinawa).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// English name as the MHLW open-data files spell it.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Japanese name.
    async fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
}

/// A health centre (保健所).
pub struct HealthCentre(pub health_centre::Model);

/// A health centre (保健所); each lies in exactly one prefecture.
#[Object(shareable)]
impl HealthCentre {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Global identity (`Node`): opaque, unique across every type; pass it
    /// to `node`.
    pub(super) async fn node_id(&self) -> ID {
        super::node::node_id("HealthCentre", self.0.id)
    }
    /// Public code of the health centre.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// English name.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Japanese name.
    async fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
    /// The prefecture it lies in.
    async fn prefecture(&self, ctx: &Context<'_>) -> Result<Prefecture> {
        Ok(Prefecture(load_required(ctx, PrefectureById(self.0.prefecture_id)).await?))
    }
}

/// A medical institution that tests or admits patients: its row, or only
/// its ID when the selection asks for nothing else (a reference such as
/// `facility { id }`, answered from the foreign key without a load).
#[derive(Clone)]
pub struct Facility {
    id: i64,
    row: Option<facility::Model>,
}

impl Facility {
    pub fn new(row: facility::Model) -> Facility {
        Facility { id: row.id, row: Some(row) }
    }

    /// The facility `id` as the field being resolved selects it: only its
    /// ID when that is all it asks for, else loaded (from the request's
    /// loader, which a page prefetches).
    pub async fn referenced(ctx: &Context<'_>, id: i64) -> Result<Facility> {
        if super::prefetch::asks_only_id(ctx.field()) {
            return Ok(Facility { id, row: None });
        }
        Ok(Facility::new(load_required(ctx, FacilityById(id)).await?))
    }

    /// The row; loaded here only for a selection that [`Self::referenced`]
    /// judged to need nothing but the ID (never, unless a directive hid a
    /// field from it).
    async fn row(&self, ctx: &Context<'_>) -> Result<std::borrow::Cow<'_, facility::Model>> {
        match &self.row {
            Some(row) => Ok(std::borrow::Cow::Borrowed(row)),
            None => Ok(std::borrow::Cow::Owned(load_required(ctx, FacilityById(self.id)).await?)),
        }
    }
}

// A facility as a test or a stay references it: a plan answers its `id`
// alone (any other field needs its row, `Facility::referenced`).
super::planned::leaves!(Facility, "Facility", ["Facility", "Node"], {
    "id" => id,
});

/// A medical institution that tests or admits patients (医療機関).
#[Object]
impl Facility {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Global identity (`Node`): opaque, unique across every type; pass it
    /// to `node`.
    pub(super) async fn node_id(&self) -> ID {
        super::node::node_id("Facility", self.id)
    }
    /// Public code of the facility.
    async fn code(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.row(ctx).await?.code.clone())
    }
    /// English name.
    async fn name(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.row(ctx).await?.name_en.clone())
    }
    /// Japanese name.
    async fn name_ja(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.row(ctx).await?.name_ja.clone())
    }
    /// Testing clinic, testing centre or hospital.
    async fn kind(&self, ctx: &Context<'_>) -> Result<FacilityKind> {
        Ok(self.row(ctx).await?.kind.into())
    }
    /// Whether the facility enters its own data; if not, its health centre
    /// enters data on its behalf.
    async fn has_system_access(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.row(ctx).await?.has_system_access)
    }
    /// The health centre whose district covers the facility.
    async fn health_centre(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        let centre = self.row(ctx).await?.health_centre_id;
        Ok(HealthCentre(load_required(ctx, HealthCentreById(centre)).await?))
    }
}

/// An organisation that accounts belong to.
#[derive(Clone)]
pub struct Organisation(pub organisation::Model);

/// An organisation that accounts belong to, and what it stands for: a health
/// centre, a medical institution or a prefecture (national and operator
/// organisations stand for none of these).
#[Object]
impl Organisation {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name of the organisation.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What kind of organisation it is; the role of its accounts follows.
    async fn kind(&self) -> OrganisationKind {
        self.0.kind.into()
    }
    /// The health centre a HEALTH_CENTRE organisation stands for (its
    /// prefecture is `healthCentre.prefecture`); null for other kinds.
    async fn health_centre(&self, ctx: &Context<'_>) -> Result<Option<HealthCentre>> {
        match self.0.health_centre_id {
            Some(id) => Ok(Some(HealthCentre(load_required(ctx, HealthCentreById(id)).await?))),
            None => Ok(None),
        }
    }
    /// The medical institution a MEDICAL_INSTITUTION organisation stands
    /// for; null for other kinds.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.facility_id {
            Some(id) => Ok(Some(Facility::referenced(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// The prefecture a PREFECTURE organisation stands for; null for other
    /// kinds (a health centre's is `healthCentre.prefecture`).
    async fn prefecture(&self, ctx: &Context<'_>) -> Result<Option<Prefecture>> {
        match self.0.prefecture_id {
            Some(id) => Ok(Some(Prefecture(load_required(ctx, PrefectureById(id)).await?))),
            None => Ok(None),
        }
    }
}

/// An organisation by ID, as the API shows it.
pub async fn organisation(ctx: &Context<'_>, id: i64) -> Result<Organisation> {
    Ok(Organisation(load_required(ctx, OrganisationById(id)).await?))
}
