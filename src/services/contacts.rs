//! Close contacts linked to the case they met (積極的疫学調査): the health
//! centre responsible for a case registers its contacts (new people, as
//! `CLOSE_CONTACT` records with their own smartphone input IDs, so they
//! report their health like patients) or links people already in its reach.
//! A link stays when the contact tests positive and becomes a case: it is
//! then an edge of the transmission chain. A contact living in another
//! district is registered to that district's health centre
//! (`healthCentreId`), or handed to it later (`care::hand_over_contact`);
//! that centre is told live (`contactHandovers`), and the first keeps the
//! link but reaches the contact's record only through a care relationship
//! of its own.

use chrono::NaiveDate;
use entity::enums::{CaseType, ExposureSetting};
use entity::{patient, patient_contact};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::patient_write::Locked;
use super::patients::NewPatient;
use crate::auth::Principal;
use crate::auth::policy::{self, CaseAction};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How a contact met the case.
#[derive(Debug, Clone, Copy)]
pub struct Exposure {
    pub setting: ExposureSetting,
    pub last_exposure_on: NaiveDate,
}

/// Checks the day of last exposure: a clinical day, not in the future.
fn check_exposure(exposure: &Exposure, today: NaiveDate) -> AppResult<()> {
    crate::domain::text::check_clinical_day(exposure.last_exposure_on, today)
        .map_err(|why| AppError::bad_input("input.lastExposureOn", why))
}

/// Registers a new person as a close contact of the case `index_id` and
/// links the two, in one transaction.
pub async fn register_contact(
    state: &AppState,
    principal: &Principal,
    index_id: i64,
    person: NewPatient,
    exposure: Exposure,
) -> AppResult<patient::Model> {
    let now = state.now();
    check_exposure(&exposure, now.with_timezone(&crate::domain::calendar::local_offset()).date_naive())?;
    let write = Locked::open(state, principal, index_id, "input.indexPatientId", now)
        .await?
        .authorise(CaseAction::Investigate, None)?;
    let person = NewPatient { case_type: CaseType::CloseContact, previous_patient_id: None, ..person };
    let contact = super::patients::create(write.txn(), state, principal, person, now).await?;
    link(write.txn(), principal, index_id, contact.id, exposure, now).await?;
    if principal.health_centre_id == Some(contact.responsible_health_centre_id) {
        write.commit("REGISTER_CONTACT", &["contacts"]).await?;
    } else {
        // Registered straight to the centre of the contact's district: that
        // centre is told live, as after a handover.
        let event = crate::events::outbox_row(
            crate::events::CONTACT_HANDED_OVER,
            None,
            contact.id,
            contact.responsible_health_centre_id,
            now,
            state.db.get_database_backend(),
        );
        write.commit_with_event("REGISTER_CONTACT", &["contacts"], event).await?;
    }
    Ok(contact)
}

/// Links a person already in the caller's reach as a close contact of the
/// case `index_id`. Linking the same two again changes nothing.
pub async fn link_contact(
    state: &AppState,
    principal: &Principal,
    index_id: i64,
    contact_id: i64,
    exposure: Exposure,
) -> AppResult<patient::Model> {
    if index_id == contact_id {
        return Err(AppError::bad_input("contactPatientId", "a case is not its own contact"));
    }
    let now = state.now();
    check_exposure(&exposure, now.with_timezone(&crate::domain::calendar::local_offset()).date_naive())?;
    let write = Locked::open(state, principal, index_id, "indexPatientId", now)
        .await?
        .authorise(CaseAction::Investigate, None)?;
    let contact = super::reachable_patient(write.txn(), principal, contact_id, "contactPatientId").await?;
    let known = patient_contact::Entity::find()
        .filter(patient_contact::Column::IndexPatientId.eq(index_id))
        .filter(patient_contact::Column::ContactPatientId.eq(contact_id))
        .one(write.txn())
        .await?;
    if known.is_none() {
        link(write.txn(), principal, index_id, contact_id, exposure, now).await?;
        write.commit("LINK_CONTACT", &["contacts"]).await?;
    }
    Ok(contact)
}

async fn link(
    txn: &sea_orm::DatabaseTransaction,
    principal: &Principal,
    index_id: i64,
    contact_id: i64,
    exposure: Exposure,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    patient_contact::ActiveModel {
        index_patient_id: Set(index_id),
        contact_patient_id: Set(contact_id),
        setting: Set(exposure.setting),
        last_exposure_on: Set(exposure.last_exposure_on),
        registered_by_account_id: Set(account_id),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// The patients of `ids` within the caller's reach, in the order of `ids`:
/// a linked person out of reach is left out (the link itself shows only
/// its ID).
pub async fn reachable(state: &AppState, principal: &Principal, ids: &[i64]) -> AppResult<Vec<patient::Model>> {
    if ids.is_empty() || !policy::may_read_clinical(principal) {
        return Ok(Vec::new());
    }
    let mut found: std::collections::HashMap<i64, patient::Model> = patient::Entity::find()
        .filter(patient::Column::Id.is_in(ids.iter().copied()))
        .filter(policy::patient_scope(principal))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// Most people one chain query walks to.
pub const CHAIN_NODES: usize = 500;
/// Deepest a chain query goes.
pub const CHAIN_DEPTH: u32 = 6;

/// A transmission chain around a case: the links walked and the people on
/// them.
#[derive(Debug)]
pub struct Chain {
    pub links: Vec<patient_contact::Model>,
    /// The people of the chain within the caller's reach (the others appear
    /// in `links` by ID only).
    pub people: Vec<patient::Model>,
    /// Whether the walk stopped at [`CHAIN_NODES`] people.
    pub truncated: bool,
}

/// Walks the contact links from `start` in both directions (who met whom),
/// `depth` links deep: `None` when the start is out of the caller's reach.
/// One statement per level; at most [`CHAIN_NODES`] people.
pub async fn chain(state: &AppState, principal: &Principal, start: i64, depth: u32) -> AppResult<Option<Chain>> {
    if depth == 0 || depth > CHAIN_DEPTH {
        return Err(AppError::bad_input("depth", format!("must be from 1 to {CHAIN_DEPTH}")));
    }
    if !policy::may_read_clinical(principal) || !super::patients::reaches(&state.db, principal, start).await? {
        return Ok(None);
    }
    let mut seen: Vec<i64> = vec![start];
    let mut frontier: Vec<i64> = vec![start];
    let mut links: std::collections::BTreeMap<i64, patient_contact::Model> = std::collections::BTreeMap::new();
    let mut truncated = false;
    for _ in 0..depth {
        if frontier.is_empty() {
            break;
        }
        let found = patient_contact::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(patient_contact::Column::IndexPatientId.is_in(frontier.iter().copied()))
                    .add(patient_contact::Column::ContactPatientId.is_in(frontier.iter().copied())),
            )
            .order_by_asc(patient_contact::Column::Id)
            .all(&state.db)
            .await?;
        let mut next = Vec::new();
        for link in found {
            for end in [link.index_patient_id, link.contact_patient_id] {
                if !seen.contains(&end) {
                    if seen.len() >= CHAIN_NODES {
                        truncated = true;
                        continue;
                    }
                    seen.push(end);
                    next.push(end);
                }
            }
            if seen.contains(&link.index_patient_id) && seen.contains(&link.contact_patient_id) {
                links.insert(link.id, link);
            }
        }
        frontier = next;
    }
    let people = reachable(state, principal, &seen).await?;
    Ok(Some(Chain { links: links.into_values().collect(), people, truncated }))
}

/// An entry of a case's behaviour history before onset.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub day: NaiveDate,
    pub place_kind: ExposureSetting,
    pub place: String,
    pub note: Option<String>,
}

/// Adds an entry to the behaviour history of the case `patient_id`: the
/// health centre responsible for the case, as part of its investigation.
pub async fn record_behaviour(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    entry: Behaviour,
) -> AppResult<entity::behaviour_entry::Model> {
    let now = state.now();
    let today = now.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
    crate::domain::text::check_clinical_day(entry.day, today).map_err(|why| AppError::bad_input("input.date", why))?;
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let write =
        Locked::open(state, principal, patient_id, "patientId", now).await?.authorise(CaseAction::Investigate, None)?;
    let stored = entity::behaviour_entry::ActiveModel {
        patient_id: Set(patient_id),
        day: Set(entry.day),
        place_kind: Set(entry.place_kind),
        place: Set(entry.place),
        note: Set(entry.note),
        recorded_by_account_id: Set(account_id),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(write.txn())
    .await?;
    write.commit("RECORD_BEHAVIOUR", &["behaviourHistory"]).await?;
    Ok(stored)
}

/// The behaviour history of a case, by day, then in the order entered.
pub async fn behaviour(state: &AppState, patient_id: i64) -> AppResult<Vec<entity::behaviour_entry::Model>> {
    use entity::behaviour_entry::Column;
    Ok(entity::behaviour_entry::Entity::find()
        .filter(Column::PatientId.eq(patient_id))
        .order_by_asc(Column::Day)
        .order_by_asc(Column::Id)
        .limit(1_000)
        .all(&state.db)
        .await?)
}
