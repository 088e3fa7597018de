//! Object identification (Relay): the `Node` interface and `node(nodeId:)`.
//!
//! The public `id` of each type is its row number, unique only within the
//! type (the contract fixes it). So a node's global identity is a second
//! field, `nodeId`: an opaque string naming the type and the row. `node`
//! reads it back through the same resolution as the federation's
//! `_entities` (`federation::by_key`): the caller's row scope, field rules
//! and read audit apply to a node exactly as to the type's own root field.

use async_graphql::{Context, ID, Interface, Object, Result};
use base64::Engine;

use super::care::{Hospitalisation, LabTest};
use super::context::signed_in;
use super::federation::{Entity, by_key};
use super::organisations::{Facility, HealthCentre, Prefecture};
use super::patients::Patient;
use crate::error::AppError;

/// The types a `nodeId` can name: the entities of the subgraph.
const TYPES: [&str; 6] = ["Patient", "LabTest", "Hospitalisation", "HealthCentre", "Facility", "Prefecture"];

/// An object with a global identity (Relay's object identification, with
/// the identity in `nodeId` because `id` is unique only within a type).
// Each value lives only while its node is resolved, as with `_Entity`.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(
    name = "node_id",
    ty = "ID",
    desc = "Global identity of the object: opaque, unique across every type; pass it to `node`."
))]
pub enum Node {
    Patient(Patient),
    LabTest(LabTest),
    Hospitalisation(Hospitalisation),
    HealthCentre(HealthCentre),
    Facility(Facility),
    Prefecture(Prefecture),
}

/// The `nodeId` of row `id` of type `typename`.
pub fn node_id(typename: &str, id: impl std::fmt::Display) -> ID {
    ID(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{typename}:{id}")))
}

/// The type and row a `nodeId` names, or why it names none.
fn decode(node_id: &str) -> Result<(&'static str, String), AppError> {
    let refused = || AppError::bad_input("nodeId", "is not a nodeId returned by this server");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(node_id.trim()).map_err(|_| refused())?;
    let text = String::from_utf8(bytes).map_err(|_| refused())?;
    let (typename, id) = text.split_once(':').ok_or_else(refused)?;
    let typename = TYPES.iter().find(|known| **known == typename).ok_or_else(refused)?;
    let row = id.parse::<i64>().ok().filter(|row| *row > 0 && !id.starts_with('+')).ok_or_else(refused)?;
    Ok((typename, row.to_string()))
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object a `nodeId` names, under the caller's row scope and field
    /// rules; null when nothing the caller may reach has it (as
    /// `patient(id:)`). A `nodeId` not made by this server is refused.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's `nodeId`.")] node_id: ID,
    ) -> Result<Option<Node>> {
        signed_in(ctx)?;
        let (typename, id) = decode(&node_id)?;
        let found = match by_key(ctx, typename, Some(id), None).await {
            Some(found) => found,
            None => return Err(AppError::bad_input("nodeId", "is not a nodeId returned by this server").into()),
        };
        match found {
            Ok(entity) => Ok(Some(match entity {
                Entity::Patient(v) => Node::Patient(v),
                Entity::LabTest(v) => Node::LabTest(v),
                Entity::Hospitalisation(v) => Node::Hospitalisation(v),
                Entity::HealthCentre(v) => Node::HealthCentre(v),
                Entity::Facility(v) => Node::Facility(v),
                Entity::Prefecture(v) => Node::Prefecture(v),
            })),
            // Absent and out of reach look alike: no answer tells a caller
            // that a record it may not see exists.
            Err(AppError::Forbidden(_) | AppError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, node_id};

    #[test]
    fn a_node_id_names_its_type_and_row_and_nothing_else_passes() {
        let id = node_id("Patient", 42);
        assert_eq!(decode(&id).ok(), Some(("Patient", "42".to_owned())));
        assert_eq!(decode(&node_id("Prefecture", 13)).ok().map(|(t, _)| t), Some("Prefecture"));
        for refused in [
            node_id("Account", 1).0,
            node_id("Patient", "x1").0,
            node_id("Patient", "").0,
            node_id("Patient", "99999999999999999999").0,
            "Patient:1".to_owned(),
            "%%%".to_owned(),
            String::new(),
        ] {
            assert!(decode(&refused).is_err(), "{refused} passed");
        }
    }
}
