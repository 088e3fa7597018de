//! Open-data CSV files in the column layout of the MHLW files of the same
//! names. Public: they are counts per day and prefecture, from which no one
//! can be identified, and they are as of a publication moment (the day's
//! configured time, Japan time), never an arbitrary second: `asOf` picks
//! the publication at or before it. Each publication's file is computed
//! once and kept.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::HttpState;
use crate::services::publication;
use crate::services::statistics::{self, OpenDataSeries};

#[derive(Debug, serde::Deserialize)]
pub struct Params {
    /// A moment (RFC 3339); the file is as of the publication at or before
    /// it. The latest publication by default.
    #[serde(rename = "asOf")]
    as_of: Option<DateTime<Utc>>,
}

/// A file of one publication: its moment and name.
type Publication = (DateTime<Utc>, &'static str);

/// Files already computed, by series and publication moment.
#[derive(Debug, Default)]
pub struct Publications {
    files: Mutex<BTreeMap<Publication, Arc<str>>>,
}

/// Publications kept: the four files of a couple of weeks.
const KEPT: usize = 64;

impl Publications {
    fn get(&self, moment: DateTime<Utc>, file: &'static str) -> Option<Arc<str>> {
        self.files.lock().ok()?.get(&(moment, file)).cloned()
    }

    fn keep(&self, moment: DateTime<Utc>, file: &'static str, body: Arc<str>) {
        if let Ok(mut files) = self.files.lock() {
            files.insert((moment, file), body);
            // The oldest publications go first.
            while files.len() > KEPT {
                files.pop_first();
            }
        }
    }
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
    let requested = match statistics::as_of(&state.app, params.as_of) {
        Ok(as_of) => as_of,
        Err(_) => return (StatusCode::BAD_REQUEST, "asOf must not be in the future\n").into_response(),
    };
    let time = state.app.config.publication_time;
    let moment = publication::at_or_before(requested, time);
    let name = series.file_name();
    let body =
        match state.opendata.get(moment, name) {
            Some(body) => body,
            None => match state
                .app
                .replicas
                .as_of(&state.app.db, moment, |db| async move {
                    statistics::by_day_and_prefecture(&db, series, moment).await
                })
                .await
            {
                Ok(counts) => {
                    let body: Arc<str> = statistics::open_data_csv(&counts, moment, series.is_stock()).into();
                    state.opendata.keep(moment, name, body.clone());
                    body
                }
                Err(error) => {
                    tracing::error!(code = error.code(), "an open-data file could not be computed");
                    return (StatusCode::INTERNAL_SERVER_ERROR, "the file could not be computed; retry later\n")
                        .into_response();
                }
            },
        };
    // The latest publication may be cached until the next one; an earlier
    // one never changes.
    let now = state.app.now();
    let next = publication::next_after(now, time);
    let latest = moment == publication::at_or_before(now, time);
    let max_age = if latest { (next - now).num_seconds().max(0) } else { 86_400 * 365 };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, format!("public, max-age={max_age}")),
            (header::LAST_MODIFIED, moment.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        ],
        body.to_string(),
    )
        .into_response()
}
