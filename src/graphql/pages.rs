//! Relay pages: `PageInfo`, opaque cursors and page sizes, shared by every
//! connection of the API.

use async_graphql::{Result, SimpleObject};
use base64::Engine;

use crate::error::AppError;

/// Pagination state of a connection (Relay).
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow `endCursor`.
    pub has_next_page: bool,
    /// Whether items precede `startCursor` (true when `after` was given).
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page; pass it as `after`.
    pub end_cursor: Option<String>,
}

/// The cursor of row `id` in a list of `kind` (opaque to clients).
pub fn encode_kind_cursor(kind: &str, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The row ID of a cursor of a list of `kind`.
pub fn decode_kind_cursor(kind: &str, cursor: &str, field: &str) -> std::result::Result<i64, AppError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(kind)?.strip_prefix(':')?.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_input(field, "is not a cursor returned by this list"))
}

/// A page size argument, refused outside 1 to `max`.
pub fn page_size(first: Option<i32>, default: u64, max: u64) -> Result<u64, AppError> {
    match first {
        None => Ok(default.min(max)),
        Some(n) if n >= 1 && (n as u64) <= max => Ok(n as u64),
        Some(_) => Err(AppError::bad_input("first", format!("must be between 1 and {max}"))),
    }
}

/// A page size argument of a connection with `totalCount`: 0 asks for the
/// count alone (no items; `hasNextPage` says whether any match), 1 to
/// `max` for a page; anything else is refused.
pub fn page_size_or_count(first: Option<i32>, default: u64, max: u64) -> Result<u64, AppError> {
    if first == Some(0) {
        return Ok(0);
    }
    page_size(first, default, max)
        .map_err(|_| AppError::bad_input("first", format!("must be between 0 (the count alone) and {max}")))
}

/// Most items a list of a patient's record (tests, stays, health reports,
/// calls, visits, transfers) or of a stay (conditions) answers: its latest
/// ones, in the list's order. It is also the weight of such a list in the
/// complexity count when `last` is not given.
pub const MAX_RECORD_LIST: usize = 100;

/// How many items a list of a record answers: `last` (1 to
/// [`MAX_RECORD_LIST`]), or the maximum.
pub(super) fn record_list_size(last: Option<i32>) -> std::result::Result<usize, AppError> {
    match last {
        None => Ok(MAX_RECORD_LIST),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_RECORD_LIST).contains(n))
            .ok_or_else(|| AppError::bad_input("last", format!("must be between 1 and {MAX_RECORD_LIST}"))),
    }
}

/// The complexity of a list of a record: its items' cost times `last` (at
/// most the maximum: a larger one is refused when the field resolves), or
/// times the maximum.
pub(super) fn record_list_cost(last: Option<i32>, child: usize) -> usize {
    let last = last.map(|n| n.min(i32::try_from(MAX_RECORD_LIST).unwrap_or(i32::MAX)));
    super::limits::list_cost(last, MAX_RECORD_LIST, child)
}

/// The last `count` of `rows`, in their order.
pub(super) fn latest<T>(mut rows: Vec<T>, count: usize) -> std::vec::IntoIter<T> {
    let skip = rows.len().saturating_sub(count);
    rows.drain(..skip);
    rows.into_iter()
}

/// A page of a list in the order of row ID (Relay connection): the staff
/// accounts, the organisations, the facilities.
#[derive(async_graphql::SimpleObject)]
#[graphql(
    concrete(name = "StaffAccountConnection", params(super::accounts::StaffAccount)),
    concrete(name = "OrganisationConnection", params(super::organisations::Organisation)),
    concrete(name = "FacilityConnection", params(super::organisations::Facility))
)]
pub struct IdConnection<T: async_graphql::OutputType>
where
    IdEdge<T>: async_graphql::OutputType,
{
    /// The page's items with their cursors.
    pub edges: Vec<IdEdge<T>>,
    /// The page's items.
    pub nodes: Vec<T>,
    /// Pagination state.
    pub page_info: PageInfo,
    /// How many items the whole list holds under the same arguments (all
    /// pages). Costs one counting statement, run only when selected.
    pub total_count: u64,
}

/// An item of a list in the order of row ID, with its cursor.
#[derive(async_graphql::SimpleObject)]
#[graphql(
    concrete(name = "StaffAccountEdge", params(super::accounts::StaffAccount)),
    concrete(name = "OrganisationEdge", params(super::organisations::Organisation)),
    concrete(name = "FacilityEdge", params(super::organisations::Facility))
)]
pub struct IdEdge<T: async_graphql::OutputType> {
    /// Opaque cursor of the item; pass it as `after`.
    pub cursor: String,
    /// The item.
    pub node: T,
}

/// The page a field of an [`IdConnection`] asks for: `first` (1 to the
/// server's maximum, `default` when absent, 0 for the count alone) after
/// the cursor `after` of a list of `kind`, counted when `totalCount` is
/// selected.
pub(super) fn id_page_request(
    ctx: &async_graphql::Context<'_>,
    kind: &str,
    first: Option<i32>,
    after: Option<&str>,
    default: u64,
) -> Result<crate::services::IdPageRequest, AppError> {
    let max = super::context::state(ctx).config.max_page_size;
    Ok(crate::services::IdPageRequest {
        first: page_size_or_count(first, default, max)?,
        after: after.map(|cursor| decode_kind_cursor(kind, cursor, "after")).transpose()?,
        count: ctx.look_ahead().field("totalCount").exists(),
    })
}

impl<T: async_graphql::OutputType + Clone> IdConnection<T>
where
    IdEdge<T>: async_graphql::OutputType,
{
    /// The connection of `page`, the rows of a list of `kind` after
    /// `request.after`, each row `id_of` and made an item by `item`.
    pub(super) fn new<M>(
        kind: &str,
        page: crate::services::IdPage<M>,
        request: crate::services::IdPageRequest,
        id_of: impl Fn(&M) -> i64,
        item: impl Fn(M) -> T,
    ) -> Self {
        let cursors: Vec<String> = page.rows.iter().map(|row| encode_kind_cursor(kind, id_of(row))).collect();
        let nodes: Vec<T> = page.rows.into_iter().map(item).collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: request.after.is_some(),
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        };
        let edges =
            cursors.into_iter().zip(nodes.iter().cloned()).map(|(cursor, node)| IdEdge { cursor, node }).collect();
        IdConnection { edges, nodes, page_info, total_count: page.total.unwrap_or_default() }
    }
}
