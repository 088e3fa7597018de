//! Stage [`Admission`](super::Stage::Admission): an operation is parsed (or
//! found parsed), checked against the operation limits, and refused before
//! anything runs when it is over one: `operationName` must be a GraphQL name
//! of bounded length, the document within the depth, complexity, alias and
//! root-field limits (`graphql::limits`; async-graphql checks depth and
//! complexity again when it validates), introspection only where it is on,
//! and at most [`MAX_SIGN_INS`] sign-in field per request.

use std::sync::Arc;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Request, ServerError, Variables};

use super::Pipeline;
use crate::error::AppError;

/// Sign-in fields (`login`, `patientLogin`) one request may hold, across
/// its aliases and the operations of a batch: guessing passwords or dates
/// of birth costs one request per guess.
pub const MAX_SIGN_INS: usize = 1;

/// Longest accepted `operationName` (it is copied into metrics and every
/// audit entry of the request).
pub const MAX_OPERATION_NAME: usize = 100;

const SIGN_IN_FIELDS: [&str; 2] = ["login", "patientLogin"];

/// Mutations whose answer must never be stored for a replay: it holds a
/// secret (a session token, an API key shown once), or the mutation is
/// about the session itself.
const UNREPEATABLE_FIELDS: [&str; 7] =
    ["login", "patientLogin", "changePassword", "logout", "logoutEverywhere", "endSession", "createApiKey"];

/// A request that passed admission, ready to run.
#[derive(Debug)]
pub struct Admitted {
    /// The request, with its parsed document set.
    pub request: Request,
    /// The parsed document, for shaping the response.
    pub document: Arc<ExecutableDocument>,
    pub operation_name: Option<String>,
    /// The variables as sent, for shaping (`@skip`/`@include`).
    pub variables: Variables,
    pub kind: OperationType,
    /// Sign-in fields the operation selects.
    pub sign_ins: usize,
    /// Whether it selects a mutation an `Idempotency-Key` may not apply to.
    pub unrepeatable: bool,
    /// The names of the root fields it selects (through fragments), for
    /// the scope of an API key.
    pub root_fields: Vec<String>,
}

/// A refusal for being over an operation limit; `limit` names it.
pub fn too_complex(message: String, limit: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "QUERY_TOO_COMPLEX");
    extensions.set("limit", limit);
    error.extensions = Some(extensions);
    error
}

/// Whether `name` is a GraphQL name of acceptable length.
pub fn valid_operation_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_OPERATION_NAME
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The operation's name for the metrics: the one sent, or the first named
/// operation of the text; only if it is a valid name.
pub fn operation_label(request: &Request) -> Option<String> {
    match &request.operation_name {
        Some(name) => valid_operation_name(name).then(|| name.clone()),
        None => first_operation_name(&request.query).filter(|name| valid_operation_name(name)).map(str::to_owned),
    }
}

/// The name of the document's first operation (`query Name …`), read from
/// the text before its first selection set.
fn first_operation_name(document: &str) -> Option<&str> {
    let head = &document[..document.find('{').unwrap_or(document.len())];
    let mut words = head
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| !word.is_empty());
    while let Some(word) = words.next() {
        if matches!(word, "query" | "mutation" | "subscription") {
            return words.next().filter(|name| !name.starts_with(|c: char| c.is_ascii_digit()));
        }
    }
    None
}

/// Admits one request, or refuses it with a coded error.
pub fn admit(pipeline: &Pipeline, mut request: Request) -> Result<Admitted, ServerError> {
    let config = &pipeline.app.config;
    if let Some(name) = &request.operation_name
        && !valid_operation_name(name)
    {
        return Err(super::server_error(&AppError::bad_input(
            "operationName",
            format!("must be a GraphQL name of at most {MAX_OPERATION_NAME} letters, digits and underscores"),
        )));
    }
    let document = match pipeline.documents.get(&request.query) {
        Some(document) => document,
        None => {
            let parsed = match request.parsed_query() {
                Ok(parsed) => parsed,
                Err(error) => {
                    let mut errors = [error];
                    pipeline.polish(&mut errors);
                    let [error] = errors;
                    return Err(error);
                }
            };
            pipeline.check.check(parsed)?;
            let document = Arc::new(parsed.clone());
            pipeline.documents.keep(&request.query, document.clone());
            document
        }
    };
    // A document's one operation is `Single` only when it has no name.
    let operation = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(operation), _) => Some((None, operation)),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get_key_value(name.as_str()).map(|(name, operation)| (Some(name), operation))
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.iter().next().map(|(name, operation)| (Some(name), operation))
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    let Some((name, operation)) = operation else {
        let why = match &request.operation_name {
            Some(_) => "names no operation of the document",
            None => "is required when the document holds several operations",
        };
        return Err(super::server_error(&AppError::bad_input("operationName", why)));
    };
    let root = &operation.node.selection_set.node;
    if !config.introspection && selects_any(&document, root, &["__schema", "__type"]) {
        return Err(super::server_error(&AppError::forbidden(
            "introspection is switched off on this server: use the published schema files",
        )));
    }
    let kind = operation.node.ty;
    let sign_ins = count_fields(&document, root, &SIGN_IN_FIELDS, 0);
    let unrepeatable = selects_any(&document, root, &UNREPEATABLE_FIELDS);
    let mut root_fields = Vec::new();
    collect_fields(&document, root, &mut root_fields, 0);
    let operation_name = name.map(|name| name.to_string());
    let variables = request.variables.clone();
    request.set_parsed_query((*document).clone());
    Ok(Admitted { request, document, operation_name, variables, kind, sign_ins, unrepeatable, root_fields })
}

/// Whether the root selection (through fragments) selects one of `names`.
fn selects_any(document: &ExecutableDocument, set: &SelectionSet, names: &[&str]) -> bool {
    count_fields(document, set, names, 0) > 0
}

/// Root fields named one of `names`, following fragments (bounded nesting:
/// a fragment cycle is refused by validation later, and must not loop here).
fn count_fields(document: &ExecutableDocument, set: &SelectionSet, names: &[&str], nesting: usize) -> usize {
    if nesting > 16 {
        return 0;
    }
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => usize::from(names.contains(&field.node.name.node.as_str())),
            Selection::InlineFragment(fragment) => {
                count_fields(document, &fragment.node.selection_set.node, names, nesting + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .map(|fragment| count_fields(document, &fragment.node.selection_set.node, names, nesting + 1))
                .unwrap_or(0),
        })
        .sum()
}

/// The names of the root fields, following fragments (bounded nesting, as
/// in [`count_fields`]).
fn collect_fields(document: &ExecutableDocument, set: &SelectionSet, names: &mut Vec<String>, nesting: usize) {
    if nesting > 16 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            }
            Selection::InlineFragment(fragment) => {
                collect_fields(document, &fragment.node.selection_set.node, names, nesting + 1)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect_fields(document, &fragment.node.selection_set.node, names, nesting + 1)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_named_operation_is_found_before_any_selection() {
        assert_eq!(first_operation_name("query Dashboard($id: ID!) { patient(id: $id) { id } }"), Some("Dashboard"));
        assert_eq!(first_operation_name("# a comment with query Fake\nmutation Save { x }"), Some("Save"));
        assert_eq!(first_operation_name("{ __typename }"), None);
        assert_eq!(first_operation_name("query { me { id } }"), None);
    }

    #[test]
    fn operation_names_are_graphql_names_of_bounded_length() {
        assert!(valid_operation_name("Dashboard_2"));
        assert!(valid_operation_name("_x"));
        for bad in ["", "2x", "a-b", "a b", "名前", &"a".repeat(MAX_OPERATION_NAME + 1)] {
            assert!(!valid_operation_name(bad), "{bad}");
        }
    }

    #[test]
    fn sign_in_fields_are_counted_through_aliases_and_fragments() {
        let document = async_graphql::parser::parse_query(
            "mutation { a: login(username: \"x\", password: \"y\") { token } ...F ... on Mutation { patientLogin(smartphoneId: \"1\", birthDate: \"2000-01-01\") { token } } } \
             fragment F on Mutation { b: login(username: \"x\", password: \"z\") { token } }",
        )
        .expect("parses");
        let DocumentOperations::Single(operation) = &document.operations else { panic!("one operation") };
        assert_eq!(count_fields(&document, &operation.node.selection_set.node, &SIGN_IN_FIELDS, 0), 3);
    }
}
