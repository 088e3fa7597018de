//! What only system administrators do.

use crate::auth::{Principal, Role};
use crate::error::AppError;

/// Who reviews break-glass accesses: system administrators. Health centres
/// see those to their own patients.
pub fn may_review_break_glass(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::SystemAdmin => Ok(()),
        _ => Err(AppError::forbidden("break-glass accesses are reviewed by system administrators")),
    }
}

/// A system administrator acting as a person (never through an API key:
/// a key never makes accounts or keys), answered with the account that
/// acts; otherwise `FORBIDDEN` saying that only administrators `manage`.
pub fn administrator(principal: &Principal, manage: &str) -> Result<i64, AppError> {
    match (principal.role, principal.account_id, &principal.key) {
        (Role::SystemAdmin, Some(account_id), None) => Ok(account_id),
        _ => Err(AppError::forbidden(format!("only system administrators manage {manage}"))),
    }
}

/// Who manages staff accounts (creates, disables, enables, assigns):
/// system administrators, and their provisioning scripts' API keys within
/// the keys' scope. Decisions that need a second person
/// (`approveAccountChange`) take [`administrator`] instead.
pub fn may_manage_accounts(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::SystemAdmin => Ok(()),
        _ => Err(AppError::forbidden("only system administrators manage accounts")),
    }
}

/// Who reads the audit log: system administrators (and their monitoring
/// scripts' API keys).
pub fn may_read_audit_log(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::SystemAdmin => Ok(()),
        _ => Err(AppError::forbidden("only system administrators read the audit log")),
    }
}

/// Which break-glass accesses a caller lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakGlassListing {
    /// Every one (administrators, who review them).
    All,
    /// Those to the patients of this health centre.
    OfHealthCentre(i64),
}

/// Which break-glass accesses the caller may list.
pub fn break_glass_listing(principal: &Principal) -> Result<BreakGlassListing, AppError> {
    match (principal.role, principal.health_centre_id) {
        (Role::SystemAdmin, _) => Ok(BreakGlassListing::All),
        (Role::HealthCentreStaff, Some(centre)) => Ok(BreakGlassListing::OfHealthCentre(centre)),
        _ => Err(AppError::forbidden(
            "break-glass accesses are listed for system administrators and the patients' health centres",
        )),
    }
}

/// Who manages reference data (creates and changes health centres and
/// facilities, and their organisations): system administrators (and the
/// operator on the command line, who is no caller). The lists themselves
/// are read by every staff role.
pub fn may_manage_reference_data(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::SystemAdmin => Ok(()),
        _ => Err(AppError::forbidden("health centres and facilities are managed by system administrators")),
    }
}
