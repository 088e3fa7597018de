//! Response shaping: the `data` of an answer laid out as the GraphQL
//! specification lays it out, whatever order the resolvers finished in.
//!
//! async-graphql resolves the fields of an object concurrently and builds
//! the object from whatever finished first. A field whose resolver failed is
//! left out of its object instead of being `null`, an object whose every
//! field failed becomes `null` itself, and an error in a non-null field
//! stops at that field. Clients (Apollo Client, urql, Relay) read a missing
//! key as a malformed answer. [`shape_response`] walks the operation against
//! the served schema ([`TypeIndex`]) and puts every object's keys in
//! selection order, a failed field back as `null`, an object whose fields
//! all failed back as an object, and the null of a failed non-null field on
//! its nearest nullable ancestor. Errors are left as they are: async-graphql
//! already reports each one at its path.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    BaseType, Directive, DocumentOperations, ExecutableDocument, Field, FieldDefinition, OperationDefinition,
    OperationType, Selection, SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, Positioned, Response, ServerError, Value, Variables};

/// A field of an object, interface or input object, as declared.
struct FieldInfo {
    ty: Type,
    /// The arguments in declaration order (none for input fields).
    arguments: Vec<(Name, Type)>,
}

/// What the schema says about one named type.
enum Kind {
    Object(IndexMap<Name, FieldInfo>),
    Interface(IndexMap<Name, FieldInfo>),
    Union,
    Enum(Vec<String>),
    InputObject(IndexMap<Name, FieldInfo>),
    Scalar,
}

/// What the served schema says about its types, read once from its SDL.
pub struct TypeIndex {
    types: HashMap<Name, Kind>,
    /// The object types each interface and union stands for.
    possible: HashMap<Name, HashSet<Name>>,
    query: Option<Name>,
    mutation: Option<Name>,
    subscription: Option<Name>,
}

impl TypeIndex {
    /// Reads the SDL as `async_graphql::Schema::sdl()` prints it, with or
    /// without federation directives. Without a `schema { … }` block the
    /// roots are `Query`, `Mutation` and `Subscription`. An SDL that does
    /// not parse gives an empty index, with which every response is left as
    /// it is; the served schema's own SDL always parses, so the failure is
    /// logged as a fault.
    pub fn from_sdl(sdl: &str) -> TypeIndex {
        let mut index = TypeIndex {
            types: HashMap::new(),
            possible: HashMap::new(),
            query: None,
            mutation: None,
            subscription: None,
        };
        let document = match async_graphql::parser::parse_schema(sdl) {
            Ok(document) => document,
            Err(error) => {
                tracing::error!(error = %error, "the schema's SDL does not parse; responses are not shaped");
                return index;
            }
        };
        let mut schema_block = false;
        let mut implements = Vec::new();
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    // `extend schema @link(…)` of a subgraph names no roots.
                    if schema.query.is_some() || schema.mutation.is_some() || schema.subscription.is_some() {
                        schema_block = true;
                    }
                    index.query = schema.query.map(|n| n.node).or(index.query);
                    index.mutation = schema.mutation.map(|n| n.node).or(index.mutation);
                    index.subscription = schema.subscription.map(|n| n.node).or(index.subscription);
                }
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let name = definition.name.node;
                    let kind = match definition.kind {
                        TypeKind::Scalar => Kind::Scalar,
                        TypeKind::Object(object) => {
                            implements.extend(object.implements.into_iter().map(|i| (i.node, name.clone())));
                            Kind::Object(fields_of(object.fields))
                        }
                        TypeKind::Interface(interface) => Kind::Interface(fields_of(interface.fields)),
                        TypeKind::Union(union) => {
                            let members = index.possible.entry(name.clone()).or_default();
                            members.extend(union.members.into_iter().map(|m| m.node));
                            Kind::Union
                        }
                        TypeKind::Enum(enumeration) => {
                            Kind::Enum(enumeration.values.into_iter().map(|v| v.node.value.node.to_string()).collect())
                        }
                        TypeKind::InputObject(input) => Kind::InputObject(
                            input
                                .fields
                                .into_iter()
                                .map(|f| (f.node.name.node, FieldInfo { ty: f.node.ty.node, arguments: Vec::new() }))
                                .collect(),
                        ),
                    };
                    index.add(name, kind);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        for (interface, object) in implements {
            index.possible.entry(interface).or_default().insert(object);
        }
        if !schema_block {
            let named = |name: &str| Some(Name::new(name)).filter(|n| index.types.contains_key(n));
            let (query, mutation, subscription) = (named("Query"), named("Mutation"), named("Subscription"));
            (index.query, index.mutation, index.subscription) = (query, mutation, subscription);
        }
        index
    }

    /// Adds a definition; a second definition of a name (`extend type`)
    /// adds its fields or values to the first.
    fn add(&mut self, name: Name, kind: Kind) {
        match (self.types.get_mut(&name), kind) {
            (None, kind) => {
                self.types.insert(name, kind);
            }
            (Some(Kind::Object(fields)), Kind::Object(more))
            | (Some(Kind::Interface(fields)), Kind::Interface(more))
            | (Some(Kind::InputObject(fields)), Kind::InputObject(more)) => fields.extend(more),
            (Some(Kind::Enum(values)), Kind::Enum(more)) => values.extend(more),
            (Some(_), _) => {}
        }
    }

    /// The values of an enum type, in declaration order; `None` if there is
    /// no such enum.
    pub fn enum_values(&self, type_name: &str) -> Option<&[String]> {
        match self.types.get(type_name) {
            Some(Kind::Enum(values)) => Some(values),
            _ => None,
        }
    }

    /// The declared type of `field` on the object, interface or input
    /// object type `type_name`, if there is such a field.
    pub fn field_type(&self, type_name: &str, field: &str) -> Option<&Type> {
        self.field(type_name, field).map(|f| &f.ty)
    }

    /// The declared type of the argument `argument` of `field` on the
    /// object or interface type `type_name`.
    pub fn argument_type(&self, type_name: &str, field: &str, argument: &str) -> Option<&Type> {
        let field = self.field(type_name, field)?;
        field.arguments.iter().find(|(name, _)| name == argument).map(|(_, ty)| ty)
    }

    /// The arguments of `field` on `type_name`, in declaration order.
    pub(crate) fn arguments(&self, type_name: &str, field: &str) -> impl Iterator<Item = (&str, &Type)> {
        self.field(type_name, field).into_iter().flat_map(|f| f.arguments.iter().map(|(name, ty)| (name.as_str(), ty)))
    }

    /// The fields of the input object type `type_name`, in declaration
    /// order; none if it is not an input object.
    pub(crate) fn input_fields(&self, type_name: &str) -> impl Iterator<Item = (&str, &Type)> {
        let fields = match self.types.get(type_name) {
            Some(Kind::InputObject(fields)) => Some(fields),
            _ => None,
        };
        fields.into_iter().flat_map(|fields| fields.iter().map(|(name, f)| (name.as_str(), &f.ty)))
    }

    /// The root type of operations of this kind, if the schema has one.
    pub fn root(&self, operation: OperationType) -> Option<&str> {
        match operation {
            OperationType::Query => self.query.as_deref(),
            OperationType::Mutation => self.mutation.as_deref(),
            OperationType::Subscription => self.subscription.as_deref(),
        }
    }

    fn field(&self, type_name: &str, field: &str) -> Option<&FieldInfo> {
        match self.types.get(type_name)? {
            Kind::Object(fields) | Kind::Interface(fields) | Kind::InputObject(fields) => fields.get(field),
            _ => None,
        }
    }

    /// Whether a fragment on `condition` applies to an object of type
    /// `object`: it names the object's type, or an interface or union the
    /// object belongs to.
    fn applies(&self, condition: &str, object: &str) -> bool {
        condition == object || self.possible.get(condition).is_some_and(|members| members.contains(object))
    }

    /// Whether values of `type_name` are objects with fields of their own
    /// (objects, interfaces, unions), as opposed to scalars and enums.
    fn is_composite(&self, type_name: &str) -> bool {
        matches!(self.types.get(type_name), Some(Kind::Object(_) | Kind::Interface(_) | Kind::Union))
    }

    /// The name of the object type `type_name`, if it is one.
    fn object_name(&self, type_name: &str) -> Option<&str> {
        match self.types.get_key_value(type_name) {
            Some((name, Kind::Object(_))) => Some(name.as_str()),
            _ => None,
        }
    }
}

fn fields_of(fields: Vec<Positioned<FieldDefinition>>) -> IndexMap<Name, FieldInfo> {
    fields
        .into_iter()
        .map(|field| {
            let field = field.node;
            let arguments = field.arguments.into_iter().map(|a| (a.node.name.node, a.node.ty.node)).collect();
            (field.name.node, FieldInfo { ty: field.ty.node, arguments })
        })
        .collect()
}

/// Rewrites `response.data` as the specification requires: keys in
/// selection order, a field left out (because it failed) present as
/// `null`, an object whose fields all failed still an object, and the null
/// of a failed non-null field moved up to its nearest nullable ancestor
/// (the whole `data` when there is none). The operation is chosen as
/// async-graphql chooses it; a response to an operation that cannot be
/// found, or whose root type the schema lacks, is left as it is.
/// `response.errors` is not changed.
pub fn shape_response(
    types: &TypeIndex,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    response: &mut Response,
) {
    let Some(operation) = operation(document, operation_name) else { return };
    let Some(root) = types.root(operation.ty) else { return };
    let source = Source { types, document, variables };
    let mut walk = Walk { source, plans: Vec::new(), errors: ErrorPaths::of(&response.errors), path: String::new() };
    if matches!(response.data, Value::Null) && walk.errors.as_ref().is_some_and(|e| e.below.contains("")) {
        response.data = Value::Object(IndexMap::new());
    }
    let Value::Object(map) = &mut response.data else { return };
    let plan = walk.source.collect(std::iter::once(&operation.selection_set.node), root);
    walk.plans.push(plan);
    if walk.shape_object(map, 0, root) {
        response.data = Value::Null;
    }
}

/// The operation async-graphql runs: the named one, else the only one.
fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Some(&operation.node),
        // async-graphql refuses a name for a document whose one operation
        // has none.
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name).map(|o| &o.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|o| &o.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The paths of the errors, as `/a/0/b`, for the questions the walk asks:
/// is there an error at or below a position, or strictly below it.
struct ErrorPaths {
    at_or_below: HashSet<String>,
    below: HashSet<String>,
}

impl ErrorPaths {
    /// `None` when no error has a path: then no position is affected and
    /// the walk need not track where it is.
    fn of(errors: &[ServerError]) -> Option<ErrorPaths> {
        let mut paths: Option<ErrorPaths> = None;
        for error in errors.iter().filter(|e| !e.path.is_empty()) {
            let paths = paths.get_or_insert_with(|| ErrorPaths { at_or_below: HashSet::new(), below: HashSet::new() });
            let mut path = String::new();
            for segment in &error.path {
                paths.below.insert(path.clone());
                push_segment(&mut path, segment);
                paths.at_or_below.insert(path.clone());
            }
        }
        paths
    }
}

fn push_segment(path: &mut String, segment: &PathSegment) {
    path.push('/');
    match segment {
        PathSegment::Field(name) => path.push_str(name),
        PathSegment::Index(index) => {
            let _ = write!(path, "{index}");
        }
    }
}

/// What a collected field is.
#[derive(Clone, Copy)]
enum What<'a> {
    /// `__typename`: kept as it is; filled with the object's type when the
    /// object is rebuilt.
    Typename,
    /// Introspection (`__schema`, `__type`), whose types are not in the
    /// SDL, or a field the SDL does not know: kept as it is.
    Opaque,
    /// A field of the schema; `leaf` when its innermost type is a scalar or
    /// an enum, which has nothing to shape below it; `object` when it is an
    /// object type (its name, looked up once for every value at the field).
    Field { ty: &'a Type, leaf: bool, object: Option<&'a str> },
}

/// One response key of an object, with every field selected under it.
struct Entry<'a> {
    key: &'a Name,
    what: What<'a>,
    first: &'a Field,
    /// Further fields with the same response key, whose sub-selections
    /// merge with the first's; usually none, so usually no allocation.
    more: Vec<&'a Field>,
    /// The plans of the sub-selection, one per concrete type met there.
    children: Vec<(&'a str, usize)>,
}

impl<'a> Entry<'a> {
    fn selection_sets(&self) -> impl Iterator<Item = &'a SelectionSet> {
        std::iter::once(self.first).chain(self.more.iter().copied()).map(|field| &field.selection_set.node)
    }
}

/// The collected fields of a selection for one concrete type, in the order
/// the specification's CollectFields gives. A plan is made once per
/// position of the operation and type, and serves every object there (all
/// the items of a list).
struct Plan<'a> {
    entries: Vec<Entry<'a>>,
}

/// What the walk reads and never changes.
struct Source<'a> {
    types: &'a TypeIndex,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
}

impl<'a> Source<'a> {
    /// CollectFields over the selection sets of the fields sharing one
    /// response key (CollectSubfields), for an object of type `object`.
    fn collect(&self, sets: impl Iterator<Item = &'a SelectionSet>, object: &str) -> Plan<'a> {
        let mut entries = Vec::new();
        let mut visited = Vec::new();
        for set in sets {
            visited.clear();
            self.collect_into(set, object, &mut entries, &mut visited);
        }
        Plan { entries }
    }

    fn collect_into(
        &self,
        set: &'a SelectionSet,
        object: &str,
        entries: &mut Vec<Entry<'a>>,
        visited: &mut Vec<&'a Name>,
    ) {
        for selection in &set.items {
            if self.skipped(selection.node.directives()) {
                continue;
            }
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = &field.response_key().node;
                    if let Some(entry) = entries.iter_mut().find(|e| e.key == key) {
                        entry.more.push(field);
                        continue;
                    }
                    let what = match field.name.node.as_str() {
                        "__typename" => What::Typename,
                        "__schema" | "__type" => What::Opaque,
                        name => match self.types.field_type(object, name) {
                            Some(ty) => What::Field {
                                ty,
                                leaf: !self.types.is_composite(innermost(ty)),
                                object: self.types.object_name(innermost(ty)),
                            },
                            None => What::Opaque,
                        },
                    };
                    entries.push(Entry { key, what, first: field, more: Vec::new(), children: Vec::new() });
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if visited.contains(&name) {
                        continue;
                    }
                    visited.push(name);
                    let Some(fragment) = self.document.fragments.get(name) else { continue };
                    if self.types.applies(&fragment.node.type_condition.node.on.node, object) {
                        self.collect_into(&fragment.node.selection_set.node, object, entries, visited);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let applies = match &fragment.node.type_condition {
                        Some(condition) => self.types.applies(&condition.node.on.node, object),
                        None => true,
                    };
                    if applies {
                        self.collect_into(&fragment.node.selection_set.node, object, entries, visited);
                    }
                }
            }
        }
    }

    /// Whether `@skip` or `@include` leaves the selection out, decided as
    /// async-graphql decides it (it removes such selections before running
    /// the operation, and the shape must match what ran): the `if` argument
    /// is a literal or a variable of the request; a variable the request
    /// does not carry counts as false, whatever default its definition
    /// gives, and so does any value that is not a Boolean.
    fn skipped(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().any(|directive| {
            let include = match directive.node.name.node.as_str() {
                "skip" => false,
                "include" => true,
                _ => return false,
            };
            let Some(condition) = directive.node.get_argument("if") else { return false };
            let value = condition.node.clone().into_const_with(|name| self.variables.get(&name).cloned().ok_or(()));
            include != matches!(value, Ok(Value::Boolean(true)))
        })
    }

    /// The concrete type of an object at a union or interface position,
    /// from its `__typename` (under that key or an alias), if selected and
    /// one of the abstract type's members.
    fn concrete_type(&self, abstract_type: &str, map: &IndexMap<Name, Value>, entry: &Entry<'a>) -> Option<&'a str> {
        let named = match map.get("__typename") {
            Some(Value::String(name)) => Some(name.as_str()),
            _ => {
                let mut keys = Vec::new();
                for set in entry.selection_sets() {
                    self.typename_keys(set, &mut keys, &mut Vec::new());
                }
                keys.iter().find_map(|key| match map.get(*key) {
                    Some(Value::String(name)) => Some(name.as_str()),
                    _ => None,
                })
            }
        }?;
        let (name, kind) = self.types.types.get_key_value(named)?;
        (matches!(kind, Kind::Object(_)) && self.types.applies(abstract_type, name)).then_some(name.as_str())
    }

    /// The concrete type of an object at a union or interface position
    /// without its `__typename`: the one member whose selection has every
    /// key the object has (`node { nodeId ... on Patient { id nameKanji } }`
    /// answered with `id` can only be a patient). None when several fit.
    fn only_fitting(&self, abstract_type: &str, map: &IndexMap<Name, Value>, entry: &Entry<'a>) -> Option<&'a str> {
        let mut fitting = None;
        for member in self.types.possible.get(abstract_type)? {
            let plan = self.collect(entry.selection_sets(), member);
            if map.keys().all(|key| plan.entries.iter().any(|e| e.key == key)) {
                if fitting.is_some() {
                    return None;
                }
                fitting = Some(member);
            }
        }
        let (name, _) = self.types.types.get_key_value(fitting?)?;
        Some(name.as_str())
    }

    /// The response keys under which a selection asks for `__typename`.
    fn typename_keys(&self, set: &'a SelectionSet, keys: &mut Vec<&'a Name>, visited: &mut Vec<&'a Name>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if field.node.name.node == "__typename" => {
                    keys.push(&field.node.response_key().node);
                }
                Selection::Field(_) => {}
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if !visited.contains(&name) {
                        visited.push(name);
                        if let Some(fragment) = self.document.fragments.get(name) {
                            self.typename_keys(&fragment.node.selection_set.node, keys, visited);
                        }
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.typename_keys(&fragment.node.selection_set.node, keys, visited);
                }
            }
        }
    }
}

/// The named type inside any list and non-null wrappers.
pub(crate) fn innermost(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(item) => innermost(item),
    }
}

/// One walk over a response.
struct Walk<'a> {
    source: Source<'a>,
    /// Every plan made so far; entries refer to their children by index.
    plans: Vec<Plan<'a>>,
    errors: Option<ErrorPaths>,
    /// Where the walk is, as `/a/0/b`; kept only when `errors` is some.
    path: String,
}

impl<'a> Walk<'a> {
    /// Shapes an object of type `object` by plan `plan`; true when one of
    /// its non-null fields failed, so the object itself must become null.
    fn shape_object(&mut self, map: &mut IndexMap<Name, Value>, plan: usize, object: &'a str) -> bool {
        self.order(map, plan, object);
        for index in 0..self.plans[plan].entries.len() {
            let entry = &self.plans[plan].entries[index];
            let (key, ty, leaf) = match entry.what {
                What::Field { ty, leaf, .. } => (entry.key, ty, leaf),
                What::Typename | What::Opaque => continue,
            };
            // A scalar or enum in an answer without errors is already what
            // it should be.
            if leaf && self.errors.is_none() {
                continue;
            }
            let Some((_, value)) = map.get_index_mut(index) else { continue };
            let mark = self.enter(|path| {
                path.push('/');
                path.push_str(key);
            });
            let failed = self.shape_position(value, ty, leaf, (plan, index));
            self.path.truncate(mark);
            if failed {
                return true;
            }
        }
        false
    }

    /// Puts the object's keys in the plan's order, a missing key as null
    /// (`__typename` as the object's type). Keys the plan does not know
    /// stay, after the others. An object already in order is not touched.
    fn order(&self, map: &mut IndexMap<Name, Value>, plan: usize, object: &str) {
        let entries = &self.plans[plan].entries;
        if map.len() == entries.len() && map.keys().zip(entries).all(|(key, entry)| key == entry.key) {
            return;
        }
        let mut old = std::mem::take(map);
        let mut taken = vec![false; old.len()];
        let mut ordered = IndexMap::with_capacity(entries.len().max(old.len()));
        for entry in entries {
            let value = match old.get_index_of(entry.key) {
                Some(index) => {
                    taken[index] = true;
                    std::mem::take(&mut old[index])
                }
                None if matches!(entry.what, What::Typename) => Value::String(object.to_owned()),
                None => Value::Null,
            };
            ordered.insert(entry.key.clone(), value);
        }
        for ((key, value), taken) in old.into_iter().zip(taken) {
            if !taken {
                ordered.insert(key, value);
            }
        }
        *map = ordered;
    }

    /// Shapes the value at a position of declared type `ty`, selected by
    /// entry `at`; true when it ends up null in a non-null position because
    /// of an error at or below it, so its parent must become null too.
    fn shape_position(&mut self, value: &mut Value, ty: &'a Type, leaf: bool, at: (usize, usize)) -> bool {
        match &ty.base {
            BaseType::List(item) => {
                if let Value::List(items) = value {
                    let mut failed = false;
                    for (index, item_value) in items.iter_mut().enumerate() {
                        let mark = self.enter(|path| {
                            let _ = write!(path, "/{index}");
                        });
                        failed = self.shape_position(item_value, item, leaf, at);
                        self.path.truncate(mark);
                        if failed {
                            break;
                        }
                    }
                    if failed {
                        *value = Value::Null;
                    }
                }
            }
            BaseType::Named(name) if !leaf => self.shape_composite(value, name, at),
            BaseType::Named(_) => {}
        }
        matches!(value, Value::Null) && !ty.nullable && self.error_at_or_below()
    }

    /// Shapes an object, interface or union value.
    fn shape_composite(&mut self, value: &mut Value, type_name: &str, at: (usize, usize)) {
        let types = self.source.types;
        let known = match self.plans[at.0].entries[at.1].what {
            What::Field { object: Some(object), .. } => Some((object, None)),
            _ => types.types.get_key_value(type_name).map(|(name, kind)| (name.as_str(), Some(kind))),
        };
        let Some((name, kind)) = known else { return };
        let object = match (kind, &*value) {
            (None | Some(Kind::Object(_)), _) => name,
            // Without its `__typename` the concrete type of a value is not
            // known, and guessing could add fields it does not have.
            (Some(Kind::Interface(_) | Kind::Union), Value::Object(map)) => {
                let entry = &self.plans[at.0].entries[at.1];
                let known = self.source.concrete_type(type_name, map, entry);
                // A failed field is missing only below an error: then the
                // keys the object has may tell its type.
                match known.or_else(|| self.error_below().then(|| self.source.only_fitting(type_name, map, entry))?) {
                    Some(object) => object,
                    None => return,
                }
            }
            _ => return,
        };
        // An object is null either because it was null (its own error, or
        // a null it resolved to) or because every field it had failed;
        // only an error below it tells the second case.
        if matches!(value, Value::Null) && self.error_below() {
            *value = Value::Object(IndexMap::new());
        }
        let Value::Object(map) = value else { return };
        let plan = self.child_plan(at, object);
        if self.shape_object(map, plan, object) {
            *value = Value::Null;
        }
    }

    /// The plan of entry `at`'s sub-selection for objects of type `object`.
    fn child_plan(&mut self, (plan, index): (usize, usize), object: &'a str) -> usize {
        let entry = &self.plans[plan].entries[index];
        if let Some((_, child)) = entry.children.iter().find(|(name, _)| *name == object) {
            return *child;
        }
        let child = self.source.collect(entry.selection_sets(), object);
        let id = self.plans.len();
        self.plans.push(child);
        self.plans[plan].entries[index].children.push((object, id));
        id
    }

    /// Extends the path (only when errors are tracked); returns the length
    /// to truncate it back to.
    fn enter(&mut self, extend: impl FnOnce(&mut String)) -> usize {
        let mark = self.path.len();
        if self.errors.is_some() {
            extend(&mut self.path);
        }
        mark
    }

    fn error_at_or_below(&self) -> bool {
        self.errors.as_ref().is_some_and(|errors| errors.at_or_below.contains(&self.path))
    }

    fn error_below(&self) -> bool {
        self.errors.as_ref().is_some_and(|errors| errors.below.contains(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// The served schema's index (building the schema takes a while).
    fn types() -> &'static TypeIndex {
        static TYPES: OnceLock<TypeIndex> = OnceLock::new();
        TYPES.get_or_init(|| TypeIndex::from_sdl(&crate::graphql::build(None).sdl()))
    }

    /// An error at `path`, written `a.0.b`.
    fn error_at(path: &str) -> ServerError {
        let mut error = ServerError::new("refused", None);
        error.path = path
            .split('.')
            .map(|segment| match segment.parse() {
                Ok(index) => PathSegment::Index(index),
                Err(_) => PathSegment::Field(segment.to_owned()),
            })
            .collect();
        error
    }

    /// A value read from JSON text, its keys in the order written.
    fn value(json: &str) -> Value {
        serde_json::from_str(json).expect("JSON data")
    }

    /// Shapes `data` with errors at `errors` for `query`, and returns the
    /// data as JSON text, so that comparisons include the order of keys.
    fn shaped_with(query: &str, variables: serde_json::Value, data: &str, errors: &[&str]) -> String {
        let document = async_graphql::parser::parse_query(query).expect("a valid document");
        let mut response = Response::new(value(data));
        response.errors = errors.iter().map(|path| error_at(path)).collect();
        let before: Vec<_> = response.errors.iter().map(|e| e.path.clone()).collect();
        shape_response(types(), &document, None, &Variables::from_json(variables), &mut response);
        let after: Vec<_> = response.errors.iter().map(|e| e.path.clone()).collect();
        assert_eq!(before, after, "errors are left as they are");
        serde_json::to_string(&response.data).expect("serialisable data")
    }

    fn shaped(query: &str, data: &str, errors: &[&str]) -> String {
        shaped_with(query, serde_json::json!({}), data, errors)
    }

    #[test]
    fn the_index_reads_types_fields_enums_and_roots_of_the_served_schema() {
        let types = types();
        let setting = types.enum_values("CareSetting").expect("an enum");
        assert_eq!(setting, ["UNDECIDED", "HOSPITAL", "ACCOMMODATION", "HOME", "NONE"]);
        assert!(types.enum_values("Patient").is_none());
        let ty = |t: &str, f: &str| types.field_type(t, f).map(ToString::to_string);
        assert_eq!(ty("Query", "patient").as_deref(), Some("Patient"));
        assert_eq!(ty("PatientConnection", "nodes").as_deref(), Some("[Patient!]!"));
        assert_eq!(ty("Query", "_entities").as_deref(), Some("[_Entity]!"));
        assert_eq!(ty("RegisterPatientInput", "birthDate").as_deref(), Some("Date!"));
        assert_eq!(ty("Patient", "nope"), None);
        assert_eq!(
            types.argument_type("Mutation", "setCareSetting", "setting").map(ToString::to_string).as_deref(),
            Some("CareSetting!")
        );
        assert_eq!(types.root(OperationType::Mutation), Some("Mutation"));
        assert!(types.applies("_Entity", "Patient"));
        assert!(!types.applies("_Entity", "Account"));
    }

    #[test]
    fn the_index_reads_a_subgraph_sdl_with_federation_directives_and_no_schema_block() {
        let types = TypeIndex::from_sdl(&crate::graphql::subgraph_sdl());
        assert_eq!(types.root(OperationType::Query), Some("Query"));
        assert_eq!(types.root(OperationType::Subscription), Some("Subscription"));
        assert_eq!(types.field_type("Patient", "id").map(ToString::to_string).as_deref(), Some("ID!"));
    }

    #[test]
    fn a_field_that_failed_is_null_in_its_place_in_every_item() {
        let data = r#"{"patients": {"nodes": [{"id": "1", "ageBand": "AGE_40_TO_49"}, {"ageBand": "AGE_20_TO_29", "id": "2"}]}}"#;
        assert_eq!(
            shaped(
                "{ patients { nodes { id nameKanji ageBand } } }",
                data,
                &["patients.nodes.0.nameKanji", "patients.nodes.1.nameKanji"]
            ),
            r#"{"patients":{"nodes":[{"id":"1","nameKanji":null,"ageBand":"AGE_40_TO_49"},{"id":"2","nameKanji":null,"ageBand":"AGE_20_TO_29"}]}}"#
        );
    }

    #[test]
    fn an_object_whose_every_field_failed_is_an_object_of_nulls() {
        assert_eq!(
            shaped(r#"{ a: patient(id: "1") { nameKanji } }"#, r#"{"a": null}"#, &["a.nameKanji"]),
            r#"{"a":{"nameKanji":null}}"#
        );
        // `__typename` never fails; a rebuilt object has its type there.
        assert_eq!(
            shaped(r#"{ a: patient(id: "1") { __typename nameKanji } }"#, r#"{"a": null}"#, &["a.nameKanji"]),
            r#"{"a":{"__typename":"Patient","nameKanji":null}}"#
        );
        // With every root field failed, async-graphql answers `data: null`.
        assert_eq!(
            shaped(r#"{ patient(id: "1") { nameKanji } }"#, "null", &["patient.nameKanji"]),
            r#"{"patient":{"nameKanji":null}}"#
        );
    }

    #[test]
    fn an_object_that_failed_itself_stays_null() {
        assert_eq!(shaped(r#"{ patient(id: "1") { id } }"#, "null", &["patient"]), r#"{"patient":null}"#);
        assert_eq!(shaped(r#"{ patient(id: "1") { id } }"#, r#"{"patient": null}"#, &[]), r#"{"patient":null}"#);
    }

    #[test]
    fn keys_come_in_selection_order() {
        let data = r#"{"patient": { "id": "1", "outcome": null, "nameKanji": "山田", "hospitalisations": [{"id": "7"}], "tests": [{"id": "3"}]}}"#;
        assert_eq!(
            shaped(r#"{ patient(id: "1") { tests { id } id outcome hospitalisations { id } nameKanji } }"#, data, &[]),
            r#"{"patient":{"tests":[{"id":"3"}],"id":"1","outcome":null,"hospitalisations":[{"id":"7"}],"nameKanji":"山田"}}"#
        );
    }

    #[test]
    fn aliases_are_the_keys() {
        let data = r#"{"second": {"kana": "ヤマダ"}, "first": {"b": "1"}}"#;
        assert_eq!(
            shaped(
                r#"{ first: patient(id: "1") { b: id a: nameKanji } second: patient(id: "2") { name: nameKanji kana: nameKana } }"#,
                data,
                &["first.a", "second.name"]
            ),
            r#"{"first":{"b":"1","a":null},"second":{"name":null,"kana":"ヤマダ"}}"#
        );
    }

    #[test]
    fn fragments_and_inline_fragments_collect_in_order_where_their_type_applies() {
        let query = r#"
            query { patient(id: "1") { ...Names id ... on _Entity { ageBand } ... on Facility { code } ... { sex } } }
            fragment Names on Patient { nameKana nameKanji }
        "#;
        let data = r#"{"patient": {"sex": "MALE", "id": "1", "ageBand": "AGE_20_TO_29", "nameKanji": "山田"}}"#;
        assert_eq!(
            shaped(query, data, &["patient.nameKana"]),
            r#"{"patient":{"nameKana":null,"nameKanji":"山田","id":"1","ageBand":"AGE_20_TO_29","sex":"MALE"}}"#
        );
    }

    #[test]
    fn skip_and_include_decide_with_literals_and_variables() {
        let query = r#"query($yes: Boolean!, $no: Boolean!) { patient(id: "1") {
            id @skip(if: true) nameKanji @include(if: false) nameKana @include(if: $yes) sex @skip(if: $no)
            ... on Patient @include(if: $no) { ageBand } ageBand2: ageBand @skip(if: $yes)
        } }"#;
        let data = r#"{"patient": {"sex": "MALE"}}"#;
        assert_eq!(
            shaped_with(query, serde_json::json!({"yes": true, "no": false}), data, &["patient.nameKana"]),
            r#"{"patient":{"nameKana":null,"sex":"MALE"}}"#
        );
    }

    #[test]
    fn an_include_whose_variable_is_not_sent_leaves_the_field_out_as_async_graphql_does() {
        let query = r#"query($with: Boolean = true) { patient(id: "1") { id nameKanji @include(if: $with) } }"#;
        let data = r#"{"patient": {"id": "1"}}"#;
        assert_eq!(shaped(query, data, &["patient.other"]), r#"{"patient":{"id":"1"}}"#);
    }

    #[test]
    fn fields_with_the_same_key_merge_their_selections() {
        let query =
            r#"{ patient(id: "1") { tests { id } id tests { resultedAt id } ... on Patient { tests { result } } } }"#;
        let data = r#"{"patient": {"id": "1", "tests": [{"result": "POSITIVE", "id": "3"}, {"resultedAt": null, "result": "NEGATIVE", "id": "4"}]}}"#;
        assert_eq!(
            shaped(query, data, &["patient.tests.0.resultedAt"]),
            r#"{"patient":{"tests":[{"id":"3","resultedAt":null,"result":"POSITIVE"},{"id":"4","resultedAt":null,"result":"NEGATIVE"}],"id":"1"}}"#
        );
        // A failed non-null `result` in one of them nulls the non-null list,
        // and so the nullable patient.
        let data = r#"{"patient": {"id": "1", "tests": [{"resultedAt": null, "id": "3"}]}}"#;
        assert_eq!(shaped(query, data, &["patient.tests.0.result"]), r#"{"patient":null}"#);
    }

    #[test]
    fn a_failed_non_null_root_field_makes_data_null() {
        assert_eq!(shaped("{ me { id } }", "null", &["me"]), "null");
        assert_eq!(shaped("{ me { id } prefectures { id } }", r#"{"prefectures": []}"#, &["me"]), "null");
        // A non-null field below, failed: `Account.id` nulls `me`, which
        // nulls the data.
        assert_eq!(shaped("{ me { id role } }", r#"{"me": {"role": "PATIENT"}}"#, &["me.id"]), "null");
    }

    #[test]
    fn a_failed_non_null_field_makes_its_nearest_nullable_parent_null() {
        let data = r#"{"patient": {"id": "1"}, "prefectures": []}"#;
        assert_eq!(
            shaped(r#"{ patient(id: "1") { id sex } prefectures { id } }"#, data, &["patient.sex"]),
            r#"{"patient":null,"prefectures":[]}"#
        );
    }

    #[test]
    fn a_failed_non_null_list_item_nulls_the_list_up_to_the_nearest_nullable_parent() {
        let data = r#"{"patient": {"id": "1", "tests": [{"id": "3", "kind": "PCR"}, {"id": "4"}]}}"#;
        assert_eq!(
            shaped(r#"{ patient(id: "1") { id tests { id kind } } }"#, data, &["patient.tests.1.kind"]),
            r#"{"patient":null}"#
        );
        // Through `[Patient!]!` and `PatientConnection!` up to the root.
        let data = r#"{"patients": {"nodes": [{"id": "1"}]}}"#;
        assert_eq!(shaped("{ patients { nodes { id sex } } }", data, &["patients.nodes.0.sex"]), "null");
    }

    #[test]
    fn a_nullable_list_item_takes_the_null_itself() {
        let query = r#"{ _entities(representations: [{__typename: "Patient", id: "1"}, {__typename: "Patient", id: "2"}]) {
            __typename ... on Patient { id sex }
        } }"#;
        let data = r#"{"_entities": [{"__typename": "Patient", "id": "1"}, {"sex": "FEMALE", "__typename": "Patient", "id": "2"}, null]}"#;
        assert_eq!(
            shaped(query, data, &["_entities.0.sex", "_entities.2"]),
            r#"{"_entities":[null,{"__typename":"Patient","id":"2","sex":"FEMALE"},null]}"#
        );
    }

    #[test]
    fn a_union_value_without_its_typename_is_left_as_it_is() {
        let query =
            r#"{ _entities(representations: [{__typename: "Patient", id: "1"}]) { ... on Patient { id nameKanji } } }"#;
        let data = r#"{"_entities": [{"nameKanji": "山田", "id": "1"}, null]}"#;
        assert_eq!(
            shaped(query, data, &["_entities.1.nameKanji"]),
            r#"{"_entities":[{"nameKanji":"山田","id":"1"},null]}"#
        );
        // Without `__typename`, a key only one member selects names it;
        // when several members fit, the object is left as it is.
        let query = r#"{ node(nodeId: "x") { nodeId ... on Patient { id nameKanji } } }"#;
        assert_eq!(
            shaped(query, r#"{"node": {"id": "1", "nodeId": "x"}}"#, &["node.nameKanji"]),
            r#"{"node":{"nodeId":"x","id":"1","nameKanji":null}}"#
        );
        assert_eq!(shaped(query, r#"{"node": {"nodeId": "x"}}"#, &["node.nameKanji"]), r#"{"node":{"nodeId":"x"}}"#);
        // An aliased `__typename` names the type as well.
        let query = r#"{ _entities(representations: [{__typename: "Patient", id: "1"}]) { t: __typename ... on Patient { id nameKanji } } }"#;
        let data = r#"{"_entities": [{"id": "1", "t": "Patient"}]}"#;
        assert_eq!(
            shaped(query, data, &["_entities.0.nameKanji"]),
            r#"{"_entities":[{"t":"Patient","id":"1","nameKanji":null}]}"#
        );
    }

    #[test]
    fn a_null_in_a_non_null_place_without_an_error_is_left_alone() {
        let data = r#"{"patient": {"sex": null, "id": "1"}}"#;
        assert_eq!(shaped(r#"{ patient(id: "1") { id sex } }"#, data, &[]), r#"{"patient":{"id":"1","sex":null}}"#);
    }

    #[test]
    fn an_answer_without_errors_and_in_order_is_untouched() {
        let query = r#"{ patients(first: 2) { totalCount nodes { id tests { id kind } } } __typename }"#;
        let data = r#"{"patients":{"totalCount":2,"nodes":[{"id":"1","tests":[]},{"id":"2","tests":[{"id":"3","kind":"PCR"}]}]},"__typename":"Query"}"#;
        assert_eq!(shaped(query, data, &[]), data);
    }

    #[test]
    fn introspection_keeps_its_content_and_takes_its_place() {
        let query = "{ __typename __schema { queryType { name } } prefectures { id } }";
        let data = r#"{"prefectures": [], "__schema": {"queryType": {"name": "Query"}}, "__typename": "Query"}"#;
        assert_eq!(
            shaped(query, data, &[]),
            r#"{"__typename":"Query","__schema":{"queryType":{"name":"Query"}},"prefectures":[]}"#
        );
    }

    #[test]
    fn an_operation_that_cannot_be_found_leaves_the_answer_untouched() {
        let document = async_graphql::parser::parse_query("query A { me { id } } query B { me { id } }")
            .expect("a valid document");
        let data = r#"{"me":{"role":"PATIENT"}}"#;
        for name in [None, Some("C")] {
            let mut response = Response::new(value(data));
            shape_response(types(), &document, name, &Variables::default(), &mut response);
            assert_eq!(serde_json::to_string(&response.data).expect("data"), data);
        }
        let mut response = Response::new(value(data));
        shape_response(types(), &document, Some("B"), &Variables::default(), &mut response);
        assert_eq!(serde_json::to_string(&response.data).expect("data"), r#"{"me":{"id":null,"role":"PATIENT"}}"#);
    }

    #[test]
    fn errors_without_a_path_leave_a_null_answer_null() {
        let document = async_graphql::parser::parse_query("{ me { id } }").expect("a valid document");
        let mut response = Response::from_errors(vec![ServerError::new("Query is too complex.", None)]);
        shape_response(types(), &document, None, &Variables::default(), &mut response);
        assert_eq!(response.data, Value::Null);
    }

    #[test]
    fn a_mutation_answer_is_shaped_against_the_mutation_root() {
        let query = r#"mutation { setCareSetting(patientId: "1", setting: HOME) { careSetting id } }"#;
        let data = r#"{"setCareSetting": {"id": "1", "careSetting": "HOME"}}"#;
        assert_eq!(shaped(query, data, &[]), r#"{"setCareSetting":{"careSetting":"HOME","id":"1"}}"#);
    }
}
