//! The one place that decides who may read and do what. Resolvers and
//! services ask these functions; nothing else matches on a role (a test
//! says so).
//!
//! - `rows`: the patients a caller reaches, as a SQL condition on
//!   `patients` (care relationships, plus the patients of the caller's
//!   open break-glass accesses), and the narrower scope writes use.
//! - `fields`: for a row the caller reached, whether the personal fields
//!   (names, birth date, contacts, smartphone IDs, free-text notes) are
//!   shown or refused with `FORBIDDEN`.
//! - `acts`: every change to a case (`may_act`), and who registers, tests
//!   and reports, for which facility.
//! - `live`: who receives which live events, on which channel.
//! - `figures`: the area of the statistics a caller sees, and who reads
//!   reference lists.
//! - `operators`: what only system administrators do (accounts, service
//!   accounts, the audit log, the review of break-glass accesses).
//!
//! The read half is the table in docs/authorisation.md (`auth::matrix`).

mod acts;
mod fields;
mod figures;
mod live;
mod operators;
mod rows;

pub use acts::*;
pub use fields::*;
pub use figures::*;
pub use live::*;
pub use operators::*;
pub use rows::*;
