//! The health centre's day: case events of every kind (the payload of the
//! `caseEvents` subscription), the work queue they make (`workQueue`, a
//! connection with counts) and the actions on its items (acknowledge,
//! assign, done, reopen), which the centre's other staff see live.

use std::sync::Arc;

use async_graphql::{Context, Enum, EnumType, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::care::LabTest;
use super::context::{signed_in, state};
use super::follow_up::{EmergencySign, HealthReport};
use super::pages::{PageInfo, decode_kind_cursor, encode_kind_cursor, page_size_or_count};
use super::patients::Patient;
use super::scalars::Date;
use crate::error::AppError;
use crate::events::{self, CaseEvent as Loaded, Cursor};
use crate::services::parse_id;
use crate::services::work_queue::{self, Action, Closure, ItemState, QueueFilter};

/// What happened to a case that its health centre acts on or is told of.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CaseEventKind {
    /// A new positive result (陽性).
    PositiveResult,
    /// A positive whose care setting is still undecided (療養先調整中) the
    /// configured time after the result.
    UndecidedPositive,
    /// A health report with one of the national emergency signs
    /// (緊急性の高い症状).
    EmergencySigns,
    /// A health report past a warning threshold (SpO2, temperature) or
    /// markedly worse than the patient's previous one.
    WarningSigns,
    /// A patient in care who had not reported by the configured time of day
    /// (未報告).
    NotReported,
    /// A case transferred into the caller's health centre (移管).
    TransferIn,
    /// A close contact handed over to the caller's health centre.
    ContactHandedOver,
    /// A facility's notification (発生届) waiting for the centre's
    /// acceptance (`acceptNotification`), found by the watch.
    NotificationReceived,
    /// A case in home or accommodation care whose release (療養解除) is due
    /// under the rule of its onset date, found by the watch.
    ReleaseDue,
    /// Someone broke the glass to a patient of the caller's centre (health
    /// centre staff only).
    BreakGlass,
    /// A work item of the queue changed (acknowledged, assigned, done,
    /// reopened): `item` says how it stands now.
    WorkItemUpdated,
}

/// Every kind, in the order of the enumeration.
pub const ALL_KINDS: [CaseEventKind; 11] = [
    CaseEventKind::PositiveResult,
    CaseEventKind::UndecidedPositive,
    CaseEventKind::EmergencySigns,
    CaseEventKind::WarningSigns,
    CaseEventKind::NotReported,
    CaseEventKind::TransferIn,
    CaseEventKind::ContactHandedOver,
    CaseEventKind::NotificationReceived,
    CaseEventKind::ReleaseDue,
    CaseEventKind::BreakGlass,
    CaseEventKind::WorkItemUpdated,
];

impl CaseEventKind {
    /// The outbox's name of the kind.
    pub fn stored(self) -> &'static str {
        match self {
            CaseEventKind::PositiveResult => events::POSITIVE_RESULT,
            CaseEventKind::UndecidedPositive => events::UNDECIDED_POSITIVE,
            CaseEventKind::EmergencySigns => events::EMERGENCY_SIGNS,
            CaseEventKind::WarningSigns => events::WARNING_SIGNS,
            CaseEventKind::NotReported => events::NOT_REPORTED,
            CaseEventKind::TransferIn => events::TRANSFER_IN,
            CaseEventKind::ContactHandedOver => events::CONTACT_HANDED_OVER,
            CaseEventKind::NotificationReceived => events::NOTIFICATION_RECEIVED,
            CaseEventKind::ReleaseDue => events::RELEASE_DUE,
            CaseEventKind::BreakGlass => events::BREAK_GLASS,
            CaseEventKind::WorkItemUpdated => events::WORK_ITEM_UPDATED,
        }
    }

    fn of(stored: &str) -> Self {
        ALL_KINDS.into_iter().find(|kind| kind.stored() == stored).unwrap_or(CaseEventKind::WorkItemUpdated)
    }
}

/// Why a health report raised a warning.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WarningReason {
    /// SpO2 at or below the warning threshold.
    #[graphql(name = "LOW_SPO2")]
    LowSpo2,
    /// Body temperature at or above the warning threshold.
    HighTemperature,
    /// SpO2 three points or more below the previous report's.
    #[graphql(name = "SPO2_FALLING")]
    Spo2Falling,
    /// Shortness of breath that the previous report did not have.
    NewBreathlessness,
}

impl WarningReason {
    fn parse_stored(list: &str) -> Vec<WarningReason> {
        list.split(',')
            .filter_map(|name| WarningReason::items().iter().find(|item| item.name == name).map(|item| item.value))
            .collect()
    }
}

/// Where an item of a work queue stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WorkItemState {
    /// Nobody has acted on it yet.
    Open,
    /// Someone is on it (acknowledged or assigned).
    Acknowledged,
    /// Dealt with.
    Done,
}

impl WorkItemState {
    fn from_service(state: ItemState) -> Self {
        match state {
            ItemState::Open => WorkItemState::Open,
            ItemState::Acknowledged => WorkItemState::Acknowledged,
            ItemState::Done => WorkItemState::Done,
        }
    }

    fn to_service(self) -> ItemState {
        match self {
            WorkItemState::Open => ItemState::Open,
            WorkItemState::Acknowledged => ItemState::Acknowledged,
            WorkItemState::Done => ItemState::Done,
        }
    }
}

/// A case event: pushed by `caseEvents`, and the items of `workQueue`.
pub struct CaseEvent(pub Arc<Loaded>);

/// A case event of the caller's health centre or prefecture: what
/// happened, to whom, and where its work item stands. Field rules apply to
/// `patient` and `healthReport` as in queries.
#[Object]
impl CaseEvent {
    /// The event's cursor: pass it as `after` to `caseEvents` to resume
    /// after this event.
    async fn cursor(&self) -> String {
        Cursor::of(&self.0.event).to_string()
    }
    /// What happened.
    async fn kind(&self) -> CaseEventKind {
        CaseEventKind::of(&self.0.event.kind)
    }
    /// When it happened (was recorded, or was found by the watch).
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.event.occurred_at
    }
    /// The patient. Field rules apply here as in queries.
    async fn patient(&self) -> Patient {
        Patient(self.0.patient.clone())
    }
    /// The positive test (`POSITIVE_RESULT`, `UNDECIDED_POSITIVE`).
    async fn test(&self) -> Option<LabTest> {
        self.0.test.clone().map(LabTest)
    }
    /// The health report that raised the alert (`EMERGENCY_SIGNS`,
    /// `WARNING_SIGNS`).
    async fn health_report(&self, ctx: &Context<'_>) -> Result<Option<HealthReport>> {
        let Some(row) = self.0.report.clone() else { return Ok(None) };
        let personal = crate::auth::policy::may_read_personal(signed_in(ctx)?, &self.0.patient);
        Ok(Some(HealthReport { row, personal }))
    }
    /// The emergency signs that raised the alert (`EMERGENCY_SIGNS`).
    async fn emergency_signs(&self) -> Vec<EmergencySign> {
        match self.0.event.kind.as_str() {
            events::EMERGENCY_SIGNS => EmergencySign::parse_stored(self.0.event.detail.as_deref().unwrap_or_default()),
            _ => Vec::new(),
        }
    }
    /// Why the report raised a warning (`WARNING_SIGNS`).
    async fn warning_reasons(&self) -> Vec<WarningReason> {
        match self.0.event.kind.as_str() {
            events::WARNING_SIGNS => WarningReason::parse_stored(self.0.event.detail.as_deref().unwrap_or_default()),
            _ => Vec::new(),
        }
    }
    /// The day without a report (`NOT_REPORTED`, Japan time).
    async fn day(&self) -> Option<Date> {
        match self.0.event.kind.as_str() {
            events::NOT_REPORTED => self.0.event.detail.as_deref().and_then(|day| day.parse().ok()).map(Date),
            _ => None,
        }
    }
    /// The work item this event is (or, for `WORK_ITEM_UPDATED`, the one it
    /// changed), as it stands: for an event pushed live, as it stood when
    /// the event was sent.
    async fn item(&self) -> WorkItem {
        let item_id = self.0.event.item_event_id.unwrap_or(self.0.event.id);
        let row = self.0.item.as_ref().filter(|row| row.event_id == item_id);
        WorkItem {
            id: ID(item_id.to_string()),
            state: WorkItemState::from_service(ItemState::of(row)),
            assignee_id: row.and_then(|r| r.assignee_account_id).map(|id| ID(id.to_string())),
            updated_by_id: row.and_then(|r| r.updated_by_account_id).map(|id| ID(id.to_string())),
            updated_at: row.map(|r| r.updated_at),
            version: row.map_or(0, |r| r.version),
            closed_because: Closure::of(row).map(ItemClosure::from_service),
        }
    }
}

/// Where an item of a work queue stands.
#[derive(SimpleObject)]
pub struct WorkItem {
    /// The item's ID (its event's), for the actions.
    pub id: ID,
    /// Open, acknowledged or done.
    pub state: WorkItemState,
    /// The staff account it is assigned to (see `colleagues`).
    pub assignee_id: Option<ID>,
    /// The staff account that last acted on it; null when the gateway
    /// closed it (see `closedBecause`).
    pub updated_by_id: Option<ID>,
    /// When someone, or the gateway, last acted on it.
    pub updated_at: Option<DateTime<Utc>>,
    /// Its version: 0 until someone acts on it; pass it as
    /// `expectedVersion` to act only on what you saw.
    pub version: i32,
    /// Why the gateway marked it done by itself, the cause of the item
    /// having ended; null when staff acted on it last.
    pub closed_because: Option<ItemClosure>,
}

/// Why the gateway closed a work item: its cause ended. Items that need a
/// person (a new positive, an alert, a transfer in, a contact handed over,
/// a break-glass access) are never closed by the gateway, nor is an item
/// that staff reopened.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ItemClosure {
    /// The care setting of an undecided positive was decided.
    CareSettingDecided,
    /// The patient not reported sent a health report.
    Reported,
    /// The notification to accept was accepted or returned.
    NotificationDecided,
    /// The case ended (an outcome was recorded, or the record closed or
    /// withdrawn).
    CaseEnded,
}

impl ItemClosure {
    fn from_service(closure: Closure) -> Self {
        match closure {
            Closure::CareSettingDecided => ItemClosure::CareSettingDecided,
            Closure::Reported => ItemClosure::Reported,
            Closure::NotificationDecided => ItemClosure::NotificationDecided,
            Closure::CaseEnded => ItemClosure::CaseEnded,
        }
    }
}

/// A page of a work queue, newest first (Relay connection), with the
/// count of the whole queue under the same filter.
pub struct CaseEventConnection {
    events: Vec<CaseEvent>,
    has_next_page: bool,
    has_previous_page: bool,
    filter: QueueFilter,
}

/// A page of a work queue, newest first (Relay connection).
#[Object]
impl CaseEventConnection {
    /// The items of the page, each with its cursor.
    async fn edges(&self) -> Vec<CaseEventEdge> {
        self.events.iter().map(|event| CaseEventEdge(CaseEvent(event.0.clone()))).collect()
    }
    /// The items of the page.
    async fn nodes(&self) -> Vec<CaseEvent> {
        self.events.iter().map(|event| CaseEvent(event.0.clone())).collect()
    }
    /// Pagination state.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.events.first().map(|event| encode_kind_cursor("item", event.0.event.id)),
            end_cursor: self.events.last().map(|event| encode_kind_cursor("item", event.0.event.id)),
        }
    }
    /// How many items the queue holds under the filter (all pages). Costs
    /// one counting statement, run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(work_queue::count(state(ctx), signed_in(ctx)?, &self.filter).await?)
    }
}

/// An item of a work queue with its cursor.
pub struct CaseEventEdge(CaseEvent);

/// An item of a work queue with its cursor.
#[Object]
impl CaseEventEdge {
    /// Opaque cursor of the item; pass it as `after`.
    async fn cursor(&self) -> String {
        encode_kind_cursor("item", self.0.0.event.id)
    }
    /// The item.
    async fn node(&self) -> CaseEvent {
        CaseEvent(self.0.0.clone())
    }
}

/// A staff member of the caller's health centre, to assign items to.
#[derive(SimpleObject)]
pub struct Colleague {
    /// The account's ID.
    pub id: ID,
    /// The account's username.
    pub username: String,
}

/// The stored kinds a `kinds` argument (`field`) names, in a stable order
/// without repeats; `all` when it is omitted; refused when empty.
pub(super) fn named_kinds(
    kinds: Option<Vec<CaseEventKind>>,
    all: impl IntoIterator<Item = &'static str>,
    field: &str,
) -> Result<Vec<&'static str>, AppError> {
    let mut stored: Vec<&'static str> = match kinds {
        None => all.into_iter().collect(),
        Some(kinds) if kinds.is_empty() => {
            return Err(AppError::bad_input(field, "must name at least one kind (omit it for every kind)"));
        }
        Some(kinds) => kinds.into_iter().map(CaseEventKind::stored).collect(),
    };
    stored.sort_unstable();
    stored.dedup();
    Ok(stored)
}

/// The kinds a queue argument names (every kind of work item when
/// omitted), refused when one is not a kind of work item.
fn queue_kinds(kinds: Option<Vec<CaseEventKind>>, field: &str) -> Result<Vec<&'static str>, AppError> {
    let stored = named_kinds(kinds, work_queue::QUEUE_KINDS, field)?;
    if let Some(other) = stored.iter().find(|kind| !work_queue::is_queue_kind(kind)) {
        return Err(AppError::bad_input(field, format!("{other} is not a kind of work item")));
    }
    Ok(stored)
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct WorkQuery;

#[Object]
impl WorkQuery {
    /// The caller's work queue, newest first (Relay connection): the case
    /// events of the caller's health centre (health centre staff) or of
    /// the centres of the caller's prefecture (prefecture staff, to see
    /// where work piles up) that need someone to act, with where each
    /// stands. Only patients within the caller's reach; open and
    /// acknowledged items by default. `first: 0` answers `totalCount`
    /// alone, so a dashboard counts each queue in one query with aliases.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn work_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only these kinds; every kind of work item when omitted.")] kinds: Option<Vec<CaseEventKind>>,
        #[graphql(desc = "Only items in these states; open and acknowledged when omitted.")] states: Option<
            Vec<WorkItemState>,
        >,
        #[graphql(desc = "Only the items assigned to this staff account.")] assignee_id: Option<ID>,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<CaseEventConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let kinds = queue_kinds(kinds, "kinds")?;
        let states = match states {
            None => vec![ItemState::Open, ItemState::Acknowledged],
            Some(states) if states.is_empty() => {
                return Err(AppError::bad_input(
                    "states",
                    "must name at least one state (omit it for open and acknowledged)",
                )
                .into());
            }
            Some(states) => states.into_iter().map(WorkItemState::to_service).collect(),
        };
        let assignee = assignee_id.map(|id| parse_id(&id, "assigneeId")).transpose()?;
        let first = page_size_or_count(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("item", c, "after")).transpose()?;
        let filter = QueueFilter { kinds, states, assignee };
        let (events, has_next_page) = if first == 0 {
            (Vec::new(), work_queue::count(state, principal, &filter).await? > 0)
        } else {
            work_queue::list(state, principal, &filter, after, first).await?
        };
        Ok(CaseEventConnection {
            events: events.into_iter().map(|event| CaseEvent(Arc::new(event))).collect(),
            has_next_page,
            has_previous_page: after.is_some(),
            filter,
        })
    }

    /// The active staff accounts of the caller's health centre, to assign
    /// work items to (health centre staff only).
    async fn colleagues(&self, ctx: &Context<'_>) -> Result<Vec<Colleague>> {
        let principal = signed_in(ctx)?;
        let accounts = work_queue::colleagues(state(ctx), principal).await?;
        Ok(accounts.into_iter().map(|(id, username)| Colleague { id: ID(id.to_string()), username }).collect())
    }
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct WorkMutation;

#[Object]
impl WorkMutation {
    /// Acknowledges an item of the caller's centre's queue: someone is on
    /// it. Audited; the centre's other staff see it live
    /// (`WORK_ITEM_UPDATED`). Answers the item as it now stands.
    async fn acknowledge_work_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item (`item.id`).")] id: ID,
        #[graphql(desc = "The item's `version` as you saw it; a later change is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<CaseEvent> {
        act(ctx, &id, Action::Acknowledge, expected_version).await
    }

    /// Assigns an item to a staff member of the caller's centre (see
    /// `colleagues`), or to the caller with their own ID; it is then
    /// acknowledged. Audited and seen live, as `acknowledgeWorkItem`.
    async fn assign_work_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item (`item.id`).")] id: ID,
        #[graphql(desc = "The staff account to assign it to.")] account_id: ID,
        #[graphql(desc = "The item's `version` as you saw it; a later change is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<CaseEvent> {
        let account = parse_id(&account_id, "accountId")?;
        act(ctx, &id, Action::Assign(account), expected_version).await
    }

    /// Marks an item done: it leaves the open queue of every staff member
    /// of the centre. Audited and seen live, as `acknowledgeWorkItem`.
    async fn complete_work_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item (`item.id`).")] id: ID,
        #[graphql(desc = "The item's `version` as you saw it; a later change is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<CaseEvent> {
        act(ctx, &id, Action::Done, expected_version).await
    }

    /// Opens an item again (done too early, or by mistake), unassigned.
    /// Audited and seen live, as `acknowledgeWorkItem`.
    async fn reopen_work_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item (`item.id`).")] id: ID,
        #[graphql(desc = "The item's `version` as you saw it; a later change is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<CaseEvent> {
        act(ctx, &id, Action::Reopen, expected_version).await
    }
}

async fn act(ctx: &Context<'_>, id: &ID, action: Action, expected_version: Option<i32>) -> Result<CaseEvent> {
    let principal = signed_in(ctx)?;
    let id = parse_id(id, "id")?;
    let event = work_queue::act(state(ctx), principal, id, action, expected_version).await?;
    Ok(CaseEvent(Arc::new(event)))
}
