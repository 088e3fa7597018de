//! The health-centre console at `GET /console`: a page built from npm
//! (`web/console`) and embedded in the binary like the IDE, under the same
//! policy, so that it works on a closed network and talks to this origin
//! alone (`POST /graphql` and `/graphql/ws`). It holds no secret of its
//! own: staff sign in with their accounts, and every rule of the gateway
//! applies to what it shows.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::ide::{POLICY, asset, protect, tag_of};

const SCRIPT: &[u8] = include_bytes!("console/console.js");
const STYLESHEET: &[u8] = include_bytes!("console/console.css");

const PAGE: &str = r#"<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HER-SYS 保健所コンソール</title>
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<div id="console"></div>
<script src="/console/console.js"></script>
</body>
</html>
"#;

static SCRIPT_TAG: LazyLock<HeaderValue> = LazyLock::new(|| tag_of(SCRIPT));
static STYLESHEET_TAG: LazyLock<HeaderValue> = LazyLock::new(|| tag_of(STYLESHEET));

/// `GET /console`: the page.
pub async fn page(State(state): State<HttpState>) -> Response {
    if !state.app.config.console {
        return (axum::http::StatusCode::NOT_FOUND, "this page is switched off\n").into_response();
    }
    let mut response = PAGE.into_response();
    protect(response.headers_mut(), "text/html; charset=utf-8", POLICY);
    response
}

/// `GET /console/console.js`.
pub async fn script(State(state): State<HttpState>, request: HeaderMap) -> Response {
    asset(state.app.config.console, &request, (SCRIPT, &SCRIPT_TAG), "text/javascript; charset=utf-8", POLICY)
}

/// `GET /console/console.css`.
pub async fn stylesheet(State(state): State<HttpState>, request: HeaderMap) -> Response {
    asset(state.app.config.console, &request, (STYLESHEET, &STYLESHEET_TAG), "text/css; charset=utf-8", POLICY)
}
