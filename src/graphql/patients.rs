//! The patient record: registering one (新規作成), reading one or a page
//! of them through the caller's row scope, and the record's own type, whose
//! personal fields ask `auth::policy` and resolve to `null` with
//! `FORBIDDEN` at their path for callers without a care relationship
//! (`services::patients`).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::patient;

use super::care::{Hospitalisation, LabTest, Transfer};
use super::context::{load, load_required, principal, signed_in, state};
use super::enums::*;
use super::follow_up::{FollowUpCall, HealthReport, MedicalVisit};
use super::inputs::{PatientFilterInput, RegisterPatientInput, UpdatePatientInput};
use super::loaders::*;
use super::organisations::{Facility, HealthCentre, Organisation, Prefecture, organisation};
use super::pages::{
    PageInfo, decode_kind_cursor, encode_kind_cursor, latest, page_size, page_size_or_count, record_list_cost,
    record_list_size,
};
use super::prefetch;
use super::scalars::Date;
use crate::auth::policy;
use crate::domain::SmartphoneId;
use crate::error::AppError;
use crate::services::audit::ReadTrail;
use crate::services::patients::PatientFilter;
use crate::services::{self, parse_id};

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct PatientsQuery;

#[Object]
impl PatientsQuery {
    /// One patient within the caller's reach; null when there is none.
    async fn patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's ID.")] id: ID,
    ) -> Result<Option<Patient>> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(services::patients::get(state(ctx), principal, id).await?.map(Patient))
    }

    /// The patients within the caller's reach, newest registration first
    /// unless `order` says otherwise (Relay connection).
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn patients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Filters, combined with AND.")] filter: Option<PatientFilterInput>,
        #[graphql(desc = "The order of registration; newest first by default.")] order: Option<RegistrationOrder>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let principal = signed_in(ctx)?;
        let filter = filter.unwrap_or_default().parse()?;
        let filter = PatientFilter { oldest_first: order == Some(RegistrationOrder::OldestFirst), ..filter };
        page(ctx, principal, filter, first, after).await
    }

    /// The work queue of records still lacking an item the rules in force
    /// require (`Patient.missingItems`), within the caller's reach (a
    /// facility's registrations, a health centre's patients), oldest
    /// registration first. For facilities and health centres.
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn incomplete_records(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let filter = PatientFilter { incomplete: true, oldest_first: true, ..Default::default() };
        queue(ctx, filter, first, after).await
    }

    /// The work queue of notifications received and not yet accepted or
    /// returned (受理), within the caller's reach, oldest first: a health
    /// centre's to decide, a facility's waiting.
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn notifications_awaiting_acceptance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let filter = PatientFilter {
            notification_status: Some(entity::enums::NotificationStatus::Received),
            record_status: Some(entity::enums::RecordStatus::Active),
            oldest_first: true,
            ..Default::default()
        };
        queue(ctx, filter, first, after).await
    }

    /// Open cases in home or accommodation care whose earliest release
    /// from care (`expectedReleaseDate`, under the rule in force on the
    /// onset date) falls on or before `on`, soonest first: the day's
    /// release round of a health centre. Staff with clinical access, within
    /// their reach.
    #[graphql(complexity = "super::limits::list_cost(first, 500, child_complexity)")]
    async fn patients_due_for_release(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day (Japan time); today by default.")] on: Option<Date>,
        #[graphql(desc = "At most this many, 1 to 500; 500 by default.")] first: Option<i32>,
    ) -> Result<Vec<Patient>> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 500, state.config.max_page_size)?;
        let today = state.now().with_timezone(&crate::domain::calendar::local_offset()).date_naive();
        let due = services::patient_record::due_for_release(state, principal, on.map_or(today, |d| d.0), first);
        let rows: Vec<patient::Model> = due.await?.into_iter().map(|(row, _)| row).collect();
        prefetch::patients(ctx, &[ctx.look_ahead()], &rows).await?;
        Ok(rows.into_iter().map(Patient).collect())
    }

    /// People within the caller's reach by name reading (katakana, matched
    /// whatever its width, small kana or spacing: ﾔﾏﾀﾞ ﾀﾛｳ finds ヤマダ
    /// タロウ), date of birth and/or telephone number (its digits); every
    /// criterion given must match, at least one is needed. For facilities
    /// and health centres; records closed or withdrawn are found too (see
    /// `recordStatus`). Newest registration first.
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn search_patients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The name reading, in katakana (full- or half-width) or hiragana.")] name_kana: Option<String>,
        #[graphql(desc = "The date of birth.")] birth_date: Option<Date>,
        #[graphql(desc = "The telephone number; only its digits count, at least 4.")] phone: Option<String>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let principal = signed_in(ctx)?;
        let person = services::patients::PersonSearch {
            name_kana_key: name_kana
                .map(|raw| {
                    crate::domain::kana::search_key(&raw).ok_or_else(|| {
                        AppError::bad_input("nameKana", "must be a name reading in katakana or hiragana")
                    })
                })
                .transpose()?,
            birth_date: birth_date.map(|d| d.0),
            phone_digits: phone
                .map(|raw| {
                    let digits = crate::domain::kana::phone_digits(&raw);
                    if digits.len() < 4 || digits.len() > 15 {
                        return Err(AppError::bad_input("phone", "must hold 4 to 15 digits"));
                    }
                    Ok(digits)
                })
                .transpose()?,
        };
        if person.is_empty() {
            return Err(
                AppError::bad_input("nameKana", "give a name reading, a date of birth or a phone number").into()
            );
        }
        // A match discloses that the person's reading, birth date or phone
        // is what was searched: a read of those items, audited.
        let searched: Vec<&'static str> = [
            (person.name_kana_key.is_some(), "nameKana"),
            (person.birth_date.is_some(), "birthDate"),
            (person.phone_digits.is_some(), "phone"),
        ]
        .into_iter()
        .filter_map(|(given, field)| given.then_some(field))
        .collect();
        let filter = PatientFilter { person, ..Default::default() };
        let found = page(ctx, principal, filter, first, after).await?;
        for row in &found.rows {
            for field in &searched {
                note_read(ctx, row.0.id, field);
            }
        }
        Ok(found)
    }
}

/// A work queue: the page of `filter` (oldest first) for staff who
/// register and care for patients.
async fn queue(
    ctx: &Context<'_>,
    filter: PatientFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PatientConnection> {
    let principal = signed_in(ctx)?;
    if !policy::may_register_patients(principal) {
        return Err(AppError::forbidden("work queues are for testing facilities and health centres").into());
    }
    page(ctx, principal, filter, first, after).await
}

/// The page of the patients `filter` selects within the caller's reach
/// (`first` 1 to 500, 20 by default, or 0 for the count alone; after the
/// cursor `after`): only the personal text columns the selection can show
/// are read, and the relations it asks for are loaded for the whole page
/// at once.
pub(super) async fn page(
    ctx: &Context<'_>,
    principal: &crate::auth::Principal,
    filter: PatientFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PatientConnection> {
    let state = state(ctx);
    let first = page_size_or_count(first, 20, state.config.max_page_size)?;
    let after = after.as_deref().map(|c| decode_cursor(c, "after")).transpose()?;
    let look_ahead = ctx.look_ahead();
    let nodes = [look_ahead.field("edges").field("node"), look_ahead.field("nodes")];
    let texts = Patient::text_columns(&nodes);
    let texts = services::patients::TextColumns::Only(&texts);
    let (rows, has_next_page) = services::patients::list(state, principal, &filter, first, after, texts).await?;
    prefetch::patients(ctx, &nodes, &rows).await?;
    let rows = rows.into_iter().map(Patient).collect();
    Ok(PatientConnection { rows, has_next_page, has_previous_page: after.is_some(), filter })
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct PatientsMutation;

#[Object]
impl PatientsMutation {
    /// Creates a patient record (新規作成) with the basic items, and its
    /// smartphone input ID (returned as `smartphoneId`).
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The basic items of the notification form.")] input: RegisterPatientInput,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let parsed = input.parse(state.now().date_naive())?;
        match services::patients::register(state, principal, parsed).await {
            Ok(created) => Ok(Patient(created)),
            Err(refused) => {
                // The likely duplicates named in the refusal were found by
                // their reading or phone and birth date: audited as read.
                for id in refused.candidates().unwrap_or_default() {
                    for field in ["nameKana", "phone", "birthDate"] {
                        note_read(ctx, *id, field);
                    }
                }
                Err(refused.into())
            }
        }
    }

    /// Completes or corrects a patient's record (the notification items,
    /// the basic items, the case type) at `expectedVersion`: by the facility
    /// that registered it or the responsible health centre (for a facility
    /// without system access, naming it in `input.facilityId`). Each
    /// changed item is kept in `Patient.history`; the figures follow the
    /// correction from the moment it is recorded. `CONFLICT` when the
    /// record has changed since `expectedVersion`.
    async fn update_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The version read (`Patient.version`).")] expected_version: i32,
        #[graphql(desc = "The items to change.")] input: UpdatePatientInput,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let id = parse_id(&patient_id, "patientId")?;
        let changes = input.parse(state.now().date_naive())?;
        Ok(Patient(services::patient_record::update(state, principal, id, expected_version, changes).await?))
    }

    /// Closes a suspected case or a close contact without a positive test
    /// as not a case: the responsible health centre only. From then on the
    /// record counts in no figure (figures published before stay
    /// reproducible as they were).
    async fn close_patient_as_not_a_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The version read (`Patient.version`).")] expected_version: i32,
        #[graphql(desc = "Why, at most 500 characters.")] reason: Option<String>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let reason = reason_text(reason)?;
        let closed = services::patient_record::close_as_not_a_case(state(ctx), principal, id, expected_version, reason);
        Ok(Patient(closed.await?))
    }

    /// Withdraws a duplicate record (取下げ) into the record of the same
    /// person that survives: the responsible health centre only. From then
    /// on the duplicate counts in no figure.
    async fn withdraw_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The duplicate record.")] patient_id: ID,
        #[graphql(desc = "The version read (`Patient.version`).")] expected_version: i32,
        #[graphql(desc = "The record of the same person that stays.")] surviving_patient_id: ID,
        #[graphql(desc = "Why, at most 500 characters.")] reason: Option<String>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let surviving = parse_id(&surviving_patient_id, "survivingPatientId")?;
        let reason = reason_text(reason)?;
        let withdrawn =
            services::patient_record::withdraw(state(ctx), principal, id, expected_version, surviving, reason);
        Ok(Patient(withdrawn.await?))
    }

    /// Refers a patient to a facility (紹介): the responsible health centre
    /// only. The facility then reaches the record (tests, admission, its
    /// personal data) as if it had registered it, instead of registering
    /// the person a second time. Referring again to the same facility
    /// changes nothing.
    async fn refer_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The facility referred to.")] facility_id: ID,
        #[graphql(desc = "A note for the facility, at most 500 characters.")] note: Option<String>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let facility = parse_id(&facility_id, "facilityId")?;
        let note = note.map(|n| super::inputs::note(&n, 500, "note")).transpose()?.flatten();
        Ok(Patient(services::patient_record::refer(state(ctx), principal, id, facility, note).await?))
    }

    /// Accepts a received notification (受理): the responsible health
    /// centre only. `CONFLICT` unless it is `RECEIVED`.
    async fn accept_notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The version read (`Patient.version`).")] expected_version: i32,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let decided = services::patient_record::decide_notification(state(ctx), principal, id, expected_version, None);
        Ok(Patient(decided.await?))
    }

    /// Returns a received notification to the facility with the reason (a
    /// missing or doubtful item): the responsible health centre only. The
    /// facility's next correction (`updatePatient`) sends it back as
    /// `RECEIVED`.
    async fn return_notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The version read (`Patient.version`).")] expected_version: i32,
        #[graphql(desc = "What to correct, 1 to 500 characters.")] reason: String,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let reason = reason_text(Some(reason))?
            .ok_or_else(|| AppError::bad_input("reason", "must say what the facility is to correct"))?;
        let decided =
            services::patient_record::decide_notification(state(ctx), principal, id, expected_version, Some(reason));
        Ok(Patient(decided.await?))
    }

    /// Lifts the lock that failed sign-ins put on a patient's smartphone
    /// input ID, and forgets the count (`Patient.signInLock`): for the
    /// responsible health centre, once it has spoken with the patient.
    /// Audited.
    async fn lift_patient_sign_in_lock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        Ok(Patient(services::lockout::lift_patient_lock(state(ctx), principal, id).await?))
    }
}

/// The reason of a status change: a note of at most 500 characters.
fn reason_text(reason: Option<String>) -> Result<Option<String>> {
    Ok(reason.map(|r| super::inputs::note(&r, 500, "reason")).transpose()?.flatten())
}

/// A patient or close contact: the record created at test time (新規作成).
pub struct Patient(pub patient::Model);

impl Patient {
    /// The personal text columns (`services::patients::TEXT_COLUMNS`) that
    /// `selections` of patients can show: a field selected anywhere (through
    /// fragments, under aliases, even when skipped by a directive) counts.
    pub fn text_columns(selections: &[async_graphql::Lookahead<'_>]) -> Vec<patient::Column> {
        const FIELDS: [(&str, patient::Column); 7] = [
            ("nameKanji", patient::Column::NameKanji),
            ("nameKana", patient::Column::NameKana),
            ("address", patient::Column::Address),
            ("phone", patient::Column::Phone),
            ("email", patient::Column::Email),
            ("smartphoneId", patient::Column::SmartphoneId),
            ("previousSmartphoneId", patient::Column::PreviousSmartphoneId),
        ];
        FIELDS
            .into_iter()
            .filter(|(field, _)| selections.iter().any(|selection| selection.field(field).exists()))
            .map(|(_, column)| column)
            .collect()
    }

    /// A personal field: shown (and its reading audited) to callers with a
    /// care relationship, `FORBIDDEN` at its path for everyone else.
    fn personal<T>(
        &self,
        ctx: &Context<'_>,
        field: &'static str,
        value: impl FnOnce(&patient::Model) -> T,
    ) -> Result<T> {
        match principal(ctx) {
            Some(p) if policy::may_read_personal(p, &self.0) => {
                note_read(ctx, self.0.id, field);
                Ok(value(&self.0))
            }
            _ => Err(policy::personal_field_forbidden(field).into()),
        }
    }

    /// The expected release date and its rule, for an open case that
    /// counts.
    async fn release(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<(chrono::NaiveDate, &'static crate::domain::release::ReleaseRule)>> {
        let p = &self.0;
        if p.outcome.is_some() || p.record_status != entity::enums::RecordStatus::Active {
            return Ok(None);
        }
        let first_positive = if p.onset_date.is_some() {
            None
        } else {
            let tests = load(ctx, TestsOfPatient(p.id)).await?.unwrap_or_default();
            tests
                .iter()
                .filter(|t| t.result == entity::enums::TestResult::Positive)
                .map(|t| t.sampled_at.with_timezone(&crate::domain::calendar::local_offset()).date_naive())
                .min()
        };
        Ok(crate::domain::release::expected_release(p.onset_date, first_positive))
    }

    fn personal_allowed(&self, ctx: &Context<'_>) -> bool {
        principal(ctx).is_some_and(|p| policy::may_read_personal(p, &self.0))
    }

    /// What `tests(last:)` answers from the patient's tests, oldest first
    /// (`last` already checked).
    pub(super) fn tests_of(rows: Vec<entity::lab_test::Model>, last: usize) -> Vec<LabTest> {
        latest(rows, last).map(LabTest).collect()
    }

    /// What `hospitalisations(last:)` answers from the patient's stays.
    pub(super) fn hospitalisations_of(
        &self,
        ctx: &Context<'_>,
        rows: Vec<entity::hospitalisation::Model>,
        last: usize,
    ) -> Vec<Hospitalisation> {
        let personal = self.personal_allowed(ctx);
        latest(rows, last).map(|row| Hospitalisation { row, personal }).collect()
    }

    /// What `latestHealthReport` answers from the patient's latest report.
    pub(super) fn report_of(
        &self,
        ctx: &Context<'_>,
        row: Option<entity::health_report::Model>,
    ) -> Option<HealthReport> {
        let personal = self.personal_allowed(ctx);
        row.map(|row| HealthReport { row, personal })
    }
}

/// A patient or close contact (患者等): the record created at test time (新規作成) and the state of the case.
#[Object]
impl Patient {
    /// Stable identifier of the record.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Global identity (`Node`): opaque, unique across every type; pass it
    /// to `node`.
    pub(super) async fn node_id(&self) -> ID {
        super::node::node_id("Patient", self.0.id)
    }
    /// Type of the person diagnosed (類型).
    async fn case_type(&self) -> CaseType {
        self.0.case_type.into()
    }
    /// Name in kanji (氏名). Personal data.
    async fn name_kanji(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "nameKanji", |p| Some(p.name_kanji.clone()))
    }
    /// Name in katakana (フリガナ). Personal data.
    async fn name_kana(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "nameKana", |p| Some(p.name_kana.clone()))
    }
    /// Sex (性別).
    async fn sex(&self) -> Sex {
        self.0.sex.into()
    }
    /// Date of birth (生年月日). Personal data.
    async fn birth_date(&self, ctx: &Context<'_>) -> Result<Option<Date>> {
        self.personal(ctx, "birthDate", |p| Some(Date(p.birth_date)))
    }
    /// Ten-year age band at registration, derived from the date of birth.
    async fn age_band(&self) -> AgeBand {
        crate::domain::AgeBand::at(self.0.birth_date, self.0.registered_at.date_naive()).into()
    }
    /// Address (住所). Personal data.
    async fn address(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "address", |p| p.address.clone())
    }
    /// Telephone number (電話番号). Personal data.
    async fn phone(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "phone", |p| p.phone.clone())
    }
    /// E-mail address. Personal data.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "email", |p| p.email.clone())
    }
    /// Smartphone input ID (スマホ入力ID) the patient reports with, in groups
    /// of four digits. Personal data.
    async fn smartphone_id(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "smartphoneId", |p| Some(SmartphoneId::from_stored(p.smartphone_id.clone()).display()))
    }
    /// On a reinfection, the smartphone input ID of the earlier infection.
    /// Personal data.
    async fn previous_smartphone_id(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "previousSmartphoneId", |p| {
            p.previous_smartphone_id.clone().map(|id| SmartphoneId::from_stored(id).display())
        })
    }
    /// Occupation (職業). Personal data.
    async fn occupation(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "occupation", |p| p.occupation.clone())
    }
    /// Guardian's name, for a minor (保護者氏名). Personal data.
    async fn guardian_name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "guardianName", |p| p.guardian_name.clone())
    }
    /// Where the patient is, when not at the address (所在地). Personal data.
    async fn current_location(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "currentLocation", |p| p.current_location.clone())
    }
    /// Cause, route and region of infection, as entered (感染原因・感染経路・
    /// 感染地域). Personal data.
    async fn infection_route(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "infectionRoute", |p| p.infection_route.clone())
    }
    /// The category of the infection route (感染経路).
    async fn infection_route_category(&self) -> Option<InfectionRoute> {
        self.0.infection_route_category.map(Into::into)
    }
    /// How sure the infection route is.
    async fn infection_route_certainty(&self) -> Option<RouteCertainty> {
        self.0.infection_route_certainty.map(Into::into)
    }
    /// An earlier infection whose record is not reachable: the earlier
    /// smartphone input ID, date and place as entered. Personal data.
    async fn prior_infection_note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "priorInfectionNote", |p| p.prior_infection_note.clone())
    }
    /// Notes (備考). Personal data.
    async fn notes(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "notes", |p| p.notes.clone())
    }
    /// Onset date (発病年月日).
    async fn onset_date(&self) -> Option<Date> {
        self.0.onset_date.map(Date)
    }
    /// Diagnosis date (診断年月日).
    async fn diagnosis_date(&self) -> Option<Date> {
        self.0.diagnosis_date.map(Date)
    }
    /// Method of diagnosis (診断方法).
    async fn diagnosis_method(&self) -> Option<DiagnosisMethod> {
        self.0.diagnosis_method.map(Into::into)
    }
    /// Specimen of the diagnosis (検体).
    async fn specimen(&self) -> Option<Specimen> {
        self.0.specimen.map(Into::into)
    }
    /// First visit date (初診年月日).
    async fn first_visit_date(&self) -> Option<Date> {
        self.0.first_visit_date.map(Date)
    }
    /// Estimated date of infection (感染推定日).
    async fn estimated_infection_date(&self) -> Option<Date> {
        self.0.estimated_infection_date.map(Date)
    }
    /// Symptoms at diagnosis (症状).
    async fn symptoms(&self) -> Vec<SymptomAtDiagnosis> {
        use crate::domain::notification::{Symptom, read_set};
        read_set(self.0.symptoms.as_deref(), Symptom::from_name).into_iter().map(Into::into).collect()
    }
    /// SpO2 on room air at diagnosis, in %.
    async fn spo2_at_diagnosis(&self) -> Option<i32> {
        self.0.spo2_at_diagnosis.map(i32::from)
    }
    /// Severity at diagnosis (診断時の重症度).
    async fn severity_at_diagnosis(&self) -> Option<Severity> {
        self.0.severity_at_diagnosis.map(Into::into)
    }
    /// Whether admission is needed (入院の必要性).
    async fn needs_admission(&self) -> Option<bool> {
        self.0.needs_admission
    }
    /// Risk factors for severe disease (重症化リスク因子).
    async fn risk_factors(&self) -> Vec<RiskFactor> {
        use crate::domain::notification::{RiskFactor as Factor, read_set};
        read_set(self.0.risk_factors.as_deref(), Factor::from_name).into_iter().map(Into::into).collect()
    }
    /// Doses of vaccine received (ワクチン接種歴).
    async fn vaccination_doses(&self) -> Option<i32> {
        self.0.vaccination_doses.map(i32::from)
    }
    /// Where the notification stands with the responsible health centre
    /// (受理).
    async fn notification_status(&self) -> NotificationStatus {
        self.0.notification_status.into()
    }
    /// Why the notification was returned.
    async fn notification_reason(&self) -> Option<&str> {
        self.0.notification_reason.as_deref()
    }
    /// When the health centre last accepted or returned it.
    async fn notification_decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.notification_decided_at
    }
    /// The items the record still lacks under the rules in force for its
    /// type on the day it was registered, by their field names (empty when
    /// complete, or when the record no longer counts).
    async fn missing_items(&self) -> Vec<&'static str> {
        services::patient_record::missing_items(&self.0)
    }
    /// The people registered or linked as this case's close contacts, within
    /// the caller's reach (a contact handed to another district's health
    /// centre shows in `contactLinks` by ID only).
    async fn contacts(&self, ctx: &Context<'_>) -> Result<Vec<Patient>> {
        let links = super::contacts::links(ctx, self.0.id, true).await?;
        let ids: Vec<i64> = links.iter().map(|l| l.contact_patient_id).collect();
        super::contacts::linked_people(ctx, &ids).await
    }
    /// The case this contact was registered from (the first, if several),
    /// when within the caller's reach.
    async fn index_patient(&self, ctx: &Context<'_>) -> Result<Option<Patient>> {
        let links = super::contacts::links(ctx, self.0.id, false).await?;
        let ids: Vec<i64> = links.iter().map(|l| l.index_patient_id).collect();
        Ok(super::contacts::linked_people(ctx, &ids).await?.into_iter().next())
    }
    /// The links of this case to its contacts, and of this person to the
    /// cases they met: setting, last exposure and observation period.
    async fn contact_links(&self, ctx: &Context<'_>) -> Result<Vec<super::contacts::ContactLink>> {
        let mut links = super::contacts::links(ctx, self.0.id, true).await?;
        links.extend(super::contacts::links(ctx, self.0.id, false).await?);
        Ok(links.into_iter().map(super::contacts::ContactLink).collect())
    }
    /// The facilities the responsible health centre referred the patient
    /// to, oldest first.
    async fn referrals(&self, ctx: &Context<'_>) -> Result<Vec<Referral>> {
        let rows = services::patient_record::referrals(state(ctx), self.0.id).await?;
        Ok(rows.into_iter().map(Referral).collect())
    }
    /// Under the limited notification: the group the person is notified
    /// individually for.
    async fn notification_group(&self) -> Option<NotificationGroup> {
        self.0.notification_group.map(Into::into)
    }
    /// For a release from care: the release rule it was decided under.
    async fn outcome_rule(&self) -> Option<&str> {
        self.0.outcome_rule.as_deref()
    }
    /// Whether the record counts: `ACTIVE`, `NOT_A_CASE` or `WITHDRAWN`.
    async fn record_status(&self) -> RecordStatus {
        self.0.record_status.into()
    }
    /// Why the record was closed or withdrawn, as entered.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    /// For a withdrawn duplicate: the ID of the record that survives.
    async fn withdrawn_into_patient_id(&self) -> Option<ID> {
        self.0.withdrawn_into_patient_id.map(|id| ID(id.to_string()))
    }
    /// The earliest day of release from home or accommodation care
    /// (療養解除) under the rule in force on the onset date (or, without
    /// symptoms, on the day of the first positive sample); the rule's
    /// condition of hours without symptoms may move it later. Null for a
    /// case that has ended, a record that does not count, or one with
    /// neither date.
    async fn expected_release_date(&self, ctx: &Context<'_>) -> Result<Option<Date>> {
        Ok(self.release(ctx).await?.map(|(day, _)| Date(day)))
    }
    /// The release rule that gives `expectedReleaseDate`, by the month it
    /// came into force (`2020-05`, `2020-06`, `2022-09`).
    async fn release_rule(&self, ctx: &Context<'_>) -> Result<Option<&'static str>> {
        Ok(self.release(ctx).await?.map(|(_, rule)| rule.code))
    }
    /// The behaviour history before onset (行動歴) the health centre
    /// recorded in its investigation, by day. Personal data: null, with a
    /// `FORBIDDEN` error at its path, for those who may not read the
    /// record's personal fields.
    async fn behaviour_history(&self, ctx: &Context<'_>) -> Result<Option<Vec<super::contacts::BehaviourEntry>>> {
        self.personal(ctx, "behaviourHistory", |_| ())?;
        let rows = services::contacts::behaviour(state(ctx), self.0.id).await?;
        Ok(Some(rows.into_iter().map(super::contacts::BehaviourEntry).collect()))
    }
    /// Every change of the record's items, oldest first: old and new
    /// values, who, when, for which facility. Personal data (the values of
    /// personal items), like the items themselves.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<PatientChange>> {
        self.personal(ctx, "history", |_| ())?;
        let rows = services::patient_record::history(state(ctx), self.0.id).await?;
        Ok(rows.into_iter().map(PatientChange).collect())
    }
    /// The record as it stood at `at` (its items; tests, stays and the
    /// rest as they are now), from its history; null before it was
    /// registered. Personal fields follow the same rules as the record's.
    async fn as_recorded_at(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The moment.")] at: DateTime<Utc>,
    ) -> Result<Option<Patient>> {
        let rows = services::patient_record::history(state(ctx), self.0.id).await?;
        Ok(services::patient_record::as_recorded_at(&self.0, &rows, at).map(Patient))
    }
    /// Whether the person had COVID-19 before (a reinfection record).
    async fn prior_infection(&self) -> bool {
        self.0.prior_infection || self.0.prior_infection_note.is_some()
    }
    /// On a reinfection, the ID of the earlier record.
    async fn previous_patient_id(&self) -> Option<ID> {
        self.0.previous_patient_id.map(|id| ID(id.to_string()))
    }
    /// Prefecture of the responsible health centre.
    async fn prefecture(&self, ctx: &Context<'_>) -> Result<Prefecture> {
        let centre = load_required(ctx, HealthCentreById(self.0.responsible_health_centre_id)).await?;
        Ok(Prefecture(load_required(ctx, PrefectureById(centre.prefecture_id)).await?))
    }
    /// The health centre responsible for the case (管轄保健所).
    async fn responsible_health_centre(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.responsible_health_centre_id)).await?))
    }
    /// The facility that registered the patient; null when a health centre
    /// registered them on its own account.
    async fn registering_facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.registering_facility_id {
            Some(id) => Ok(Some(Facility::referenced(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// Current care setting (療養場所).
    async fn care_setting(&self) -> CareSetting {
        self.0.care_setting.into()
    }
    /// Whether the `HOME` care is in the elderly or welfare facility the
    /// patient lives in (施設療養).
    async fn in_welfare_facility(&self) -> bool {
        self.0.in_welfare_facility
    }
    /// Outcome (転帰); null while the case is open.
    async fn outcome(&self) -> Option<Outcome> {
        self.0.outcome.map(Into::into)
    }
    /// When the outcome happened.
    async fn outcome_at(&self) -> Option<DateTime<Utc>> {
        self.0.outcome_at
    }
    /// When the record was created.
    async fn registered_at(&self) -> DateTime<Utc> {
        self.0.registered_at
    }
    /// Version for optimistic concurrency: raised by every change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Laboratory tests, oldest sample first: the latest 100, or the
    /// latest `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn tests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<LabTest>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, TestsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(Self::tests_of(rows, last))
    }
    /// Hospital stays, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn hospitalisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<Hospitalisation>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, HospitalisationsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(self.hospitalisations_of(ctx, rows, last))
    }
    /// Daily health reports, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn health_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<HealthReport>> {
        let last = record_list_size(last)?;
        let personal = self.personal_allowed(ctx);
        let rows = load(ctx, HealthReportsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(|row| HealthReport { row, personal }).collect())
    }
    /// The most recent daily health report, if any.
    async fn latest_health_report(&self, ctx: &Context<'_>) -> Result<Option<HealthReport>> {
        let row = load(ctx, LatestHealthReportOfPatient(self.0.id)).await?.flatten();
        Ok(self.report_of(ctx, row))
    }
    /// Medical care received during accommodation or home care, earliest
    /// first: the latest 100, or the latest `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn medical_visits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<MedicalVisit>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, MedicalVisitsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(MedicalVisit).collect())
    }
    /// Changes of the responsible health centre, earliest first: the latest
    /// 100, or the latest `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<Transfer>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, TransfersOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(Transfer).collect())
    }
    /// The organisation whose staff created the record: the registering
    /// facility's own, or a health centre entering on its behalf.
    async fn registered_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        let account = load_required(ctx, AccountById(self.0.registered_by_account_id)).await?;
        organisation(ctx, account.organisation_id).await
    }
    /// Telephone follow-ups, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn follow_up_calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<FollowUpCall>> {
        let last = record_list_size(last)?;
        let personal = self.personal_allowed(ctx);
        let rows = load(ctx, FollowUpCallsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(|row| FollowUpCall { row, personal }).collect())
    }
    /// Failed sign-ins with the patient's smartphone input ID that still
    /// count, and the lock they put on it; null when none count. For the
    /// responsible health centre only (`FORBIDDEN` for anyone else), which
    /// may lift the lock with `liftPatientSignInLock`.
    async fn sign_in_lock(&self, ctx: &Context<'_>) -> Result<Option<SignInLock>> {
        let principal = principal(ctx).ok_or(AppError::Unauthenticated("sign in first: no valid session"))?;
        policy::may_act(
            principal,
            policy::CaseAction::ManageSignIn,
            policy::Target { patient: &self.0, facility: None },
        )?;
        let state = state(ctx);
        let row = load(ctx, SignInFailuresOfPatient(self.0.id)).await?.flatten();
        Ok(row.and_then(|row| crate::services::lockout::standing(&row, &state.config, state.now())).map(SignInLock))
    }
}

// The fields of a patient a plan answers by calling their resolvers
// (`graphql::planned`): every field without arguments that awaits nothing.
super::planned::leaves!(Patient, "Patient", ["Patient", "Node"], {
    "id" => id,
    "nodeId" => node_id,
    "caseType" => case_type,
    "sex" => sex,
    "ageBand" => age_band,
    "infectionRouteCategory" => infection_route_category,
    "infectionRouteCertainty" => infection_route_certainty,
    "onsetDate" => onset_date,
    "diagnosisDate" => diagnosis_date,
    "diagnosisMethod" => diagnosis_method,
    "specimen" => specimen,
    "firstVisitDate" => first_visit_date,
    "estimatedInfectionDate" => estimated_infection_date,
    "symptoms" => symptoms,
    "spo2AtDiagnosis" => spo2_at_diagnosis,
    "severityAtDiagnosis" => severity_at_diagnosis,
    "needsAdmission" => needs_admission,
    "riskFactors" => risk_factors,
    "vaccinationDoses" => vaccination_doses,
    "notificationStatus" => notification_status,
    "notificationReason" => notification_reason,
    "notificationDecidedAt" => notification_decided_at,
    "missingItems" => missing_items,
    "notificationGroup" => notification_group,
    "outcomeRule" => outcome_rule,
    "recordStatus" => record_status,
    "statusReason" => status_reason,
    "withdrawnIntoPatientId" => withdrawn_into_patient_id,
    "priorInfection" => prior_infection,
    "previousPatientId" => previous_patient_id,
    "careSetting" => care_setting,
    "inWelfareFacility" => in_welfare_facility,
    "outcome" => outcome,
    "outcomeAt" => outcome_at,
    "registeredAt" => registered_at,
    "version" => version,
}, fallible {
    "nameKanji" => name_kanji,
    "nameKana" => name_kana,
    "birthDate" => birth_date,
    "address" => address,
    "phone" => phone,
    "email" => email,
    "smartphoneId" => smartphone_id,
    "previousSmartphoneId" => previous_smartphone_id,
    "occupation" => occupation,
    "guardianName" => guardian_name,
    "currentLocation" => current_location,
    "infectionRoute" => infection_route,
    "priorInfectionNote" => prior_infection_note,
    "notes" => notes,
});

/// A referral of a patient to a facility.
pub struct Referral(pub entity::patient_referral::Model);

/// A referral of a patient to a facility (紹介), which then reaches the
/// record for testing and care.
#[Object]
impl Referral {
    /// The facility referred to.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Facility> {
        Facility::referenced(ctx, self.0.facility_id).await
    }
    /// When.
    async fn referred_at(&self) -> DateTime<Utc> {
        self.0.referred_at
    }
    /// The note for the facility.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

/// One change of one item of a patient record.
pub struct PatientChange(pub entity::patient_change::Model);

/// One change of one item of a patient record (its history).
#[Object]
impl PatientChange {
    /// The item, by its field name on `Patient` (e.g. `birthDate`).
    async fn field(&self) -> &str {
        &self.0.field
    }
    /// The value before, as text (dates ISO 8601, enumerations by name,
    /// sets comma-separated); null when it was empty.
    async fn old_value(&self) -> Option<&str> {
        self.0.old_value.as_deref()
    }
    /// The value after, as text; null when cleared.
    async fn new_value(&self) -> Option<&str> {
        self.0.new_value.as_deref()
    }
    /// The record's version this change made.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When the change was recorded.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// The account that made it.
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.to_string())
    }
    /// The facility it was entered for (the caller's own, or the one a
    /// health centre entered for); null for a health centre's own change.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.facility_id {
            Some(id) => Ok(Some(Facility::referenced(ctx, id).await?)),
            None => Ok(None),
        }
    }
}

/// Failed sign-ins with a patient's smartphone input ID, and their lock.
pub struct SignInLock(pub crate::services::lockout::Standing);

/// Failed sign-ins with a patient's smartphone input ID that still count,
/// and the lock they put on it. While locked, every sign-in with the ID is
/// refused (the right date of birth too) with the answer of a wrong one.
#[Object]
impl SignInLock {
    /// Attempts that did not sign in, in the current run (each within the
    /// lockout window of the previous one; while locked they still count).
    async fn failures(&self) -> i32 {
        self.0.failures
    }
    /// When the last of them was made.
    async fn last_failed_at(&self) -> DateTime<Utc> {
        self.0.last_failed_at
    }
    /// Until when sign-in with the ID is refused; null when it is not
    /// locked.
    async fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.0.locked_until
    }
}

/// An item of a patient list with its cursor.
pub struct PatientEdge<'a>(pub &'a Patient);

/// An item of a patient list with its cursor.
#[Object]
impl PatientEdge<'_> {
    /// Opaque cursor of this item.
    async fn cursor(&self) -> String {
        encode_cursor(self.0.0.id)
    }
    /// The patient.
    async fn node(&self) -> &Patient {
        self.0
    }
}

// The fields of an edge a plan answers by calling their resolvers
// (`graphql::planned`); its `node` is the plan's relation.
super::planned::leaves!(PatientEdge<'_>, "PatientEdge", ["PatientEdge"], {
    "cursor" => cursor,
});

/// A page of patients, newest registration first (Relay connection).
pub struct PatientConnection {
    pub rows: Vec<Patient>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub filter: PatientFilter,
}

/// A page of patients, newest registration first (Relay connection).
#[Object]
impl PatientConnection {
    /// The page's items with their cursors.
    async fn edges(&self) -> super::planned::PatientEdges<'_> {
        super::planned::PatientEdges(&self.rows)
    }
    /// The page's patients, without cursors.
    async fn nodes(&self) -> super::planned::PatientList<'_> {
        super::planned::PatientList(&self.rows)
    }
    /// Pagination state.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.rows.first().map(|r| encode_cursor(r.0.id)),
            end_cursor: self.rows.last().map(|r| encode_cursor(r.0.id)),
        }
    }
    /// How many patients match the filter within the caller's reach (all
    /// pages). Costs one counting statement, run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let principal = super::context::signed_in(ctx)?;
        Ok(crate::services::patients::count(super::context::state(ctx), principal, &self.filter).await?)
    }
}

pub fn encode_cursor(id: i64) -> String {
    encode_kind_cursor("patient", id)
}

pub fn decode_cursor(cursor: &str, field: &str) -> std::result::Result<i64, AppError> {
    decode_kind_cursor("patient", cursor, field)
}

/// The patient a test or a stay belongs to, loaded through the caller's row
/// scope like every patient row; one out of reach is `FORBIDDEN`.
pub(super) async fn reachable_patient(ctx: &Context<'_>, id: i64) -> Result<Patient> {
    match super::context::load(ctx, ReachablePatientById(id)).await? {
        Some(row) => Ok(Patient(row)),
        None => Err(AppError::forbidden("this patient is not within the caller's reach").into()),
    }
}

pub(super) fn personal_note(
    ctx: &Context<'_>,
    allowed: bool,
    patient_id: i64,
    note: &Option<String>,
) -> Result<Option<String>> {
    if allowed {
        note_read(ctx, patient_id, "note");
        Ok(note.clone())
    } else {
        Err(policy::personal_field_forbidden("note").into())
    }
}

/// Notes a read of a personal field for the request's audit entry.
pub(super) fn note_read(ctx: &Context<'_>, patient_id: i64, field: &'static str) {
    if let Some(trail) = ctx.data_opt::<std::sync::Arc<ReadTrail>>() {
        trail.note(patient_id, field);
    }
}
