//! Error polishing: every error leaves with `extensions.code` and a message
//! a person can act on, the same on every transport.
//!
//! The application's own errors already carry a code (see `crate::error`)
//! and are left as they are. async-graphql's errors carry none, and their
//! messages are written for its authors: a syntax error is a multi-line
//! diagram, a refused enum value does not say which values exist, and a
//! value that fails to parse during execution does not name its argument.
//! Each recognised message shape is rewritten here into the house form,
//! `field: what is wrong`, with `extensions.field` naming the argument or
//! the dotted path of the input field (`input.sex`, `input.symptoms.1`). A
//! message of a shape not recognised keeps its words; only its code is
//! decided.

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Pos, Positioned, ServerError, Value, Variables};

use super::shape::{TypeIndex, innermost};

/// Gives every error a code and a readable message, the same on every
/// transport. Errors that already carry a code are left alone.
pub fn polish_errors(types: &TypeIndex, errors: &mut [ServerError]) {
    polish(types, None, errors);
}

/// The same as [`polish_errors`], for the errors of an operation whose
/// document and variables are at hand: async-graphql reports some refused
/// values only by the position of their value or of their field (an `Int`
/// out of range, a `Date` that does not parse), and the document tells
/// which argument sits there, even under an alias.
pub fn polish_operation_errors(
    types: &TypeIndex,
    document: &ExecutableDocument,
    variables: &Variables,
    errors: &mut [ServerError],
) {
    polish(types, Some(Operation { document, variables }), errors);
}

#[derive(Clone, Copy)]
struct Operation<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
}

fn polish(types: &TypeIndex, operation: Option<Operation<'_>>, errors: &mut [ServerError]) {
    if errors.iter().all(has_code) {
        return;
    }
    // Read every message first: a refused value can be reported twice, once
    // by validation naming the argument and once by the complexity count
    // naming the value, and each of the two completes the other.
    let shapes: Vec<Shape> = errors.iter().map(|e| if has_code(e) { Shape::Coded } else { Shape::of(e) }).collect();
    let rewrite = Rewrite { types, operation, errors, shapes: &shapes };
    let polished: Vec<Option<Polished>> = (0..errors.len())
        .map(|index| match shapes[index] {
            Shape::Coded => None,
            _ => Some(rewrite.polish(index)),
        })
        .collect();
    for ((error, polished), shape) in errors.iter_mut().zip(polished).zip(&shapes) {
        let Some(polished) = polished else { continue };
        let limit = match shape {
            Shape::TooComplex => Some(limit_of(&error.message)),
            _ => None,
        };
        if polished.code == "INTERNAL" {
            tracing::error!(error = %error.message, "resolver error without a code");
        }
        if let Some(message) = polished.message {
            error.message = message;
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", polished.code);
        if let Some(field) = polished.field
            && extensions.get("field").is_none()
        {
            extensions.set("field", field);
        }
        if let Some((limit, message)) = limit {
            extensions.set("limit", limit);
            error.message = message.to_owned();
        }
    }
}

/// The limit an async-graphql validation refusal is about, and what the
/// client is told.
fn limit_of(message: &str) -> (&'static str, &'static str) {
    if message.starts_with("Query is nested too deep") {
        ("maxDepth", "the operation is nested deeper than allowed (maxDepth): select fewer levels")
    } else if message.starts_with("Query is too complex") {
        (
            "maxComplexity",
            "the operation is more complex than allowed (maxComplexity; lists count by their page size): \
             ask for smaller pages or fewer fields",
        )
    } else {
        ("maxRecursiveDepth", "the operation nests fragments or lists deeper than allowed (maxRecursiveDepth)")
    }
}

fn has_code(error: &ServerError) -> bool {
    error.extensions.as_ref().is_some_and(|e| e.get("code").is_some())
}

/// The outcome for one error.
struct Polished {
    code: &'static str,
    field: Option<String>,
    /// The new message; `None` keeps the old one.
    message: Option<String>,
}

impl Polished {
    fn input(field: Option<String>, message: String) -> Polished {
        Polished { code: "BAD_USER_INPUT", field, message: Some(message) }
    }
}

/// The shapes of async-graphql's messages, read from their text.
enum Shape {
    /// Carries a code already: not polished.
    Coded,
    /// "Query is too complex." and its kin.
    TooComplex,
    /// The parser's diagram.
    Syntax { expected: String, line: usize, column: usize },
    /// `Invalid value for argument "a.b", enumeration type "E" does not
    /// contain the value "V"`.
    NotInEnum { argument: String, enum_type: String, value: String },
    /// `Invalid value for argument "a.b", expected type "T"`.
    Expected { argument: String, ty: String },
    /// `Invalid value for argument "a", field "f" of type "T!" is required
    /// but not provided`.
    MissingInputField { argument: String, field: String, ty: String },
    /// `Invalid value for argument "a", unknown field "f" of type "I"`.
    UnknownInputField { argument: String, field: String, object: String },
    /// `Field "f" argument "a" of type "Parent" is required but not
    /// provided`.
    MissingArgument { field: String, argument: String, parent: String },
    /// `Directive "@d" argument "a" of type "T" is required but not
    /// provided`.
    MissingDirectiveArgument { directive: String, argument: String, ty: String },
    /// `Expected input type "T", found V.`, perhaps with `(occurred while
    /// parsing "I")` for each input object or list it was found in (kept
    /// in `within`, outermost first).
    Found { ty: String, found: String, within: Vec<String> },
    /// `Failed to parse "T": reason`, with the same `within`.
    Unparsable { ty: String, reason: String, within: Vec<String> },
    /// `Variable v is not defined.`: a variable without a value or default.
    UndefinedVariable { name: String },
    /// Another refusal of the client's input (kept word for word).
    Input,
    /// Anything else.
    Other,
}

/// Prefixes of async-graphql's refusals of input values, whatever their
/// exact shape; a message with one of them is the client's input, not a
/// fault, even when it carries the path of a field.
const INPUT_PREFIXES: [&str; 5] = [
    "Failed to parse",
    "Invalid value for argument",
    "Expected input type",
    "Internal error occurred while parsing",
    "Variable ",
];

impl Shape {
    fn of(error: &ServerError) -> Shape {
        let message = error.message.as_str();
        if matches!(message, "Query is too complex." | "Query is nested too deep.")
            || message.starts_with("The recursion depth of the query cannot be greater than")
        {
            return Shape::TooComplex;
        }
        if let Some(syntax) = Shape::syntax(error) {
            return syntax;
        }
        const ARGUMENT: &str = "Invalid value for argument \"";
        if let Some([argument, enum_type, value]) =
            scan(message, ARGUMENT, ["\", enumeration type \"", "\" does not contain the value \"", "\""])
        {
            return Shape::NotInEnum { argument: argument.into(), enum_type: enum_type.into(), value: value.into() };
        }
        if let Some([argument, ty]) = scan(message, ARGUMENT, ["\", expected type \"", "\""]) {
            return Shape::Expected { argument: argument.into(), ty: ty.into() };
        }
        if let Some([argument, field, ty]) =
            scan(message, ARGUMENT, ["\", field \"", "\" of type \"", "\" is required but not provided"])
        {
            return Shape::MissingInputField { argument: argument.into(), field: field.into(), ty: ty.into() };
        }
        if let Some([argument, field, object]) =
            scan(message, ARGUMENT, ["\", unknown field \"", "\" of type \"", "\""])
        {
            return Shape::UnknownInputField { argument: argument.into(), field: field.into(), object: object.into() };
        }
        if let Some([field, argument, parent]) =
            scan(message, "Field \"", ["\" argument \"", "\" of type \"", "\" is required but not provided"])
        {
            return Shape::MissingArgument { field: field.into(), argument: argument.into(), parent: parent.into() };
        }
        if let Some([directive, argument, ty]) =
            scan(message, "Directive \"@", ["\" argument \"", "\" of type \"", "\" is required but not provided"])
        {
            return Shape::MissingDirectiveArgument {
                directive: directive.into(),
                argument: argument.into(),
                ty: ty.into(),
            };
        }
        if let Some([name]) = scan(message, "Variable ", [" is not defined."])
            && !name.contains([' ', '"'])
        {
            return Shape::UndefinedVariable { name: name.into() };
        }
        let (head, within) = strip_within(message);
        if let Some([ty, found]) = scan(head, "Expected input type \"", ["\", found ", "."]) {
            return Shape::Found { ty: ty.into(), found: found.into(), within };
        }
        if let Some([ty, reason]) = scan(head, "Failed to parse \"", ["\": ", ""]) {
            return Shape::Unparsable { ty: ty.into(), reason: reason.into(), within };
        }
        if INPUT_PREFIXES.iter().any(|prefix| message.starts_with(prefix)) {
            return Shape::Input;
        }
        Shape::Other
    }

    /// The parser's diagram: ` --> L:C`, the line with a caret under the
    /// place, and `= expected …` (or `= unexpected …`).
    fn syntax(error: &ServerError) -> Option<Shape> {
        let rest = error.message.strip_prefix(" --> ")?;
        let (place, _) = rest.split_once('\n')?;
        let said = error.message.lines().rev().find_map(|line| line.trim_start().strip_prefix("= "))?;
        let (line, column) = match error.locations.first() {
            Some(pos) => (pos.line, pos.column),
            None => {
                let (line, column) = place.trim().split_once(':')?;
                (line.parse().ok()?, column.parse().ok()?)
            }
        };
        Some(Shape::Syntax { expected: plain_grammar(said), line, column })
    }
}

/// Matches `message` against literal pieces: `prefix`, then a capture
/// ending at each piece in turn; the last piece is a suffix (empty: the
/// last capture runs to the end).
fn scan<'m, const N: usize>(message: &'m str, prefix: &str, pieces: [&str; N]) -> Option<[&'m str; N]> {
    let mut rest = message.strip_prefix(prefix)?;
    let mut captures = [""; N];
    for (index, (capture, piece)) in captures.iter_mut().zip(pieces).enumerate() {
        if index + 1 == N {
            *capture = rest.strip_suffix(piece)?;
        } else {
            let (before, after) = rest.split_once(piece)?;
            *capture = before;
            rest = after;
        }
    }
    Some(captures)
}

/// Splits off the ` (occurred while parsing "T")` that async-graphql adds
/// each time a refusal passes out of an input object or a list; the types
/// come outermost first.
fn strip_within(message: &str) -> (&str, Vec<String>) {
    let mut head = message;
    let mut within = Vec::new();
    while let Some(rest) = head.strip_suffix("\")")
        && let Some((before, ty)) = rest.rsplit_once(" (occurred while parsing \"")
    {
        within.push(ty.to_owned());
        head = before;
    }
    (head, within)
}

/// What pest says was expected, in words: its rule names become phrases.
fn plain_grammar(said: &str) -> String {
    let mut plain = String::with_capacity(said.len() + 32);
    let mut word = String::new();
    for c in said.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            plain.push_str(&rule_in_words(&word));
            word.clear();
        }
        plain.push(c);
    }
    plain.truncate(plain.trim_end().len());
    plain
}

fn rule_in_words(rule: &str) -> String {
    let words = match rule {
        "EOI" => "the end of the document",
        "executable_definition" => "a definition (an operation or a fragment)",
        "operation_definition" | "named_operation_definition" => "an operation",
        "fragment_definition" => "a fragment definition",
        "selection_set" => "a selection set ({ … })",
        "selection" | "field" => "a field or a fragment",
        "fragment_spread" | "inline_fragment" => "a fragment",
        "type_condition" => "a type condition (on Type)",
        "name" | "name_start" => "a name",
        "alias" => "an alias",
        "value" | "const_value" | "default_value" => "a value",
        "variable" => "a variable ($name)",
        "variable_definitions" | "variable_definition" => "a variable definition ($name: Type)",
        "type_" => "a type",
        "arguments" | "argument" | "const_arguments" | "const_argument" => "an argument (name: value)",
        "object_field" | "const_object_field" => "an input field (name: value)",
        "directives" | "directive" | "const_directives" | "const_directive" => "a directive",
        "operation_type" => "query, mutation or subscription",
        "string" | "block_string_content" | "string_content" => "a string",
        "number" | "int" | "float" => "a number",
        "boolean" => "true or false",
        "null" => "null",
        "enum_value" => "an enum value",
        "list" | "const_list" => "a list",
        "object" | "const_object" => "an input object",
        other => return other.replace('_', " "),
    };
    words.to_owned()
}

/// What the rewriting of an error may consult: the schema, the operation
/// if at hand, and the other errors (a refusal reported twice is read from
/// both reports).
struct Rewrite<'a> {
    types: &'a TypeIndex,
    operation: Option<Operation<'a>>,
    errors: &'a [ServerError],
    shapes: &'a [Shape],
}

impl Rewrite<'_> {
    fn polish(&self, index: usize) -> Polished {
        let error = &self.errors[index];
        match &self.shapes[index] {
            Shape::TooComplex => Polished { code: "QUERY_TOO_COMPLEX", field: None, message: None },
            Shape::Syntax { expected, line, column } => {
                Polished::input(None, format!("syntax error at line {line}, column {column}: {expected}"))
            }
            Shape::NotInEnum { argument, enum_type, value } => {
                let mut message = format!("{argument}: \"{value}\" is not {}", article(enum_type));
                if let Some(values) = self.types.enum_values(enum_type) {
                    message.push_str("; expected one of ");
                    message.push_str(&values.join(", "));
                }
                Polished::input(Some(argument.clone()), message)
            }
            Shape::Expected { argument, ty } => {
                let found = match self.shapes.get(index + 1) {
                    Some(Shape::Found { ty: found_ty, found, .. })
                        if self.errors[index + 1].path.is_empty() && named(found_ty) == ty.as_str() =>
                    {
                        Some(found.as_str())
                    }
                    _ => None,
                };
                Polished::input(Some(argument.clone()), self.expected(argument, ty, found))
            }
            Shape::MissingInputField { argument, field, ty } => {
                let path = format!("{argument}.{field}");
                let message = format!("{path}: a value of type {ty} is required");
                Polished::input(Some(path), message)
            }
            Shape::UnknownInputField { argument, field, object } => {
                let path = format!("{argument}.{field}");
                let mut message = format!("{path}: {object} has no field {field}");
                let known: Vec<&str> = self.types.input_fields(object).map(|(name, _)| name).collect();
                if !known.is_empty() {
                    message.push_str("; its fields are ");
                    message.push_str(&known.join(", "));
                }
                Polished::input(Some(path), message)
            }
            Shape::MissingArgument { field, argument, parent } => {
                let message = match self.types.argument_type(parent, field, argument) {
                    Some(ty) => format!("{argument}: {field} requires a value of type {ty}"),
                    None => format!("{argument}: {field} requires this argument"),
                };
                Polished::input(Some(argument.clone()), message)
            }
            Shape::MissingDirectiveArgument { directive, argument, ty } => {
                Polished::input(None, format!("{argument}: @{directive} requires a value of type {ty}"))
            }
            Shape::UndefinedVariable { name } => {
                Polished::input(None, format!("${name}: the variable has no value and no default"))
            }
            Shape::Found { .. } | Shape::Unparsable { .. } => self.unparsable(index),
            Shape::Input => Polished { code: "BAD_USER_INPUT", field: None, message: None },
            Shape::Coded | Shape::Other if error.path.is_empty() => {
                Polished { code: "BAD_USER_INPUT", field: None, message: None }
            }
            Shape::Coded | Shape::Other => {
                Polished { code: "INTERNAL", field: None, message: Some("internal error".to_owned()) }
            }
        }
    }

    /// `argument: expected …`, with the value found when known.
    fn expected(&self, argument: &str, ty: &str, found: Option<&str>) -> String {
        let mut message = format!("{argument}: expected {}", describe(self.types, ty));
        if let Some(found) = found {
            message.push_str(", found ");
            message.push_str(found);
        }
        message
    }

    /// A value refused while it was parsed (`Expected input type …`,
    /// `Failed to parse …`), whose message does not name its argument.
    fn unparsable(&self, index: usize) -> Polished {
        let error = &self.errors[index];
        let (ty, within, detail) = match &self.shapes[index] {
            Shape::Found { ty, found, within } => {
                (ty, within, format!("expected {}, found {found}", describe(self.types, named(ty))))
            }
            Shape::Unparsable { ty, reason, within } => (ty, within, self.reason(named(ty), reason)),
            _ => return Polished { code: "BAD_USER_INPUT", field: None, message: None },
        };
        // The second report of a value validation refused already: the
        // same words, so that the two read as one.
        if error.path.is_empty()
            && let Some(Shape::Expected { argument, ty: expected }) = index.checked_sub(1).map(|i| &self.shapes[i])
            && expected.as_str() == named(ty)
        {
            let found = match &self.shapes[index] {
                Shape::Found { found, .. } => Some(found.as_str()),
                _ => None,
            };
            return Polished::input(Some(argument.clone()), self.expected(argument, expected, found));
        }
        let mut chain: Vec<&str> = within.iter().map(|t| named(t)).chain(std::iter::once(named(ty))).collect();
        chain.dedup();
        let candidates = self.locate(error, &chain);
        match candidates.as_slice() {
            [] => Polished::input(None, detail),
            [one] => Polished::input(Some(one.clone()), format!("{one}: {detail}")),
            several => Polished::input(None, format!("{}: {detail}", several.join(" or "))),
        }
    }

    /// Why a value of type `ty` did not parse, in the house form.
    fn reason(&self, ty: &str, reason: &str) -> String {
        // The built-in scalars' reasons ("Invalid number") say less than
        // the description of what is expected, which includes any range.
        if matches!(ty, "Int" | "Float" | "String" | "Boolean" | "ID") {
            return format!("expected {}", describe(self.types, ty));
        }
        let reason = reason.trim_end_matches('.');
        let mut chars = reason.chars();
        let reason = match (chars.next(), chars.next()) {
            (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
                first.to_lowercase().chain(reason.chars().skip(1)).collect()
            }
            _ => reason.to_owned(),
        };
        if reason.starts_with("must be") { reason } else { format!("{reason}; expected {}", describe(self.types, ty)) }
    }

    /// The arguments or input fields (dotted) a refused value of the
    /// innermost type at the end of `chain` can have come from; `chain`
    /// lists the input objects it was found in, outermost first. Several
    /// when the error does not tell them apart.
    fn locate(&self, error: &ServerError, chain: &[&str]) -> Vec<String> {
        let at = self.operation.zip(error.locations.first()).and_then(|(operation, pos)| {
            find_field(self.types, operation.document, *pos).map(|found| (found, operation.variables))
        });
        let (parent, field, argument, node) = match &at {
            Some((found, _)) => {
                (found.parent.clone(), found.field.name.node.to_string(), found.argument, Some(found.field))
            }
            None => match field_at_path(self.types, &error.path) {
                Some((parent, field)) => (parent, field, None, None),
                None => return Vec::new(),
            },
        };
        let mut candidates = Vec::new();
        for (name, ty) in self.types.arguments(&parent, &field) {
            if argument.is_some_and(|argument| argument != name) {
                continue;
            }
            descend(self.types, innermost(ty), name.to_owned(), chain, &mut candidates);
        }
        if let (Some((_, variables)), Some(node), [_, _, ..]) = (&at, node, candidates.as_slice()) {
            let leaf = chain.last().copied().unwrap_or_default();
            let held: Vec<String> = candidates
                .iter()
                .filter(|candidate| holds_refused(node, variables, candidate, leaf))
                .cloned()
                .collect();
            if !held.is_empty() {
                candidates = held;
            }
        }
        candidates
    }
}

/// Follows `chain` (outermost first) from a value of type `current` at
/// `path`, collecting the dotted paths that reach its last type.
fn descend(types: &TypeIndex, current: &str, path: String, chain: &[&str], found: &mut Vec<String>) {
    let Some((first, rest)) = chain.split_first() else { return };
    if *first != current {
        return;
    }
    let Some(next) = rest.first() else {
        found.push(path);
        return;
    };
    for (name, ty) in types.input_fields(current) {
        if innermost(ty) == *next {
            descend(types, next, format!("{path}.{name}"), rest, found);
        }
    }
}

/// Whether the value the operation gives at `candidate` (an argument of
/// `field`, then input fields) is there and, for a built-in scalar `leaf`,
/// not one: the value that was refused.
fn holds_refused(field: &Field, variables: &Variables, candidate: &str, leaf: &str) -> bool {
    let mut segments = candidate.split('.');
    let Some(argument) = segments.next() else { return false };
    let Some(value) = field.get_argument(argument) else { return false };
    let Ok(value) = value.node.clone().into_const_with(|name| variables.get(&name).cloned().ok_or(())) else {
        return false;
    };
    let segments: Vec<&str> = segments.collect();
    holds(&value, &segments, leaf)
}

fn holds(value: &Value, segments: &[&str], leaf: &str) -> bool {
    match (segments.split_first(), value) {
        (_, Value::List(items)) => items.iter().any(|item| holds(item, segments, leaf)),
        (Some((first, rest)), Value::Object(fields)) => fields.get(*first).is_some_and(|v| holds(v, rest, leaf)),
        (Some(_), _) | (None, Value::Null) => false,
        (None, value) => !is_builtin_value(leaf, value).unwrap_or(false),
    }
}

/// Whether `value` is a valid value of the built-in scalar `ty`; `None`
/// for other types, whose rules live in their own code.
fn is_builtin_value(ty: &str, value: &Value) -> Option<bool> {
    let valid = match (ty, value) {
        ("Int", Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ("Float", Value::Number(_)) | ("String", Value::String(_)) | ("Boolean", Value::Boolean(_)) => true,
        ("ID", Value::String(_)) => true,
        ("ID", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("Int" | "Float" | "String" | "Boolean" | "ID", _) => false,
        _ => return None,
    };
    Some(valid)
}

/// A field found at a position of the document.
struct FoundField<'d> {
    /// The type the field is selected on.
    parent: String,
    field: &'d Field,
    /// The argument whose value is at the position, if it is not the field.
    argument: Option<&'d str>,
}

/// The field at `pos` (its own position, or that of one of its argument
/// values) in the document's operations and fragments.
fn find_field<'d>(types: &TypeIndex, document: &'d ExecutableDocument, pos: Pos) -> Option<FoundField<'d>> {
    for (_, operation) in document.operations.iter() {
        if let Some(root) = types.root(operation.node.ty)
            && let Some(found) = search(types, &operation.node.selection_set.node, root, pos)
        {
            return Some(found);
        }
    }
    document.fragments.values().find_map(|fragment| {
        search(types, &fragment.node.selection_set.node, &fragment.node.type_condition.node.on.node, pos)
    })
}

fn search<'d>(types: &TypeIndex, set: &'d SelectionSet, parent: &str, pos: Pos) -> Option<FoundField<'d>> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if let Some(found) = at_field(field, parent, pos) {
                    return Some(found);
                }
                if let Some(ty) = types.field_type(parent, &field.node.name.node)
                    && let Some(found) = search(types, &field.node.selection_set.node, innermost(ty), pos)
                {
                    return Some(found);
                }
            }
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref().map_or(parent, |c| c.node.on.node.as_str());
                if let Some(found) = search(types, &fragment.node.selection_set.node, on, pos) {
                    return Some(found);
                }
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    None
}

fn at_field<'d>(field: &'d Positioned<Field>, parent: &str, pos: Pos) -> Option<FoundField<'d>> {
    let argument: Option<&'d Name> =
        field.node.arguments.iter().find(|(_, value)| value.pos == pos).map(|(n, _)| &n.node);
    (field.pos == pos || argument.is_some()).then(|| FoundField {
        parent: parent.to_owned(),
        field: &field.node,
        argument: argument.map(|name| name.as_str()),
    })
}

/// The type and name of the field at `path`, the path read as field
/// names from one of the roots (an alias in it is not followed).
fn field_at_path(types: &TypeIndex, path: &[async_graphql::PathSegment]) -> Option<(String, String)> {
    use async_graphql::parser::types::OperationType;
    let names: Vec<&str> = path
        .iter()
        .filter_map(|segment| match segment {
            async_graphql::PathSegment::Field(name) => Some(name.as_str()),
            async_graphql::PathSegment::Index(_) => None,
        })
        .collect();
    let (last, init) = names.split_last()?;
    'roots: for root in [OperationType::Query, OperationType::Mutation, OperationType::Subscription] {
        let Some(mut parent) = types.root(root) else { continue };
        for name in init {
            match types.field_type(parent, name) {
                Some(ty) => parent = innermost(ty),
                None => continue 'roots,
            }
        }
        if types.field_type(parent, last).is_some() {
            return Some((parent.to_owned(), (*last).to_owned()));
        }
    }
    None
}

/// The named type of a type as async-graphql prints it (`[Symptom!]!`).
fn named(ty: &str) -> &str {
    ty.trim_matches(|c| matches!(c, '[' | ']' | '!'))
}

fn article(name: &str) -> String {
    match name.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => format!("an {name}"),
        _ => format!("a {name}"),
    }
}

/// What a value of `ty` looks like, for "expected …".
fn describe(types: &TypeIndex, ty: &str) -> String {
    let fixed = match ty {
        "Int" => "an Int (a whole number from -2147483648 to 2147483647)",
        "Float" => "a Float (a number)",
        "String" => "a String",
        "Boolean" => "a Boolean (true or false)",
        "ID" => "an ID (a string or a whole number)",
        "Date" => "a Date written YYYY-MM-DD, e.g. 2020-05-29",
        "DateTime" => "a DateTime in RFC 3339, e.g. 2020-05-29T09:30:00+09:00",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    if let Some(values) = types.enum_values(ty) {
        return format!("{}, one of {}", article(ty), values.join(", "));
    }
    if types.input_fields(ty).next().is_some() {
        return format!("{} object", article(ty));
    }
    article(ty)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use async_graphql::parser::parse_query;

    use super::*;
    use crate::graphql::HersysSchema;

    fn schema() -> &'static HersysSchema {
        static SCHEMA: OnceLock<HersysSchema> = OnceLock::new();
        SCHEMA.get_or_init(|| crate::graphql::build(None))
    }

    fn types() -> &'static TypeIndex {
        static TYPES: OnceLock<TypeIndex> = OnceLock::new();
        TYPES.get_or_init(|| TypeIndex::from_sdl(&schema().sdl()))
    }

    /// An error as the client sees it after polishing: code, field and
    /// message.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        code: String,
        field: Option<String>,
        message: String,
    }

    fn seen(error: &ServerError) -> Seen {
        let text = |name: &str| match error.extensions.as_ref().and_then(|e| e.get(name)) {
            Some(Value::String(text)) => Some(text.clone()),
            _ => None,
        };
        Seen { code: text("code").unwrap_or_default(), field: text("field"), message: error.message.clone() }
    }

    fn input(field: Option<&str>, message: &str) -> Seen {
        Seen { code: "BAD_USER_INPUT".to_owned(), field: field.map(str::to_owned), message: message.to_owned() }
    }

    /// Runs `query` through the served schema (validation and argument
    /// parsing fail before any resolver body runs) and polishes its errors
    /// twice: without the document, and with it.
    async fn run(query: &str, variables: serde_json::Value) -> (Vec<Seen>, Vec<Seen>) {
        let variables = Variables::from_json(variables);
        let request = async_graphql::Request::new(query).variables(variables.clone());
        let response = schema().execute(request).await;
        assert!(!response.errors.is_empty(), "{query} is refused");
        let mut alone = response.errors.clone();
        polish_errors(types(), &mut alone);
        let mut with_document = response.errors;
        match parse_query(query) {
            Ok(document) => polish_operation_errors(types(), &document, &variables, &mut with_document),
            Err(_) => polish_errors(types(), &mut with_document),
        }
        (alone.iter().map(seen).collect(), with_document.iter().map(seen).collect())
    }

    /// The polished errors, the same with and without the document.
    async fn polished(query: &str, variables: serde_json::Value) -> Vec<Seen> {
        let (alone, with_document) = run(query, variables).await;
        assert_eq!(alone, with_document, "{query}: the document adds nothing here");
        alone
    }

    const SETTINGS: &str = "UNDECIDED, HOSPITAL, ACCOMMODATION, HOME, NONE";
    const INT: &str = "an Int (a whole number from -2147483648 to 2147483647)";

    #[tokio::test]
    async fn an_enum_value_that_does_not_exist_is_named_with_the_values_that_do() {
        let expected = format!("setting: \"FOO\" is not a CareSetting; expected one of {SETTINGS}");
        let literal = r#"mutation { setCareSetting(patientId: "1", setting: FOO) { id } }"#;
        assert_eq!(polished(literal, serde_json::json!({})).await, [input(Some("setting"), &expected)]);
        let variable = r#"mutation($s: CareSetting!) { setCareSetting(patientId: "1", setting: $s) { id } }"#;
        assert_eq!(polished(variable, serde_json::json!({"s": "FOO"})).await, [input(Some("setting"), &expected)]);
        let outcome = r#"mutation { recordOutcome(patientId: "1", outcome: X) { id } }"#;
        assert_eq!(
            polished(outcome, serde_json::json!({})).await,
            [input(
                Some("outcome"),
                "outcome: \"X\" is not an Outcome; expected one of RECOVERED, DECEASED, OTHER, RELEASED_FROM_CARE, \
                 DISCHARGED, TRANSFERRED_OUT"
            )]
        );
    }

    #[tokio::test]
    async fn an_enum_value_inside_input_objects_and_lists_is_named_by_its_dotted_path() {
        let register = r#"mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { id } }"#;
        let i = serde_json::json!({"i": {"caseType": "CONFIRMED", "nameKanji": "山田", "nameKana": "ヤマダ", "sex": "X", "birthDate": "1980-01-01"}});
        assert_eq!(
            polished(register, i).await,
            [input(Some("input.sex"), "input.sex: \"X\" is not a Sex; expected one of MALE, FEMALE, UNKNOWN")]
        );
        let report =
            r#"mutation { submitHealthReport(input: {bodyTemperature: 37.0, symptoms: [COUGH, SNEEZE]}) { id } }"#;
        let [seen] = &polished(report, serde_json::json!({})).await[..] else { panic!("one error") };
        assert_eq!(seen.field.as_deref(), Some("input.symptoms.1"));
        assert!(seen.message.starts_with("input.symptoms.1: \"SNEEZE\" is not a Symptom; expected one of COUGH, "));
        let filter = r#"{ patients(filter: {careSetting: FOO}) { totalCount } }"#;
        assert_eq!(
            polished(filter, serde_json::json!({})).await,
            [input(
                Some("filter.careSetting"),
                &format!("filter.careSetting: \"FOO\" is not a CareSetting; expected one of {SETTINGS}")
            )]
        );
    }

    #[tokio::test]
    async fn a_value_of_the_wrong_type_names_its_argument_and_what_was_expected() {
        let cases = [
            (
                r#"mutation($s: CareSetting!) { setCareSetting(patientId: "1", setting: $s) { id } }"#,
                serde_json::json!({"s": 3}),
                "setting",
                format!("setting: expected a CareSetting, one of {SETTINGS}"),
            ),
            (
                r#"mutation { recordTestResult(testId: 1.5, result: POSITIVE) { id } }"#,
                serde_json::json!({}),
                "testId",
                "testId: expected an ID (a string or a whole number)".to_owned(),
            ),
            (
                r#"mutation($id: ID!) { recordTestResult(testId: $id, result: POSITIVE) { id } }"#,
                serde_json::json!({"id": true}),
                "testId",
                "testId: expected an ID (a string or a whole number)".to_owned(),
            ),
            (
                r#"mutation($b: Boolean) { recordCondition(hospitalisationId: "1", severity: MILD, icu: $b) { id } }"#,
                serde_json::json!({"b": "yes"}),
                "icu",
                "icu: expected a Boolean (true or false)".to_owned(),
            ),
            (
                r#"mutation($i: HealthReportInput!) { submitHealthReport(input: $i) { id } }"#,
                serde_json::json!({"i": {"bodyTemperature": "hot", "symptoms": []}}),
                "input.bodyTemperature",
                "input.bodyTemperature: expected a Float (a number)".to_owned(),
            ),
            (
                r#"mutation($i: HealthReportInput!) { submitHealthReport(input: $i) { id } }"#,
                serde_json::json!({"i": {"bodyTemperature": 37.0, "spo2": 99.5, "symptoms": []}}),
                "input.spo2",
                format!("input.spo2: expected {INT}"),
            ),
        ];
        for (query, variables, field, message) in cases {
            assert_eq!(polished(query, variables).await, [input(Some(field), &message)], "{query}");
        }
    }

    #[tokio::test]
    async fn an_int_that_is_not_one_is_named_in_both_reports_of_it() {
        // Validation refuses the value, and the complexity count of
        // `patients`, which reads `first`, refuses it a second time.
        let found = input(Some("first"), &format!("first: expected {INT}, found \"x\""));
        let literal = r#"{ patients(first: "x") { totalCount } }"#;
        assert_eq!(polished(literal, serde_json::json!({})).await, [found.clone(), found]);
        let variable = r#"query($n: Int) { patients(first: $n) { totalCount } }"#;
        let float = input(Some("first"), &format!("first: expected {INT}"));
        assert_eq!(polished(variable, serde_json::json!({"n": 1.5})).await, [float.clone(), float]);
        let string = r#"query($n: String) { patients(first: $n) { totalCount } }"#;
        let [first, second] = &polished(string, serde_json::json!({"n": "1"})).await[..] else { panic!("two errors") };
        assert_eq!(
            (first, second.field.as_deref()),
            (&input(Some("first"), &format!("first: expected {INT}, found \"1\"")), Some("first"))
        );
    }

    #[tokio::test]
    async fn an_int_out_of_range_is_named_by_the_path_or_by_the_document() {
        // An argument the complexity count does not read is refused when
        // its field runs, at the field's path.
        let expected = input(Some("expectedVersion"), &format!("expectedVersion: expected {INT}"));
        let executed =
            r#"mutation { setCareSetting(patientId: "1", setting: HOME, expectedVersion: 99999999999) { id } }"#;
        assert_eq!(polished(executed, serde_json::json!({})).await, [expected]);
        // Refused by the complexity count, with neither a path nor the
        // argument's name: only the document tells.
        let counted = r#"{ p: patients(first: 99999999999) { totalCount } }"#;
        let (alone, with_document) = run(counted, serde_json::json!({})).await;
        assert_eq!(alone, [input(None, &format!("expected {INT}"))]);
        assert_eq!(with_document, [input(Some("first"), &format!("first: expected {INT}"))]);
        let variable = r#"query($n: Int, $a: String) { patients(first: $n, after: $a) { totalCount } }"#;
        let (_, with_document) = run(variable, serde_json::json!({"n": 99999999999i64, "a": "x"})).await;
        assert_eq!(with_document, [input(Some("first"), &format!("first: expected {INT}"))]);
    }

    #[tokio::test]
    async fn a_date_or_date_time_that_does_not_parse_names_its_argument() {
        let date = "birthDate: must be a date written YYYY-MM-DD, e.g. 2020-05-29";
        let literal = r#"mutation { patientLogin(smartphoneId: "x", birthDate: "2020-13-01") { token } }"#;
        assert_eq!(polished(literal, serde_json::json!({})).await, [input(Some("birthDate"), date)]);
        let variable = r#"mutation($d: Date!) { patientLogin(smartphoneId: "x", birthDate: $d) { token } }"#;
        assert_eq!(polished(variable, serde_json::json!({"d": "2020-13-01"})).await, [input(Some("birthDate"), date)]);
        let number = r#"mutation { patientLogin(smartphoneId: "x", birthDate: 20200101) { token } }"#;
        assert_eq!(
            polished(number, serde_json::json!({})).await,
            [input(
                Some("birthDate"),
                "birthDate: expected a Date written YYYY-MM-DD, e.g. 2020-05-29, found 20200101"
            )]
        );
        let inside = r#"mutation { registerPatient(input: {caseType: CONFIRMED, nameKanji: "a", nameKana: "ア", sex: MALE, birthDate: "1980-13-01"}) { id } }"#;
        assert_eq!(
            polished(inside, serde_json::json!({})).await,
            [input(Some("input.birthDate"), "input.birthDate: must be a date written YYYY-MM-DD, e.g. 2020-05-29")]
        );
        let moment = r#"mutation { recordTestResult(testId: "1", result: POSITIVE, resultedAt: "yesterday") { id } }"#;
        assert_eq!(
            polished(moment, serde_json::json!({})).await,
            [input(
                Some("resultedAt"),
                "resultedAt: input contains invalid characters; expected a DateTime in RFC 3339, e.g. \
                 2020-05-29T09:30:00+09:00"
            )]
        );
    }

    #[tokio::test]
    async fn an_aliased_field_is_found_through_the_document() {
        let query = r#"mutation { signIn: patientLogin(smartphoneId: "x", birthDate: "2020-13-01") { token } }"#;
        let (alone, with_document) = run(query, serde_json::json!({})).await;
        assert_eq!(alone, [input(None, "must be a date written YYYY-MM-DD, e.g. 2020-05-29")]);
        assert_eq!(
            with_document,
            [input(Some("birthDate"), "birthDate: must be a date written YYYY-MM-DD, e.g. 2020-05-29")]
        );
    }

    #[tokio::test]
    async fn missing_and_unknown_arguments_and_input_fields_are_named() {
        let missing = r#"mutation { registerPatient { id } }"#;
        assert_eq!(
            polished(missing, serde_json::json!({})).await,
            [input(Some("input"), "input: registerPatient requires a value of type RegisterPatientInput!")]
        );
        let missing = r#"mutation { recordTestResult(result: POSITIVE) { id } }"#;
        assert_eq!(
            polished(missing, serde_json::json!({})).await,
            [input(Some("testId"), "testId: recordTestResult requires a value of type ID!")]
        );
        let register = r#"mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { id } }"#;
        let without_kana = serde_json::json!({"i": {"caseType": "CONFIRMED", "nameKanji": "a", "sex": "MALE", "birthDate": "1980-01-01"}});
        assert_eq!(
            polished(register, without_kana).await,
            [input(Some("input.nameKana"), "input.nameKana: a value of type String! is required")]
        );
        let unknown = r#"mutation { registerPatient(input: {caseType: CONFIRMED, nameKanji: "a", nameKana: "ア", sex: MALE, birthDate: "1980-01-01", bogus: 1}) { id } }"#;
        let [seen] = &polished(unknown, serde_json::json!({})).await[..] else { panic!("one error") };
        assert_eq!(seen.field.as_deref(), Some("input.bogus"));
        assert!(
            seen.message.starts_with(
                "input.bogus: RegisterPatientInput has no field bogus; its fields are caseType, nameKanji, "
            ),
            "{}",
            seen.message
        );
        let not_an_object = serde_json::json!({"i": "x"});
        assert_eq!(
            polished(register, not_an_object).await,
            [input(Some("input"), "input: expected a RegisterPatientInput object, found \"x\"")]
        );
    }

    #[tokio::test]
    async fn a_variable_without_a_value_is_named() {
        let query = r#"mutation($s: CareSetting!) { setCareSetting(patientId: "1", setting: $s) { id } }"#;
        assert_eq!(
            polished(query, serde_json::json!({})).await,
            [input(None, "$s: the variable has no value and no default")]
        );
        let query = r#"query($n: Int!) { patients(first: $n) { totalCount } }"#;
        assert_eq!(
            polished(query, serde_json::json!({})).await,
            [input(None, "$n: the variable has no value and no default")]
        );
    }

    #[tokio::test]
    async fn a_syntax_error_is_one_line_with_its_place_and_what_was_expected() {
        let cases = [
            ("{ me { id }", "syntax error at line 1, column 12: expected a field or a fragment"),
            ("query {", "syntax error at line 1, column 8: expected a field or a fragment"),
            (
                r#"query { patient(id: "1") { id } } }"#,
                "syntax error at line 1, column 35: expected the end of the document or a definition (an operation or a \
                 fragment)",
            ),
            ("query {\n  patient(id: $) { id }\n}", "syntax error at line 2, column 16: expected a name"),
            ("", "syntax error at line 1, column 1: expected a definition (an operation or a fragment)"),
        ];
        for (query, message) in cases {
            assert_eq!(polished(query, serde_json::json!({})).await, [input(None, message)], "{query:?}");
        }
        // Without its location the diagram still gives the place.
        let mut error = ServerError::new(" --> 3:4\n  |\n3 | x\n  |    ^---\n  |\n  = expected name", None);
        polish_errors(types(), std::slice::from_mut(&mut error));
        assert_eq!(seen(&error), input(None, "syntax error at line 3, column 4: expected a name"));
    }

    #[tokio::test]
    async fn other_validation_errors_keep_their_words_and_are_the_clients_input() {
        for (query, message) in [
            (r#"{ patient(id: "1") { nope } }"#, r#"Unknown field "nope" on type "Patient"."#),
            (
                r#"{ patients(bogus: 1) { totalCount } }"#,
                r#"Unknown argument "bogus" on field "patients" of type "Query"."#,
            ),
        ] {
            assert_eq!(polished(query, serde_json::json!({})).await, [input(None, message)]);
        }
    }

    #[test]
    fn limits_are_query_too_complex() {
        let mut errors = vec![
            ServerError::new("Query is too complex.", None),
            ServerError::new("Query is nested too deep.", None),
            ServerError::new("The recursion depth of the query cannot be greater than `32`", None),
        ];
        polish_errors(types(), &mut errors);
        for error in &errors {
            assert_eq!(seen(error).code, "QUERY_TOO_COMPLEX");
        }
        let limits: Vec<Option<String>> = errors
            .iter()
            .map(|e| match e.extensions.as_ref().and_then(|x| x.get("limit")) {
                Some(async_graphql::Value::String(limit)) => Some(limit.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            limits,
            [Some("maxComplexity".to_owned()), Some("maxDepth".to_owned()), Some("maxRecursiveDepth".to_owned())]
        );
        assert!(errors[0].message.contains("(maxComplexity"), "{}", errors[0].message);
        assert!(errors[1].message.contains("(maxDepth)"), "{}", errors[1].message);
    }

    #[test]
    fn an_error_with_a_code_is_left_alone_and_a_field_already_set_is_kept() {
        let mut coded = ServerError::new("this patient is not within the caller's reach", None);
        coded.path = vec![async_graphql::PathSegment::Field("patient".to_owned())];
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", "FORBIDDEN");
        extensions.set("field", "id");
        coded.extensions = Some(extensions);
        let mut fielded = ServerError::new(
            r#"Invalid value for argument "setting", enumeration type "CareSetting" does not contain the value "FOO""#,
            None,
        );
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("field", "own");
        fielded.extensions = Some(extensions);
        let mut errors = vec![coded, fielded];
        polish_errors(types(), &mut errors);
        assert_eq!(
            seen(&errors[0]),
            Seen {
                code: "FORBIDDEN".to_owned(),
                field: Some("id".to_owned()),
                message: "this patient is not within the caller's reach".to_owned()
            }
        );
        assert_eq!(
            seen(&errors[1]),
            input(Some("own"), &format!("setting: \"FOO\" is not a CareSetting; expected one of {SETTINGS}"))
        );
    }

    #[test]
    fn a_resolver_error_without_a_code_is_internal_and_its_message_hidden() {
        let mut fault = ServerError::new("connection reset by peer at 10.0.0.7", None);
        fault.path = vec![async_graphql::PathSegment::Field("patients".to_owned())];
        let mut input_shaped = ServerError::new("Internal error occurred while parsing something", None);
        input_shaped.path = vec![async_graphql::PathSegment::Field("patients".to_owned())];
        let mut errors = vec![fault, input_shaped];
        polish_errors(types(), &mut errors);
        assert_eq!(
            seen(&errors[0]),
            Seen { code: "INTERNAL".to_owned(), field: None, message: "internal error".to_owned() }
        );
        assert_eq!(seen(&errors[1]), input(None, "Internal error occurred while parsing something"));
    }
}
