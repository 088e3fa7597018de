//! The case after registration: laboratory tests and their results, the
//! care decision, hospital stays and their condition, transfer between
//! health centres and the outcome (`services::tests`, `services::care`).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{condition_entry, hospitalisation, lab_test};

use super::context::{load, load_required, signed_in, state};
use super::enums::*;
use super::inputs::RecordTestInput;
use super::loaders::*;
use super::organisations::{Facility, HealthCentre, Organisation, organisation};
use super::pages::{latest, record_list_cost, record_list_size};
use super::patients::{Patient, personal_note, reachable_patient};
use crate::services::{self, parse_id};

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct CareMutation;

#[Object]
impl CareMutation {
    /// Records a laboratory test, with its result if known. Negative results
    /// are recorded too.
    async fn record_test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test and, if known, its result.")] input: RecordTestInput,
    ) -> Result<LabTest> {
        let principal = signed_in(ctx)?;
        let parsed = input.parse()?;
        Ok(LabTest(services::tests::record(state(ctx), principal, parsed).await?))
    }

    /// Sets the result of a test (e.g. a pending one). A change is kept in
    /// the test's history; nothing is overwritten.
    async fn record_test_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test.")] test_id: ID,
        #[graphql(desc = "The result; not PENDING.")] result: TestResult,
        #[graphql(desc = "When the result became known; now by default. Not before the sample, not in the future.")]
        resulted_at: Option<DateTime<Utc>>,
    ) -> Result<LabTest> {
        let principal = signed_in(ctx)?;
        let test_id = parse_id(&test_id, "testId")?;
        let test = services::tests::record_result(state(ctx), principal, test_id, result.into(), resulted_at).await?;
        Ok(LabTest(test))
    }

    /// Decides where the patient is cared for (hospital, accommodation,
    /// home, none). The responsible health centre decides; the prefecture
    /// may place a patient in its accommodation care.
    async fn set_care_setting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The care setting decided.")] setting: CareSetting,
        #[graphql(desc = "The patient's `version` the decision was made on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
        #[graphql(
            desc = "With `HOME`: the patient is a resident cared for in their elderly or welfare facility                     (施設療養), counted apart in the care-status report. Not by default.",
            default = false
        )]
        in_welfare_facility: bool,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let setting = setting.into();
        let patient =
            services::care::set_care_setting(state(ctx), principal, id, setting, in_welfare_facility, expected_version)
                .await?;
        Ok(Patient(patient))
    }

    /// Admits a patient to a hospital (by the hospital, or the health
    /// centre arranging it), with the severity at admission.
    async fn admit_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The admitting hospital.")] facility_id: ID,
        #[graphql(desc = "Severity at admission.")] severity: Severity,
        #[graphql(desc = "When the patient was admitted; now by default.")] admitted_at: Option<DateTime<Utc>>,
    ) -> Result<Hospitalisation> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let facility = parse_id(&facility_id, "facilityId")?;
        let stay = services::care::admit(state(ctx), principal, id, facility, severity.into(), admitted_at).await?;
        Ok(Hospitalisation { row: stay, personal: true })
    }

    /// Records the condition of an admitted patient (by the admitting
    /// hospital). Entries are kept; the stay shows the latest.
    #[allow(clippy::too_many_arguments)]
    async fn record_condition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hospital stay.")] hospitalisation_id: ID,
        #[graphql(desc = "Severity now.")] severity: Severity,
        #[graphql(desc = "Free-text note (personal data).")] note: Option<String>,
        #[graphql(desc = "In an intensive care unit. Not by default.")] icu: Option<bool>,
        #[graphql(desc = "On mechanical ventilation. Not by default.")] ventilator: Option<bool>,
        #[graphql(desc = "On ECMO. Not by default.")] ecmo: Option<bool>,
        #[graphql(desc = "When the condition was observed; now by default.")] observed_at: Option<DateTime<Utc>>,
    ) -> Result<Hospitalisation> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&hospitalisation_id, "hospitalisationId")?;
        let note = services::follow_up::parse_note(note, "note", 2000)?;
        let input = services::care::NewCondition {
            severity: severity.into(),
            note,
            icu: icu.unwrap_or(false),
            ventilator: ventilator.unwrap_or(false),
            ecmo: ecmo.unwrap_or(false),
            observed_at,
        };
        let stay = services::care::record_condition(state(ctx), principal, id, input).await?;
        Ok(Hospitalisation { row: stay, personal: true })
    }

    /// Discharges a patient from a hospital stay.
    async fn discharge_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hospital stay.")] hospitalisation_id: ID,
        #[graphql(desc = "When the patient left; now by default. Not before the admission.")] discharged_at: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Hospitalisation> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&hospitalisation_id, "hospitalisationId")?;
        let stay = services::care::discharge(state(ctx), principal, id, discharged_at).await?;
        Ok(Hospitalisation { row: stay, personal: true })
    }

    /// Records the outcome (転帰), which ends the case: the smartphone input
    /// ID stops working for new reports.
    async fn record_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "How the case ended.")] outcome: Outcome,
        #[graphql(desc = "When; now by default.")] outcome_at: Option<DateTime<Utc>>,
        #[graphql(desc = "The patient's `version` the outcome was decided on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let patient =
            services::care::record_outcome(state(ctx), principal, id, outcome.into(), outcome_at, expected_version)
                .await?;
        Ok(Patient(patient))
    }

    /// Moves the case to another health centre. The new one gets full
    /// access; the previous one keeps read access.
    async fn transfer_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The health centre taking over.")] to_health_centre_id: ID,
        #[graphql(desc = "The patient's `version` the transfer was decided on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let to = parse_id(&to_health_centre_id, "toHealthCentreId")?;
        let patient = services::care::transfer(state(ctx), principal, id, to, expected_version).await?;
        Ok(Patient(patient))
    }
}

/// A laboratory test of a patient.
pub struct LabTest(pub lab_test::Model);

/// A laboratory test of a patient (検査).
#[Object]
impl LabTest {
    /// Stable identifier of the test.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Global identity (`Node`): opaque, unique across every type; pass it
    /// to `node`.
    pub(super) async fn node_id(&self) -> ID {
        super::node::node_id("LabTest", self.0.id)
    }
    /// Method of the test.
    async fn kind(&self) -> TestKind {
        self.0.kind.into()
    }
    /// The facility's own specimen ID (検体ID), when it gave one.
    async fn specimen_id(&self) -> Option<&str> {
        self.0.specimen_id.as_deref()
    }
    /// Current result; corrections are kept in the history.
    async fn result(&self) -> TestResult {
        self.0.result.into()
    }
    /// When the sample was taken.
    async fn sampled_at(&self) -> DateTime<Utc> {
        self.0.sampled_at
    }
    /// When the current result became known; null while pending.
    async fn resulted_at(&self) -> Option<DateTime<Utc>> {
        self.0.resulted_at
    }
    /// When the test was entered into the system.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// The facility that took the sample.
    pub(super) async fn facility(&self, ctx: &Context<'_>) -> Result<Facility> {
        Facility::referenced(ctx, self.0.facility_id).await
    }
    /// The patient tested. Field rules apply here as everywhere.
    async fn patient(&self, ctx: &Context<'_>) -> Result<Patient> {
        reachable_patient(ctx, self.0.patient_id).await
    }
    /// The organisation that entered the test: the facility's own, or a
    /// health centre entering on behalf of a facility without system access.
    async fn entered_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        organisation(ctx, self.0.entered_by_organisation_id).await
    }
    /// Whether a health centre entered the test on the facility's behalf.
    async fn entered_on_behalf(&self, ctx: &Context<'_>) -> Result<bool> {
        let entered_by = load_required(ctx, OrganisationById(self.0.entered_by_organisation_id)).await?;
        Ok(entered_by.facility_id != Some(self.0.facility_id))
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A change of the responsible health centre.
pub struct Transfer(pub entity::patient_transfer::Model);

/// A change of the responsible health centre (管轄変更).
#[Object]
impl Transfer {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The health centre responsible before; it keeps read access.
    async fn from(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.from_health_centre_id)).await?))
    }
    /// The health centre responsible after.
    async fn to(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.to_health_centre_id)).await?))
    }
    /// When the case moved.
    async fn transferred_at(&self) -> DateTime<Utc> {
        self.0.transferred_at
    }
    /// Who moved it.
    async fn transferred_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        let account = load_required(ctx, AccountById(self.0.transferred_by_account_id)).await?;
        organisation(ctx, account.organisation_id).await
    }
}

/// A hospital stay (入院).
pub struct Hospitalisation {
    pub row: hospitalisation::Model,
    /// Whether the caller may read free-text notes of this patient.
    pub personal: bool,
}

/// A hospital stay (入院) with its condition entries.
#[Object]
impl Hospitalisation {
    /// Stable identifier of the stay.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Global identity (`Node`): opaque, unique across every type; pass it
    /// to `node`.
    pub(super) async fn node_id(&self) -> ID {
        super::node::node_id("Hospitalisation", self.row.id)
    }
    /// The admitting hospital.
    pub(super) async fn hospital(&self, ctx: &Context<'_>) -> Result<Facility> {
        Facility::referenced(ctx, self.row.facility_id).await
    }
    /// When the patient was admitted.
    async fn admitted_at(&self) -> DateTime<Utc> {
        self.row.admitted_at
    }
    /// When the patient was discharged; null during the stay.
    async fn discharged_at(&self) -> Option<DateTime<Utc>> {
        self.row.discharged_at
    }
    /// Severity of the latest condition entry.
    async fn severity(&self) -> Severity {
        self.row.severity.into()
    }
    /// In an intensive care unit (latest entry).
    async fn icu(&self) -> bool {
        self.row.icu
    }
    /// On mechanical ventilation (latest entry).
    async fn ventilator(&self) -> bool {
        self.row.ventilator
    }
    /// On ECMO (latest entry).
    async fn ecmo(&self) -> bool {
        self.row.ecmo
    }
    /// The organisation that entered the admission.
    async fn entered_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        organisation(ctx, self.row.entered_by_organisation_id).await
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.row.version
    }
    /// The patient admitted. Field rules apply here as everywhere.
    async fn patient(&self, ctx: &Context<'_>) -> Result<Patient> {
        reachable_patient(ctx, self.row.patient_id).await
    }
    /// Condition entries, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn conditions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<ConditionEntry>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, ConditionsOfHospitalisation(self.row.id)).await?.unwrap_or_default();
        let patient_id = self.row.patient_id;
        Ok(latest(rows, last).map(|row| ConditionEntry { row, personal: self.personal, patient_id }).collect())
    }
}

/// The condition of an admitted patient at a moment.
pub struct ConditionEntry {
    pub row: condition_entry::Model,
    pub personal: bool,
    pub patient_id: i64,
}

/// The condition of an admitted patient at a moment, entered by the hospital.
#[Object]
impl ConditionEntry {
    /// Stable identifier of the entry.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Severity (重症度).
    async fn severity(&self) -> Severity {
        self.row.severity.into()
    }
    /// In an intensive care unit.
    async fn icu(&self) -> bool {
        self.row.icu
    }
    /// On mechanical ventilation.
    async fn ventilator(&self) -> bool {
        self.row.ventilator
    }
    /// On ECMO.
    async fn ecmo(&self) -> bool {
        self.row.ecmo
    }
    /// Free-text note of the hospital. Personal data.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        personal_note(ctx, self.personal, self.patient_id, &self.row.note)
    }
    /// When the condition was observed.
    async fn observed_at(&self) -> DateTime<Utc> {
        self.row.observed_at
    }
    /// When it was entered.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.row.recorded_at
    }
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct CareQuery;

#[Object]
impl CareQuery {
    /// The laboratory tests of the patients within the caller's reach,
    /// newest recorded first (Relay connection), with filters for
    /// dashboards: "today's positives by PCR at my facility" is one query.
    /// `first: 0` answers `totalCount` alone.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn lab_tests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tests with this result.")] result: Option<TestResult>,
        #[graphql(desc = "Only tests of this method.")] kind: Option<TestKind>,
        #[graphql(desc = "Only tests sampled at or after this moment.")] sampled_from: Option<DateTime<Utc>>,
        #[graphql(desc = "Only tests sampled before this moment.")] sampled_to: Option<DateTime<Utc>>,
        #[graphql(desc = "Only tests of this facility.")] facility_id: Option<ID>,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<LabTestConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = super::pages::page_size_or_count(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| super::pages::decode_kind_cursor("test", c, "after")).transpose()?;
        let filter = services::tests::TestFilter {
            result: result.map(Into::into),
            kind: kind.map(Into::into),
            sampled_from,
            sampled_to,
            facility_id: facility_id.map(|id| parse_id(&id, "facilityId")).transpose()?,
        };
        let (tests, has_next_page) = if first == 0 {
            (Vec::new(), services::tests::count(state, principal, &filter).await? > 0)
        } else {
            services::tests::list(state, principal, &filter, after, first).await?
        };
        Ok(LabTestConnection { tests, has_next_page, has_previous_page: after.is_some(), filter })
    }
}

/// A page of laboratory tests, newest recorded first (Relay connection).
pub struct LabTestConnection {
    tests: Vec<lab_test::Model>,
    has_next_page: bool,
    has_previous_page: bool,
    filter: services::tests::TestFilter,
}

/// A page of laboratory tests, newest recorded first (Relay connection).
#[Object]
impl LabTestConnection {
    /// The tests of the page, each with its cursor.
    async fn edges(&self) -> Vec<LabTestEdge> {
        self.tests.iter().map(|test| LabTestEdge(test.clone())).collect()
    }
    /// The tests of the page.
    async fn nodes(&self) -> Vec<LabTest> {
        self.tests.iter().cloned().map(LabTest).collect()
    }
    /// Pagination state.
    async fn page_info(&self) -> super::pages::PageInfo {
        super::pages::PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.tests.first().map(|t| super::pages::encode_kind_cursor("test", t.id)),
            end_cursor: self.tests.last().map(|t| super::pages::encode_kind_cursor("test", t.id)),
        }
    }
    /// How many tests match (all pages). Costs one counting statement, run
    /// only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(services::tests::count(state(ctx), signed_in(ctx)?, &self.filter).await?)
    }
}

/// A laboratory test with its cursor.
pub struct LabTestEdge(lab_test::Model);

/// A laboratory test with its cursor.
#[Object]
impl LabTestEdge {
    /// Opaque cursor of the test; pass it as `after`.
    async fn cursor(&self) -> String {
        super::pages::encode_kind_cursor("test", self.0.id)
    }
    /// The test.
    async fn node(&self) -> LabTest {
        LabTest(self.0.clone())
    }
}

// The fields of a test a plan answers by calling their resolvers
// (`graphql::planned`).
super::planned::leaves!(LabTest, "LabTest", ["LabTest", "Node"], {
    "id" => id,
    "nodeId" => node_id,
    "kind" => kind,
    "specimenId" => specimen_id,
    "result" => result,
    "sampledAt" => sampled_at,
    "resultedAt" => resulted_at,
    "recordedAt" => recorded_at,
    "version" => version,
});

// The fields of a stay a plan answers by calling their resolvers
// (`graphql::planned`).
super::planned::leaves!(Hospitalisation, "Hospitalisation", ["Hospitalisation", "Node"], {
    "id" => id,
    "nodeId" => node_id,
    "admittedAt" => admitted_at,
    "dischargedAt" => discharged_at,
    "severity" => severity,
    "icu" => icu,
    "ventilator" => ventilator,
    "ecmo" => ecmo,
    "version" => version,
});
