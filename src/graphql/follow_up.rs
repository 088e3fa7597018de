//! Health follow-up: the daily health reports of patients, follow-up
//! calls and medical visits, and the health centre's lists of patients who
//! did not report or show warning signs (`services::follow_up`).

use async_graphql::{Context, Enum, EnumType, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{follow_up_call, health_report};

use super::context::{signed_in, state};
use super::inputs::{FollowUpCallInput, HealthReportInput, MedicalVisitInput};
use super::pages::{PageInfo, decode_kind_cursor, encode_kind_cursor, page_size_or_count};
use super::patients::{PatientConnection, personal_note};
use super::scalars::Date;
use crate::services::follow_up::FollowUpList;
use crate::services::patients::PatientFilter;
use crate::services::{self, parse_id};

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct FollowUpQuery;

#[Object]
impl FollowUpQuery {
    /// One patient's daily health reports, newest recorded first (Relay
    /// connection): every report, for a client that needs more than the
    /// latest 100 that `Patient.healthReports` answers. Null when the
    /// patient is not within the caller's reach; the same field rules and
    /// read audit as the patient's own fields.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn health_report_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's ID.")] patient_id: ID,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Option<HealthReportConnection>> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let patient_id = parse_id(&patient_id, "patientId")?;
        let first = page_size_or_count(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("report", c, "after")).transpose()?;
        let page = services::follow_up::health_report_page(state, principal, patient_id, first, after).await?;
        let Some((patient, rows, has_next_page)) = page else { return Ok(None) };
        let personal = crate::auth::policy::may_read_personal(principal, &patient);
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: rows.first().map(|r| encode_kind_cursor("report", r.id)),
            end_cursor: rows.last().map(|r| encode_kind_cursor("report", r.id)),
        };
        let edges = rows
            .into_iter()
            .map(|row| HealthReportEdge {
                cursor: encode_kind_cursor("report", row.id),
                node: HealthReport { row, personal },
            })
            .collect();
        Ok(Some(HealthReportConnection { edges, page_info, patient_id }))
    }

    /// Patients in accommodation or home care, and close contacts under
    /// observation on `date` (their observation period not ended), case
    /// open, who have not reported their health on `date` (default: today,
    /// Japan time), within the caller's reach, oldest registration first
    /// (Relay connection): the list to phone every morning.
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn patients_not_reported(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day (Japan time); today by default.")] date: Option<Date>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let list = FollowUpList::not_reported(state(ctx), date.map(|d| d.0));
        follow_up_page(ctx, list, first, after).await
    }

    /// Patients in accommodation or home care, and close contacts under
    /// observation today, case open, whose latest health report shows a
    /// warning sign (SpO2 at or below, or temperature at or above, the
    /// configured thresholds: 93% and 38.5 °C by default), within the
    /// caller's reach, oldest registration first (Relay connection).
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn patients_with_warning_signs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        follow_up_page(ctx, FollowUpList::warning_signs(state(ctx)), first, after).await
    }
}

/// A page of a follow-up list: the patient list's page, under its row
/// scope, field rules and read audit, with the list as a filter.
async fn follow_up_page(
    ctx: &Context<'_>,
    list: FollowUpList,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PatientConnection> {
    let principal = signed_in(ctx)?;
    let filter = PatientFilter { follow_up: Some(list), oldest_first: true, ..Default::default() };
    super::patients::page(ctx, principal, filter, first, after).await
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct FollowUpMutation;

#[Object]
impl FollowUpMutation {
    /// Submits a daily health report: a signed-in patient about themself,
    /// or staff on the patient's behalf after a call.
    async fn submit_health_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The report.")] input: HealthReportInput,
    ) -> Result<HealthReport> {
        let principal = signed_in(ctx)?;
        let report = services::follow_up::submit_health_report(state(ctx), principal, input.parse()?).await?;
        Ok(HealthReport { row: report, personal: true })
    }

    /// Records a follow-up call to a patient in accommodation or home care.
    async fn record_follow_up_call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The call.")] input: FollowUpCallInput,
    ) -> Result<FollowUpCall> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&input.patient_id, "input.patientId")?;
        let call = services::follow_up::record_follow_up_call(
            state(ctx),
            principal,
            id,
            input.reached,
            input.note,
            input.called_at,
        )
        .await?;
        Ok(FollowUpCall { row: call, personal: true })
    }

    /// Records medical care a patient received during accommodation or home
    /// care: the date and the institution's name.
    async fn record_medical_visit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The visit.")] input: MedicalVisitInput,
    ) -> Result<MedicalVisit> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&input.patient_id, "input.patientId")?;
        let visit = services::follow_up::record_medical_visit(
            state(ctx),
            principal,
            id,
            input.visited_on.0,
            &input.institution_name,
        )
        .await?;
        Ok(MedicalVisit(visit))
    }
}

/// Medical care received during accommodation or home care.
pub struct MedicalVisit(pub entity::medical_visit::Model);

/// Medical care a patient received during accommodation or home care (療養中の受診).
#[Object]
impl MedicalVisit {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Date of the visit.
    async fn visited_on(&self) -> Date {
        Date(self.0.visited_on)
    }
    /// Name of the medical institution.
    async fn institution_name(&self) -> &str {
        &self.0.institution_name
    }
}

/// Symptoms of the daily health report (My HER-SYS).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Symptom {
    /// Cough or runny nose (咳・鼻汁).
    Cough,
    /// Shortness of breath (息苦しさ).
    ShortnessOfBreath,
    /// Fatigue (倦怠感).
    Fatigue,
    /// Sore throat (咽頭痛).
    SoreThroat,
    /// Loss of taste or smell (味覚・嗅覚障害).
    LossOfTasteOrSmell,
    /// Fever (発熱).
    Fever,
    /// Another symptom, described in the note.
    Other,
}

impl Symptom {
    /// The stored (and public) name of the symptom.
    pub fn stored_name(self) -> &'static str {
        Symptom::items().iter().find(|item| item.value == self).map(|item| item.name).unwrap_or("OTHER")
    }

    pub fn parse_stored(list: &str) -> Vec<Symptom> {
        list.split(',')
            .filter_map(|name| Symptom::items().iter().find(|item| item.name == name).map(|item| item.value))
            .collect()
    }
}

/// The national list of emergency signs (緊急性の高い症状) a person in
/// home or accommodation care is asked to check; any one of them in a
/// report raises an alert (`EMERGENCY_SIGNS`) at the health centre.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EmergencySign {
    /// The face is clearly pale (顔色が明らかに悪い).
    PaleFace,
    /// The lips are turning purple (唇が紫色になっている).
    PurpleLips,
    /// Not themself; something is wrong (いつもと違う、様子がおかしい).
    UnusualBehaviour,
    /// Breathing fast (息が荒くなった).
    RapidBreathing,
    /// Suddenly breathless (急に息苦しくなった).
    SuddenBreathlessness,
    /// Out of breath after moving a little in daily life (日常生活の中で少し動くと息があがる).
    BreathlessOnExertion,
    /// Chest pain (胸の痛みがある).
    ChestPain,
    /// Cannot lie down; can breathe only sitting up (横になれない・座らないと息ができない).
    CannotLieDown,
    /// Breathing with the shoulders (肩で息をしている).
    ShoulderBreathing,
    /// Wheezing that began suddenly, within about two hours (突然ぜーぜーしはじめた).
    SuddenWheezing,
    /// Dazed, responding weakly (ぼんやりしている).
    Dazed,
    /// Confused, not answering (もうろうとしている).
    Unresponsive,
    /// The pulse skips or feels irregular (脈がとぶ・脈のリズムが乱れる).
    IrregularPulse,
}

impl EmergencySign {
    /// The stored (and public) name of the sign.
    pub fn stored_name(self) -> &'static str {
        EmergencySign::items()
            .iter()
            .find(|item| item.value == self)
            .map(|item| item.name)
            .unwrap_or("UNUSUAL_BEHAVIOUR")
    }

    pub fn parse_stored(list: &str) -> Vec<EmergencySign> {
        list.split(',')
            .filter_map(|name| EmergencySign::items().iter().find(|item| item.name == name).map(|item| item.value))
            .collect()
    }
}

/// A daily health report.
pub struct HealthReport {
    pub row: health_report::Model,
    pub personal: bool,
}

/// A daily health report (健康状態の報告, My HER-SYS), by the patient or by staff after a call.
#[Object]
impl HealthReport {
    /// Stable identifier of the report.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Body temperature in °C.
    async fn body_temperature(&self) -> f64 {
        self.row.body_temperature
    }
    /// SpO2 in %, when a pulse oximeter was available.
    async fn spo2(&self) -> Option<i32> {
        self.row.spo2
    }
    /// Symptoms reported.
    async fn symptoms(&self) -> Vec<Symptom> {
        Symptom::parse_stored(&self.row.symptoms)
    }
    /// Emergency signs ticked (the national list); empty when none.
    async fn emergency_signs(&self) -> Vec<EmergencySign> {
        EmergencySign::parse_stored(&self.row.emergency_signs)
    }
    /// Free-text message to the health centre. Personal data.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        personal_note(ctx, self.personal, self.row.patient_id, &self.row.note)
    }
    /// Whether the patient reported it themself (else staff, after a call).
    async fn by_patient(&self) -> bool {
        self.row.reporter == entity::enums::ReporterKind::Patient
    }
    /// When the report was made.
    async fn reported_at(&self) -> DateTime<Utc> {
        self.row.reported_at
    }
}

/// An item of a patient's health reports with its cursor.
#[derive(SimpleObject)]
pub struct HealthReportEdge {
    /// Opaque cursor of this report; pass it as `after`.
    pub cursor: String,
    /// The report.
    pub node: HealthReport,
}

/// A page of one patient's health reports, newest recorded first (Relay
/// connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct HealthReportConnection {
    /// The page's reports with their cursors.
    pub edges: Vec<HealthReportEdge>,
    /// Pagination state.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub patient_id: i64,
}

#[async_graphql::ComplexObject]
impl HealthReportConnection {
    /// How many reports the patient has (all pages). Costs one counting
    /// statement, run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let count = services::follow_up::health_report_count(state(ctx), signed_in(ctx)?, self.patient_id).await?;
        Ok(count.unwrap_or_default())
    }
}

/// A telephone follow-up of a patient in accommodation or home care.
pub struct FollowUpCall {
    pub row: follow_up_call::Model,
    pub personal: bool,
}

/// A telephone follow-up of a patient in accommodation or home care (健康観察の電話連絡).
#[Object]
impl FollowUpCall {
    /// Stable identifier of the call.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Whether the patient was reached.
    async fn reached(&self) -> bool {
        self.row.reached
    }
    /// Result of the call in free text. Personal data.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        personal_note(ctx, self.personal, self.row.patient_id, &self.row.note)
    }
    /// When the call was made.
    async fn called_at(&self) -> DateTime<Utc> {
        self.row.called_at
    }
}

// The fields of a health report a plan answers by calling their
// resolvers (`graphql::planned`).
super::planned::leaves!(HealthReport, "HealthReport", ["HealthReport"], {
    "id" => id,
    "bodyTemperature" => body_temperature,
    "spo2" => spo2,
    "symptoms" => symptoms,
    "emergencySigns" => emergency_signs,
    "byPatient" => by_patient,
    "reportedAt" => reported_at,
}, fallible {
    "note" => note,
});
