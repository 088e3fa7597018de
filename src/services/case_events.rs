//! The case events a caller receives: those of its audience (its health
//! centre's or prefecture's), of the asked kinds, whose patient is within
//! its reach now (the same row scope every delivery is checked against),
//! as one query. The work queue lists them; the history counts them.

use entity::outbox_event;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Select};

use crate::auth::Principal;
use crate::auth::policy::{self, Audience};
use crate::error::AppResult;
use crate::events::{BREAK_GLASS, Cursor};
use crate::state::AppState;

/// `kinds` without those the caller does not receive: break-glass alerts
/// go to the patient's health centre alone.
pub fn receivable(principal: &Principal, mut kinds: Vec<&'static str>) -> Vec<&'static str> {
    if policy::may_receive_break_glass_alerts(principal).is_err() {
        kinds.retain(|kind| *kind != BREAK_GLASS);
    }
    kinds
}

/// The events of `audience` of `kinds` the caller receives, as a query.
pub fn in_reach(principal: &Principal, audience: Audience, kinds: Vec<&'static str>) -> Select<outbox_event::Entity> {
    let select = outbox_event::Entity::find()
        .filter(outbox_event::Column::Kind.is_in(receivable(principal, kinds)))
        .filter(policy::patient_id_scope(principal, outbox_event::Column::PatientId));
    match audience {
        Audience::HealthCentre(centre) => select.filter(outbox_event::Column::HealthCentreId.eq(centre)),
        Audience::Prefecture(prefecture) => select.filter(outbox_event::Column::PrefectureId.eq(prefecture)),
    }
}

/// How many events of `kinds` after `after` the caller receives.
pub async fn count(state: &AppState, principal: &Principal, kinds: &[&'static str], after: Cursor) -> AppResult<u64> {
    let audience = policy::live_audience(principal)?;
    let later = Condition::any().add(outbox_event::Column::TxId.gt(after.tx_id)).add(
        Condition::all().add(outbox_event::Column::TxId.eq(after.tx_id)).add(outbox_event::Column::Id.gt(after.id)),
    );
    Ok(in_reach(principal, audience, kinds.to_vec()).filter(later).count(&state.db).await?)
}
