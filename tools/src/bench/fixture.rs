//! Benchmark fixtures: health centres with an account each and a facility
//! without system access each, written straight into the database (one
//! password hash shared by all bench accounts, so setting up hundreds
//! takes no time). Idempotent: a second run reuses them and sets the new
//! password.

use chrono::Utc;
use entity::enums::{FacilityKind, OrganisationKind};
use entity::{account, facility, health_centre, organisation};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

/// One bench health centre.
#[derive(Debug, Clone)]
pub struct BenchCentre {
    pub username: String,
    pub facility_id: i64,
}

/// Ensures `count` bench health centres, spread over the 47 prefectures.
pub async fn ensure_centres(db: &DatabaseConnection, count: usize, password: &str) -> anyhow::Result<Vec<BenchCentre>> {
    hersys::services::demo::ensure_prefectures(db).await?;
    let now = Utc::now();
    let hash = hersys::auth::password::hash(password)?;
    let codes: Vec<String> = (1..=count).map(|i| format!("BENCH-{i:04}")).collect();
    let centres = codes.iter().enumerate().map(|(i, code)| health_centre::ActiveModel {
        code: Set(code.clone()),
        name_en: Set(format!("Bench Health Centre {}", i + 1)),
        name_ja: Set(format!("ベンチ保健所{}", i + 1)),
        prefecture_id: Set((i % 47) as i32 + 1),
        created_at: Set(now),
        ..Default::default()
    });
    for chunk in centres.collect::<Vec<_>>().chunks(500) {
        let inserted = health_centre::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(health_centre::Column::Code).do_nothing().to_owned())
            .exec(db)
            .await;
        match inserted {
            // Every row of the chunk existed already.
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let centres =
        health_centre::Entity::find().filter(health_centre::Column::Code.is_in(codes.clone())).all(db).await?;
    let mut result = Vec::with_capacity(count);
    for centre in centres {
        let number = centre.code.trim_start_matches("BENCH-").to_owned();
        let facility_code = format!("BENCH-F-{number}");
        let facility = match facility::Entity::find().filter(facility::Column::Code.eq(&facility_code)).one(db).await? {
            Some(found) => found,
            None => {
                facility::Entity::insert(facility::ActiveModel {
                    code: Set(facility_code.clone()),
                    name_en: Set(format!("Bench Testing Centre {number}")),
                    name_ja: Set(format!("ベンチ検査センター{number}")),
                    kind: Set(FacilityKind::TestingCentre),
                    health_centre_id: Set(centre.id),
                    has_system_access: Set(false),
                    created_at: Set(now),
                    ..Default::default()
                })
                .exec_with_returning(db)
                .await?
            }
        };
        let username = format!("bench-hc-{number}");
        ensure_account(db, &username, OrganisationKind::HealthCentre, &centre.name_en, Some(centre.id), &hash).await?;
        result.push(BenchCentre { username, facility_id: facility.id });
    }
    result.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(result)
}

/// A staff account in an organisation of its own, with the given password
/// hash, enabled and unlocked (created, or reset if it exists).
pub(crate) async fn ensure_account(
    db: &DatabaseConnection,
    username: &str,
    kind: OrganisationKind,
    organisation_name: &str,
    health_centre_id: Option<i64>,
    hash: &str,
) -> anyhow::Result<()> {
    let now = Utc::now();
    if let Some(found) = account::Entity::find().filter(account::Column::Username.eq(username)).one(db).await? {
        account::Entity::update_many()
            .col_expr(account::Column::PasswordHash, Expr::value(hash.to_owned()))
            .col_expr(account::Column::LockedUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(account::Column::DisabledAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(account::Column::FailedLogins, Expr::value(0))
            .filter(account::Column::Id.eq(found.id))
            .exec(db)
            .await?;
        return Ok(());
    }
    let organisation = organisation::Entity::insert(organisation::ActiveModel {
        kind: Set(kind),
        name: Set(organisation_name.to_owned()),
        facility_id: Set(None),
        health_centre_id: Set(health_centre_id),
        prefecture_id: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await?;
    account::Entity::insert(hersys::services::accounts::new_account(username, hash.to_owned(), organisation.id, now))
        .exec(db)
        .await?;
    Ok(())
}
