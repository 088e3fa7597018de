//! Tracing spans for the parts of an operation: one for its execution and
//! one per root field (a resolver group: everything under it, batched
//! loaders included, runs inside it). Per-leaf spans would cost more than
//! the fields themselves. Span fields are names, never argument values.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo};
use async_graphql::{Response, ServerResult, Value};
use tracing::Instrument;

/// Adds the spans.
pub struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationSpans)
    }
}

#[async_trait::async_trait]
impl Extension for OperationSpans {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let span = tracing::info_span!("graphql.execute", operation = operation_name.unwrap_or("anonymous"));
        next.run(ctx, operation_name).instrument(span).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        let span =
            tracing::info_span!("graphql.resolve", field = info.path_node.field_name(), parent = info.parent_type);
        next.run(ctx, info).instrument(span).await
    }
}
