//! The one error type of the gateway: what a client can see, with its
//! code. It knows nothing of GraphQL; `graphql::error` turns it into a
//! GraphQL error with `extensions.code`.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql turns
//! anything displayable into an error without a code, so a bare `?` on a
//! displayable error would silently lose the code. With no `Display`, the
//! only way out of a resolver is the `From<AppError>` in `graphql::error`,
//! which always sets `extensions.code` (and `extensions.field` where a
//! field is at fault).

/// Every failure a client can see. Each variant's doc says how it appears.
#[derive(Debug)]
pub enum AppError {
    /// `UNAUTHENTICATED`: no session, or the session has ended.
    Unauthenticated(&'static str),
    /// `FORBIDDEN`: the caller is known but may not do or see this.
    Forbidden(String),
    /// `BAD_USER_INPUT`: an input value is refused; `field` names it.
    BadInput { field: String, message: String },
    /// `NOT_FOUND`: an ID names nothing the caller can reach; `field` names
    /// the argument that held it.
    NotFound { field: String, message: String },
    /// `CONFLICT`: the state of the record forbids the change, or someone
    /// else changed it first.
    Conflict(String),
    /// `RATE_LIMITED`: the caller sends, or falls behind, faster than it may.
    RateLimited(String),
    /// `RATE_LIMITED` over a bound of the server that `limit` names
    /// (`extensions.limit`), which lets the same again pass after
    /// `retry_after` seconds, when known.
    OverBound { limit: &'static str, message: String, retry_after: Option<u64> },
    /// `QUERY_TOO_COMPLEX`: the operation, or what it would answer, is over
    /// a limit of the server that `limit` names (`extensions.limit`); asking
    /// for less passes.
    TooComplex { limit: &'static str, message: String },
    /// `RATE_LIMITED` with `retryAfterSeconds`: refused for now, not for
    /// what was sent (the server's password work is saturated, or the
    /// client's address has failed to sign in too often).
    RetryLater { message: String, seconds: u64 },
    /// `INTERNAL`: a fault of the server. The cause is logged (without
    /// personal data); the client learns nothing of it.
    Internal(anyhow::Error),
    /// `UNAVAILABLE`: the database cannot be reached right now; retry
    /// shortly (`retryAfterSeconds`), this is not a bug to report.
    Unavailable,
    /// `DEADLINE_EXCEEDED`: the operation did not finish within the
    /// server's deadline and was stopped (a mutation changed nothing);
    /// retry later, or ask for less.
    DeadlineExceeded(std::time::Duration),
    /// `CONFLICT` at `input.confirmNewPerson`: the registration looks like
    /// records already in the caller's reach (`extensions.candidates`, their
    /// IDs); sent again with `confirmNewPerson: true`, it proceeds.
    DuplicateSuspected { candidates: Vec<i64> },
    /// `BAD_USER_INPUT` with the message `PersistedQueryNotFound`, which
    /// Apollo clients answer by sending the query text with its hash.
    PersistedQueryNotFound,
}

/// Every `extensions.code` a client may see (the public contract), the
/// retryable ones last.
pub const CODES: [&str; 10] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
    "INTERNAL",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
];

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput { field: field.into(), message: message.into() }
    }

    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::NotFound { field: field.into(), message: message.into() }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict(message.into())
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound { .. } => "NOT_FOUND",
            AppError::Conflict(_) | AppError::DuplicateSuspected { .. } => "CONFLICT",
            AppError::RateLimited(_) | AppError::OverBound { .. } | AppError::RetryLater { .. } => "RATE_LIMITED",
            AppError::TooComplex { .. } => "QUERY_TOO_COMPLEX",
            AppError::Internal(_) => "INTERNAL",
            AppError::Unavailable => "UNAVAILABLE",
            AppError::DeadlineExceeded(_) => "DEADLINE_EXCEEDED",
            AppError::PersistedQueryNotFound => "BAD_USER_INPUT",
        }
    }

    /// Seconds after which a retry may succeed, for the retryable errors.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::Unavailable | AppError::DeadlineExceeded(_) => Some(1),
            AppError::OverBound { retry_after, .. } => *retry_after,
            AppError::RetryLater { seconds, .. } => Some((*seconds).max(1)),
            _ => None,
        }
    }

    /// The message shown to the client.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(why) => (*why).to_owned(),
            AppError::Forbidden(message)
            | AppError::Conflict(message)
            | AppError::RateLimited(message)
            | AppError::OverBound { message, .. }
            | AppError::TooComplex { message, .. }
            | AppError::RetryLater { message, .. } => message.clone(),
            AppError::BadInput { field, message } | AppError::NotFound { field, message } => {
                format!("{field}: {message}")
            }
            AppError::Internal(_) => "internal error".to_owned(),
            AppError::Unavailable => "the database is unavailable; try again shortly".to_owned(),
            AppError::DeadlineExceeded(deadline) => format!(
                "the operation did not finish within its deadline of {} ms and was stopped (a mutation changed \
                 nothing); retry later, or ask for less, e.g. a shorter range or a smaller page",
                deadline.as_millis()
            ),
            AppError::PersistedQueryNotFound => "PersistedQueryNotFound".to_owned(),
            AppError::DuplicateSuspected { candidates } => format!(
                "input.confirmNewPerson: {} record(s) in your reach have the same name reading (or telephone number) and \
                 date of birth (extensions.candidates); if this is the same person, complete that record (or register \
                 a reinfection with previousPatientId); if not, send again with confirmNewPerson: true",
                candidates.len()
            ),
        }
    }

    /// The records a registration may duplicate.
    pub fn candidates(&self) -> Option<&[i64]> {
        match self {
            AppError::DuplicateSuspected { candidates } => Some(candidates),
            _ => None,
        }
    }

    /// The limit of the server the request is over, if it is over one.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            AppError::OverBound { limit, .. } | AppError::TooComplex { limit, .. } => Some(limit),
            _ => None,
        }
    }

    /// The argument or input field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::BadInput { field, .. } | AppError::NotFound { field, .. } => Some(field),
            AppError::DuplicateSuspected { .. } => Some("input.confirmNewPerson"),
            _ => None,
        }
    }
}

impl AppError {
    /// Logs the cause of a server fault for the operators: it is built from
    /// our own context strings and database error kinds, never from client
    /// values. Other errors are the client's and are not logged here.
    pub fn log_fault(&self) {
        if let AppError::Internal(cause) = self {
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
    }
}

/// Result of the domain services.
pub type AppResult<T> = Result<T, AppError>;
