//! Accommodation and home care: daily health reports, follow-up calls,
//! medical visits during care, and the two lists staff work through every
//! morning (who has not reported today, whose latest report shows warning
//! signs).
//!
//! A patient submits at most `max_health_reports_per_day` reports of their
//! own a day (Japan time, by when they were recorded); the next is refused
//! with `RATE_LIMITED` (limit `maxHealthReportsPerDay`) until midnight.
//! Reports staff enter after a call are not counted.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{CareSetting, ReporterKind};
use entity::{follow_up_call, health_report, medical_visit, patient};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::clinical_moment;
use super::patient_write::Locked;
use crate::auth::Principal;
use crate::auth::policy::{self, CaseAction};
use crate::domain::calendar::{day_bounds, local_offset};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A parsed health report. Symptoms are stored by name.
#[derive(Debug)]
pub struct NewHealthReport {
    pub patient_id: Option<i64>,
    pub body_temperature: f64,
    pub spo2: Option<i32>,
    pub symptoms: Vec<&'static str>,
    /// Emergency signs of the national list, by name.
    pub emergency_signs: Vec<&'static str>,
    pub note: Option<String>,
    pub reported_at: Option<DateTime<Utc>>,
}

/// The warning thresholds a report is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub spo2_at_most: i32,
    pub temperature_at_least: f64,
}

/// What a report's warning signs are: a threshold reached (`LOW_SPO2`,
/// `HIGH_TEMPERATURE`), or a marked worsening against the previous report
/// (`SPO2_FALLING`: three points or more lower; `NEW_BREATHLESSNESS`).
/// Answers the reasons when one of them is new against the previous
/// report (a reading still past a threshold alerts once, not every day);
/// none otherwise.
pub fn warning_reasons(
    limits: Thresholds,
    report: (f64, Option<i32>, &[&str]),
    previous: Option<&health_report::Model>,
) -> Vec<&'static str> {
    let (temperature, spo2, symptoms) = report;
    let past = |temperature: f64, spo2: Option<i32>| {
        let mut reasons = Vec::new();
        if spo2.is_some_and(|s| s <= limits.spo2_at_most) {
            reasons.push("LOW_SPO2");
        }
        if temperature >= limits.temperature_at_least {
            reasons.push("HIGH_TEMPERATURE");
        }
        reasons
    };
    let mut reasons = past(temperature, spo2);
    let before = previous.map(|p| past(p.body_temperature, p.spo2)).unwrap_or_default();
    if let (Some(now), Some(then)) = (spo2, previous.and_then(|p| p.spo2))
        && then - now >= 3
    {
        reasons.push("SPO2_FALLING");
    }
    let breathless = "SHORTNESS_OF_BREATH";
    if symptoms.contains(&breathless) && previous.is_some_and(|p| !p.symptoms.split(',').any(|s| s == breathless)) {
        reasons.push("NEW_BREATHLESSNESS");
    }
    if reasons.iter().all(|reason| before.contains(reason)) {
        return Vec::new();
    }
    reasons
}

/// Checks a free-text note (`domain::text::parse_note`): at most `max`
/// characters (never more than `text::MAX_NOTE`), no control characters
/// other than line breaks and tabs, no bidirectional controls.
pub fn parse_note(note: Option<String>, field: &str, max: usize) -> AppResult<Option<String>> {
    let Some(note) = note else { return Ok(None) };
    let max = max.min(text::MAX_NOTE);
    if note.trim().chars().count() > max {
        return Err(AppError::bad_input(field, format!("must be at most {max} characters")));
    }
    text::parse_note(&note, max).map_err(|why| AppError::bad_input(field, why))
}

/// Submits a daily health report: by the patient (their own) or by staff
/// on their behalf after a call. Several a day are kept.
pub async fn submit_health_report(
    state: &AppState,
    principal: &Principal,
    input: NewHealthReport,
) -> AppResult<health_report::Model> {
    let (patient_id, reporter) = policy::report_subject(principal, input.patient_id)?;
    if !(30.0..=45.0).contains(&input.body_temperature) || !input.body_temperature.is_finite() {
        return Err(AppError::bad_input("input.bodyTemperature", "must be a body temperature in °C between 30 and 45"));
    }
    if input.spo2.is_some_and(|s| !(50..=100).contains(&s)) {
        return Err(AppError::bad_input("input.spo2", "must be a percentage between 50 and 100"));
    }
    let note = parse_note(input.note, "input.note", 1000)?;
    let now = state.now();
    let reported_at = clinical_moment(input.reported_at.unwrap_or(now), now, "input.reportedAt")?;
    // The patient's row is held until the commit, so that two reports sent
    // at once are counted one after the other.
    let write = Locked::open(state, principal, patient_id, "input.patientId", now)
        .await?
        .authorise(CaseAction::SubmitHealthReport, None)?;
    write.ensure_open("a health report")?;
    let patient = write.patient().clone();
    if reporter == ReporterKind::Patient {
        within_daily_reports(write.txn(), state.config.max_health_reports_per_day, patient.id, now).await?;
    }
    let previous = health_report::Entity::find()
        .filter(health_report::Column::PatientId.eq(patient.id))
        .order_by_desc(health_report::Column::ReportedAt)
        .order_by_desc(health_report::Column::Id)
        .one(write.txn())
        .await?;
    let limits = Thresholds {
        spo2_at_most: state.config.warning_spo2_at_most,
        temperature_at_least: state.config.warning_temperature_at_least,
    };
    let temperature = (input.body_temperature * 10.0).round() / 10.0;
    let reasons = warning_reasons(limits, (temperature, input.spo2, &input.symptoms), previous.as_ref());
    let report = health_report::ActiveModel {
        patient_id: Set(patient.id),
        reporter: Set(reporter),
        reported_by_account_id: Set(principal.account_id),
        body_temperature: Set(temperature),
        spo2: Set(input.spo2),
        symptoms: Set(input.symptoms.join(",")),
        emergency_signs: Set(input.emergency_signs.join(",")),
        note: Set(note),
        reported_at: Set(reported_at),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(write.txn())
    .await?;
    let fields = ["bodyTemperature", "spo2", "symptoms", "emergencySigns", "note"];
    // Emergency signs come first: the centre is told of those whatever
    // else the report says.
    let alert = if !input.emergency_signs.is_empty() {
        Some((crate::events::EMERGENCY_SIGNS, input.emergency_signs.join(",")))
    } else if !reasons.is_empty() {
        Some((crate::events::WARNING_SIGNS, reasons.join(",")))
    } else {
        None
    };
    let alerted = alert.is_some();
    match alert {
        Some((kind, detail)) => {
            let refs = crate::events::EventRefs {
                health_report_id: Some(report.id),
                detail: Some(detail),
                ..Default::default()
            };
            let backend = write.txn().get_database_backend();
            let event = crate::events::outbox_row_with(
                kind,
                refs,
                patient.id,
                patient.responsible_health_centre_id,
                now,
                backend,
            );
            write.commit_with_event("SUBMIT_HEALTH_REPORT", &fields, event).await?;
        }
        None => write.commit("SUBMIT_HEALTH_REPORT", &fields).await?,
    }
    tracing::info!(patient_id, report_id = report.id, alerted, "health report submitted");
    Ok(report)
}

/// Refuses a patient's own report once `most` of theirs were recorded on
/// the day (Japan time) of `now`; the refusal says when the next may be
/// sent.
async fn within_daily_reports(
    db: &impl ConnectionTrait,
    most: u64,
    patient_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (start, end) = day_bounds(now.with_timezone(&local_offset()).date_naive());
    let sent = health_report::Entity::find()
        .filter(health_report::Column::PatientId.eq(patient_id))
        .filter(health_report::Column::Reporter.eq(ReporterKind::Patient))
        .filter(health_report::Column::RecordedAt.gte(start))
        .filter(health_report::Column::RecordedAt.lt(end))
        .count(db)
        .await?;
    if sent < most {
        return Ok(());
    }
    Err(AppError::OverBound {
        limit: "maxHealthReportsPerDay",
        message: format!(
            "a patient may submit at most {most} health reports a day (maxHealthReportsPerDay); the next can be \
             sent after midnight, Japan time"
        ),
        retry_after: Some(Ord::max(u64::try_from((end - now).num_seconds()).unwrap_or(0), 1)),
    })
}

/// A page of one patient's health reports, newest recorded first (by ID),
/// after the report `after`; with whether more follow. `None` when the
/// patient is not within the caller's reach.
pub async fn health_report_page(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    first: u64,
    after: Option<i64>,
) -> AppResult<Option<(patient::Model, Vec<health_report::Model>, bool)>> {
    let Some(patient) = super::patients::get(state, principal, patient_id).await? else { return Ok(None) };
    let mut select = health_report::Entity::find().filter(health_report::Column::PatientId.eq(patient.id));
    if let Some(after) = after {
        select = select.filter(health_report::Column::Id.lt(after));
    }
    let select = select.order_by_desc(health_report::Column::Id).limit(first + 1);
    let mut rows: Vec<health_report::Model> = crate::db::rows::all(&state.db, select).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(Some((patient, rows, has_next_page)))
}

/// How many health reports the patient `patient_id` has (every page of
/// [`health_report_page`]); `None` when the patient is out of reach.
pub async fn health_report_count(state: &AppState, principal: &Principal, patient_id: i64) -> AppResult<Option<u64>> {
    use sea_orm::PaginatorTrait;
    let Some(patient) = super::patients::get(state, principal, patient_id).await? else { return Ok(None) };
    let select = health_report::Entity::find().filter(health_report::Column::PatientId.eq(patient.id));
    Ok(Some(select.count(&state.db).await?))
}

/// Records a follow-up call (reached or not, and its result).
pub async fn record_follow_up_call(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    reached: bool,
    note: Option<String>,
    called_at: Option<DateTime<Utc>>,
) -> AppResult<follow_up_call::Model> {
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let note = parse_note(note, "input.note", 2000)?;
    let now = state.now();
    let called_at = clinical_moment(called_at.unwrap_or(now), now, "input.calledAt")?;
    let write = Locked::open(state, principal, patient_id, "input.patientId", now)
        .await?
        .authorise(CaseAction::FollowUp, None)?;
    write.ensure_open("a follow-up call")?;
    let patient = write.patient();
    let call = follow_up_call::ActiveModel {
        patient_id: Set(patient.id),
        caller_account_id: Set(account_id),
        reached: Set(reached),
        note: Set(note),
        called_at: Set(called_at),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(write.txn())
    .await?;
    write.commit("RECORD_FOLLOW_UP_CALL", &["reached", "note"]).await?;
    tracing::info!(patient_id, call_id = call.id, account_id, "follow-up call recorded");
    Ok(call)
}

/// Records medical care received during accommodation or home care.
pub async fn record_medical_visit(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    visited_on: NaiveDate,
    institution_name: &str,
) -> AppResult<medical_visit::Model> {
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let name = institution_name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::bad_input("input.institutionName", "must be a name of 1 to 200 characters"));
    }
    text::check_line(name).map_err(|why| AppError::bad_input("input.institutionName", why))?;
    let now = state.now();
    text::check_clinical_day(visited_on, now.with_timezone(&local_offset()).date_naive())
        .map_err(|why| AppError::bad_input("input.visitedOn", why))?;
    let write = Locked::open(state, principal, patient_id, "input.patientId", now)
        .await?
        .authorise(CaseAction::FollowUp, None)?;
    let patient = write.patient();
    if visited_on < patient.birth_date {
        return Err(AppError::bad_input("input.visitedOn", "must not be before the patient's date of birth"));
    }
    let visit = medical_visit::ActiveModel {
        patient_id: Set(patient.id),
        visited_on: Set(visited_on),
        institution_name: Set(name.to_owned()),
        recorded_by_account_id: Set(account_id),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(write.txn())
    .await?;
    write.commit("RECORD_MEDICAL_VISIT", &["visitedOn", "institutionName"]).await?;
    tracing::info!(patient_id, visit_id = visit.id, account_id, "medical visit recorded");
    Ok(visit)
}

/// The patients followed up on `day`, in every centre: open, active
/// records in accommodation or home care, and close contacts under
/// observation.
pub(super) fn followed_on(day: NaiveDate) -> Condition {
    let mut exposures = Condition::any();
    for (from, until) in crate::domain::observation::exposures_observed_on(day) {
        exposures = exposures.add(
            Condition::all()
                .add(entity::patient_contact::Column::LastExposureOn.gte(from))
                .add(entity::patient_contact::Column::LastExposureOn.lte(until)),
        );
    }
    let observed = Query::select()
        .column(entity::patient_contact::Column::ContactPatientId)
        .from(entity::patient_contact::Entity)
        .cond_where(exposures)
        .to_owned();
    let contact = Condition::all()
        .add(patient::Column::CaseType.eq(entity::enums::CaseType::CloseContact))
        .add(patient::Column::Id.in_subquery(observed));
    Condition::all()
        .add(
            Condition::any()
                .add(patient::Column::CareSetting.is_in([CareSetting::Accommodation, CareSetting::Home]))
                .add(contact),
        )
        .add(patient::Column::Outcome.is_null())
        .add(patient::Column::RecordStatus.eq(entity::enums::RecordStatus::Active))
}

/// A follow-up list of a health centre, as a patient filter adds it
/// (`patients::PatientFilter::follow_up`): among the patients followed up
/// on the day (`followed_on`), those who have not reported, or those whose
/// latest report shows a warning sign.
#[derive(Debug, Clone, Copy)]
pub enum FollowUpList {
    /// No health report made on the day (Japan time).
    NotReportedOn(NaiveDate),
    /// The latest report shows SpO2 at or below, or a temperature at or
    /// above, the thresholds.
    WarningSigns { day: NaiveDate, limits: Thresholds },
}

impl FollowUpList {
    /// The patients who did not report on `day` (today by default).
    pub fn not_reported(state: &AppState, day: Option<NaiveDate>) -> Self {
        FollowUpList::NotReportedOn(day.unwrap_or_else(|| state.now().with_timezone(&local_offset()).date_naive()))
    }

    /// Today's patients with warning signs, under the configured thresholds.
    pub fn warning_signs(state: &AppState) -> Self {
        FollowUpList::WarningSigns {
            day: state.now().with_timezone(&local_offset()).date_naive(),
            limits: Thresholds {
                spo2_at_most: state.config.warning_spo2_at_most,
                temperature_at_least: state.config.warning_temperature_at_least,
            },
        }
    }

    /// The list as a condition on patients, in every centre (the caller's
    /// row scope is added by the patient list).
    pub(super) fn condition(self) -> Condition {
        match self {
            FollowUpList::NotReportedOn(day) => {
                followed_on(day).add(patient::Column::Id.not_in_subquery(reported_on(day)))
            }
            FollowUpList::WarningSigns { day, limits } => {
                followed_on(day).add(patient::Column::Id.in_subquery(warning(limits)))
            }
        }
    }
}

/// The patients with a health report made on `day` (Japan time), as a
/// subquery.
pub(super) fn reported_on(day: NaiveDate) -> sea_orm::sea_query::SelectStatement {
    let (start, end) = day_bounds(day);
    Query::select()
        .column(health_report::Column::PatientId)
        .from(health_report::Entity)
        .and_where(Expr::col(health_report::Column::ReportedAt).gte(start))
        .and_where(Expr::col(health_report::Column::ReportedAt).lt(end))
        .to_owned()
}

/// The patients whose latest health report (by report time, then ID)
/// shows a warning sign under `limits`, as a subquery.
fn warning(limits: Thresholds) -> sea_orm::sea_query::SelectStatement {
    let latest = Expr::cust_with_values(
        "health_reports.id = (SELECT r2.id FROM health_reports r2 WHERE r2.patient_id = health_reports.patient_id \
         ORDER BY r2.reported_at DESC, r2.id DESC LIMIT 1)",
        Vec::<sea_orm::Value>::new(),
    );
    Query::select()
        .column(health_report::Column::PatientId)
        .from(health_report::Entity)
        .and_where(latest)
        .cond_where(
            Condition::any()
                .add(health_report::Column::Spo2.lte(limits.spo2_at_most))
                .add(health_report::Column::BodyTemperature.gte(limits.temperature_at_least)),
        )
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::{Thresholds, warning_reasons};
    use entity::enums::ReporterKind;
    use entity::health_report;

    const LIMITS: Thresholds = Thresholds { spo2_at_most: 93, temperature_at_least: 38.5 };

    fn report(temperature: f64, spo2: Option<i32>, symptoms: &str) -> health_report::Model {
        health_report::Model {
            id: 1,
            patient_id: 1,
            reporter: ReporterKind::Patient,
            reported_by_account_id: None,
            body_temperature: temperature,
            spo2,
            symptoms: symptoms.to_owned(),
            emergency_signs: String::new(),
            note: None,
            reported_at: chrono::Utc::now(),
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_report_warns_when_a_reason_is_new_against_the_previous_one() {
        // The first report past a threshold warns; a normal one does not.
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(97), &[]), None), Vec::<&str>::new());
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(93), &[]), None), vec!["LOW_SPO2"]);
        assert_eq!(warning_reasons(LIMITS, (38.5, None, &[]), None), vec!["HIGH_TEMPERATURE"]);
        // The same low reading the next day does not warn again …
        let low = report(36.5, Some(92), "");
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(92), &[]), Some(&low)), Vec::<&str>::new());
        // … but a fever on top of it does, with every reason it has.
        assert_eq!(warning_reasons(LIMITS, (38.9, Some(92), &[]), Some(&low)), vec!["LOW_SPO2", "HIGH_TEMPERATURE"]);
        // A fall of three points warns above the threshold too; two do not.
        let fine = report(36.5, Some(98), "COUGH");
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(95), &[]), Some(&fine)), vec!["SPO2_FALLING"]);
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(96), &[]), Some(&fine)), Vec::<&str>::new());
        // Breathlessness is new only against a report without it.
        let breathless = ["SHORTNESS_OF_BREATH"];
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(97), &breathless), Some(&fine)), vec!["NEW_BREATHLESSNESS"]);
        let already = report(36.5, Some(97), "COUGH,SHORTNESS_OF_BREATH");
        assert_eq!(warning_reasons(LIMITS, (36.5, Some(97), &breathless), Some(&already)), Vec::<&str>::new());
    }
}
