//! Reference data every deployment needs (the 47 prefectures of
//! `domain::reference::PREFECTURES`) and the demo
//! data set of docs/contract.md. Both are idempotent: running them again changes
//! nothing that is already there.

use chrono::Utc;
use entity::enums::{FacilityKind, OrganisationKind};
use entity::{account, facility, health_centre, organisation, prefecture, service_account};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};

use crate::auth::password;
use crate::domain::reference::PREFECTURES;

/// The password of every demo account. For the demo data set only: a real
/// deployment creates its accounts with its own passwords.
pub const DEMO_PASSWORD: &str = "hersys-demo-2026";

/// Inserts the prefectures that are missing.
pub async fn ensure_prefectures(db: &DatabaseConnection) -> anyhow::Result<()> {
    let existing = prefecture::Entity::find().all(db).await?;
    for (index, (name_en, name_ja)) in PREFECTURES.iter().enumerate() {
        let id = index as i32 + 1;
        if existing.iter().any(|p| p.id == id) {
            continue;
        }
        prefecture::ActiveModel {
            id: Set(id),
            code: Set(format!("{id:02}")),
            name_en: Set((*name_en).to_owned()),
            name_ja: Set((*name_ja).to_owned()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Demo health centres: (code, English name, Japanese name, prefecture).
const DEMO_HEALTH_CENTRES: [(&str, &str, &str, i32); 3] = [
    ("131032", "Minato City Health Centre", "みなと保健所", 13),
    ("131041", "Shinjuku City Health Centre", "新宿区保健所", 13),
    ("271004", "Osaka City Health Centre", "大阪市保健所", 27),
];

/// Demo facilities: (code, English name, Japanese name, kind, health centre
/// code, has system access).
const DEMO_FACILITIES: [(&str, &str, &str, FacilityKind, &str, bool); 3] = [
    ("F13-0001", "Minato Fever Clinic", "みなと発熱外来クリニック", FacilityKind::TestingClinic, "131032", true),
    ("F13-0002", "Minato General Hospital", "みなと総合病院", FacilityKind::Hospital, "131032", true),
    (
        "F13-0003",
        "Shiba Community Testing Centre",
        "芝地域外来・検査センター",
        FacilityKind::TestingCentre,
        "131032",
        false,
    ),
];

/// What `seed --demo` and `serve --demo` print: the demo accounts are
/// public knowledge.
pub const WARNING: &str = "warning: every demo account (admin1, admin2, hc1, …) signs in with the published \
     password hersys-demo-2026: never load the demo data set where real data is or will be, nor let anyone \
     outside reach a gateway that holds it";

/// The demo accounts: username and the kind of organisation each is in.
const DEMO_ACCOUNTS: [(&str, OrganisationKind); 10] = [
    ("clinic1", OrganisationKind::MedicalInstitution),
    ("hospital1", OrganisationKind::MedicalInstitution),
    ("hc1", OrganisationKind::HealthCentre),
    ("hc1b", OrganisationKind::HealthCentre),
    ("hc2", OrganisationKind::HealthCentre),
    ("hc3", OrganisationKind::HealthCentre),
    ("pref13", OrganisationKind::Prefecture),
    ("analyst1", OrganisationKind::National),
    ("admin1", OrganisationKind::Operator),
    ("admin2", OrganisationKind::Operator),
];

/// Loads the demo data set of docs/contract.md. Idempotent; refuses a
/// database that holds accounts of its own (see [`seed_demo_with`]).
pub async fn seed_demo(db: &DatabaseConnection) -> anyhow::Result<()> {
    seed_demo_with(db, false).await
}

/// Loads the demo data set. Its accounts share a published password, so
/// unless `force`, a database that already holds accounts that are not the
/// demo data set's (a real deployment's) is refused before anything is
/// written. A demo database is not refused: loading it again changes
/// nothing.
pub async fn seed_demo_with(db: &DatabaseConnection, force: bool) -> anyhow::Result<()> {
    if !force {
        let own = own_accounts(db).await?;
        if own.any() {
            anyhow::bail!(
                "the database already holds {own} that the demo data set did not make: the demo accounts share \
                 a published password, so they are not added to a database of real accounts (nothing was \
                 changed; `hersys seed --demo --force` loads them anyway, for a database that will never hold \
                 real data)"
            );
        }
    }
    ensure_prefectures(db).await?;
    let now = Utc::now();
    let txn = db.begin().await?;

    let mut centres = Vec::new();
    for (code, name_en, name_ja, prefecture_id) in DEMO_HEALTH_CENTRES {
        let found = health_centre::Entity::find().filter(health_centre::Column::Code.eq(code)).one(&txn).await?;
        let centre = match found {
            Some(centre) => centre,
            None => {
                health_centre::ActiveModel {
                    code: Set(code.to_owned()),
                    name_en: Set(name_en.to_owned()),
                    name_ja: Set(name_ja.to_owned()),
                    prefecture_id: Set(prefecture_id),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
        centres.push(centre);
    }

    let mut facilities = Vec::new();
    for (code, name_en, name_ja, kind, centre_code, access) in DEMO_FACILITIES {
        let found = facility::Entity::find().filter(facility::Column::Code.eq(code)).one(&txn).await?;
        let facility = match found {
            Some(facility) => facility,
            None => {
                let centre = centres.iter().find(|c| c.code == centre_code).map(|c| c.id).unwrap_or_default();
                facility::ActiveModel {
                    code: Set(code.to_owned()),
                    name_en: Set(name_en.to_owned()),
                    name_ja: Set(name_ja.to_owned()),
                    kind: Set(kind),
                    health_centre_id: Set(centre),
                    has_system_access: Set(access),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
        facilities.push(facility);
    }

    let staff = |kind, name: &str, username| DemoAccount {
        kind,
        name: name.to_owned(),
        facility_id: None,
        health_centre_id: None,
        prefecture_id: None,
        username,
    };
    let accounts = [
        DemoAccount {
            facility_id: Some(facilities[0].id),
            ..staff(OrganisationKind::MedicalInstitution, &facilities[0].name_en, "clinic1")
        },
        DemoAccount {
            facility_id: Some(facilities[1].id),
            ..staff(OrganisationKind::MedicalInstitution, &facilities[1].name_en, "hospital1")
        },
        DemoAccount {
            health_centre_id: Some(centres[0].id),
            ..staff(OrganisationKind::HealthCentre, &centres[0].name_en, "hc1")
        },
        // A second staff member of the same centre, who shares its queue.
        DemoAccount {
            health_centre_id: Some(centres[0].id),
            ..staff(OrganisationKind::HealthCentre, &centres[0].name_en, "hc1b")
        },
        DemoAccount {
            health_centre_id: Some(centres[1].id),
            ..staff(OrganisationKind::HealthCentre, &centres[1].name_en, "hc2")
        },
        DemoAccount {
            health_centre_id: Some(centres[2].id),
            ..staff(OrganisationKind::HealthCentre, &centres[2].name_en, "hc3")
        },
        DemoAccount {
            prefecture_id: Some(13),
            ..staff(OrganisationKind::Prefecture, "Tokyo Metropolitan Government", "pref13")
        },
        staff(OrganisationKind::National, "Ministry of Health, Labour and Welfare", "analyst1"),
        staff(OrganisationKind::Operator, "HER-SYS Operations", "admin1"),
        // A second administrator, for the account changes that need two.
        staff(OrganisationKind::Operator, "HER-SYS Operations", "admin2"),
    ];
    for demo in accounts {
        let username = demo.username;
        if account::Entity::find().filter(account::Column::Username.eq(username)).one(&txn).await?.is_some() {
            continue;
        }
        let organisation = find_or_create_organisation(&txn, &demo, now).await?;
        let hash = tokio::task::spawn_blocking(|| password::hash(DEMO_PASSWORD)).await??;
        crate::services::accounts::new_account(username, hash, organisation, now).insert(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Accounts of a database's own: not the demo data set's.
#[derive(Debug, Default)]
struct OwnAccounts {
    staff: u64,
    service: u64,
}

impl OwnAccounts {
    fn any(&self) -> bool {
        self.staff > 0 || self.service > 0
    }
}

impl std::fmt::Display for OwnAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        match (self.staff, self.service) {
            (staff, 0) => write!(f, "{staff} account{}", plural(staff)),
            (0, service) => write!(f, "{service} service account{}", plural(service)),
            (staff, service) => {
                write!(f, "{staff} account{} and {service} service account{}", plural(staff), plural(service))
            }
        }
    }
}

/// Counts the accounts that are not the demo data set's: every account
/// with another username, and a demo username in another kind of
/// organisation or with another password (e.g. an `admin1` made with
/// `hersys account add`); every service account (the demo data set has
/// none). Only the accounts with demo usernames have their password
/// checked, at most ten.
async fn own_accounts(db: &DatabaseConnection) -> anyhow::Result<OwnAccounts> {
    let usernames = DEMO_ACCOUNTS.map(|(username, _)| username);
    let other = account::Entity::find().filter(account::Column::Username.is_not_in(usernames)).count(db).await?;
    let service = service_account::Entity::find().count(db).await?;
    let named = account::Entity::find().filter(account::Column::Username.is_in(usernames)).all(db).await?;
    let organisations: Vec<i64> = named.iter().map(|a| a.organisation_id).collect();
    let kinds: std::collections::HashMap<i64, OrganisationKind> = organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(organisations))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.kind))
        .collect();
    let demo_kind = |username: &str| DEMO_ACCOUNTS.iter().find(|(name, _)| *name == username).map(|(_, kind)| *kind);
    let (in_place, moved): (Vec<_>, Vec<_>) =
        named.into_iter().partition(|a| kinds.get(&a.organisation_id).copied() == demo_kind(&a.username));
    let hashes: Vec<String> = in_place.into_iter().map(|a| a.password_hash).collect();
    let other_password = tokio::task::spawn_blocking(move || {
        hashes.iter().filter(|hash| !password::verify(DEMO_PASSWORD, hash)).count()
    })
    .await?;
    Ok(OwnAccounts { staff: other + (moved.len() + other_password) as u64, service })
}

/// A demo account and the organisation it belongs to.
struct DemoAccount {
    kind: OrganisationKind,
    name: String,
    facility_id: Option<i64>,
    health_centre_id: Option<i64>,
    prefecture_id: Option<i32>,
    username: &'static str,
}

async fn find_or_create_organisation(
    txn: &sea_orm::DatabaseTransaction,
    demo: &DemoAccount,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<i64> {
    let found = organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(demo.kind))
        .filter(organisation::Column::Name.eq(demo.name.as_str()))
        .one(txn)
        .await?;
    if let Some(found) = found {
        return Ok(found.id);
    }
    let created = organisation::ActiveModel {
        kind: Set(demo.kind),
        name: Set(demo.name.clone()),
        facility_id: Set(demo.facility_id),
        health_centre_id: Set(demo.health_centre_id),
        prefecture_id: Set(demo.prefecture_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(created.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_names_the_published_password_and_every_demo_account_is_listed() {
        assert!(WARNING.contains(DEMO_PASSWORD));
        assert_eq!(DEMO_ACCOUNTS.len(), 10, "the accounts of docs/contract.md");
    }
}
