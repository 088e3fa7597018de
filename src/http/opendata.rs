//! Open-data CSV files in the column layout of the MHLW files of the same
//! names. Public: they are counts per day and prefecture, from which no one
//! can be identified.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::HttpState;
use crate::services::statistics::{self, OpenDataSeries};

#[derive(Debug, serde::Deserialize)]
pub struct Params {
    /// The moment the figures are computed as of (RFC 3339); now by default.
    #[serde(rename = "asOf")]
    as_of: Option<DateTime<Utc>>,
}

/// `GET /opendata/{file}`.
pub async fn file(
    State(state): State<HttpState>,
    Path(file): Path<String>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let Some(series) = OpenDataSeries::of_file(&file) else {
        return (StatusCode::NOT_FOUND, "no such open-data file\n").into_response();
    };
    let Ok(Query(params)) = params else {
        return (StatusCode::BAD_REQUEST, "asOf must be an RFC 3339 moment, e.g. 2022-02-01T00:00:00Z\n")
            .into_response();
    };
    let as_of = match statistics::as_of(&state.app, params.as_of) {
        Ok(as_of) => as_of,
        Err(_) => return (StatusCode::BAD_REQUEST, "asOf must not be in the future\n").into_response(),
    };
    match statistics::by_day_and_prefecture(&state.app.db, series, as_of).await {
        Ok(counts) => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
            statistics::open_data_csv(&counts, as_of, series.is_stock()),
        )
            .into_response(),
        Err(error) => {
            let error: async_graphql::Error = error.into();
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", error.message)).into_response()
        }
    }
}
