//! One access line per HTTP request, at INFO with the target
//! `hersys::access`: method, path (never the query string), status,
//! duration, transport, the operation's name when the request carried one,
//! and the client's address (behind `--trust-forwarded-for`, the
//! forwarded one). Never the query text, variables, headers or tokens.
//!
//! A WebSocket's line is written when the upgrade is answered (`101`), and
//! a Server-Sent Events stream's when its first bytes are (`200`): the
//! duration is the time to open the stream, not how long it stayed open.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::HttpState;

/// The name of the operation a response answered (a batch: `batch`), put
/// in the response's extensions by the GraphQL handlers. Only a valid
/// GraphQL name (`pipeline::admission::operation_label`).
#[derive(Debug, Clone)]
pub(crate) struct Operation(pub String);

/// Longest path written: a client may send a very long one.
const MAX_PATH: usize = 256;

/// Writes the access line of every request that passes.
pub(crate) async fn log(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = bounded(request.uri().path()).to_owned();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let client = super::client_address(&state, request.headers(), peer);
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let operation = response.extensions().get::<Operation>().map(|o| o.0.as_str());
    tracing::info!(
        target: "hersys::access",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
        transport = transport(&path, &response),
        operation,
        client = client.map(tracing::field::display),
        "access"
    );
    response
}

/// What carried the request: `http`, `sse`, or a WebSocket's sub-protocol
/// (`graphql-transport-ws`, or `graphql-ws` when none was agreed).
fn transport(path: &str, response: &Response) -> &'static str {
    match path {
        "/graphql/stream" => "sse",
        "/graphql/ws" if response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS => {
            match response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.as_bytes()) {
                Some(b"graphql-transport-ws") => "graphql-transport-ws",
                _ => "graphql-ws",
            }
        }
        "/graphql/ws" => "websocket",
        _ => "http",
    }
}

/// The first `MAX_PATH` bytes of a path, cut at a character boundary.
fn bounded(path: &str) -> &str {
    if path.len() <= MAX_PATH {
        return path;
    }
    let mut end = MAX_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("/graphql"), "/graphql");
        let long = format!("/{}", "あ".repeat(200));
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_PATH && long.starts_with(cut));
    }
}
