//! Clusters (クラスター): a health centre names one (setting, place) and
//! adds the cases and contacts of its care relationships; another centre
//! adds its own, so one cluster may span districts. Members are kept with
//! the moment they were added, so the cluster's size and its weekly counts
//! are the same as of a moment whenever they are asked for.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::enums::ExposureSetting;
use entity::{cluster, cluster_member, patient};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::auth::{Principal, policy};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Names a cluster for the caller's health centre.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    name: String,
    setting: ExposureSetting,
    place: Option<String>,
) -> AppResult<cluster::Model> {
    policy::may_manage_clusters(principal)?;
    let centre = principal.health_centre_id.ok_or_else(|| AppError::forbidden("the account has no health centre"))?;
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let created = cluster::ActiveModel {
        name: Set(name),
        setting: Set(setting),
        place: Set(place),
        health_centre_id: Set(centre),
        created_by_account_id: Set(account_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    super::audit::record(&txn, principal, "CREATE_CLUSTER", None, &["cluster"], now).await?;
    txn.commit().await?;
    Ok(created)
}

/// Adds a patient of the caller's care relationships to a cluster; adding
/// one again changes nothing.
pub async fn add(
    state: &AppState,
    principal: &Principal,
    cluster_id: i64,
    patient_id: i64,
) -> AppResult<cluster::Model> {
    policy::may_manage_clusters(principal)?;
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let found = cluster::Entity::find_by_id(cluster_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("clusterId", "no cluster has this ID"))?;
    super::reachable_patient(&txn, principal, patient_id, "patientId").await?;
    let member = cluster_member::Entity::find()
        .filter(cluster_member::Column::ClusterId.eq(cluster_id))
        .filter(cluster_member::Column::PatientId.eq(patient_id))
        .one(&txn)
        .await?;
    if member.is_none() {
        cluster_member::ActiveModel {
            cluster_id: Set(cluster_id),
            patient_id: Set(patient_id),
            added_by_account_id: Set(account_id),
            recorded_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        super::audit::record(&txn, principal, "ADD_TO_CLUSTER", Some(patient_id), &["cluster"], now).await?;
    }
    txn.commit().await?;
    Ok(found)
}

/// One cluster, for staff with clinical access.
pub async fn get(state: &AppState, principal: &Principal, id: i64) -> AppResult<Option<cluster::Model>> {
    policy::may_read_clusters(principal)?;
    Ok(cluster::Entity::find_by_id(id).one(&state.db).await?)
}

/// The clusters, newest first, at most `first`.
pub async fn list(state: &AppState, principal: &Principal, first: u64) -> AppResult<Vec<cluster::Model>> {
    policy::may_read_clusters(principal)?;
    Ok(cluster::Entity::find().order_by_desc(cluster::Column::Id).limit(first).all(&state.db).await?)
}

/// The members of a cluster added by `as_of`: (patient, registered at).
async fn members(state: &AppState, cluster_id: i64, as_of: DateTime<Utc>) -> AppResult<Vec<(i64, DateTime<Utc>)>> {
    let ids: Vec<i64> = cluster_member::Entity::find()
        .filter(cluster_member::Column::ClusterId.eq(cluster_id))
        .filter(cluster_member::Column::RecordedAt.lte(as_of))
        .select_only()
        .column(cluster_member::Column::PatientId)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut rows = Vec::new();
    for chunk in ids.chunks(1_000) {
        let found: Vec<(i64, DateTime<Utc>)> = patient::Entity::find()
            .filter(patient::Column::Id.is_in(chunk.iter().copied()))
            .select_only()
            .column(patient::Column::Id)
            .column(patient::Column::RegisteredAt)
            .into_tuple()
            .all(&state.db)
            .await?;
        rows.extend(found);
    }
    Ok(rows)
}

/// How many people the cluster had as of `as_of`.
pub async fn size(state: &AppState, cluster_id: i64, as_of: DateTime<Utc>) -> AppResult<i64> {
    Ok(members(state, cluster_id, as_of).await?.len() as i64)
}

/// The cluster's people as of `as_of` by the week (Monday, Japan time) of
/// their registration, oldest week first.
pub async fn weeks(state: &AppState, cluster_id: i64, as_of: DateTime<Utc>) -> AppResult<Vec<(NaiveDate, i64)>> {
    let mut weeks: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for (_, registered) in members(state, cluster_id, as_of).await? {
        let day = registered.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
        let monday = day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()));
        *weeks.entry(monday).or_insert(0) += 1;
    }
    Ok(weeks.into_iter().collect())
}

/// The cluster's members within the caller's reach.
pub async fn reachable_members(
    state: &AppState,
    principal: &Principal,
    cluster_id: i64,
) -> AppResult<Vec<patient::Model>> {
    let ids: Vec<i64> = cluster_member::Entity::find()
        .filter(cluster_member::Column::ClusterId.eq(cluster_id))
        .order_by_asc(cluster_member::Column::Id)
        .select_only()
        .column(cluster_member::Column::PatientId)
        .into_tuple()
        .all(&state.db)
        .await?;
    super::contacts::reachable(state, principal, &ids).await
}

/// Clusters by setting in `area` as of `as_of`: for each setting with a
/// cluster named by then (by a health centre of the area), how many
/// clusters and how many people they held, in the order the schema lists
/// the settings. One statement.
pub async fn by_setting(
    db: &impl sea_orm::ConnectionTrait,
    area: crate::auth::policy::Area,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<(ExposureSetting, i64, i64)>> {
    use crate::auth::policy::Area;
    use sea_orm::{ActiveEnum, FromQueryResult};
    let mut sql = crate::db::Sql::new(db.get_database_backend());
    sql.push(
        "SELECT c.setting AS setting, CAST(COUNT(DISTINCT c.id) AS BIGINT) AS clusters, \
         CAST(COUNT(m.id) AS BIGINT) AS members FROM clusters c \
         JOIN health_centres hc ON hc.id = c.health_centre_id \
         LEFT JOIN cluster_members m ON m.cluster_id = c.id AND m.recorded_at <= ",
    );
    sql.bind(as_of).push(" WHERE c.created_at <= ").bind(as_of);
    match area {
        Area::Nation => {}
        Area::Prefecture(id) => {
            sql.push(" AND hc.prefecture_id = ").bind(id);
        }
        Area::HealthCentre(id) => {
            sql.push(" AND c.health_centre_id = ").bind(id);
        }
    }
    sql.push(" GROUP BY c.setting");
    #[derive(FromQueryResult)]
    struct Row {
        setting: String,
        clusters: i64,
        members: i64,
    }
    let rows = Row::find_by_statement(sql.build()).all(db).await?;
    let mut found = rows
        .into_iter()
        .map(|r| {
            let setting = ExposureSetting::try_from_value(&r.setting)
                .map_err(|_| crate::error::AppError::Internal(anyhow::anyhow!("a cluster's setting is unknown")))?;
            Ok((setting, r.clusters, r.members))
        })
        .collect::<AppResult<Vec<_>>>()?;
    // In the order the schema lists the settings.
    found.sort_by_key(|(setting, _, _)| {
        <ExposureSetting as sea_orm::Iterable>::iter().position(|s| s == *setting).unwrap_or(usize::MAX)
    });
    Ok(found)
}

/// The contact links between the cluster's members, at most 5,000, in the
/// order they were recorded.
pub async fn links(
    state: &AppState,
    principal: &Principal,
    cluster_id: i64,
) -> AppResult<Vec<entity::patient_contact::Model>> {
    use entity::patient_contact::Column;
    policy::may_read_clusters(principal)?;
    let members = || {
        sea_orm::sea_query::Query::select()
            .column(cluster_member::Column::PatientId)
            .from(cluster_member::Entity)
            .and_where(cluster_member::Column::ClusterId.eq(cluster_id))
            .to_owned()
    };
    Ok(entity::patient_contact::Entity::find()
        .filter(Column::IndexPatientId.in_subquery(members()))
        .filter(Column::ContactPatientId.in_subquery(members()))
        .order_by_asc(Column::Id)
        .limit(5_000)
        .all(&state.db)
        .await?)
}
