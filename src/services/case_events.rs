//! Counting the case events a subscriber receives: those of its audience
//! (its health centre's or prefecture's), of the asked kinds, after a
//! cursor, whose patient is within its reach now, the same row scope
//! every delivery is checked against, here as one counting statement.

use entity::{outbox_event, patient};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};

use crate::auth::Principal;
use crate::auth::policy::{self, Audience};
use crate::error::AppResult;
use crate::events::Cursor;
use crate::state::AppState;

/// How many events of `kinds` after `after` the caller receives.
pub async fn count(state: &AppState, principal: &Principal, kinds: &[&str], after: Cursor) -> AppResult<u64> {
    let audience = policy::live_audience(principal)?;
    let reached = Query::select()
        .column(patient::Column::Id)
        .from(patient::Entity)
        .cond_where(policy::patient_scope(principal))
        .to_owned();
    let later = Condition::any().add(outbox_event::Column::TxId.gt(after.tx_id)).add(
        Condition::all().add(outbox_event::Column::TxId.eq(after.tx_id)).add(outbox_event::Column::Id.gt(after.id)),
    );
    let mut select = outbox_event::Entity::find()
        .filter(outbox_event::Column::Kind.is_in(kinds.iter().copied()))
        .filter(outbox_event::Column::PatientId.in_subquery(reached))
        .filter(later);
    select = match audience {
        Audience::HealthCentre(centre) => select.filter(outbox_event::Column::HealthCentreId.eq(centre)),
        Audience::Prefecture(prefecture) => select.filter(outbox_event::Column::PrefectureId.eq(prefecture)),
    };
    Ok(select.count(&state.db).await?)
}
