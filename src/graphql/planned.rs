//! The planned path for pages of patients.
//!
//! A page of 100 patients with their tests and stays is some 2,500 fields.
//! Resolved one by one, each field is a boxed future in a set of futures, a
//! context, a response key and an insertion: the largest share of the
//! gateway's own work on such a page. When every field a page selects is
//! one a plan knows, the page is answered from the plan instead: the
//! selection is read once per request into a list of steps, and each row is
//! turned into its answer by walking that list, calling each field's own
//! resolver (so the field rules, the read audit and the values are the
//! resolvers', by construction) without a future per field. Any other
//! selection goes field by field, as before; both answer the same
//! (`tests/api/planned.rs`).
//!
//! A plan knows a type's *leaves* (fields without arguments whose resolver
//! awaits nothing: each type lists them with [`leaves!`] beside its
//! resolvers, which stay private to its module) and the *relations* its
//! caller gives (a patient's tests, stays and latest report; a test's
//! facility or a stay's hospital by `id`). A plan is refused, and
//! the page resolved field by field, for a field it does not know, a
//! directive other than `@skip`/`@include` (which async-graphql has
//! already applied), an object selected twice under one response key, or a
//! selection of more than [`MOST_STEPS`] fields.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use async_graphql::parser::types::{Field, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Context, ContextSelectionSet, Name, OutputType, Positioned, ServerError, ServerResult, Value};
use futures_util::FutureExt;

use super::care::{Hospitalisation, LabTest};
use super::follow_up::HealthReport;
use super::loaders::{HospitalisationsOfPatient, LatestHealthReportOfPatient, RequestLoader, TestsOfPatient};
use super::organisations::Facility;
use super::pages::record_list_size;
use super::patients::{Patient, PatientEdge};
use crate::error::AppError;

/// A field answered by calling its resolver, which awaits nothing.
pub type Leaf<T> = for<'r, 'c> fn(&'r T, &'r Context<'c>) -> ServerResult<Value>;

/// An object type whose leaves a plan may answer.
pub trait Plannable: Sized {
    /// The type's name (`__typename`).
    const NAME: &'static str;
    /// The type conditions a fragment within its selection may carry: its
    /// name and the interfaces it implements.
    const CONDITIONS: &'static [&'static str];
    /// The field `name`, when its resolver takes no argument and answers
    /// without awaiting anything.
    fn leaf(name: &str) -> Option<Leaf<Self>>;
}

/// Declares a type's leaves for [`Plannable`]: its name, the type
/// conditions its selections may carry, then each leaf as
/// `"fieldName" => resolver`, and after `fallible` those whose resolver may
/// refuse (a field rule).
macro_rules! leaves {
    ($type:ty, $name:literal, [$($condition:literal),*],
     { $($field:literal => $resolver:ident),* $(,)? }
     $(, fallible { $($checked:literal => $checked_resolver:ident),* $(,)? })?) => {
        impl $crate::graphql::planned::Plannable for $type {
            const NAME: &'static str = $name;
            const CONDITIONS: &'static [&'static str] = &[$($condition),*];

            fn leaf(name: &str) -> Option<$crate::graphql::planned::Leaf<Self>> {
                use $crate::graphql::planned as plan;
                let leaf: plan::Leaf<Self> = match name {
                    $($field => |value, ctx| plan::ready(value.$resolver(ctx), ctx),)*
                    $($($checked => |value, ctx| plan::ready_result(value.$checked_resolver(ctx), ctx),)*)?
                    _ => return None,
                };
                Some(leaf)
            }
        }
    };
}
pub(crate) use leaves;

/// No relation: the objects of a plan that has only leaves.
enum NoRelation {}

/// How one selected field is answered.
enum Step<T, R> {
    Typename,
    Leaf(Leaf<T>),
    Relation(R),
}

/// A selected field: its response key, the field in the document, its step.
struct Selected<'q, T, R> {
    key: &'q Name,
    field: &'q Positioned<Field>,
    step: Step<T, R>,
}

/// The steps of an object's selection, in selection order, with each
/// response key's hash under `hasher`. An answer is a map with that hasher
/// into which each key goes with the hash computed here once per request,
/// rather than hashed again for every object (SipHash, some hundred
/// instructions a key, a few thousand keys a page).
struct Plan<'q, T, R> {
    steps: Vec<Selected<'q, T, R>>,
    hashes: Vec<u64>,
    hasher: RandomState,
}

/// The most fields one object's plan holds; a larger selection is resolved
/// field by field (finding a response key already planned is a walk over
/// the plan, so its size bounds the work of reading a selection).
pub const MOST_STEPS: usize = 64;

/// The fragments of the operation being run.
type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// Reads the selection `set` of objects of type `T` into a plan; `relation`
/// plans a field that is not one of `T`'s leaves. `None` when any field
/// cannot be planned.
fn compile<'q, T: Plannable, R>(
    fragments: &'q Fragments,
    set: &'q SelectionSet,
    relation: &mut dyn FnMut(&'q Positioned<Field>) -> Option<R>,
) -> Option<Plan<'q, T, R>> {
    let mut steps = Vec::new();
    collect(fragments, set, relation, &mut steps)?;
    let hasher = RandomState::new();
    let hashes = steps.iter().map(|selected| hasher.hash_one(selected.key)).collect();
    Some(Plan { steps, hashes, hasher })
}

fn collect<'q, T: Plannable, R>(
    fragments: &'q Fragments,
    set: &'q SelectionSet,
    relation: &mut dyn FnMut(&'q Positioned<Field>) -> Option<R>,
    plan: &mut Vec<Selected<'q, T, R>>,
) -> Option<()> {
    for selection in &set.items {
        let (condition, inner) = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return None;
                }
                let key = &field.node.response_key().node;
                let name = field.node.name.node.as_str();
                let step = if name == "__typename" {
                    Step::Typename
                } else if let Some(leaf) = T::leaf(name).filter(|_| field.node.arguments.is_empty()) {
                    Step::Leaf(leaf)
                } else {
                    Step::Relation(relation(field)?)
                };
                if let Some(earlier) = plan.iter().find(|selected| selected.key == key) {
                    // The same response key twice is one field (the document
                    // was validated): a leaf answers the same both times, an
                    // object would need its two selections merged.
                    if matches!(step, Step::Relation(_)) || earlier.field.node.name.node != field.node.name.node {
                        return None;
                    }
                    continue;
                }
                if plan.len() == MOST_STEPS {
                    return None;
                }
                plan.push(Selected { key, field, step });
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = fragments.get(&spread.node.fragment_name.node)?;
                if !spread.node.directives.is_empty() || !fragment.node.directives.is_empty() {
                    return None;
                }
                (Some(&fragment.node.type_condition.node.on.node), &fragment.node.selection_set.node)
            }
            Selection::InlineFragment(inline) => {
                if !inline.node.directives.is_empty() {
                    return None;
                }
                (inline.node.type_condition.as_ref().map(|c| &c.node.on.node), &inline.node.selection_set.node)
            }
        };
        if condition.is_some_and(|condition| !T::CONDITIONS.contains(&condition.as_str())) {
            return None;
        }
        collect(fragments, inner, relation, plan)?;
    }
    Some(())
}

/// The answer of `value` under its plan; `relation` answers the plan's
/// relations (their rows are at hand: nothing here waits). A failed field
/// is left out and its error reported, as when resolving field by field
/// (the response shaper puts the `null` in its place).
fn object<T: Plannable, R>(
    ctx: &ContextSelectionSet<'_>,
    value: &T,
    plan: &Plan<'_, T, R>,
    relation: &impl Fn(&T, &R, &Context<'_>) -> ServerResult<Value>,
) -> Value {
    let mut fields = IndexMap::with_capacity_and_hasher(plan.steps.len(), plan.hasher.clone());
    for (selected, &hash) in plan.steps.iter().zip(&plan.hashes) {
        let ctx_field = ctx.with_field(selected.field);
        let answer = match &selected.step {
            Step::Typename => Ok(Value::String(T::NAME.to_owned())),
            Step::Leaf(leaf) => leaf(value, &ctx_field),
            Step::Relation(step) => relation(value, step, &ctx_field),
        };
        match answer {
            // A plan's response keys are distinct (`collect`), so no key
            // is already in the map: none is compared.
            Ok(answer) => match fields.raw_entry_mut_v1().from_hash(hash, |_| false) {
                RawEntryMut::Vacant(vacant) => {
                    vacant.insert_hashed_nocheck(hash, selected.key.clone(), answer);
                }
                RawEntryMut::Occupied(mut occupied) => {
                    occupied.insert(answer);
                }
            },
            Err(error) => ctx.add_error(error),
        }
    }
    if fields.is_empty() { Value::Null } else { Value::Object(fields) }
}

/// The answer of the list `items` of the field of `ctx`.
fn list<T: Plannable, R>(
    ctx: &Context<'_>,
    items: &[T],
    plan: &Plan<'_, T, R>,
    relation: &impl Fn(&T, &R, &Context<'_>) -> ServerResult<Value>,
) -> Value {
    let ctx_set = ctx.with_selection_set(&ctx.item.node.selection_set);
    Value::List(
        items.iter().enumerate().map(|(i, item)| object(&ctx_set.with_index(i), item, plan, relation)).collect(),
    )
}

/// For a plan without relations.
fn no_relation<T>(_: &T, relation: &NoRelation, _: &Context<'_>) -> ServerResult<Value> {
    match *relation {}
}

/// The answer of a leaf's resolver, which must be ready at once.
pub fn ready<T: OutputType>(answer: impl Future<Output = T>, ctx: &Context<'_>) -> ServerResult<Value> {
    let value = answer.now_or_never().ok_or_else(|| awaited(ctx))?;
    resolved(&value, ctx)
}

/// The answer of a leaf's resolver that may refuse, which must be ready at
/// once; a refusal is reported at the field's path as when resolving field
/// by field.
pub fn ready_result<T: OutputType>(
    answer: impl Future<Output = async_graphql::Result<T>>,
    ctx: &Context<'_>,
) -> ServerResult<Value> {
    match answer.now_or_never() {
        None => Err(awaited(ctx)),
        Some(Ok(value)) => resolved(&value, ctx),
        Some(Err(error)) => Err(ctx.set_error_path(error.into_server_error(ctx.item.pos))),
    }
}

/// A reference answered at once (a facility by `id`), under its plan.
fn reference<T: Plannable>(
    answer: impl Future<Output = async_graphql::Result<T>>,
    ctx: &Context<'_>,
    plan: &Plan<'_, T, NoRelation>,
) -> ServerResult<Value> {
    match answer.now_or_never() {
        None => Err(awaited(ctx)),
        Some(Ok(value)) => {
            Ok(object(&ctx.with_selection_set(&ctx.item.node.selection_set), &value, plan, &no_relation))
        }
        Some(Err(error)) => Err(ctx.set_error_path(error.into_server_error(ctx.item.pos))),
    }
}

/// A field's error, at its path.
fn at_path(ctx: &Context<'_>, error: impl Into<async_graphql::Error>) -> ServerError {
    ctx.set_error_path(error.into().into_server_error(ctx.item.pos))
}

fn resolved<T: OutputType>(value: &T, ctx: &Context<'_>) -> ServerResult<Value> {
    let ctx_set = ctx.with_selection_set(&ctx.item.node.selection_set);
    value.resolve(&ctx_set, ctx.item).now_or_never().ok_or_else(|| awaited(ctx))?
}

/// A leaf whose resolver waited: a fault of this module's tables (a
/// resolver that came to await something is no longer a leaf), reported as
/// an internal error at the field rather than answered wrong.
fn awaited(ctx: &Context<'_>) -> ServerError {
    let fault = anyhow::anyhow!("the planned field {} awaited", ctx.item.node.name.node);
    at_path(ctx, AppError::Internal(fault))
}

// ---------------------------------------------------------------------------
// Pages of patients.

/// A facility referenced by a test or a stay, selecting its `id` alone.
type FacilityPlan<'q> = Plan<'q, Facility, NoRelation>;

/// The relations of a patient a plan answers.
enum PatientRelation<'q> {
    Tests(Plan<'q, LabTest, FacilityPlan<'q>>),
    Hospitalisations(Plan<'q, Hospitalisation, FacilityPlan<'q>>),
    LatestHealthReport(Plan<'q, HealthReport, NoRelation>),
}

type PatientPlan<'q> = Plan<'q, Patient, PatientRelation<'q>>;

/// The plan of a selection of patients, if it can be planned.
fn patient_plan<'q>(fragments: &'q Fragments, set: &'q SelectionSet) -> Option<PatientPlan<'q>> {
    compile(fragments, set, &mut |field| {
        let set = &field.node.selection_set.node;
        let facility = |name: &'static str| {
            move |field: &'q Positioned<Field>| {
                (field.node.name.node == name && field.node.arguments.is_empty())
                    .then(|| compile(fragments, &field.node.selection_set.node, &mut |_| None))
                    .flatten()
            }
        };
        Some(match field.node.name.node.as_str() {
            "tests" => PatientRelation::Tests(compile(fragments, set, &mut facility("facility"))?),
            "hospitalisations" => {
                PatientRelation::Hospitalisations(compile(fragments, set, &mut facility("hospital"))?)
            }
            "latestHealthReport" => PatientRelation::LatestHealthReport(compile(fragments, set, &mut |_| None)?),
            _ => return None,
        })
    })
}

/// The plan of a selection of edges of patients (`cursor`, `node`).
fn edge_plan<'q>(
    fragments: &'q Fragments,
    set: &'q SelectionSet,
) -> Option<Plan<'q, PatientEdge<'q>, PatientPlan<'q>>> {
    compile(fragments, set, &mut |field| {
        (field.node.name.node == "node").then(|| patient_plan(fragments, &field.node.selection_set.node)).flatten()
    })
}

/// The rows of a page's relations, read from the request's loader (where
/// the page's prefetch put them) once for the whole page. A relation the
/// plan selects once is taken out for its row; one selected under several
/// keys is copied for each.
#[derive(Default)]
struct Related {
    tests: Taken<TestsOfPatient, Vec<entity::lab_test::Model>>,
    stays: Taken<HospitalisationsOfPatient, Vec<entity::hospitalisation::Model>>,
    reports: Taken<LatestHealthReportOfPatient, Option<entity::health_report::Model>>,
}

/// The rows of one relation, by patient, and how many times a row's answer
/// asks for them.
struct Taken<K, V> {
    rows: std::cell::RefCell<HashMap<K, V>>,
    uses: usize,
}

impl<K, V> Default for Taken<K, V> {
    fn default() -> Self {
        Taken { rows: Default::default(), uses: 0 }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone + Default> Taken<K, V> {
    fn take(&self, key: &K) -> V {
        let mut rows = self.rows.borrow_mut();
        if self.uses == 1 { rows.remove(key) } else { rows.get(key).cloned() }.unwrap_or_default()
    }
}

impl Related {
    async fn load<'q>(
        ctx: &ContextSelectionSet<'_>,
        plans: impl Iterator<Item = &'q PatientPlan<'q>>,
        rows: &[Patient],
    ) -> ServerResult<Related> {
        let mut related = Related::default();
        for relation in plans.flat_map(|plan| &plan.steps).filter_map(|selected| match &selected.step {
            Step::Relation(relation) => Some(relation),
            _ => None,
        }) {
            match relation {
                PatientRelation::Tests(_) => related.tests.uses += 1,
                PatientRelation::Hospitalisations(_) => related.stays.uses += 1,
                PatientRelation::LatestHealthReport(_) => related.reports.uses += 1,
            }
        }
        let loader = ctx.data_unchecked::<RequestLoader>();
        let failed = |error| {
            let error = async_graphql::Error::from(super::prefetch::db_error(error));
            ctx.set_error_path(error.into_server_error(ctx.item.pos))
        };
        let ids = || rows.iter().map(|row| row.0.id);
        if related.tests.uses > 0 {
            related.tests.rows = loader.load_many(ids().map(TestsOfPatient)).await.map_err(failed)?.into();
        }
        if related.stays.uses > 0 {
            related.stays.rows = loader.load_many(ids().map(HospitalisationsOfPatient)).await.map_err(failed)?.into();
        }
        if related.reports.uses > 0 {
            let reports = loader.load_many(ids().map(LatestHealthReportOfPatient)).await.map_err(failed)?;
            related.reports.rows = reports.into();
        }
        Ok(related)
    }
}

/// The answer of one patient under its plan.
fn patient(ctx: &ContextSelectionSet<'_>, row: &Patient, plan: &PatientPlan<'_>, related: &Related) -> Value {
    object(ctx, row, plan, &|row: &Patient, relation: &PatientRelation<'_>, ctx: &Context<'_>| {
        patient_relation(row, relation, ctx, related)
    })
}

fn patient_relation(
    row: &Patient,
    relation: &PatientRelation<'_>,
    ctx: &Context<'_>,
    related: &Related,
) -> ServerResult<Value> {
    let id = row.0.id;
    let last = || {
        let (_, last) = ctx.param_value::<Option<i32>>("last", None)?;
        record_list_size(last).map_err(|error| at_path(ctx, error))
    };
    match relation {
        PatientRelation::Tests(plan) => {
            let tests = Patient::tests_of(related.tests.take(&TestsOfPatient(id)), last()?);
            Ok(list(ctx, &tests, plan, &|test: &LabTest, plan: &FacilityPlan<'_>, ctx: &Context<'_>| {
                reference(test.facility(ctx), ctx, plan)
            }))
        }
        PatientRelation::Hospitalisations(plan) => {
            let stays = row.hospitalisations_of(ctx, related.stays.take(&HospitalisationsOfPatient(id)), last()?);
            Ok(list(ctx, &stays, plan, &|stay: &Hospitalisation, plan: &FacilityPlan<'_>, ctx: &Context<'_>| {
                reference(stay.hospital(ctx), ctx, plan)
            }))
        }
        PatientRelation::LatestHealthReport(plan) => {
            let report = related.reports.take(&LatestHealthReportOfPatient(id));
            Ok(match row.report_of(ctx, report) {
                Some(report) => {
                    object(&ctx.with_selection_set(&ctx.item.node.selection_set), &report, plan, &no_relation)
                }
                None => Value::Null,
            })
        }
    }
}

/// Counts the path a list took.
fn count_path(ctx: &ContextSelectionSet<'_>, planned: bool) {
    if let Some(state) = ctx.data_opt::<crate::state::AppState>() {
        state.lists.count(planned);
    }
}

/// A page's patients (`[Patient!]!`), answered by plan when the selection
/// can be planned, field by field otherwise.
pub struct PatientList<'a>(pub &'a [Patient]);

impl OutputType for PatientList<'_> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <Vec<Patient> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<Patient> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<Patient> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let plan = patient_plan(&ctx.query_env.fragments, &ctx.item.node);
        count_path(ctx, plan.is_some());
        let Some(plan) = plan else {
            return self.0.resolve(ctx, field).await;
        };
        let related = Related::load(ctx, std::iter::once(&plan), self.0).await?;
        let rows = self.0.iter().enumerate();
        Ok(Value::List(rows.map(|(index, row)| patient(&ctx.with_index(index), row, &plan, &related)).collect()))
    }
}

/// A page's patients with their cursors (`[PatientEdge!]!`), answered by
/// plan when the selection can be planned, field by field otherwise.
pub struct PatientEdges<'a>(pub &'a [Patient]);

impl OutputType for PatientEdges<'_> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <Vec<PatientEdge<'static>> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<PatientEdge<'static>> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<PatientEdge<'static>> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let plan = edge_plan(&ctx.query_env.fragments, &ctx.item.node);
        count_path(ctx, plan.is_some());
        let edges: Vec<PatientEdge<'_>> = self.0.iter().map(PatientEdge).collect();
        let Some(plan) = plan else {
            return edges.resolve(ctx, field).await;
        };
        let nodes = plan.steps.iter().filter_map(|selected| match &selected.step {
            Step::Relation(node) => Some(node),
            _ => None,
        });
        let related = Related::load(ctx, nodes, self.0).await?;
        let node = |edge: &PatientEdge<'_>, plan: &PatientPlan<'_>, ctx: &Context<'_>| {
            Ok(patient(&ctx.with_selection_set(&ctx.item.node.selection_set), edge.0, plan, &related))
        };
        let items = edges.iter().enumerate().map(|(index, edge)| object(&ctx.with_index(index), edge, &plan, &node));
        Ok(Value::List(items.collect()))
    }
}
