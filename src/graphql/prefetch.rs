//! Look-ahead prefetching for lists of patients.
//!
//! A list resolver knows every row of its page before any field below it
//! runs. It asks here for the relations the operation selects (and their
//! own relations one level down), each loaded for the whole page in one
//! statement and kept in the request's DataLoader cache; the field
//! resolvers then find them there. The number of statements therefore
//! depends on which fields are selected, never on the page size or on how
//! the runtime happens to schedule the field resolvers. The keys are all
//! known here, so each relation is loaded straight away rather than queued
//! for the DataLoader's next batch (which waits a millisecond for more keys
//! and runs on a task of its own).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::Lookahead;
use async_graphql::dataloader::Loader;

use entity::patient;
use sea_orm::DbErr;

use super::loaders::*;
use crate::error::AppError;

pub(super) fn db_error(error: Arc<DbErr>) -> AppError {
    AppError::Internal(crate::db::describe_db_error(&error))
}

/// Loads the rows of `keys` in one statement. The caller feeds them to the
/// request's cache (`feed_many`) once it has read what it needs from them.
async fn fetch<K>(
    loader: &RequestLoader,
    keys: impl IntoIterator<Item = K>,
) -> Result<HashMap<K, <AppLoader as Loader<K>>::Value>, AppError>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    AppLoader: Loader<K, Error = Arc<DbErr>>,
{
    let keys: Vec<K> = keys.into_iter().collect::<HashSet<K>>().into_iter().collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    loader.loader().load(&keys).await.map_err(db_error)
}

/// What `selection` selects at the path `path`.
fn at<'a>(selection: &Lookahead<'a>, path: &[&str]) -> Lookahead<'a> {
    let mut current = selection.field(path[0]);
    for name in &path[1..] {
        current = current.field(name);
    }
    current
}

/// Whether any of `selections` selects the path `path`.
fn selects(selections: &[Lookahead<'_>], path: &[&str]) -> bool {
    selections.iter().any(|selection| at(selection, path).exists())
}

/// Whether a selection of an object asks for nothing but its `id` (and
/// `__typename`), fragments included: a reference answered from the
/// foreign key alone.
pub fn asks_only_id(field: async_graphql::SelectionField<'_>) -> bool {
    field.selection_set().all(|child| matches!(child.name(), "id" | "__typename"))
}

/// Whether the object at `path` under `selections` asks for more than its
/// `id` anywhere (and so must be loaded).
fn needs_row(selections: &[Lookahead<'_>], path: &[&str]) -> bool {
    selections.iter().any(|selection| at(selection, path).selection_fields().into_iter().any(|f| !asks_only_id(f)))
}

/// Loads, for the patients `rows`, the relations that `selections` (the
/// selection sets of those patients) ask for.
pub async fn patients(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    rows: &[patient::Model],
) -> Result<(), AppError> {
    if rows.is_empty() {
        return Ok(());
    }
    let loader = ctx.data_unchecked::<RequestLoader>();
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let mut facilities = BTreeSet::new();
    let mut centres = BTreeSet::new();

    if selects(selections, &["tests"]) {
        let tests = fetch(loader, ids.iter().map(|id| TestsOfPatient(*id))).await?;
        if needs_row(selections, &["tests", "facility"]) {
            facilities.extend(tests.values().flatten().map(|t| t.facility_id));
        }
        if selects(selections, &["tests", "enteredBy"]) || selects(selections, &["tests", "enteredOnBehalf"]) {
            let organisations = tests.values().flatten().map(|t| OrganisationById(t.entered_by_organisation_id));
            loader.feed_many(fetch(loader, organisations).await?).await;
        }
        loader.feed_many(tests).await;
    }
    if selects(selections, &["hospitalisations"]) {
        let stays = fetch(loader, ids.iter().map(|id| HospitalisationsOfPatient(*id))).await?;
        if needs_row(selections, &["hospitalisations", "hospital"]) {
            facilities.extend(stays.values().flatten().map(|s| s.facility_id));
        }
        if selects(selections, &["hospitalisations", "conditions"]) {
            let keys = stays.values().flatten().map(|s| ConditionsOfHospitalisation(s.id));
            loader.feed_many(fetch(loader, keys).await?).await;
        }
        loader.feed_many(stays).await;
    }
    if selects(selections, &["healthReports"]) {
        loader.feed_many(fetch(loader, ids.iter().map(|id| HealthReportsOfPatient(*id))).await?).await;
    }
    if selects(selections, &["latestHealthReport"]) {
        loader.feed_many(fetch(loader, ids.iter().map(|id| LatestHealthReportOfPatient(*id))).await?).await;
    }
    if selects(selections, &["followUpCalls"]) {
        loader.feed_many(fetch(loader, ids.iter().map(|id| FollowUpCallsOfPatient(*id))).await?).await;
    }
    if selects(selections, &["medicalVisits"]) {
        loader.feed_many(fetch(loader, ids.iter().map(|id| MedicalVisitsOfPatient(*id))).await?).await;
    }
    if selects(selections, &["transfers"]) {
        let transfers = fetch(loader, ids.iter().map(|id| TransfersOfPatient(*id))).await?;
        for transfer in transfers.values().flatten() {
            centres.insert(transfer.from_health_centre_id);
            centres.insert(transfer.to_health_centre_id);
        }
        loader.feed_many(transfers).await;
    }
    if selects(selections, &["signInLock"]) {
        loader.feed_many(fetch(loader, ids.iter().map(|id| SignInFailuresOfPatient(*id))).await?).await;
    }
    if needs_row(selections, &["registeringFacility"]) {
        facilities.extend(rows.iter().filter_map(|p| p.registering_facility_id));
    }
    let wants_prefecture =
        selects(selections, &["prefecture"]) || selects(selections, &["responsibleHealthCentre", "prefecture"]);
    if selects(selections, &["responsibleHealthCentre"]) || wants_prefecture {
        centres.extend(rows.iter().map(|p| p.responsible_health_centre_id));
    }
    if !facilities.is_empty() {
        loader.feed_many(fetch(loader, facilities.into_iter().map(FacilityById)).await?).await;
    }
    if !centres.is_empty() {
        let loaded = fetch(loader, centres.into_iter().map(HealthCentreById)).await?;
        if wants_prefecture {
            let prefectures = loaded.values().map(|c| PrefectureById(c.prefecture_id));
            loader.feed_many(fetch(loader, prefectures).await?).await;
        }
        loader.feed_many(loaded).await;
    }
    Ok(())
}

/// Loads the rows behind a federation `_entities` request's
/// `representations` variable: one statement per type and key, then one
/// for every patient involved (within the caller's scope).
pub async fn entities(loader: &RequestLoader, variables: &async_graphql::Variables) -> Result<(), AppError> {
    use async_graphql::Value;
    let Some(Value::List(representations)) = variables.get("representations") else { return Ok(()) };
    let field =
        |object: &async_graphql::indexmap::IndexMap<async_graphql::Name, Value>, name: &str| match object.get(name) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
    let mut patients = BTreeSet::new();
    let mut tests = BTreeSet::new();
    let mut stays = BTreeSet::new();
    let mut centres = BTreeSet::new();
    let mut centre_codes = BTreeSet::new();
    let mut facilities = BTreeSet::new();
    let mut prefectures = BTreeSet::new();
    let mut prefecture_codes = BTreeSet::new();
    for representation in representations {
        let Value::Object(object) = representation else { continue };
        let id = field(object, "id");
        let number = id.as_deref().and_then(|id| id.parse::<i64>().ok());
        match field(object, "__typename").as_deref() {
            Some("Patient") => patients.extend(number),
            Some("LabTest") => tests.extend(number),
            Some("Hospitalisation") => stays.extend(number),
            Some("HealthCentre") => {
                centres.extend(number);
                centre_codes.extend(field(object, "code"));
            }
            Some("Facility") => facilities.extend(number),
            Some("Prefecture") => {
                prefectures.extend(number.and_then(|n| i32::try_from(n).ok()));
                prefecture_codes.extend(field(object, "code"));
            }
            _ => {}
        }
    }
    if !tests.is_empty() {
        let loaded = loader.load_many(tests.into_iter().map(TestById)).await.map_err(db_error)?;
        patients.extend(loaded.values().map(|t| t.patient_id));
    }
    if !stays.is_empty() {
        let loaded = loader.load_many(stays.into_iter().map(HospitalisationById)).await.map_err(db_error)?;
        patients.extend(loaded.values().map(|s| s.patient_id));
    }
    if !patients.is_empty() {
        loader.load_many(patients.into_iter().map(ReachablePatientById)).await.map_err(db_error)?;
    }
    if !centres.is_empty() {
        loader.load_many(centres.into_iter().map(HealthCentreById)).await.map_err(db_error)?;
    }
    if !centre_codes.is_empty() {
        loader.load_many(centre_codes.into_iter().map(HealthCentreByCode)).await.map_err(db_error)?;
    }
    if !facilities.is_empty() {
        loader.load_many(facilities.into_iter().map(FacilityById)).await.map_err(db_error)?;
    }
    if !prefectures.is_empty() {
        loader.load_many(prefectures.into_iter().map(PrefectureById)).await.map_err(db_error)?;
    }
    if !prefecture_codes.is_empty() {
        loader.load_many(prefecture_codes.into_iter().map(PrefectureByCode)).await.map_err(db_error)?;
    }
    Ok(())
}
