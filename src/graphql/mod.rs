//! The GraphQL schema, area by area: each area's file (`accounts`,
//! `patients`, `care`, `follow_up`, `organisations`, `audit`,
//! `break_glass`, `statistics`, `subscription`, `federation`) holds its part
//! of the root `Query` and `Mutation` and its types; this file merges the
//! parts into the roots and builds the schema. Only async-graphql lives
//! here; rules and transactions are in `services`.

pub mod accounts;
pub mod audit;
pub mod break_glass;
pub mod care;
pub mod contacts;
pub mod context;
pub mod crosstab;
pub mod daily_counts;
pub mod documents;
pub mod enums;
pub mod error;
pub mod federation;
pub mod follow_up;
pub mod imports;
pub mod inputs;
pub mod limits;
pub mod loaders;
pub mod node;
pub mod organisations;
pub mod pages;
pub mod patients;
pub mod planned;
pub mod prefetch;
pub mod scalars;
pub mod spans;
pub mod statistics;
pub mod subscription;
pub mod work;

use async_graphql::Schema;

use crate::state::AppState;

/// Reading the case record and reference data. Every list is limited to the
/// rows the caller may reach.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query(ApiQuery, federation::FederationFields);

/// Reading the case record and reference data. Every list is limited to the
/// rows the caller may reach.
// (The root query of the schema the subgraph SDL is exported from: the API
// and the entity keys.)
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct SdlQuery(ApiQuery, federation::EntityResolvers);

/// Reading the case record and reference data. Every list is limited to the
/// rows the caller may reach.
// (The root query of the plain API schema for code generators: the API
// alone, without the router's fields.)
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct PlainQuery(ApiQuery);

/// Changes to the case record. Every change is checked against the caller's role and written in one transaction; a refused change writes nothing.
// (The root mutation of every schema, merged from each area's part.)
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    accounts::AccountsMutation,
    patients::PatientsMutation,
    care::CareMutation,
    follow_up::FollowUpMutation,
    break_glass::BreakGlassMutation,
    organisations::OrganisationMutation,
    daily_counts::DailyCountsMutation,
    contacts::ContactsMutation,
    statistics::CapacityMutation,
    work::WorkMutation,
);

/// The API's part of the root `Query`, area by area.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "ApiQuery")]
pub struct ApiQuery(
    accounts::AccountsQuery,
    patients::PatientsQuery,
    contacts::ContactsQuery,
    subscription::LiveQuery,
    follow_up::FollowUpQuery,
    organisations::OrganisationQuery,
    audit::AuditQuery,
    break_glass::BreakGlassQuery,
    statistics::StatisticsQuery,
    imports::ImportsQuery,
    work::WorkQuery,
    care::CareQuery,
    node::NodeQuery,
);

pub type HersysSchema = Schema<Query, MutationRoot, subscription::Subscription>;

/// Builds the schema with every operation limit applied by async-graphql
/// itself (as an extension on parsing). For exporting the SDL and for
/// checks of the schema itself, with the default limits; the server's
/// schema comes from [`build_served`].
pub fn build(state: Option<AppState>) -> HersysSchema {
    build_with(state, true).0
}

/// The schema a server runs, and the limits the request pipeline checks on
/// each parsed document (`pipeline::admission`). The schema itself has no
/// limits extension: an extension puts a hook on every field of every
/// answer, and the pipeline parses and checks every operation, on every
/// transport, before it runs.
pub fn build_served(state: AppState) -> (HersysSchema, limits::OperationLimits) {
    build_with(Some(state), false)
}

fn build_with(state: Option<AppState>, limits_extension: bool) -> (HersysSchema, limits::OperationLimits) {
    let config = state
        .as_ref()
        .map(|s| (*s.config).clone())
        .unwrap_or_else(|| crate::config::Config::new(([127, 0, 0, 1], 0).into(), crate::config::Secret::default()));
    let limits = limits::OperationLimits { max_aliases: config.max_aliases, max_root_fields: config.max_root_fields };
    let mut builder = Schema::build(Query::default(), MutationRoot::default(), subscription::Subscription)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .limit_recursive_depth(32);
    if limits_extension {
        builder = builder.extension(limits);
    }
    // A hook on every field costs even when it does nothing: only when the
    // spans go somewhere.
    if config.resolver_spans {
        builder = builder.extension(spans::OperationSpans);
    }
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    (builder.finish(), limits)
}

/// The federation subgraph SDL (`hersys export-schema`).
pub fn subgraph_sdl() -> String {
    federation::cached_sdl(|| {
        Schema::build(SdlQuery::default(), MutationRoot::default(), subscription::Subscription)
            .enable_federation()
            .enable_subscription_in_federation()
            .finish()
            .sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
    })
}

/// The plain API schema, without federation fields, for frontend code
/// generators (`hersys export-schema --api`).
pub fn api_sdl() -> String {
    Schema::build(PlainQuery::default(), MutationRoot::default(), subscription::Subscription).finish().sdl()
}
