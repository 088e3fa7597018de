//! Apollo Federation v2: the subgraph SDL with its entity keys, and the
//! `_entities` and `_service` fields a router calls.
//!
//! async-graphql's own `_entities` fails the whole batch when one entity
//! cannot be resolved and leaves list indices out of error paths. A
//! subgraph of personal data must do better: an entity the caller may not
//! reach is `null` with `FORBIDDEN` at `["_entities", i]`, and field errors
//! inside an entity carry its index. So the served schema has `_entities`
//! and `_service` of its own (hidden from introspection, as routers expect),
//! while the SDL is exported from a second schema that declares the same
//! entities with async-graphql's federation support.

use std::sync::OnceLock;

use async_graphql::{Any, Context, ID, Object, PathSegment, Result, SimpleObject, Union, Value};

use super::care::{Hospitalisation, LabTest};
use super::context::{load, signed_in};
use super::loaders::*;
use super::organisations::{Facility, HealthCentre, Prefecture};
use super::patients::Patient;
use crate::auth::policy;
use crate::error::AppError;
use crate::services::parse_id;

/// Every entity type of this subgraph.
// Each value lives only while its entity is resolved; boxing the larger
// variants would save nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Union)]
#[graphql(name = "_Entity", visible = false)]
pub enum Entity {
    Patient(Patient),
    LabTest(LabTest),
    Hospitalisation(Hospitalisation),
    HealthCentre(HealthCentre),
    Facility(Facility),
    Prefecture(Prefecture),
}

/// The subgraph's description for the router.
#[derive(SimpleObject)]
#[graphql(name = "_Service", visible = false)]
pub struct Service {
    /// The subgraph SDL.
    pub sdl: String,
}

/// The router-facing root fields of the served schema.
#[derive(Default)]
pub struct FederationFields;

#[Object(name = "FederationQuery")]
impl FederationFields {
    /// Resolves the entities a router asks for, each with the row and field
    /// rules of the caller.
    #[graphql(
        name = "_entities",
        visible = false,
        guard = "super::context::SignedIn",
        complexity = "super::limits::weigh(representations.len(), child_complexity)"
    )]
    async fn entities(&self, ctx: &Context<'_>, representations: Vec<Any>) -> Result<Vec<Option<Entity>>> {
        let resolved = futures_util::future::join_all(
            representations.iter().map(|representation| resolve(ctx, &representation.0)),
        )
        .await;
        Ok(resolved
            .into_iter()
            .enumerate()
            .map(|(index, result)| match result {
                Ok(entity) => Some(entity),
                Err(error) => {
                    let error: async_graphql::Error = error.into();
                    let mut error = error.into_server_error(ctx.item.pos);
                    error.path = vec![PathSegment::Field("_entities".to_owned()), PathSegment::Index(index)];
                    ctx.add_error(error);
                    None
                }
            })
            .collect())
    }

    /// The subgraph SDL, for the router's composition.
    #[graphql(name = "_service", visible = false)]
    async fn service(&self) -> Service {
        Service { sdl: super::subgraph_sdl() }
    }
}

fn key(representation: &Value, name: &str) -> Option<String> {
    match representation {
        Value::Object(object) => match object.get(name) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// One representation to its entity.
async fn resolve(ctx: &Context<'_>, representation: &Value) -> Result<Entity, AppError> {
    let id = key(representation, "id");
    let code = key(representation, "code");
    let typename = key(representation, "__typename").unwrap_or_default();
    let missing = || AppError::bad_input("representations", format!("a {typename} is identified by its key fields"));
    by_key(ctx, &typename, id, code).await.unwrap_or_else(|| Err(missing()))
}

/// The entity of type `typename` with key `id` (or `code`) under the
/// caller's row and field rules: `None` when the type has no such key,
/// an error naming `representations` when it is no entity at all. Shared
/// by `_entities` and `node` (`graphql::node`).
pub(super) async fn by_key(
    ctx: &Context<'_>,
    typename: &str,
    id: Option<String>,
    code: Option<String>,
) -> Option<Result<Entity, AppError>> {
    Some(match (typename, id, code) {
        ("Patient", Some(id), _) => patient(ctx, id.into()).await.map(Entity::Patient),
        ("LabTest", Some(id), _) => lab_test(ctx, id.into()).await.map(Entity::LabTest),
        ("Hospitalisation", Some(id), _) => hospitalisation(ctx, id.into()).await.map(Entity::Hospitalisation),
        ("HealthCentre", Some(id), _) => health_centre_by_id(ctx, id.into()).await.map(Entity::HealthCentre),
        ("HealthCentre", None, Some(code)) => health_centre_by_code(ctx, code).await.map(Entity::HealthCentre),
        ("Facility", Some(id), _) => facility(ctx, id.into()).await.map(Entity::Facility),
        ("Prefecture", Some(id), _) => prefecture_by_id(ctx, id.into()).await.map(Entity::Prefecture),
        ("Prefecture", None, Some(code)) => prefecture_by_code(ctx, code).await.map(Entity::Prefecture),
        ("Patient" | "LabTest" | "Hospitalisation" | "HealthCentre" | "Facility" | "Prefecture", _, _) => return None,
        _ => Err(AppError::bad_input("representations", format!("{typename} is not an entity of this subgraph"))),
    })
}

fn out_of_reach(what: &str) -> AppError {
    AppError::forbidden(format!("this {what} is not within the caller's reach"))
}

fn not_found(what: &str) -> AppError {
    AppError::not_found("representations", format!("no {what} has this key"))
}

/// Reference data is for staff; patients need none of it.
fn reference_reader(ctx: &Context<'_>) -> Result<(), AppError> {
    crate::auth::policy::may_read_reference(signed_in(ctx)?)
}

async fn patient(ctx: &Context<'_>, id: ID) -> Result<Patient, AppError> {
    let id = parse_id(&id, "id")?;
    load(ctx, ReachablePatientById(id)).await?.map(Patient).ok_or_else(|| out_of_reach("patient"))
}

async fn lab_test(ctx: &Context<'_>, id: ID) -> Result<LabTest, AppError> {
    let id = parse_id(&id, "id")?;
    let test = load(ctx, TestById(id)).await?.ok_or_else(|| out_of_reach("test"))?;
    load(ctx, ReachablePatientById(test.patient_id)).await?.ok_or_else(|| out_of_reach("test"))?;
    Ok(LabTest(test))
}

async fn hospitalisation(ctx: &Context<'_>, id: ID) -> Result<Hospitalisation, AppError> {
    let principal = signed_in(ctx)?;
    let id = parse_id(&id, "id")?;
    let stay = load(ctx, HospitalisationById(id)).await?.ok_or_else(|| out_of_reach("hospital stay"))?;
    let patient =
        load(ctx, ReachablePatientById(stay.patient_id)).await?.ok_or_else(|| out_of_reach("hospital stay"))?;
    Ok(Hospitalisation { row: stay, personal: policy::may_read_personal(principal, &patient) })
}

async fn health_centre_by_id(ctx: &Context<'_>, id: ID) -> Result<HealthCentre, AppError> {
    reference_reader(ctx)?;
    let id = parse_id(&id, "id")?;
    load(ctx, HealthCentreById(id)).await?.map(HealthCentre).ok_or_else(|| not_found("health centre"))
}

async fn health_centre_by_code(ctx: &Context<'_>, code: String) -> Result<HealthCentre, AppError> {
    reference_reader(ctx)?;
    load(ctx, HealthCentreByCode(code)).await?.map(HealthCentre).ok_or_else(|| not_found("health centre"))
}

async fn facility(ctx: &Context<'_>, id: ID) -> Result<Facility, AppError> {
    reference_reader(ctx)?;
    let id = parse_id(&id, "id")?;
    load(ctx, FacilityById(id)).await?.map(Facility::new).ok_or_else(|| not_found("facility"))
}

async fn prefecture_by_id(ctx: &Context<'_>, id: ID) -> Result<Prefecture, AppError> {
    reference_reader(ctx)?;
    let id = id.parse::<i32>().map_err(|_| AppError::bad_input("id", "is not a prefecture number (1 to 47)"))?;
    load(ctx, PrefectureById(id)).await?.map(Prefecture).ok_or_else(|| not_found("prefecture"))
}

async fn prefecture_by_code(ctx: &Context<'_>, code: String) -> Result<Prefecture, AppError> {
    reference_reader(ctx)?;
    load(ctx, PrefectureByCode(code)).await?.map(Prefecture).ok_or_else(|| not_found("prefecture"))
}

/// The entity keys as async-graphql declares them, for the SDL schema. The
/// same resolution as `_entities` above.
#[derive(Default)]
pub struct EntityResolvers;

#[Object(name = "EntityQuery")]
impl EntityResolvers {
    #[graphql(entity)]
    async fn find_patient_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Patient> {
        Ok(patient(ctx, id).await?)
    }
    #[graphql(entity)]
    async fn find_lab_test_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<LabTest> {
        Ok(lab_test(ctx, id).await?)
    }
    #[graphql(entity)]
    async fn find_hospitalisation_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Hospitalisation> {
        Ok(hospitalisation(ctx, id).await?)
    }
    #[graphql(entity)]
    async fn find_health_centre_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<HealthCentre> {
        Ok(health_centre_by_id(ctx, id).await?)
    }
    #[graphql(entity)]
    async fn find_health_centre_by_code(&self, ctx: &Context<'_>, code: String) -> Result<HealthCentre> {
        Ok(health_centre_by_code(ctx, code).await?)
    }
    #[graphql(entity)]
    async fn find_facility_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Facility> {
        Ok(facility(ctx, id).await?)
    }
    #[graphql(entity)]
    async fn find_prefecture_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Prefecture> {
        Ok(prefecture_by_id(ctx, id).await?)
    }
    #[graphql(entity)]
    async fn find_prefecture_by_code(&self, ctx: &Context<'_>, code: String) -> Result<Prefecture> {
        Ok(prefecture_by_code(ctx, code).await?)
    }
}

/// The SDL, computed once.
pub(super) fn cached_sdl(build: impl FnOnce() -> String) -> String {
    static SDL: OnceLock<String> = OnceLock::new();
    SDL.get_or_init(build).clone()
}
