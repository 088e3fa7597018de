//! Managing reference data: health centres and medical institutions, each
//! with the organisation its staff accounts belong to. System administrators
//! do it through the API (`policy::may_manage_reference_data`), the operator
//! on the command line (`hersys health-centre …`, `hersys facility …`). Each
//! change is one write transaction with its audit entry; reading the lists
//! is `reference`.
//!
//! The organisations follow the rules of the demo data set: a health centre
//! always has one (kind `HEALTH_CENTRE`), a facility only while it enters
//! its own data (`has_system_access`; kind `MEDICAL_INSTITUTION`); either is
//! named as the institution's English name, and renamed with it. A code is
//! the public identifier other systems know an institution by, so it never
//! changes, and neither does what records refer to: a health centre's
//! prefecture, a facility's kind and covering health centre.

use chrono::{DateTime, Utc};
use entity::enums::{FacilityKind, OrganisationKind};
use entity::{account, facility, health_centre, organisation, prefecture};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set,
};

use crate::auth::policy;
use crate::domain::{InstitutionCode, InstitutionName, PrefectureCode};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub use super::Actor;

impl Actor<'_> {
    fn authorise(self) -> AppResult<()> {
        match self {
            Actor::Caller(principal) => policy::may_manage_reference_data(principal),
            Actor::CommandLine(_) => Ok(()),
        }
    }

    async fn audit(self, db: &impl ConnectionTrait, action: &str, detail: String, at: DateTime<Utc>) -> AppResult<()> {
        match self {
            Actor::Caller(principal) => super::audit::record_detailed(db, principal, action, None, detail, at).await,
            Actor::CommandLine(command) => super::audit::record_command_line(db, command, action, detail, at).await,
        }
    }
}

/// A new health centre.
#[derive(Debug, Clone)]
pub struct NewHealthCentre {
    pub code: InstitutionCode,
    pub name: InstitutionName,
    pub name_ja: InstitutionName,
    pub prefecture: PrefectureCode,
}

/// What changes of a health centre; `None` keeps the item.
#[derive(Debug, Clone, Default)]
pub struct HealthCentreChanges {
    pub name: Option<InstitutionName>,
    pub name_ja: Option<InstitutionName>,
}

/// A new medical institution.
#[derive(Debug, Clone)]
pub struct NewFacility {
    pub code: InstitutionCode,
    pub name: InstitutionName,
    pub name_ja: InstitutionName,
    pub kind: FacilityKind,
    pub health_centre_id: i64,
    pub has_system_access: bool,
}

/// What changes of a facility; `None` keeps the item.
#[derive(Debug, Clone, Default)]
pub struct FacilityChanges {
    pub name: Option<InstitutionName>,
    pub name_ja: Option<InstitutionName>,
    pub has_system_access: Option<bool>,
}

/// A refusal naming the field of a change that changes nothing.
fn nothing_to_change() -> AppError {
    AppError::bad_input("input", "names nothing to change")
}

/// The organisation row of an institution, named as it is.
fn new_organisation(kind: OrganisationKind, name: &str, now: DateTime<Utc>) -> organisation::ActiveModel {
    organisation::ActiveModel {
        kind: Set(kind),
        name: Set(name.to_owned()),
        facility_id: Set(None),
        health_centre_id: Set(None),
        prefecture_id: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
}

/// An insert refused for the unique code: `BAD_USER_INPUT` on `input.code`.
fn code_taken(error: sea_orm::DbErr, what: &str) -> AppError {
    if crate::db::is_unique_violation(&error) {
        return AppError::bad_input("input.code", format!("{what} already has this code"));
    }
    error.into()
}

/// Creates a health centre in a prefecture, and its organisation, which
/// staff accounts can then be created in.
pub async fn create_health_centre(
    state: &AppState,
    actor: Actor<'_>,
    new: NewHealthCentre,
) -> AppResult<(health_centre::Model, organisation::Model)> {
    actor.authorise()?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let prefecture = prefecture::Entity::find_by_id(new.prefecture.id())
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("input.prefectureCode", "no prefecture has this JIS code"))?;
    let centre = health_centre::ActiveModel {
        code: Set(new.code.into_inner()),
        name_en: Set(new.name.into_inner()),
        name_ja: Set(new.name_ja.into_inner()),
        prefecture_id: Set(prefecture.id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|error| code_taken(error, "a health centre"))?;
    let organisation = organisation::ActiveModel {
        health_centre_id: Set(Some(centre.id)),
        ..new_organisation(OrganisationKind::HealthCentre, &centre.name_en, now)
    }
    .insert(&txn)
    .await?;
    let detail = format!(
        "health centre {} (code {}) in prefecture {}, organisation {}",
        centre.id, centre.code, prefecture.code, organisation.id
    );
    actor.audit(&txn, "CREATE_HEALTH_CENTRE", detail, now).await?;
    txn.commit().await?;
    tracing::info!(health_centre_id = centre.id, organisation_id = organisation.id, "health centre created");
    Ok((centre, organisation))
}

/// Changes the names of a health centre; its organisation is renamed with
/// it.
pub async fn update_health_centre(
    state: &AppState,
    actor: Actor<'_>,
    id: i64,
    changes: HealthCentreChanges,
) -> AppResult<health_centre::Model> {
    actor.authorise()?;
    if changes.name.is_none() && changes.name_ja.is_none() {
        return Err(nothing_to_change());
    }
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let centre = health_centre::Entity::find_by_id(id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("id", "no health centre has this ID"))?;
    let mut changed = Vec::new();
    let mut active: health_centre::ActiveModel = centre.into();
    if let Some(name) = changes.name {
        active.name_en = Set(name.into_inner());
        changed.push("name");
    }
    if let Some(name_ja) = changes.name_ja {
        active.name_ja = Set(name_ja.into_inner());
        changed.push("nameJa");
    }
    let centre = active.update(&txn).await?;
    if changed.contains(&"name") {
        rename_organisations(
            &txn,
            organisation::Column::HealthCentreId.eq(centre.id),
            OrganisationKind::HealthCentre,
            &centre.name_en,
        )
        .await?;
    }
    let detail = format!("health centre {} (code {}): {} changed", centre.id, centre.code, changed.join(", "));
    actor.audit(&txn, "UPDATE_HEALTH_CENTRE", detail, now).await?;
    txn.commit().await?;
    tracing::info!(health_centre_id = centre.id, "health centre changed");
    Ok(centre)
}

/// Creates a medical institution covered by a health centre, and, when it
/// enters its own data, its organisation.
pub async fn create_facility(
    state: &AppState,
    actor: Actor<'_>,
    new: NewFacility,
) -> AppResult<(facility::Model, Option<organisation::Model>)> {
    actor.authorise()?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    if health_centre::Entity::find_by_id(new.health_centre_id).one(&txn).await?.is_none() {
        return Err(AppError::not_found("input.healthCentreId", "no health centre has this ID"));
    }
    let facility = facility::ActiveModel {
        code: Set(new.code.into_inner()),
        name_en: Set(new.name.into_inner()),
        name_ja: Set(new.name_ja.into_inner()),
        kind: Set(new.kind),
        health_centre_id: Set(new.health_centre_id),
        has_system_access: Set(new.has_system_access),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|error| code_taken(error, "a facility"))?;
    let organisation =
        if facility.has_system_access { Some(facility_organisation(&txn, &facility, now).await?) } else { None };
    let detail = format!(
        "facility {} (code {}), {}, covered by health centre {}, {}",
        facility.id,
        facility.code,
        facility.kind.to_value(),
        facility.health_centre_id,
        match &organisation {
            Some(organisation) => format!("system access, organisation {}", organisation.id),
            None => "no system access".to_owned(),
        }
    );
    actor.audit(&txn, "CREATE_FACILITY", detail, now).await?;
    txn.commit().await?;
    tracing::info!(facility_id = facility.id, "facility created");
    Ok((facility, organisation))
}

/// Changes the names of a facility (its organisation is renamed with it)
/// or whether it enters its own data. Given system access, it gets its
/// organisation if it has none; losing it is refused (`CONFLICT`) while
/// its organisation has accounts that can sign in: they would go on
/// entering data the health centre now enters for it.
pub async fn update_facility(
    state: &AppState,
    actor: Actor<'_>,
    id: i64,
    changes: FacilityChanges,
) -> AppResult<facility::Model> {
    actor.authorise()?;
    if changes.name.is_none() && changes.name_ja.is_none() && changes.has_system_access.is_none() {
        return Err(nothing_to_change());
    }
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let facility = facility::Entity::find_by_id(id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("id", "no facility has this ID"))?;
    let mut changed = Vec::new();
    let had_access = facility.has_system_access;
    let renamed = changes.name.is_some();
    let mut active: facility::ActiveModel = facility.into();
    if let Some(name) = changes.name {
        active.name_en = Set(name.into_inner());
        changed.push("name".to_owned());
    }
    if let Some(name_ja) = changes.name_ja {
        active.name_ja = Set(name_ja.into_inner());
        changed.push("nameJa".to_owned());
    }
    if let Some(access) = changes.has_system_access {
        if had_access && !access && enabled_accounts(&txn, id).await? > 0 {
            return Err(AppError::conflict(
                "the facility's organisation has accounts that can sign in: disable them first (disableAccount), \
                 then take the facility's system access away",
            ));
        }
        active.has_system_access = Set(access);
        changed.push(format!("hasSystemAccess {had_access} → {access}"));
    }
    let facility = active.update(&txn).await?;
    if renamed {
        rename_organisations(
            &txn,
            organisation::Column::FacilityId.eq(facility.id),
            OrganisationKind::MedicalInstitution,
            &facility.name_en,
        )
        .await?;
    }
    if facility.has_system_access && !had_access {
        let existing = organisation::Entity::find()
            .filter(organisation::Column::FacilityId.eq(facility.id))
            .filter(organisation::Column::Kind.eq(OrganisationKind::MedicalInstitution))
            .count(&txn)
            .await?;
        if existing == 0 {
            let organisation = facility_organisation(&txn, &facility, now).await?;
            changed.push(format!("organisation {} created", organisation.id));
        }
    }
    let detail = format!("facility {} (code {}): {}", facility.id, facility.code, changed.join(", "));
    actor.audit(&txn, "UPDATE_FACILITY", detail, now).await?;
    txn.commit().await?;
    tracing::info!(facility_id = facility.id, "facility changed");
    Ok(facility)
}

async fn facility_organisation(
    txn: &DatabaseTransaction,
    facility: &facility::Model,
    now: DateTime<Utc>,
) -> AppResult<organisation::Model> {
    Ok(organisation::ActiveModel {
        facility_id: Set(Some(facility.id)),
        ..new_organisation(OrganisationKind::MedicalInstitution, &facility.name_en, now)
    }
    .insert(txn)
    .await?)
}

/// Renames the organisations of `kind` that `of` selects to `name`.
async fn rename_organisations(
    txn: &DatabaseTransaction,
    of: impl sea_orm::sea_query::IntoCondition,
    kind: OrganisationKind,
    name: &str,
) -> AppResult<()> {
    organisation::Entity::update_many()
        .col_expr(organisation::Column::Name, Expr::value(name.to_owned()))
        .filter(of)
        .filter(organisation::Column::Kind.eq(kind))
        .exec(txn)
        .await?;
    Ok(())
}

/// How many accounts of the facility's organisations are not disabled.
async fn enabled_accounts(txn: &DatabaseTransaction, facility_id: i64) -> AppResult<u64> {
    let organisations = organisation::Entity::find()
        .select_only()
        .column(organisation::Column::Id)
        .filter(organisation::Column::FacilityId.eq(facility_id))
        .into_tuple::<i64>()
        .all(txn)
        .await?;
    if organisations.is_empty() {
        return Ok(0);
    }
    Ok(account::Entity::find()
        .filter(account::Column::OrganisationId.is_in(organisations))
        .filter(account::Column::DisabledAt.is_null())
        .count(txn)
        .await?)
}
