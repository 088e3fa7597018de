//! The in-browser IDE at `GET /graphql`: GraphiQL, built from npm
//! (`web/ide`) and embedded in the binary, so that the page loads its
//! script and stylesheet from the gateway itself and nothing from another
//! origin, on a closed network as on the internet. A strict
//! Content-Security-Policy holds the page to that: scripts, styles and
//! connections (HTTP and WebSocket) to this origin only, fonts and
//! pictures inlined, no frames, no forms, no inline script.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;

/// The page's script and stylesheet, as `web/ide` builds them.
const SCRIPT: &[u8] = include_bytes!("ide/ide.js");
const STYLESHEET: &[u8] = include_bytes!("ide/ide.css");

/// What the IDE's page may load and talk to: its own origin.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                          font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                          frame-ancestors 'none'";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HER-SYS GraphQL</title>
<link rel="stylesheet" href="/ide/ide.css">
</head>
<body>
<div id="graphiql"></div>
<script src="/ide/ide.js"></script>
</body>
</html>
"#;

/// `GET /graphql`: the page.
pub async fn page(State(state): State<HttpState>) -> Response {
    if !state.app.config.ide {
        return (StatusCode::NOT_FOUND, "this page is switched off\n").into_response();
    }
    let mut response = PAGE.into_response();
    protect(response.headers_mut(), "text/html; charset=utf-8", POLICY);
    response
}

/// The tags of the embedded files, computed once.
static SCRIPT_TAG: LazyLock<HeaderValue> = LazyLock::new(|| tag_of(SCRIPT));
static STYLESHEET_TAG: LazyLock<HeaderValue> = LazyLock::new(|| tag_of(STYLESHEET));

/// `GET /ide/ide.js`.
pub async fn script(State(state): State<HttpState>, request: HeaderMap) -> Response {
    asset(state.app.config.ide, &request, (SCRIPT, &SCRIPT_TAG), "text/javascript; charset=utf-8", POLICY)
}

/// `GET /ide/ide.css`.
pub async fn stylesheet(State(state): State<HttpState>, request: HeaderMap) -> Response {
    asset(state.app.config.ide, &request, (STYLESHEET, &STYLESHEET_TAG), "text/css; charset=utf-8", POLICY)
}

/// An embedded file of a page (the IDE's, the console's) with its tag,
/// revalidated on every load (a new build serves its new files at once;
/// an unchanged one answers 304); 404 when the page is switched off.
pub(super) fn asset(
    enabled: bool,
    request: &HeaderMap,
    (body, tag): (&'static [u8], &HeaderValue),
    media: &'static str,
    policy: &'static str,
) -> Response {
    if !enabled {
        return (StatusCode::NOT_FOUND, "this page is switched off\n").into_response();
    }
    let unchanged = request.get(header::IF_NONE_MATCH) == Some(tag);
    let mut response = if unchanged { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let headers = response.headers_mut();
    protect(headers, media, policy);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, tag.clone());
    response
}

/// The headers of every response of an embedded page: its media type and
/// the page's policy.
pub(super) fn protect(headers: &mut HeaderMap, media: &'static str, policy: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A tag that changes with the file's content: FNV-1a over it, quoted.
pub(super) fn tag_of(bytes: &[u8]) -> HeaderValue {
    let hash =
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    HeaderValue::from_str(&format!("\"{hash:016x}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}
