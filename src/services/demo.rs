//! Reference data every deployment needs (the 47 prefectures) and the demo
//! data set of docs/contract.md. Both are idempotent: running them again changes
//! nothing that is already there.

use chrono::Utc;
use entity::enums::{FacilityKind, OrganisationKind};
use entity::{account, facility, health_centre, organisation, prefecture};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait};

use crate::auth::password;

/// The password of every demo account. For the demo data set only: a real
/// deployment creates its accounts with its own passwords.
pub const DEMO_PASSWORD: &str = "hersys-demo-2026";

/// JIS X 0401 order: (English name as in the MHLW open data, Japanese name).
pub const PREFECTURES: [(&str, &str); 47] = [
    ("Hokkaido", "北海道"),
    ("Aomori", "青森県"),
    ("Iwate", "岩手県"),
    ("Miyagi", "宮城県"),
    ("Akita", "秋田県"),
    ("Yamagata", "山形県"),
    ("Fukushima", "福島県"),
    ("Ibaraki", "茨城県"),
    ("Tochigi", "栃木県"),
    ("Gunma", "群馬県"),
    ("Saitama", "埼玉県"),
    ("Chiba", "千葉県"),
    ("Tokyo", "東京都"),
    ("Kanagawa", "神奈川県"),
    ("Niigata", "新潟県"),
    ("Toyama", "富山県"),
    ("Ishikawa", "石川県"),
    ("Fukui", "福井県"),
    ("Yamanashi", "山梨県"),
    ("Nagano", "長野県"),
    ("Gifu", "岐阜県"),
    ("Shizuoka", "静岡県"),
    ("Aichi", "愛知県"),
    ("Mie", "三重県"),
    ("Shiga", "滋賀県"),
    ("Kyoto", "京都府"),
    ("Osaka", "大阪府"),
    ("Hyogo", "兵庫県"),
    ("Nara", "奈良県"),
    ("Wakayama", "和歌山県"),
    ("Tottori", "鳥取県"),
    ("Shimane", "島根県"),
    ("Okayama", "岡山県"),
    ("Hiroshima", "広島県"),
    ("Yamaguchi", "山口県"),
    ("Tokushima", "徳島県"),
    ("Kagawa", "香川県"),
    ("Ehime", "愛媛県"),
    ("Kochi", "高知県"),
    ("Fukuoka", "福岡県"),
    ("Saga", "佐賀県"),
    ("Nagasaki", "長崎県"),
    ("Kumamoto", "熊本県"),
    ("Oita", "大分県"),
    ("Miyazaki", "宮崎県"),
    ("Kagoshima", "鹿児島県"),
    ("Okinawa", "沖縄県"),
];

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

/// Loads the demo data set of docs/contract.md. Idempotent.
pub async fn seed_demo(db: &DatabaseConnection) -> anyhow::Result<()> {
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
