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
use crate::error::AppResult;
use crate::services::publication;
use crate::services::statistics::indicators::files;
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

/// Publications kept: the six files of about ten days.
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

/// The files served.
#[derive(Debug, Clone, Copy)]
enum FileKind {
    /// A daily series per prefecture.
    Series(OpenDataSeries),
    /// `unknown_route_share_weekly.csv`.
    UnknownRouteWeekly,
    /// `stage_indicators_daily.csv`.
    StageIndicators,
}

impl FileKind {
    fn of(name: &str) -> Option<Self> {
        match name {
            UNKNOWN_ROUTE => Some(FileKind::UnknownRouteWeekly),
            STAGE => Some(FileKind::StageIndicators),
            _ => OpenDataSeries::of_file(name).map(FileKind::Series),
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            FileKind::Series(series) => series.file_name(),
            FileKind::UnknownRouteWeekly => UNKNOWN_ROUTE,
            FileKind::StageIndicators => STAGE,
        }
    }

    async fn compute(self, db: &sea_orm::DatabaseConnection, moment: DateTime<Utc>) -> AppResult<String> {
        match self {
            FileKind::Series(series) => {
                let counts = statistics::by_day_and_prefecture(db, series, moment).await?;
                Ok(statistics::open_data_csv(&counts, moment, series.is_stock()))
            }
            FileKind::UnknownRouteWeekly => files::unknown_route_weekly(db, moment).await,
            FileKind::StageIndicators => files::stage_indicators_daily(db, moment).await,
        }
    }
}

const UNKNOWN_ROUTE: &str = "unknown_route_share_weekly.csv";
const STAGE: &str = "stage_indicators_daily.csv";

/// `GET /opendata/{file}`.
pub async fn file(
    State(state): State<HttpState>,
    Path(file): Path<String>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let Some(kind) = FileKind::of(&file) else {
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
    let name = kind.file_name();
    let body = match state.opendata.get(moment, name) {
        Some(body) => body,
        None => match state
            .app
            .replicas
            .as_of(&state.app.db, moment, |db| async move { kind.compute(&db, moment).await })
            .await
        {
            Ok(body) => {
                let body: Arc<str> = body.into();
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
