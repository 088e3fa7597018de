//! A health centre's work queue: the case events its staff act on (a new
//! positive, a transfer in, a contact handed over, a health alert, a patient
//! not reported, a positive still undecided, a notification to accept, a
//! release due, a break-glass access), each an
//! item that is open until someone acknowledges it, takes it (assigned) or
//! marks it done. The items are the outbox's events, read under the row
//! scope; what staff did is a `work_items` row, audited, and announced to
//! the centre's other staff live by a `WORK_ITEM_UPDATED` event in the same
//! transaction.

use entity::{account, outbox_event, work_item};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select, Set,
};

use super::audit;
use crate::auth::Principal;
use crate::auth::policy::{self, Audience};
use crate::db::Sql;
use crate::error::{AppError, AppResult};
use crate::events::{self, CaseEvent, EventRefs};
use crate::state::AppState;

/// The kinds of events that are items of a queue.
pub const QUEUE_KINDS: [&str; 10] = [
    events::POSITIVE_RESULT,
    events::UNDECIDED_POSITIVE,
    events::EMERGENCY_SIGNS,
    events::WARNING_SIGNS,
    events::NOT_REPORTED,
    events::TRANSFER_IN,
    events::CONTACT_HANDED_OVER,
    events::NOTIFICATION_RECEIVED,
    events::RELEASE_DUE,
    events::BREAK_GLASS,
];

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Open,
    Acknowledged,
    Done,
}

impl ItemState {
    const ALL: [ItemState; 3] = [ItemState::Open, ItemState::Acknowledged, ItemState::Done];

    pub fn name(self) -> &'static str {
        match self {
            ItemState::Open => "OPEN",
            ItemState::Acknowledged => "ACKNOWLEDGED",
            ItemState::Done => "DONE",
        }
    }

    /// The state a stored row says; no row is open.
    pub fn of(item: Option<&work_item::Model>) -> Self {
        match item.map(|item| item.state.as_str()) {
            Some("ACKNOWLEDGED") => ItemState::Acknowledged,
            Some("DONE") => ItemState::Done,
            _ => ItemState::Open,
        }
    }
}

/// Why the watch closed an item by itself: its cause ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// The care setting of an undecided positive was decided.
    CareSettingDecided,
    /// The patient not reported sent a health report.
    Reported,
    /// The notification to accept was accepted or returned.
    NotificationDecided,
    /// The case ended (an outcome, or the record closed or withdrawn).
    CaseEnded,
}

impl Closure {
    const ALL: [Closure; 4] =
        [Closure::CareSettingDecided, Closure::Reported, Closure::NotificationDecided, Closure::CaseEnded];

    /// The name stored in `work_items.closed_because`.
    pub fn name(self) -> &'static str {
        match self {
            Closure::CareSettingDecided => "CARE_SETTING_DECIDED",
            Closure::Reported => "REPORTED",
            Closure::NotificationDecided => "NOTIFICATION_DECIDED",
            Closure::CaseEnded => "CASE_ENDED",
        }
    }

    /// The closure a stored row names, if any.
    pub fn of(item: Option<&work_item::Model>) -> Option<Self> {
        let stored = item?.closed_because.as_deref()?;
        Closure::ALL.into_iter().find(|closure| closure.name() == stored)
    }
}

/// Which items a queue shows.
#[derive(Debug, Clone)]
pub struct QueueFilter {
    /// Kinds of [`QUEUE_KINDS`]; never empty.
    pub kinds: Vec<&'static str>,
    /// Never empty.
    pub states: Vec<ItemState>,
    /// Only the items assigned to this account.
    pub assignee: Option<i64>,
}

/// The queue's items for `principal` under `filter`, as a query.
fn queue(principal: &Principal, filter: &QueueFilter) -> AppResult<Select<outbox_event::Entity>> {
    let audience = policy::may_read_work_queue(principal)?;
    let mut select = super::case_events::in_reach(principal, audience, filter.kinds.clone());
    let stored: Vec<&str> = filter.states.iter().map(|state| state.name()).collect();
    let others: Vec<&str> =
        ItemState::ALL.iter().map(|state| state.name()).filter(|state| !stored.contains(state)).collect();
    // The audience's own items only: an item is its event's, kept with the
    // event's centre, so the set read stays the size of one queue however
    // many centres there are.
    let of_audience = match audience {
        Audience::HealthCentre(centre) => work_item::Column::HealthCentreId.eq(centre),
        Audience::Prefecture(prefecture) => work_item::Column::HealthCentreId.in_subquery(
            Query::select()
                .column(entity::health_centre::Column::Id)
                .from(entity::health_centre::Entity)
                .and_where(entity::health_centre::Column::PrefectureId.eq(prefecture))
                .to_owned(),
        ),
    };
    let rows_in = |states: Vec<&str>| {
        Query::select()
            .column(work_item::Column::EventId)
            .from(work_item::Entity)
            .and_where(of_audience.clone())
            .and_where(work_item::Column::State.is_in(states))
            .to_owned()
    };
    // An event without a row is open.
    select = if filter.states.contains(&ItemState::Open) {
        if others.is_empty() {
            select
        } else {
            select.filter(outbox_event::Column::Id.not_in_subquery(rows_in(others)))
        }
    } else {
        select.filter(outbox_event::Column::Id.in_subquery(rows_in(stored)))
    };
    if let Some(assignee) = filter.assignee {
        let assigned = Query::select()
            .column(work_item::Column::EventId)
            .from(work_item::Entity)
            .and_where(work_item::Column::AssigneeAccountId.eq(assignee))
            .to_owned();
        select = select.filter(outbox_event::Column::Id.in_subquery(assigned));
    }
    Ok(select)
}

/// A page of the queue, newest first: up to `first` items after the item
/// `after`, and whether more follow.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: &QueueFilter,
    after: Option<i64>,
    first: u64,
) -> AppResult<(Vec<CaseEvent>, bool)> {
    let mut select = queue(principal, filter)?;
    if let Some(after) = after {
        select = select.filter(outbox_event::Column::Id.lt(after));
    }
    let mut rows = select.order_by_desc(outbox_event::Column::Id).limit(first + 1).all(&state.db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let page = events::with_rows(&state.db, rows).await?;
    Ok((page, more))
}

/// How many items the queue holds under `filter`.
pub async fn count(state: &AppState, principal: &Principal, filter: &QueueFilter) -> AppResult<u64> {
    Ok(queue(principal, filter)?.count(&state.db).await?)
}

/// What staff do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Seen, being dealt with.
    Acknowledge,
    /// Taken by (or given to) a staff member of the centre; acknowledged.
    Assign(i64),
    /// Dealt with: it leaves the open queue.
    Done,
    /// Back to open (done too early, or by mistake); unassigned.
    Reopen,
}

impl Action {
    fn audit_name(self) -> &'static str {
        match self {
            Action::Acknowledge => "ACKNOWLEDGE_WORK_ITEM",
            Action::Assign(_) => "ASSIGN_WORK_ITEM",
            Action::Done => "COMPLETE_WORK_ITEM",
            Action::Reopen => "REOPEN_WORK_ITEM",
        }
    }
}

/// Acts on the item `event_id` of the caller's queue, if it is still at
/// `expected_version` when given: records what was done and by whom,
/// audits it and tells the centre's other staff live, in one transaction.
/// Answers the item as it now stands.
pub async fn act(
    state: &AppState,
    principal: &Principal,
    event_id: i64,
    action: Action,
    expected_version: Option<i32>,
) -> AppResult<CaseEvent> {
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let not_found = || AppError::not_found("id", "no item of your health centre's queue has this ID");
    let event = outbox_event::Entity::find_by_id(event_id).one(&txn).await?.ok_or_else(not_found)?;
    if !QUEUE_KINDS.contains(&event.kind.as_str()) {
        return Err(not_found());
    }
    let account = policy::may_act_on_work_item(principal, event.health_centre_id)?;
    if !super::patients::reaches(&txn, principal, event.patient_id).await? {
        return Err(not_found());
    }
    let current = work_item::Entity::find_by_id(event.id).one(&txn).await?;
    let version = current.as_ref().map_or(0, |item| item.version);
    if let Some(expected) = expected_version
        && expected != version
    {
        return Err(AppError::Conflict(format!(
            "the item changed since you read it (version {version}, not {expected}): read it again"
        )));
    }
    let was = ItemState::of(current.as_ref());
    let assignee = match action {
        Action::Assign(to) => {
            let staff = account::Entity::find_by_id(to)
                .filter(account::Column::OrganisationId.eq(principal.organisation_id.unwrap_or_default()))
                .filter(account::Column::DisabledAt.is_null())
                .one(&txn)
                .await?;
            Some(
                staff
                    .ok_or_else(|| {
                        AppError::not_found("accountId", "no active staff account of your health centre has this ID")
                    })?
                    .id,
            )
        }
        Action::Reopen => None,
        _ => current.as_ref().and_then(|item| item.assignee_account_id),
    };
    let next = match (action, was) {
        (Action::Acknowledge | Action::Assign(_), ItemState::Done) => {
            return Err(AppError::bad_input("id", "the item is done: reopen it first"));
        }
        (Action::Reopen, ItemState::Open) => {
            return Err(AppError::bad_input("id", "the item is open already"));
        }
        (Action::Done, ItemState::Done) => return Err(AppError::bad_input("id", "the item is done already")),
        (Action::Acknowledge | Action::Assign(_), _) => ItemState::Acknowledged,
        (Action::Done, _) => ItemState::Done,
        (Action::Reopen, _) => ItemState::Open,
    };
    let row = work_item::ActiveModel {
        event_id: Set(event.id),
        health_centre_id: Set(event.health_centre_id),
        state: Set(next.name().to_owned()),
        assignee_account_id: Set(assignee),
        updated_by_account_id: Set(Some(account)),
        updated_at: Set(now),
        version: Set(version + 1),
        closed_because: Set(None),
    };
    if current.is_some() {
        // The version read under this transaction's write lock (SQLite:
        // immediate; PostgreSQL: the condition) decides who wins.
        let updated = work_item::Entity::update_many()
            .set(row)
            .filter(work_item::Column::EventId.eq(event.id))
            .filter(work_item::Column::Version.eq(version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(AppError::Conflict("the item changed meanwhile: read it again".to_owned()));
        }
    } else {
        row.insert(&txn).await.map_err(|error| {
            if crate::db::is_unique_violation(&error) {
                AppError::Conflict("the item changed meanwhile: read it again".to_owned())
            } else {
                error.into()
            }
        })?;
    }
    audit::record_detailed(
        &txn,
        principal,
        action.audit_name(),
        Some(event.patient_id),
        format!(
            "work item {} ({}): {} -> {}{}",
            event.id,
            event.kind,
            was.name(),
            next.name(),
            assignee.map(|to| format!(", assigned to account {to}")).unwrap_or_default()
        ),
        now,
    )
    .await?;
    announce(&txn, &event, next, now).await?;
    txn.commit().await?;
    tracing::info!(item = event.id, action = action.audit_name(), "work item changed");
    let mut loaded = events::with_rows(&state.db, vec![event]).await?;
    loaded.pop().ok_or_else(|| AppError::Internal(anyhow::anyhow!("work item without its rows")))
}

/// Whether `kinds` are all queue kinds (for the argument's refusal).
pub fn is_queue_kind(kind: &str) -> bool {
    QUEUE_KINDS.contains(&kind)
}

/// The active staff accounts of the caller's health centre (ID and
/// username), to assign items to.
pub async fn colleagues(state: &AppState, principal: &Principal) -> AppResult<Vec<(i64, String)>> {
    let Audience::HealthCentre(centre) = policy::may_read_work_queue(principal)? else {
        return Err(AppError::forbidden("colleagues are listed to a health centre's own staff"));
    };
    policy::may_act_on_work_item(principal, centre)?;
    Ok(account::Entity::find()
        .filter(account::Column::OrganisationId.eq(principal.organisation_id.unwrap_or_default()))
        .filter(account::Column::DisabledAt.is_null())
        .order_by_asc(account::Column::Username)
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::Username)
        .into_tuple()
        .all(&state.db)
        .await?)
}

/// Marks the item `event` done because its cause ended (`because`), unless someone acted on it meanwhile (it must still be as
/// `current` says: never acted on, or acknowledged at that version), and
/// announces the change like a staff action. Answers whether it closed it.
pub(super) async fn close_ended(
    db: &sea_orm::DatabaseConnection,
    event: &outbox_event::Model,
    current: Option<&work_item::Model>,
    because: Closure,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<bool> {
    let txn = crate::db::begin_write(db).await?;
    let row = work_item::ActiveModel {
        event_id: Set(event.id),
        health_centre_id: Set(event.health_centre_id),
        state: Set(ItemState::Done.name().to_owned()),
        assignee_account_id: Set(current.and_then(|item| item.assignee_account_id)),
        updated_by_account_id: Set(None),
        updated_at: Set(now),
        version: Set(current.map_or(0, |item| item.version) + 1),
        closed_because: Set(Some(because.name().to_owned())),
    };
    let changed = match current {
        Some(item) => {
            work_item::Entity::update_many()
                .set(row)
                .filter(work_item::Column::EventId.eq(event.id))
                .filter(work_item::Column::State.eq(ItemState::Acknowledged.name()))
                .filter(work_item::Column::Version.eq(item.version))
                .exec(&txn)
                .await?
                .rows_affected
        }
        None => {
            let insert = work_item::Entity::insert(row)
                .on_conflict(sea_orm::sea_query::OnConflict::column(work_item::Column::EventId).do_nothing().to_owned())
                .try_insert()
                .exec_without_returning(&txn)
                .await?;
            match insert {
                sea_orm::TryInsertResult::Inserted(count) => count,
                _ => 0,
            }
        }
    };
    if changed != 1 {
        return Ok(false);
    }
    announce(&txn, event, ItemState::Done, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Writes, in the transaction that changed the item `event`, the
/// `WORK_ITEM_UPDATED` event that tells the centre's staff it is now
/// `state`.
async fn announce(
    txn: &sea_orm::DatabaseTransaction,
    event: &outbox_event::Model,
    state: ItemState,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let refs =
        EventRefs { item_event_id: Some(event.id), detail: Some(state.name().to_owned()), ..EventRefs::default() };
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    events::outbox_row_with(events::WORK_ITEM_UPDATED, refs, event.patient_id, event.health_centre_id, now, backend)(
        &mut sql,
    );
    txn.execute_raw(sql.build()).await?;
    Ok(())
}
