//! Reference data: prefectures, health centres and facilities. Readable by
//! every signed-in caller except patients (who need none of it) — it
//! identifies no one.

use entity::{facility, health_centre, prefecture};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use sea_orm::ConnectionTrait;

use crate::auth::Principal;
use crate::auth::policy::may_read_reference as may_read;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The prefecture a JIS code (01 to 47) names, or `NOT_FOUND` naming
/// `prefectureCode`.
pub async fn prefecture_by_code(db: &impl ConnectionTrait, code: &str) -> AppResult<prefecture::Model> {
    prefecture::Entity::find()
        .filter(prefecture::Column::Code.eq(code.trim()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("prefectureCode", "no prefecture has this JIS code (01 to 47)"))
}

pub async fn prefectures(state: &AppState, principal: &Principal) -> AppResult<Vec<prefecture::Model>> {
    may_read(principal)?;
    Ok(prefecture::Entity::find().order_by_asc(prefecture::Column::Id).all(&state.db).await?)
}

pub async fn health_centres(
    state: &AppState,
    principal: &Principal,
    prefecture_code: Option<&str>,
) -> AppResult<Vec<health_centre::Model>> {
    may_read(principal)?;
    let mut query = health_centre::Entity::find().order_by_asc(health_centre::Column::Code);
    if let Some(code) = prefecture_code {
        let prefecture = prefecture_by_code(&state.db, code).await?;
        query = query.filter(health_centre::Column::PrefectureId.eq(prefecture.id));
    }
    Ok(query.all(&state.db).await?)
}

pub async fn facilities(
    state: &AppState,
    principal: &Principal,
    health_centre_id: Option<i64>,
) -> AppResult<Vec<facility::Model>> {
    let query = facilities_of(state, principal, health_centre_id).await?;
    Ok(query.order_by_asc(facility::Column::Code).all(&state.db).await?)
}

/// A page of the facilities (of one covering health centre), in the order
/// of their IDs.
pub async fn facility_page(
    state: &AppState,
    principal: &Principal,
    health_centre_id: Option<i64>,
    request: super::IdPageRequest,
) -> AppResult<super::IdPage<facility::Model>> {
    let query = facilities_of(state, principal, health_centre_id).await?;
    super::id_page(&state.db, query, facility::Column::Id, request).await
}

/// The facilities a caller may list, of one health centre when given (one
/// that does not exist is `NOT_FOUND`).
async fn facilities_of(
    state: &AppState,
    principal: &Principal,
    health_centre_id: Option<i64>,
) -> AppResult<sea_orm::Select<facility::Entity>> {
    may_read(principal)?;
    let mut query = facility::Entity::find();
    if let Some(id) = health_centre_id {
        if health_centre::Entity::find_by_id(id).one(&state.db).await?.is_none() {
            return Err(AppError::not_found("healthCentreId", "no health centre has this ID"));
        }
        query = query.filter(facility::Column::HealthCentreId.eq(id));
    }
    Ok(query)
}
