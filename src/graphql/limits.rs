//! Operation limits beyond async-graphql's depth and complexity: how many
//! aliases an operation may use and how many root fields it may select, and
//! variables of types the schema does not have. Checked right after
//! parsing, so an operation over a limit is refused with `QUERY_TOO_COMPLEX`
//! before any resolver (or SQL) runs.
//!
//! The weights of lists in the complexity count are here too
//! ([`list_cost`], [`weigh`]): a field counts one, and a list counts its
//! items' cost times the most items it can answer (the page asked for, or
//! the list's maximum), so the lists nested in a list multiply. A cycle
//! (`tests { patient { tests { … } } }`) then costs what it would answer,
//! and async-graphql's validation refuses it before anything runs.
//!
//! The request pipeline parses every operation itself, on every transport,
//! and checks it with [`DocumentCheck`] (async-graphql then reuses the
//! parsed document): an extension would put a hook on every field of every
//! answer, which costs a dashboard page of a hundred patients a tenth of
//! its time. [`OperationLimits`] is also an extension, for the schema the
//! SDL is exported from and checked with.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{BaseType, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};

/// The highest weight one list field can reach in the complexity count.
/// Every list's weight is capped here so that the count (a `usize` that
/// async-graphql adds up without checking) cannot overflow whatever the
/// document: it stays far above any limit a server sets and far below the
/// sum that would wrap.
pub const MAX_LIST_WEIGHT: usize = 1 << 40;

/// The complexity of a list field of `items` items whose selection costs
/// `child` each: `items × child + 1`, capped at [`MAX_LIST_WEIGHT`].
pub fn weigh(items: usize, child: usize) -> usize {
    items.max(1).saturating_mul(child).saturating_add(1).min(MAX_LIST_WEIGHT)
}

/// The complexity of a list field with a page-size argument: `size` items
/// when asked for (at least one; a size the resolver refuses is refused
/// there), `default` when not.
pub fn list_cost(size: Option<i32>, default: usize, child: usize) -> usize {
    let items = size.map_or(default, |n| usize::try_from(n).unwrap_or(1));
    weigh(items, child)
}

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

/// Nesting beyond which the counts stop descending: async-graphql refuses
/// documents nested deeper than 32 levels anyway, and a document parsed
/// here has not yet been through that check.
const MAX_NESTING: usize = 64;

fn count_aliases(set: &SelectionSet, nesting: usize) -> usize {
    if nesting > MAX_NESTING {
        return 0;
    }
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set.node, nesting + 1)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node, nesting + 1),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn count_fields(set: &SelectionSet, nesting: usize) -> usize {
    if nesting > MAX_NESTING {
        return 0;
    }
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) | Selection::FragmentSpread(_) => 1,
            Selection::InlineFragment(fragment) => count_fields(&fragment.node.selection_set.node, nesting + 1),
        })
        .sum()
}

fn too_complex(message: String, limit: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "QUERY_TOO_COMPLEX");
    extensions.set("limit", limit);
    error.extensions = Some(extensions);
    error
}

impl OperationLimits {
    /// Checks a parsed document; `is_type` tells whether the schema has a
    /// type of that name.
    pub fn check(&self, document: &ExecutableDocument, is_type: impl Fn(&str) -> bool) -> ServerResult<()> {
        // A variable of an unknown type is refused here: async-graphql's
        // validation of a default value of a list of one would panic.
        for (_, operation) in document.operations.iter() {
            for variable in &operation.node.variable_definitions {
                let mut base = &variable.node.var_type.node.base;
                while let BaseType::List(inner) = base {
                    base = &inner.base;
                }
                if let BaseType::Named(name) = base
                    && !is_type(name.as_str())
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
        let fragments: usize = document.fragments.values().map(|f| count_aliases(&f.node.selection_set.node, 0)).sum();
        for (_, operation) in document.operations.iter() {
            let set = &operation.node.selection_set.node;
            let aliases = count_aliases(set, 0) + fragments;
            if aliases > self.max_aliases {
                return Err(too_complex(
                    format!(
                        "the operation uses {aliases} aliases; at most {} are allowed (maxAliases)",
                        self.max_aliases
                    ),
                    "maxAliases",
                ));
            }
            let roots = count_fields(set, 0);
            if roots > self.max_root_fields {
                return Err(too_complex(
                    format!(
                        "the operation selects {roots} root fields; at most {} are allowed (maxRootFields)",
                        self.max_root_fields
                    ),
                    "maxRootFields",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_weigh_by_their_size_and_never_overflow() {
        assert_eq!(list_cost(Some(10), 20, 3), 31);
        assert_eq!(list_cost(None, 20, 3), 61);
        assert_eq!(list_cost(Some(-5), 20, 3), 4);
        assert_eq!(weigh(0, 7), 8);
        // Nested lists multiply, up to the cap, and a sum of capped weights
        // still fits.
        let mut cost = 1;
        for _ in 0..32 {
            cost = weigh(500, cost);
        }
        assert_eq!(cost, MAX_LIST_WEIGHT);
        assert!(MAX_LIST_WEIGHT.checked_mul(1 << 20).is_some());
    }
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
        self.check(&document, |name| ctx.schema_env.registry.types.contains_key(name))?;
        Ok(document)
    }
}

/// The limits and the schema's type names, for documents parsed outside
/// async-graphql's extension chain.
#[derive(Debug)]
pub struct DocumentCheck {
    limits: OperationLimits,
    types: HashSet<String>,
}

impl DocumentCheck {
    /// `sdl` is the schema's SDL, which names every type a variable can have
    /// (and the built-in scalars are added).
    pub fn new(limits: OperationLimits, sdl: &str) -> Self {
        use async_graphql::parser::types::TypeSystemDefinition;
        let mut types: HashSet<String> =
            ["Int", "Float", "String", "Boolean", "ID"].into_iter().map(str::to_owned).collect();
        if let Ok(document) = async_graphql::parser::parse_schema(sdl) {
            types.extend(document.definitions.iter().filter_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) => Some(ty.node.name.node.to_string()),
                _ => None,
            }));
        }
        DocumentCheck { limits, types }
    }

    pub fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        self.limits.check(document, |name| self.types.contains(name))
    }
}
