//! Errors as GraphQL shows them: the message, and `extensions.code` (with
//! `field`, `limit` and `retryAfterSeconds` where they apply). The one
//! conversion from `AppError`.

use async_graphql::ErrorExtensions;

use crate::error::AppError;

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        error.log_fault();
        let code = error.code();
        let field = error.field().map(str::to_owned);
        let limit = error.limit();
        let retry_after = error.retry_after();
        let candidates: Option<Vec<String>> = error.candidates().map(|ids| ids.iter().map(i64::to_string).collect());
        async_graphql::Error::new(error.message()).extend_with(|_, extensions| {
            extensions.set("code", code);
            if let Some(field) = field {
                extensions.set("field", field);
            }
            if let Some(limit) = limit {
                extensions.set("limit", limit);
            }
            if let Some(seconds) = retry_after {
                extensions.set("retryAfterSeconds", seconds);
            }
            if let Some(candidates) = &candidates {
                extensions.set("candidates", candidates.clone());
            }
        })
    }
}
