//! Patient records: registration (新規作成) and the scoped list.

use chrono::{DateTime, Utc};
use entity::enums::{CareSetting, CaseType, NotificationGroup, NotificationStatus, RecordStatus, Sex};
use entity::{facility, health_centre, patient};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::appends::Appends;
use super::reachable_patient;
use crate::auth::{Principal, policy};
use crate::domain::{BirthDate, ContactEmail, ContactPhone, NameKana, PersonName, PostalAddress, SmartphoneId};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A parsed registration: every value already valid.
#[derive(Debug)]
pub struct NewPatient {
    pub case_type: CaseType,
    pub name_kanji: PersonName,
    pub name_kana: NameKana,
    pub sex: Sex,
    pub birth_date: BirthDate,
    pub address: Option<PostalAddress>,
    pub phone: Option<ContactPhone>,
    pub email: Option<ContactEmail>,
    pub health_centre_id: Option<i64>,
    pub previous_patient_id: Option<i64>,
    /// For a health centre entering on behalf of a facility.
    pub facility_id: Option<i64>,
    /// The caller has seen the likely duplicates in reach and registers a
    /// different person (or a reinfection) all the same.
    pub confirm_new_person: bool,
    /// Under the limited notification: the group the person is notified
    /// individually for.
    pub notification_group: Option<NotificationGroup>,
    /// An earlier infection whose record is out of reach, as free text.
    pub prior_infection_note: Option<String>,
}

/// Creates a patient record and its smartphone input ID.
pub async fn register(state: &AppState, principal: &Principal, input: NewPatient) -> AppResult<patient::Model> {
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let created = create(&txn, state, principal, input, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// Creates the record of `input` in `txn` (with its audit entry), without
/// committing: a registration, or the new person of a contact registered
/// from a case (`contacts::register_contact`).
pub(crate) async fn create(
    txn: &sea_orm::DatabaseTransaction,
    state: &AppState,
    principal: &Principal,
    input: NewPatient,
    now: DateTime<Utc>,
) -> AppResult<patient::Model> {
    let mut appends = Appends::default();
    let created = create_in(txn, state, principal, (input, EnteredFor::Input), now, &mut appends).await?;
    appends.write(txn).await?;
    Ok(created)
}

/// The facility a registration is entered for.
pub(crate) enum EnteredFor {
    /// As the input names it (`facility_id`), checked here.
    Input,
    /// A facility the caller already resolved with the same rule
    /// (`policy::entry_facility`, and `may_enter_on_behalf` for one named):
    /// an import's row, whose facility every row of the file shares.
    Checked(facility::Model),
}

/// [`create`], with the registration's audit entry added to `appends`,
/// which the caller writes before its commit (with the rest of its
/// write's appended rows).
pub(crate) async fn create_in(
    txn: &sea_orm::DatabaseTransaction,
    state: &AppState,
    principal: &Principal,
    entry: (NewPatient, EnteredFor),
    now: DateTime<Utc>,
    appends: &mut Appends,
) -> AppResult<patient::Model> {
    let record = registration(txn, state, principal, entry, now).await?;
    let created = insert_with_smartphone_id(txn, record, SmartphoneId::generate).await?;
    registered(appends, principal, &created, now);
    Ok(created)
}

/// A registration whose row is not sent now but appended, with the rest of
/// its write's rows, to the one statement before the commit (an import's
/// new person on PostgreSQL).
pub(crate) struct Appended {
    /// The record's ID, drawn from the table's sequence beforehand.
    pub id: i64,
    /// The date of onset, known with the registration.
    pub onset_date: Option<chrono::NaiveDate>,
}

/// [`create_in`], with the record appended to `appends` ahead of the rows
/// that refer to it instead of inserted now. A smartphone input ID found
/// taken fails the statement that writes the appended rows (a unique
/// violation): the caller writes the whole again.
pub(crate) async fn create_appended(
    txn: &sea_orm::DatabaseTransaction,
    state: &AppState,
    principal: &Principal,
    (entry, appended): ((NewPatient, EnteredFor), Appended),
    now: DateTime<Utc>,
    appends: &mut Appends,
) -> AppResult<patient::Model> {
    let mut record = registration(txn, state, principal, entry, now).await?;
    record.id = Set(appended.id);
    record.onset_date = Set(appended.onset_date);
    record.smartphone_id = Set(SmartphoneId::generate().as_digits().to_owned());
    let created: patient::Model = appends.push_record(record)?;
    registered(appends, principal, &created, now);
    Ok(created)
}

/// The registration's audit entry.
fn registered(appends: &mut Appends, principal: &Principal, created: &patient::Model, now: DateTime<Utc>) {
    super::audit::append(
        appends,
        principal,
        "REGISTER_PATIENT",
        Some(created.id),
        &["caseType", "nameKanji", "nameKana", "sex", "birthDate", "address", "phone", "email"],
        now,
    );
    tracing::info!(patient_id = created.id, account_id = created.registered_by_account_id, "patient registered");
}

/// The checks of a registration and the record they lead to, without its
/// ID and smartphone input ID, which are drawn as it is written.
async fn registration(
    txn: &sea_orm::DatabaseTransaction,
    state: &AppState,
    principal: &Principal,
    (input, entered_for): (NewPatient, EnteredFor),
    now: DateTime<Utc>,
) -> AppResult<patient::ActiveModel> {
    if !policy::may_register_patients(principal) {
        return Err(AppError::forbidden("only testing facilities and health centres register patients"));
    }
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;

    // The registering facility: the caller's own, or for a health centre the
    // facility it enters for (which must lie in its district).
    let facility = match entered_for {
        EnteredFor::Input => super::entry_facility(txn, principal, input.facility_id, "register patients").await?,
        EnteredFor::Checked(facility) => Some(facility),
    };

    let responsible = match input.health_centre_id {
        Some(id) => {
            health_centre::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::not_found("input.healthCentreId", "no health centre has this ID"))?
                .id
        }
        None => match (&facility, principal.health_centre_id) {
            (Some(f), _) => f.health_centre_id,
            (None, Some(own)) => own,
            (None, None) => return Err(AppError::bad_input("input.healthCentreId", "is required")),
        },
    };

    let previous = match input.previous_patient_id {
        Some(id) => {
            let previous = reachable_patient(txn, principal, id, "input.previousPatientId").await?;
            if previous.outcome.is_none() {
                return Err(AppError::conflict(
                    "input.previousPatientId: the earlier case has not ended; record its outcome before registering a reinfection",
                ));
            }
            Some(previous)
        }
        None => None,
    };

    let group = notification_group(state, &input, now)?;
    if !input.confirm_new_person {
        let key = input.name_kana.search_key();
        let phone = input.phone.as_ref().map(ContactPhone::digits);
        let found = likely_duplicates(txn, principal, &key, input.birth_date.date(), phone.as_deref()).await?;
        let found: Vec<i64> = found.into_iter().filter(|id| Some(*id) != input.previous_patient_id).collect();
        if !found.is_empty() {
            return Err(AppError::DuplicateSuspected { candidates: found });
        }
    }

    let record = patient::ActiveModel {
        case_type: Set(input.case_type),
        name_kanji: Set(input.name_kanji.into_inner()),
        name_kana_key: Set(input.name_kana.search_key()),
        name_kana: Set(input.name_kana.into_inner()),
        sex: Set(input.sex),
        birth_date: Set(input.birth_date.date()),
        address: Set(input.address.map(PostalAddress::into_inner)),
        phone_digits: Set(input.phone.as_ref().map(ContactPhone::digits)),
        phone: Set(input.phone.map(ContactPhone::into_inner)),
        email: Set(input.email.map(ContactEmail::into_inner)),
        occupation: Set(None),
        guardian_name: Set(None),
        onset_date: Set(None),
        diagnosis_date: Set(None),
        diagnosis_method: Set(None),
        notes: Set(None),
        smartphone_id: Set(String::new()),
        previous_smartphone_id: Set(previous.as_ref().map(|p| p.smartphone_id.clone())),
        previous_patient_id: Set(previous.as_ref().map(|p| p.id)),
        prior_infection: Set(previous.is_some() || input.prior_infection_note.is_some()),
        responsible_health_centre_id: Set(responsible),
        registering_facility_id: Set(facility.as_ref().map(|f| f.id)),
        registered_by_account_id: Set(account_id),
        care_setting: Set(CareSetting::Undecided),
        outcome: Set(None),
        outcome_at: Set(None),
        outcome_recorded_at: Set(None),
        version: Set(1),
        registered_at: Set(now),
        recorded_at: Set(now),
        updated_at: Set(now),
        current_location: Set(None),
        first_visit_date: Set(None),
        estimated_infection_date: Set(None),
        infection_route: Set(None),
        symptoms: Set(None),
        specimen: Set(None),
        spo2_at_diagnosis: Set(None),
        severity_at_diagnosis: Set(None),
        needs_admission: Set(None),
        risk_factors: Set(None),
        vaccination_doses: Set(None),
        prior_infection_note: Set(input.prior_infection_note.clone()),
        record_status: Set(RecordStatus::Active),
        notification_status: Set(if policy::notification_needs_acceptance(principal) {
            NotificationStatus::Received
        } else {
            NotificationStatus::Accepted
        }),
        notification_reason: Set(None),
        notification_decided_at: Set(None),
        outcome_rule: Set(None),
        notification_group: Set(group),
        infection_route_category: Set(None),
        infection_route_certainty: Set(None),
        status_reason: Set(None),
        withdrawn_into_patient_id: Set(None),
        care_decided_by_prefecture: Set(false),
        in_welfare_facility: Set(false),
        ..Default::default()
    };
    Ok(record)
}

/// The group a registration is notified for. Under the limited
/// notification (`Config::limited_notification_from`) a confirmed case or
/// carrier outside the four groups is not registered but counted in the
/// facility's daily counts; someone 65 or over is in a group by age.
fn notification_group(
    state: &AppState,
    input: &NewPatient,
    now: DateTime<Utc>,
) -> AppResult<Option<NotificationGroup>> {
    use crate::domain::notification::{age_on, needs_group};
    use sea_orm::ActiveEnum;
    let today = now.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
    let from = state.config.limited_notification_from;
    if input.notification_group.is_some() || !needs_group(&input.case_type.to_value(), today, from) {
        return Ok(input.notification_group);
    }
    if age_on(input.birth_date.date(), today) >= 65 {
        return Ok(Some(NotificationGroup::Aged65OrOver));
    }
    Err(AppError::bad_input(
        "input.notificationGroup",
        format!(
            "from {} only people aged 65 or over, needing admission, at risk and needing treatment, or pregnant are \
             notified individually: name the group, or count the case in the facility's daily counts \
             (reportDailyCounts)",
            from.unwrap_or_default()
        ),
    ))
}

/// The active records within the caller's reach that are likely the same
/// person: the same reading (as searched) and date of birth, or the same
/// telephone number and date of birth. At most ten, newest first.
pub async fn likely_duplicates(
    db: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    name_kana_key: &str,
    birth_date: chrono::NaiveDate,
    phone_digits: Option<&str>,
) -> AppResult<Vec<i64>> {
    Ok(patient::Entity::find()
        .filter(likely_the_same(principal, name_kana_key, birth_date, phone_digits))
        .select_only()
        .column(patient::Column::Id)
        .order_by_desc(patient::Column::Id)
        .limit(MOST_CANDIDATES as u64)
        .into_tuple::<i64>()
        .all(db)
        .await?)
}

/// Most likely duplicates named in a refusal (the newest).
pub(crate) const MOST_CANDIDATES: usize = 10;

/// The active records in the caller's reach likely the same person: the
/// same date of birth, and the same reading or phone number.
pub(crate) fn likely_the_same(
    principal: &Principal,
    name_kana_key: &str,
    birth_date: chrono::NaiveDate,
    phone_digits: Option<&str>,
) -> Condition {
    let mut same = Condition::any().add(patient::Column::NameKanaKey.eq(name_kana_key));
    if let Some(digits) = phone_digits.filter(|d| !d.is_empty()) {
        same = same.add(patient::Column::PhoneDigits.eq(digits));
    }
    Condition::all()
        .add(policy::patient_scope(principal))
        .add(patient::Column::BirthDate.eq(birth_date))
        .add(patient::Column::RecordStatus.eq(RecordStatus::Active))
        .add(same)
}

/// Inserts `record` with a smartphone input ID from `draw` (at random),
/// drawing again while the unique index finds it taken (the insert then
/// writes nothing). With 10^11 possibilities a second draw is rare, but
/// among hundreds of thousands of records it happens.
async fn insert_with_smartphone_id(
    txn: &impl sea_orm::ConnectionTrait,
    mut record: patient::ActiveModel,
    mut draw: impl FnMut() -> SmartphoneId,
) -> AppResult<patient::Model> {
    use sea_orm::TryInsertResult;
    use sea_orm::sea_query::OnConflict;
    for _ in 0..8 {
        record.smartphone_id = Set(draw().as_digits().to_owned());
        let inserted = patient::Entity::insert(record.clone())
            .on_conflict(OnConflict::column(patient::Column::SmartphoneId).do_nothing().to_owned())
            .try_insert()
            .exec_with_returning(txn)
            .await;
        // The ID was taken: nothing was inserted, so nothing came back
        // (which the ORM reports as a record not found).
        match inserted {
            Ok(TryInsertResult::Inserted(created)) => return Ok(created),
            Ok(_) | Err(sea_orm::DbErr::RecordNotFound(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!("no free smartphone input ID after 8 draws")))
}

/// The filters of the `patients` list.
#[derive(Debug, Default, Clone)]
pub struct PatientFilter {
    pub health_centre_id: Option<i64>,
    pub case_type: Option<CaseType>,
    pub care_setting: Option<CareSetting>,
    /// Registered at or after.
    pub registered_from: Option<DateTime<Utc>>,
    /// Registered before.
    pub registered_to: Option<DateTime<Utc>>,
    /// The record's status.
    pub record_status: Option<RecordStatus>,
    /// The people searched for (`searchPatients`).
    pub person: PersonSearch,
    /// Where the notification stands.
    pub notification_status: Option<NotificationStatus>,
    /// Only records still lacking an item the rules in force require.
    pub incomplete: bool,
    /// The oldest registration first (the work queues), instead of the
    /// newest.
    pub oldest_first: bool,
    /// Sex as entered.
    pub sex: Option<Sex>,
    /// The prefecture of the responsible health centre.
    pub prefecture_id: Option<i32>,
    /// `true`: open cases only (no outcome yet); `false`: ended ones.
    pub open: Option<bool>,
    /// The ten-year age band at registration (as `Patient.ageBand`).
    pub age_band: Option<crate::domain::AgeBand>,
    /// The severity of a hospital stay not ended yet (its latest condition).
    pub severity: Option<entity::enums::Severity>,
    /// One of the health centre's follow-up lists (staff with clinical
    /// access only).
    pub follow_up: Option<super::follow_up::FollowUpList>,
}

/// What `searchPatients` looks for, each as stored for searching; all
/// given ones must match.
#[derive(Debug, Default, Clone)]
pub struct PersonSearch {
    pub name_kana_key: Option<String>,
    pub birth_date: Option<chrono::NaiveDate>,
    pub phone_digits: Option<String>,
}

impl PersonSearch {
    pub fn is_empty(&self) -> bool {
        self.name_kana_key.is_none() && self.birth_date.is_none() && self.phone_digits.is_none()
    }
}

impl PatientFilter {
    fn condition(&self, backend: sea_orm::DbBackend) -> Condition {
        let mut condition = Condition::all();
        if let Some(id) = self.health_centre_id {
            condition = condition.add(patient::Column::ResponsibleHealthCentreId.eq(id));
        }
        if let Some(case_type) = self.case_type {
            condition = condition.add(patient::Column::CaseType.eq(case_type));
        }
        if let Some(setting) = self.care_setting {
            condition = condition.add(patient::Column::CareSetting.eq(setting));
        }
        if let Some(from) = self.registered_from {
            condition = condition.add(patient::Column::RegisteredAt.gte(from));
        }
        if let Some(to) = self.registered_to {
            condition = condition.add(patient::Column::RegisteredAt.lt(to));
        }
        if let Some(status) = self.record_status {
            condition = condition.add(patient::Column::RecordStatus.eq(status));
        }
        if let Some(key) = &self.person.name_kana_key {
            condition = condition.add(patient::Column::NameKanaKey.eq(key.as_str()));
        }
        if let Some(day) = self.person.birth_date {
            condition = condition.add(patient::Column::BirthDate.eq(day));
        }
        if let Some(digits) = &self.person.phone_digits {
            condition = condition.add(patient::Column::PhoneDigits.eq(digits.as_str()));
        }
        if let Some(status) = self.notification_status {
            condition = condition.add(patient::Column::NotificationStatus.eq(status));
        }
        if self.incomplete {
            condition = condition.add(incomplete());
        }
        if let Some(sex) = self.sex {
            condition = condition.add(patient::Column::Sex.eq(sex));
        }
        if let Some(prefecture) = self.prefecture_id {
            use sea_orm::sea_query::Query;
            let centres = Query::select()
                .column(health_centre::Column::Id)
                .from(health_centre::Entity)
                .and_where(health_centre::Column::PrefectureId.eq(prefecture))
                .to_owned();
            condition = condition.add(patient::Column::ResponsibleHealthCentreId.in_subquery(centres));
        }
        match self.open {
            Some(true) => condition = condition.add(patient::Column::Outcome.is_null()),
            Some(false) => condition = condition.add(patient::Column::Outcome.is_not_null()),
            None => {}
        }
        if let Some(band) = self.age_band {
            condition = condition.add(age_band(band, backend));
        }
        if let Some(severity) = self.severity {
            use sea_orm::sea_query::Query;
            let staying = Query::select()
                .column(entity::hospitalisation::Column::PatientId)
                .from(entity::hospitalisation::Entity)
                .and_where(entity::hospitalisation::Column::DischargedAt.is_null())
                .and_where(entity::hospitalisation::Column::Severity.eq(severity))
                .to_owned();
            condition = condition.add(patient::Column::Id.in_subquery(staying));
        }
        if let Some(list) = self.follow_up {
            condition = condition.add(list.condition());
        }
        condition
    }
}

/// Patients whose age at registration falls in `band`, as `AgeBand::at`
/// reckons it: with the registration day and the birth date as numbers
/// `YYYYMMDD`, the age is their difference divided by 10,000 (a birthday
/// not reached yet that year counts one year less, 29 February too).
fn age_band(band: crate::domain::AgeBand, backend: sea_orm::DbBackend) -> Condition {
    use sea_orm::sea_query::Expr;
    let (on, birth) = if backend == sea_orm::DbBackend::Postgres {
        (
            "CAST(to_char(patients.registered_at AT TIME ZONE 'UTC', 'YYYYMMDD') AS INTEGER)",
            "CAST(to_char(patients.birth_date, 'YYYYMMDD') AS INTEGER)",
        )
    } else {
        (
            "CAST(strftime('%Y%m%d', patients.registered_at) AS INTEGER)",
            "CAST(strftime('%Y%m%d', patients.birth_date) AS INTEGER)",
        )
    };
    let decade = crate::domain::AgeBand::ALL.iter().position(|b| *b == band).unwrap_or_default();
    let mut condition = Condition::all();
    if decade > 0 {
        condition = condition.add(Expr::cust(format!("{on} - {birth} >= {}", decade * 100_000)));
    }
    if decade + 1 < crate::domain::AgeBand::ALL.len() {
        condition = condition.add(Expr::cust(format!("{on} - {birth} < {}", (decade + 1) * 100_000)));
    }
    condition
}

/// Active records that lack an item the rule of their type and
/// registration day requires (`domain::notification::REQUIREMENTS`): the
/// same test as `patient_record::missing_items`, in SQL.
fn incomplete() -> Condition {
    use crate::domain::calendar::local_offset;
    let midnight = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0).and_then(|t| t.and_local_timezone(local_offset()).single()).map(|t| t.to_utc())
    };
    let mut any = Condition::any();
    for rule in crate::domain::notification::REQUIREMENTS {
        let mut lacking = Condition::any();
        for item in rule.items {
            if let Some((_, column)) = super::patient_record::ITEMS.iter().find(|(name, _)| name == item) {
                lacking = lacking.add(column.is_null());
            }
        }
        let mut case =
            Condition::all().add(patient::Column::CaseType.is_in(rule.case_types.iter().copied())).add(lacking);
        if let Some(from) = midnight(rule.from) {
            case = case.add(patient::Column::RegisteredAt.gte(from));
        }
        if let Some(until) = rule.until.and_then(midnight) {
            case = case.add(patient::Column::RegisteredAt.lt(until));
        }
        any = any.add(case);
    }
    Condition::all().add(patient::Column::RecordStatus.eq(RecordStatus::Active)).add(any)
}

fn scoped(principal: &Principal, filter: &PatientFilter, backend: sea_orm::DbBackend) -> AppResult<Condition> {
    if !policy::may_read_clinical(principal) {
        return Err(AppError::forbidden("system administrators see no clinical data"));
    }
    if filter.follow_up.is_some() {
        policy::may_read_follow_up_lists(principal)?;
    }
    if !filter.person.is_empty() && !policy::may_search_people(principal) {
        return Err(AppError::forbidden(
            "people are searched by name, birth date or phone only by facilities and health centres",
        ));
    }
    Ok(Condition::all().add(policy::patient_scope(principal)).add(filter.condition(backend)))
}

/// One page of the caller's patients, newest first, after the patient with
/// ID `after`. Returns the page and whether more follow.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: &PatientFilter,
    first: u64,
    after: Option<i64>,
    texts: TextColumns<'_>,
) -> AppResult<(Vec<patient::Model>, bool)> {
    let mut query = texts.select().filter(scoped(principal, filter, state.db.get_database_backend())?);
    if let Some(after) = after {
        query = query.filter(if filter.oldest_first {
            patient::Column::Id.gt(after)
        } else {
            patient::Column::Id.lt(after)
        });
    }
    let query = if filter.oldest_first {
        query.order_by_asc(patient::Column::Id)
    } else {
        query.order_by_desc(patient::Column::Id)
    };
    let query = query.limit(first + 1);
    let read = |db: sea_orm::DatabaseConnection| {
        let query = query.clone();
        async move { AppResult::Ok(crate::db::rows::all::<patient::Model>(&db, query).await?) }
    };
    // De-identified lists may come from a replica a moment behind; a list
    // that shows personal data (and is audited) reads the primary.
    let mut rows = if policy::may_read_from_replica(principal) {
        state.replicas.recent(&state.db, state.now(), read).await?
    } else {
        read(state.db.clone()).await?
    };
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// The personal text columns of a patient (names, contacts, smartphone
/// IDs): the widest part of the row, and the only part a list can leave
/// out.
pub const TEXT_COLUMNS: [patient::Column; 9] = [
    patient::Column::NameKanji,
    patient::Column::NameKana,
    patient::Column::Address,
    patient::Column::Phone,
    patient::Column::Email,
    patient::Column::SmartphoneId,
    patient::Column::PreviousSmartphoneId,
    patient::Column::NameKanaKey,
    patient::Column::PhoneDigits,
];

/// Which of [`TEXT_COLUMNS`] a list reads. A page that shows none of them
/// (a dashboard) reads the patients without them: they come back empty,
/// and the caller must not show them. Every other column is always read.
#[derive(Debug, Clone, Copy)]
pub enum TextColumns<'a> {
    All,
    Only(&'a [patient::Column]),
}

impl TextColumns<'_> {
    /// The patients' select, every column in the model's order (rows are
    /// read by position), the text columns left out blank.
    fn select(self) -> sea_orm::Select<patient::Entity> {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, IdenStatic, Iterable};
        let TextColumns::Only(wanted) = self else { return patient::Entity::find() };
        let mut select = patient::Entity::find().select_only();
        for column in patient::Column::iter() {
            let among = |list: &[patient::Column]| list.iter().any(|c| c.as_str() == column.as_str());
            if among(&TEXT_COLUMNS) && !among(wanted) {
                let blank = if column.def().is_null() { "NULL" } else { "''" };
                select = select.expr_as(Expr::cust(blank), column.as_str());
            } else {
                select = select.column(column);
            }
        }
        select
    }
}

/// How many patients match, within the caller's reach.
pub async fn count(state: &AppState, principal: &Principal, filter: &PatientFilter) -> AppResult<u64> {
    Ok(patient::Entity::find()
        .filter(scoped(principal, filter, state.db.get_database_backend())?)
        .count(&state.db)
        .await?)
}

/// Whether a patient is within the caller's reach now.
pub async fn reaches(db: &impl sea_orm::ConnectionTrait, principal: &Principal, id: i64) -> AppResult<bool> {
    let found = patient::Entity::find_by_id(id)
        .filter(policy::patient_scope(principal))
        .select_only()
        .column(patient::Column::Id)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// One patient within the caller's reach, or `None`.
pub async fn get(state: &AppState, principal: &Principal, id: i64) -> AppResult<Option<patient::Model>> {
    if !policy::may_read_clinical(principal) {
        return Err(AppError::forbidden("system administrators see no clinical data"));
    }
    let select = patient::Entity::find_by_id(id).filter(policy::patient_scope(principal)).limit(1);
    Ok(crate::db::rows::one(&state.db, select).await?)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use sea_orm::{EntityTrait, PaginatorTrait};

    use super::*;

    /// A record of the demo data set's first account and health centre.
    async fn record(db: &sea_orm::DatabaseConnection) -> patient::ActiveModel {
        let account = entity::account::Entity::find().one(db).await.expect("a read").expect("a demo account");
        let centre = health_centre::Entity::find().one(db).await.expect("a read").expect("a demo centre");
        let now = Utc::now();
        patient::ActiveModel {
            case_type: Set(CaseType::Confirmed),
            name_kanji: Set("試験 太郎".to_owned()),
            name_kana: Set("シケン タロウ".to_owned()),
            name_kana_key: Set("しけんたろう".to_owned()),
            sex: Set(Sex::Male),
            birth_date: Set(NaiveDate::from_ymd_opt(1980, 1, 1).expect("a date")),
            prior_infection: Set(false),
            responsible_health_centre_id: Set(centre.id),
            registered_by_account_id: Set(account.id),
            care_setting: Set(CareSetting::Undecided),
            version: Set(1),
            registered_at: Set(now),
            recorded_at: Set(now),
            updated_at: Set(now),
            record_status: Set(RecordStatus::Active),
            notification_status: Set(NotificationStatus::Accepted),
            ..Default::default()
        }
    }

    /// A drawn ID already taken is drawn again; the record is written once,
    /// with the free ID.
    #[tokio::test]
    async fn a_smartphone_id_already_taken_is_drawn_again() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("an in-memory database");
        crate::db::migrate(&db).await.expect("migrations");
        crate::services::demo::seed_demo(&db).await.expect("the demo data");
        let taken = SmartphoneId::generate();
        let first = insert_with_smartphone_id(&db, record(&db).await, || taken.clone()).await.expect("inserted");
        assert_eq!(first.smartphone_id, taken.as_digits());

        let free = SmartphoneId::generate();
        let mut draws = vec![free.clone(), taken.clone()];
        let second = insert_with_smartphone_id(&db, record(&db).await, || draws.pop().expect("two draws at most"))
            .await
            .expect("inserted");
        assert_eq!(second.smartphone_id, free.as_digits());
        assert!(draws.is_empty(), "the taken ID was drawn first, then the free one");
        assert_eq!(patient::Entity::find().count(&db).await.expect("a count"), 2);
    }

    /// A record appended (its ID drawn beforehand) is written as answered;
    /// one whose smartphone input ID is taken fails the write as a unique
    /// violation, which the import takes as the sign to write again, and
    /// leaves nothing behind.
    #[tokio::test]
    async fn an_appended_record_is_stored_as_answered_and_a_taken_id_is_a_unique_violation() {
        use sea_orm::TransactionTrait;
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("an in-memory database");
        crate::db::migrate(&db).await.expect("migrations");
        crate::services::demo::seed_demo(&db).await.expect("the demo data");
        let before = patient::Entity::find().count(&db).await.expect("a count");
        let next_id = |db| async move {
            patient::Entity::find()
                .order_by_desc(patient::Column::Id)
                .one(db)
                .await
                .expect("a read")
                .map_or(1, |p| p.id)
                + 1
        };

        // Every column of a record as the database holds it, under a new ID
        // and smartphone input ID.
        let model = insert_with_smartphone_id(&db, record(&db).await, SmartphoneId::generate).await.expect("inserted");
        let mut first = sea_orm::IntoActiveModel::into_active_model(model);
        first.id = Set(next_id(&db).await);
        first.smartphone_id = Set(SmartphoneId::generate().as_digits().to_owned());
        let mut appends = Appends::default();
        let answered: patient::Model = appends.push_record(first.clone()).expect("every column set");
        let txn = db.begin().await.expect("a transaction");
        appends.write(&txn).await.expect("written");
        txn.commit().await.expect("committed");
        let stored = patient::Entity::find_by_id(answered.id).one(&db).await.expect("a read").expect("the record");
        assert_eq!(stored, answered);

        let mut unset = Appends::default();
        let refused = unset.push_record::<_, patient::Model>(record(&db).await);
        assert!(matches!(refused, Err(AppError::Internal(_))), "a record without its ID is not appended");

        let mut again = Appends::default();
        let mut second = first;
        second.id = Set(next_id(&db).await);
        let _: patient::Model = again.push_record(second).expect("every column set");
        let txn = db.begin().await.expect("a transaction");
        let written = again.write(&txn).await;
        drop(txn);
        match written {
            Err(AppError::Internal(cause)) => {
                assert!(crate::db::DbFailure::is_unique_violation(&cause), "not a unique violation: {cause}")
            }
            other => panic!("a taken smartphone ID was written: {other:?}"),
        }
        assert_eq!(patient::Entity::find().count(&db).await.expect("a count"), before + 2);
    }
}
