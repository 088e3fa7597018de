//! The GraphQL schema: `Query`, `Mutation`, their types and inputs, and the
//! per-request batch loaders. Only async-graphql lives here; rules and
//! transactions are in `services`.

pub mod admin;
pub mod context;
pub mod enums;
pub mod inputs;
pub mod loaders;
pub mod mutation;
pub mod prefetch;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;

use async_graphql::Schema;

use crate::state::AppState;

pub type HersysSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Builds the schema. `state` is `None` only for exporting the SDL.
pub fn build(state: Option<AppState>) -> HersysSchema {
    let mut builder = Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .enable_federation()
        .limit_depth(16)
        .limit_recursive_depth(32);
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The federation subgraph SDL (`hersys export-schema`).
pub fn subgraph_sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
}
