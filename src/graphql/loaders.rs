//! Batch loaders: every relation of a page of rows loads in one statement
//! per relation, whatever the page size. One `DataLoader` per request, so
//! its cache never outlives the request (or crosses callers).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{
    account, condition_entry, facility, follow_up_call, health_centre, health_report, hospitalisation, lab_test,
    medical_visit, organisation, patient, patient_contact, patient_transfer, prefecture, sign_in_failure,
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Select};

use crate::db::rows::Positional;

/// The loader behind the request's `DataLoader`.
pub struct AppLoader {
    pub db: DatabaseConnection,
    /// The caller, for loaders that apply the row scope.
    pub principal: Option<crate::auth::Principal>,
}

/// Reads the rows of `select` by column name (sea-orm's way).
async fn by_name<E: EntityTrait>(select: Select<E>, db: &DatabaseConnection) -> Result<Vec<E::Model>, DbErr> {
    select.all(db).await
}

/// Reads the rows of `select` by column position: for the tables a page
/// reads most rows of.
async fn by_position<E: EntityTrait>(select: Select<E>, db: &DatabaseConnection) -> Result<Vec<E::Model>, DbErr>
where
    E::Model: Positional,
{
    crate::db::rows::all(db, select).await
}

/// Row by primary key: `$key(id)` loads `$entity` rows, read `$read`.
macro_rules! by_id {
    ($key:ident, $module:ident, $id:ty, $read:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub $id);

        impl Loader<$key> for AppLoader {
            type Value = $module::Model;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let ids: Vec<$id> = keys.iter().map(|k| k.0).collect();
                let select = $module::Entity::find().filter($module::Column::Id.is_in(ids));
                let rows = $read(select, &self.db).await.map_err(Arc::new)?;
                Ok(rows.into_iter().map(|row| ($key(row.id), row)).collect())
            }
        }
    };
}

/// Children by parent: `$key(parent)` loads the `$module` rows whose
/// `$parent` column is that parent, ordered by `$order` then id, read
/// `$read`.
macro_rules! children {
    ($key:ident, $module:ident, $parent:ident, $field:ident, $order:ident, $read:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl Loader<$key> for AppLoader {
            type Value = Vec<$module::Model>;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let select = $module::Entity::find()
                    .filter($module::Column::$parent.is_in(ids))
                    .order_by_asc($module::Column::$order)
                    .order_by_asc($module::Column::Id);
                let rows = $read(select, &self.db).await.map_err(Arc::new)?;
                let mut grouped: HashMap<$key, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
                for row in rows {
                    grouped.entry($key(row.$field)).or_default().push(row);
                }
                Ok(grouped)
            }
        }
    };
}

by_id!(HealthCentreById, health_centre, i64, by_name);
by_id!(FacilityById, facility, i64, by_name);
by_id!(PrefectureById, prefecture, i32, by_name);
by_id!(OrganisationById, organisation, i64, by_name);
by_id!(AccountById, account, i64, by_name);
by_id!(TestById, lab_test, i64, by_position);
by_id!(HospitalisationById, hospitalisation, i64, by_position);

/// A patient by ID, within the caller's row scope: what federation entities
/// resolve through (a patient out of reach is simply absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReachablePatientById(pub i64);

impl Loader<ReachablePatientById> for AppLoader {
    type Value = patient::Model;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[ReachablePatientById],
    ) -> Result<HashMap<ReachablePatientById, Self::Value>, Self::Error> {
        let Some(principal) = &self.principal else { return Ok(HashMap::new()) };
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let select = patient::Entity::find()
            .filter(patient::Column::Id.is_in(ids))
            .filter(crate::auth::policy::patient_scope(principal));
        let rows = by_position(select, &self.db).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (ReachablePatientById(row.id), row)).collect())
    }
}

/// Reference rows by their public code.
macro_rules! by_code {
    ($key:ident, $module:ident) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $key(pub String);

        impl Loader<$key> for AppLoader {
            type Value = $module::Model;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let codes: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
                let rows = $module::Entity::find()
                    .filter($module::Column::Code.is_in(codes))
                    .all(&self.db)
                    .await
                    .map_err(Arc::new)?;
                Ok(rows.into_iter().map(|row| ($key(row.code.clone()), row)).collect())
            }
        }
    };
}

by_code!(HealthCentreByCode, health_centre);
by_code!(PrefectureByCode, prefecture);
children!(TestsOfPatient, lab_test, PatientId, patient_id, SampledAt, by_position);
children!(HospitalisationsOfPatient, hospitalisation, PatientId, patient_id, AdmittedAt, by_position);
children!(HealthReportsOfPatient, health_report, PatientId, patient_id, ReportedAt, by_position);
children!(FollowUpCallsOfPatient, follow_up_call, PatientId, patient_id, CalledAt, by_name);
children!(ConditionsOfHospitalisation, condition_entry, HospitalisationId, hospitalisation_id, ObservedAt, by_name);
children!(MedicalVisitsOfPatient, medical_visit, PatientId, patient_id, VisitedOn, by_name);
children!(TransfersOfPatient, patient_transfer, PatientId, patient_id, TransferredAt, by_name);
children!(ContactsOfCase, patient_contact, IndexPatientId, index_patient_id, RecordedAt, by_name);
children!(CasesOfContact, patient_contact, ContactPatientId, contact_patient_id, RecordedAt, by_name);

/// A patient's most recent health report (by report time, then ID): a page
/// that shows only the latest reads one row per patient, not them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LatestHealthReportOfPatient(pub i64);

impl Loader<LatestHealthReportOfPatient> for AppLoader {
    /// `None` for a patient without reports (kept in the cache too, so a
    /// prefetched page asks no more).
    type Value = Option<health_report::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[LatestHealthReportOfPatient],
    ) -> Result<HashMap<LatestHealthReportOfPatient, Self::Value>, Self::Error> {
        // Numbered newest first per patient, the first kept: one pass over
        // the page's reports, on either database.
        let mut sql = crate::db::Sql::new(self.db.get_database_backend());
        sql.push(
            "SELECT id, patient_id, reporter, reported_by_account_id, body_temperature, spo2, symptoms, note, \
             emergency_signs, reported_at, recorded_at FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY patient_id \
             ORDER BY reported_at DESC, id DESC) AS newest FROM health_reports r WHERE patient_id IN (",
        );
        sql.bind_list(keys.iter().map(|k| k.0)).push(")) ranked WHERE newest = 1");
        let rows: Vec<health_report::Model> = crate::db::rows::all(&self.db, sql.build()).await.map_err(Arc::new)?;
        let mut latest: HashMap<_, _> = keys.iter().map(|k| (*k, None)).collect();
        for row in rows {
            latest.insert(LatestHealthReportOfPatient(row.patient_id), Some(row));
        }
        Ok(latest)
    }
}

/// The request's cache of loaded rows: keyed by IDs (and a few codes), and
/// hashed with foldhash rather than SipHash, a few hundred keys a page.
pub type RequestCache = async_graphql::dataloader::HashMapCache<foldhash::fast::RandomState>;

/// The request's loader: batched, and caching for the request's lifetime
/// so that prefetched relations are found by the field resolvers.
pub type RequestLoader = async_graphql::dataloader::DataLoader<AppLoader, RequestCache>;

/// The failed sign-ins counted against a patient (`None`: none counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignInFailuresOfPatient(pub i64);

impl Loader<SignInFailuresOfPatient> for AppLoader {
    type Value = Option<sign_in_failure::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[SignInFailuresOfPatient],
    ) -> Result<HashMap<SignInFailuresOfPatient, Self::Value>, Self::Error> {
        use crate::services::lockout::Subject;
        let subjects: HashMap<String, SignInFailuresOfPatient> =
            keys.iter().map(|k| (Subject::Patient(k.0).key(), *k)).collect();
        let rows = sign_in_failure::Entity::find()
            .filter(sign_in_failure::Column::Subject.is_in(subjects.keys().cloned()))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        let mut found: HashMap<_, _> = keys.iter().map(|k| (*k, None)).collect();
        for row in rows {
            if let Some(key) = subjects.get(&row.subject) {
                found.insert(*key, Some(row));
            }
        }
        Ok(found)
    }
}
