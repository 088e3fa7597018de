//! Close contacts linked to their cases (積極的疫学調査): registering a
//! contact from a case, linking someone already in reach, and the links as
//! `Patient.contacts`, `Patient.indexPatient` and `Patient.contactLinks`
//! (`services::contacts`).

use async_graphql::{Context, ID, InputObject, Object, Result};
use entity::patient_contact;

use super::context::{load, signed_in, state};
use super::enums::{CaseType, ExposureSetting, NotificationGroup, Sex};
use super::inputs::{RegisterPatientInput, line};
use super::loaders::{CasesOfContact, ContactsOfCase, ReachablePatientById};
use super::patients::Patient;
use super::scalars::Date;
use crate::services::contacts::Exposure;
use crate::services::{self, parse_id};

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct ContactsMutation;

#[Object]
impl ContactsMutation {
    /// Registers a close contact of a case (a new person, `CLOSE_CONTACT`,
    /// with their own smartphone input ID) and links the two: the health
    /// centre responsible for the case only. A contact living in another
    /// district is registered to its health centre (`healthCentreId`); the
    /// link stays visible here, the record only to those who reach it.
    async fn register_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact and how they met the case.")] input: RegisterContactInput,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let index = parse_id(&input.index_patient_id, "input.indexPatientId")?;
        let exposure = Exposure { setting: input.setting.into(), last_exposure_on: input.last_exposure_on.0 };
        let person = input.person().parse(state.now().date_naive())?;
        Ok(Patient(services::contacts::register_contact(state, principal, index, person, exposure).await?))
    }

    /// Links a person already within the caller's reach as a close contact
    /// of a case: the health centre responsible for the case only. Linking
    /// the same two again changes nothing.
    async fn link_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] index_patient_id: ID,
        #[graphql(desc = "The contact's record.")] contact_patient_id: ID,
        #[graphql(desc = "The last day of exposure (day 0 of the observation).")] last_exposure_on: Date,
        #[graphql(desc = "Where they met.")] setting: ExposureSetting,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let index = parse_id(&index_patient_id, "indexPatientId")?;
        let contact = parse_id(&contact_patient_id, "contactPatientId")?;
        let exposure = Exposure { setting: setting.into(), last_exposure_on: last_exposure_on.0 };
        Ok(Patient(services::contacts::link_contact(state(ctx), principal, index, contact, exposure).await?))
    }

    /// Hands a close contact to the health centre of the area they live in
    /// (the centre responsible for the contact only): that centre becomes
    /// responsible and receives the record live (`contactHandovers`). The
    /// centre handing over keeps the link to its case, by ID, and no longer
    /// reads the contact's record unless it has another care relationship
    /// with them. A case moves with `transferPatient` instead.
    async fn hand_over_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's record (case type `CLOSE_CONTACT`).")] patient_id: ID,
        #[graphql(desc = "The health centre taking the contact over.")] to_health_centre_id: ID,
        #[graphql(desc = "The record's `version` the handover was decided on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<ID> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let to = parse_id(&to_health_centre_id, "toHealthCentreId")?;
        let moved = services::care::hand_over_contact(state(ctx), principal, id, to, expected_version).await?;
        Ok(ID(moved.id.to_string()))
    }

    /// Adds an entry to a case's behaviour history before onset (行動歴):
    /// the health centre responsible for the case, as part of its
    /// investigation. Entries are kept as entered; a correction is a new
    /// entry.
    async fn record_behaviour(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] patient_id: ID,
        #[graphql(desc = "Where the person was, and when.")] input: BehaviourInput,
    ) -> Result<BehaviourEntry> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let place = line(&input.place, 200, "input.place")?
            .ok_or_else(|| crate::error::AppError::bad_input("input.place", "must not be empty"))?;
        let note = input.note.as_deref().map(|n| super::inputs::note(n, 1_000, "input.note")).transpose()?.flatten();
        let entry =
            services::contacts::Behaviour { day: input.date.0, place_kind: input.place_kind.into(), place, note };
        Ok(BehaviourEntry(services::contacts::record_behaviour(state(ctx), principal, id, entry).await?))
    }

    /// Names a cluster for the caller's health centre (health centre staff).
    async fn create_cluster(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cluster.")] input: CreateClusterInput,
    ) -> Result<Cluster> {
        let principal = signed_in(ctx)?;
        let name = line(&input.name, 100, "input.name")?
            .ok_or_else(|| crate::error::AppError::bad_input("input.name", "must not be empty"))?;
        let place = input.place.as_deref().map(|p| line(p, 200, "input.place")).transpose()?.flatten();
        let created = services::clusters::create(state(ctx), principal, name, input.setting.into(), place).await?;
        Ok(Cluster(created))
    }

    /// Adds a case or contact of the caller's care relationships to a
    /// cluster (health centre staff; a cluster may span districts, each
    /// centre adding its own). Adding one again changes nothing.
    async fn add_to_cluster(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cluster.")] cluster_id: ID,
        #[graphql(desc = "The case or contact.")] patient_id: ID,
    ) -> Result<Cluster> {
        let principal = signed_in(ctx)?;
        let cluster = parse_id(&cluster_id, "clusterId")?;
        let patient = parse_id(&patient_id, "patientId")?;
        Ok(Cluster(services::clusters::add(state(ctx), principal, cluster, patient).await?))
    }
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct ContactsQuery;

#[Object]
impl ContactsQuery {
    /// The transmission chain around a case: the contact links walked from
    /// it in both directions (who met whom), `depth` links deep (1 to 6, 3
    /// by default), at most 500 people. People within the caller's reach
    /// are in `patients` with the usual field rules; the others appear in
    /// `links` by ID only. Null when the case is out of reach.
    #[graphql(complexity = "super::limits::list_cost(Some(500), 500, child_complexity)")]
    async fn transmission_chain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case to start from.")] patient_id: ID,
        #[graphql(desc = "How many links deep, 1 to 6; 3 by default.")] depth: Option<i32>,
    ) -> Result<Option<TransmissionChain>> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let depth = u32::try_from(depth.unwrap_or(3)).unwrap_or(0);
        Ok(services::contacts::chain(state(ctx), principal, id, depth).await?.map(TransmissionChain))
    }

    /// One cluster (no personal data; its `patients` through the row
    /// scope). Staff with clinical access.
    async fn cluster(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cluster's ID.")] id: ID,
    ) -> Result<Option<Cluster>> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(services::clusters::get(state(ctx), principal, id).await?.map(Cluster))
    }

    /// The clusters, newest first. Staff with clinical access.
    #[graphql(complexity = "super::limits::list_cost(first, 100, child_complexity)")]
    async fn clusters(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many, 1 to 500; 100 by default.")] first: Option<i32>,
    ) -> Result<Vec<Cluster>> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = super::pages::page_size(first, 100, state.config.max_page_size)?;
        Ok(services::clusters::list(state, principal, first).await?.into_iter().map(Cluster).collect())
    }
}

/// A cluster (クラスター): cases linked to one place or event.
pub struct Cluster(entity::cluster::Model);

/// A cluster (クラスター): cases linked to one place or event, named by a
/// health centre; its size and weekly counts as of any moment.
#[Object]
impl Cluster {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The name the health centre gave it.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The kind of place.
    async fn setting(&self) -> ExposureSetting {
        self.0.setting.into()
    }
    /// The place or event, as entered.
    async fn place(&self) -> Option<&str> {
        self.0.place.as_deref()
    }
    /// The health centre that named it.
    async fn health_centre(&self, ctx: &Context<'_>) -> Result<super::organisations::HealthCentre> {
        let centre = super::context::load_required(ctx, super::loaders::HealthCentreById(self.0.health_centre_id));
        Ok(super::organisations::HealthCentre(centre.await?))
    }
    /// When it was named.
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    /// How many people it had as of `asOf` (now by default).
    async fn size(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The moment; now by default.")] as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<i64> {
        let state = state(ctx);
        Ok(services::clusters::size(state, self.0.id, as_of.unwrap_or_else(|| state.now())).await?)
    }
    /// Its people as of `asOf` by the week of their registration (weeks
    /// start on Monday, Japan time), oldest first.
    async fn weeks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The moment; now by default.")] as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<ClusterWeek>> {
        let state = state(ctx);
        let weeks = services::clusters::weeks(state, self.0.id, as_of.unwrap_or_else(|| state.now())).await?;
        Ok(weeks.into_iter().map(|(week_start, cases)| ClusterWeek { week_start: Date(week_start), cases }).collect())
    }
    /// Its people within the caller's reach.
    async fn patients(&self, ctx: &Context<'_>) -> Result<Vec<Patient>> {
        let principal = signed_in(ctx)?;
        let rows = services::clusters::reachable_members(state(ctx), principal, self.0.id).await?;
        Ok(rows.into_iter().map(Patient).collect())
    }
    /// The cluster's graph: the contact links between its members (who met
    /// whom, by ID, as in `Patient.contactLinks`), at most 5,000. Staff
    /// with clinical access; the records themselves through `patients`.
    async fn links(&self, ctx: &Context<'_>) -> Result<Vec<ContactLink>> {
        let principal = signed_in(ctx)?;
        let rows = services::clusters::links(state(ctx), principal, self.0.id).await?;
        Ok(rows.into_iter().map(ContactLink).collect())
    }
}

/// A cluster's people registered in one week.
#[derive(async_graphql::SimpleObject)]
pub struct ClusterWeek {
    /// The Monday the week starts on.
    pub week_start: Date,
    /// How many.
    pub cases: i64,
}

/// A new cluster.
#[derive(InputObject)]
pub struct CreateClusterInput {
    /// Its name, 1 to 100 characters (e.g. the place and month).
    pub name: String,
    /// The kind of place.
    pub setting: ExposureSetting,
    /// The place or event, at most 200 characters.
    pub place: Option<String>,
}

/// A transmission chain around a case.
pub struct TransmissionChain(services::contacts::Chain);

/// A transmission chain around a case: who met whom.
#[Object]
impl TransmissionChain {
    /// The contact links walked, oldest first.
    async fn links(&self) -> Vec<ContactLink> {
        self.0.links.iter().cloned().map(ContactLink).collect()
    }
    /// The people of the chain within the caller's reach.
    async fn patients(&self) -> Vec<Patient> {
        self.0.people.iter().cloned().map(Patient).collect()
    }
    /// Whether the walk stopped at 500 people.
    async fn truncated(&self) -> bool {
        self.0.truncated
    }
}

/// A close contact of a case: the person's basic items and how they met it.
#[derive(InputObject)]
pub struct RegisterContactInput {
    /// The case the contact met.
    pub index_patient_id: ID,
    /// The last day of exposure (day 0 of the observation period).
    pub last_exposure_on: Date,
    /// Where they met.
    pub setting: ExposureSetting,
    /// Name in kanji (氏名).
    pub name_kanji: String,
    /// Name in full-width katakana (フリガナ).
    pub name_kana: String,
    /// Sex (性別).
    pub sex: Sex,
    /// Date of birth (生年月日); not in the future.
    pub birth_date: Date,
    /// Address (住所).
    pub address: Option<String>,
    /// Telephone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// The health centre of the contact's district; by default the case's.
    pub health_centre_id: Option<ID>,
    /// For a health centre entering on behalf of a facility without system
    /// access: that facility.
    pub facility_id: Option<ID>,
    /// Registers the person even though records in reach look the same
    /// (then link that record with `linkContact` instead, if it is them).
    pub confirm_new_person: Option<bool>,
    /// Not used for contacts (they are not notified as cases); accepted for
    /// symmetry with `RegisterPatientInput`.
    pub notification_group: Option<NotificationGroup>,
    /// An earlier infection whose record is not reachable, as free text.
    pub prior_infection_note: Option<String>,
}

impl RegisterContactInput {
    /// The person as a registration of a close contact.
    fn person(&self) -> RegisterPatientInput {
        RegisterPatientInput {
            case_type: CaseType::CloseContact,
            name_kanji: self.name_kanji.clone(),
            name_kana: self.name_kana.clone(),
            sex: self.sex,
            birth_date: Date(self.birth_date.0),
            address: self.address.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            health_centre_id: self.health_centre_id.clone(),
            previous_patient_id: None,
            facility_id: self.facility_id.clone(),
            confirm_new_person: self.confirm_new_person,
            notification_group: self.notification_group,
            prior_infection_note: self.prior_infection_note.clone(),
        }
    }
}

/// A link between a case and a close contact.
pub struct ContactLink(pub patient_contact::Model);

/// A link between a case and a close contact: who, where they met, the last
/// day of exposure and the observation period it gives. It shows the other
/// record's ID only; the record itself is read through `Patient.contacts`
/// or `Patient.indexPatient`, within the caller's reach.
#[Object]
impl ContactLink {
    /// The case.
    async fn index_patient_id(&self) -> ID {
        ID(self.0.index_patient_id.to_string())
    }
    /// The contact.
    async fn contact_patient_id(&self) -> ID {
        ID(self.0.contact_patient_id.to_string())
    }
    /// Where they met.
    async fn setting(&self) -> ExposureSetting {
        self.0.setting.into()
    }
    /// The last day of exposure.
    async fn last_exposure_on(&self) -> Date {
        Date(self.0.last_exposure_on)
    }
    /// The last day of the contact's health observation, under the rule in
    /// force on the day of last exposure (14 days; 10 from 14 January 2022;
    /// 7 from 28 January 2022; 5 from 22 July 2022).
    async fn observation_ends_on(&self) -> Date {
        Date(crate::domain::observation::observation_ends(self.0.last_exposure_on).0)
    }
    /// The observation rule applied, by the day it came into force.
    async fn observation_rule(&self) -> &'static str {
        crate::domain::observation::observation_ends(self.0.last_exposure_on).1.code
    }
}

/// The links of a case to its contacts (`as_case`) or of a contact to the
/// cases it met, oldest first: one statement for a whole page of patients.
pub async fn links(ctx: &Context<'_>, patient_id: i64, as_case: bool) -> Result<Vec<patient_contact::Model>> {
    let links = if as_case {
        load(ctx, ContactsOfCase(patient_id)).await?
    } else {
        load(ctx, CasesOfContact(patient_id)).await?
    };
    Ok(links.unwrap_or_default())
}

/// The linked people within the caller's reach, in the order of `ids`,
/// loaded together through the row scope.
pub async fn linked_people(ctx: &Context<'_>, ids: &[i64]) -> Result<Vec<Patient>> {
    let rows = futures_util::future::try_join_all(ids.iter().map(|id| load(ctx, ReachablePatientById(*id)))).await?;
    Ok(rows.into_iter().flatten().map(Patient).collect())
}

/// A close contact handed to the caller's health centre.
pub struct ContactHandover(pub std::sync::Arc<crate::events::CaseEvent>);

/// A close contact handed to the caller's health centre (or one in the
/// caller's prefecture), with the record as it is now.
#[Object]
impl ContactHandover {
    /// The event's cursor: pass it as `after` to resume after this event.
    async fn cursor(&self) -> String {
        crate::events::Cursor::of(&self.0.event).to_string()
    }
    /// When the contact was handed over (or registered to the centre).
    async fn occurred_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.event.occurred_at
    }
    /// The contact's record. Field rules apply here as in queries; its
    /// `contactLinks` name the case they met.
    async fn patient(&self) -> Patient {
        Patient(self.0.patient.clone())
    }
}

/// Where a person was on a day before onset.
#[derive(InputObject)]
pub struct BehaviourInput {
    /// The day (Japan time); not in the future.
    pub date: Date,
    /// The kind of place.
    pub place_kind: ExposureSetting,
    /// The place or event, 1 to 200 characters (personal data).
    pub place: String,
    /// What happened there, at most 1,000 characters (personal data).
    pub note: Option<String>,
}

/// An entry of a case's behaviour history before onset (行動歴).
pub struct BehaviourEntry(pub entity::behaviour_entry::Model);

/// An entry of a case's behaviour history before onset (行動歴). Personal
/// data, read like the record's personal fields.
#[Object]
impl BehaviourEntry {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The day.
    async fn date(&self) -> Date {
        Date(self.0.day)
    }
    /// The kind of place.
    async fn place_kind(&self) -> ExposureSetting {
        self.0.place_kind.into()
    }
    /// The place or event.
    async fn place(&self) -> &str {
        &self.0.place
    }
    /// What happened there.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// When it was entered.
    async fn recorded_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.recorded_at
    }
}
