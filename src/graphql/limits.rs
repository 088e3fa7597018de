//! Operation limits beyond async-graphql's depth and complexity: how many
//! aliases an operation may use and how many root fields it may select.
//! Checked right after parsing, so an operation over a limit is refused
//! with `QUERY_TOO_COMPLEX` before any resolver (or SQL) runs.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{BaseType, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};

/// The limits, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct OperationLimits {
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

impl ExtensionFactory for OperationLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn count_fields(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) | Selection::FragmentSpread(_) => 1,
            Selection::InlineFragment(fragment) => count_fields(&fragment.node.selection_set.node),
        })
        .sum()
}

fn too_complex(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "QUERY_TOO_COMPLEX");
    error.extensions = Some(extensions);
    error
}

#[async_trait::async_trait]
impl Extension for OperationLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        // A variable of an unknown type is refused here: async-graphql's
        // validation of a default value of a list of one would panic.
        for (_, operation) in document.operations.iter() {
            for variable in &operation.node.variable_definitions {
                let mut base = &variable.node.var_type.node.base;
                while let BaseType::List(inner) = base {
                    base = &inner.base;
                }
                if let BaseType::Named(name) = base
                    && !ctx.schema_env.registry.types.contains_key(name.as_str())
                {
                    let mut error = ServerError::new(
                        format!("variable ${}: unknown type {name}", variable.node.name.node),
                        Some(variable.pos),
                    );
                    let mut extensions = ErrorExtensionValues::default();
                    extensions.set("code", "BAD_USER_INPUT");
                    error.extensions = Some(extensions);
                    return Err(error);
                }
            }
        }
        let fragments: usize = document.fragments.values().map(|f| count_aliases(&f.node.selection_set.node)).sum();
        for (_, operation) in document.operations.iter() {
            let set = &operation.node.selection_set.node;
            let aliases = count_aliases(set) + fragments;
            if aliases > self.max_aliases {
                return Err(too_complex(format!(
                    "the operation uses {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                )));
            }
            let roots = count_fields(set);
            if roots > self.max_root_fields {
                return Err(too_complex(format!(
                    "the operation selects {roots} root fields; at most {} are allowed",
                    self.max_root_fields
                )));
            }
        }
        Ok(document)
    }
}
