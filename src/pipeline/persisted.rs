//! Persisted queries.
//!
//! - Automatic persisted queries (Apollo's protocol): a client sends
//!   `extensions.persistedQuery.sha256Hash`; with the query text the first
//!   time (checked against the hash and remembered), then the hash alone. An
//!   unknown hash answers the message `PersistedQueryNotFound` (code
//!   `BAD_USER_INPUT`) and the client resends the text. Saves bandwidth; any
//!   operation within the limits may run. A document is remembered only
//!   for a signed-in caller and only once it has passed admission, and the
//!   store is bounded in entries and in bytes.
//! - Safelist mode (production dashboards): only the operations of a
//!   manifest run, by hash or by identical text; anything else is refused
//!   with `FORBIDDEN` before it is parsed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_graphql::Request;
use sha2::{Digest, Sha256};

/// Most remembered automatic persisted queries; the oldest go first.
const MAX_REMEMBERED: usize = 5_000;
/// Most bytes of remembered documents; the oldest go first.
const MAX_REMEMBERED_BYTES: usize = 8 * 1024 * 1024;

/// Why a request's document could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The hash is unknown: send the text with it.
    NotFound,
    /// The hash does not match the text, or the extension is malformed.
    BadInput(&'static str),
    /// Safelist mode and not a listed operation.
    NotListed,
    /// Persisted queries are switched off.
    Unsupported,
}

/// Remembered documents by SHA-256 (hex), and the safelist if any.
#[derive(Debug, Default)]
pub struct PersistedQueries {
    enabled: bool,
    safelist: Option<std::sync::Arc<HashMap<String, String>>>,
    remembered: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    by_hash: HashMap<String, String>,
    order: VecDeque<String>,
    bytes: usize,
}

/// The SHA-256 of a document, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl PersistedQueries {
    pub fn new(enabled: bool, safelist: Option<std::sync::Arc<HashMap<String, String>>>) -> Self {
        PersistedQueries { enabled, safelist, remembered: Mutex::default() }
    }

    /// Fills in the request's document from its persisted-query hash, and
    /// in safelist mode refuses anything not listed. Answers the hash of a
    /// document sent with its hash for the first time: pass it to
    /// [`remember`](Self::remember) once the request has been admitted.
    pub fn resolve(&self, request: &mut Request) -> Result<Option<String>, Refusal> {
        let hash = match request.extensions.get("persistedQuery") {
            None => None,
            Some(extension) => {
                let value = extension.clone().into_json().map_err(|_| Refusal::BadInput("malformed"))?;
                let hash = value
                    .get("sha256Hash")
                    .and_then(|h| h.as_str())
                    .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or(Refusal::BadInput("sha256Hash must be 64 hexadecimal digits"))?;
                if value.get("version").and_then(|v| v.as_i64()) != Some(1) {
                    return Err(Refusal::BadInput("only version 1 is supported"));
                }
                Some(hash.to_ascii_lowercase())
            }
        };
        if let Some(safelist) = &self.safelist {
            let listed = match &hash {
                Some(hash) => safelist.get(hash),
                None => safelist.get(&sha256_hex(&request.query)),
            };
            return match listed {
                Some(document) if request.query.is_empty() || request.query == *document => {
                    request.query = document.clone();
                    Ok(None)
                }
                _ => Err(Refusal::NotListed),
            };
        }
        let Some(hash) = hash else { return Ok(None) };
        if !self.enabled {
            return Err(Refusal::Unsupported);
        }
        let Ok(remembered) = self.remembered.lock() else { return Err(Refusal::NotFound) };
        if request.query.is_empty() {
            return match remembered.by_hash.get(&hash) {
                Some(document) => {
                    request.query = document.clone();
                    Ok(None)
                }
                None => Err(Refusal::NotFound),
            };
        }
        if sha256_hex(&request.query) != hash {
            return Err(Refusal::BadInput("sha256Hash does not match the query"));
        }
        Ok((!remembered.by_hash.contains_key(&hash)).then_some(hash))
    }

    /// Remembers an admitted document under its hash (from `resolve`).
    pub fn remember(&self, hash: String, document: &str) {
        if document.len() > MAX_REMEMBERED_BYTES / 16 {
            return;
        }
        let Ok(mut remembered) = self.remembered.lock() else { return };
        if remembered.by_hash.contains_key(&hash) {
            return;
        }
        while remembered.order.len() >= MAX_REMEMBERED || remembered.bytes + document.len() > MAX_REMEMBERED_BYTES {
            let Some(oldest) = remembered.order.pop_front() else { break };
            if let Some(text) = remembered.by_hash.remove(&oldest) {
                remembered.bytes -= text.len();
            }
        }
        remembered.bytes += document.len();
        remembered.by_hash.insert(hash.clone(), document.to_owned());
        remembered.order.push_back(hash);
    }

    /// Remembered documents and their bytes.
    pub fn remembered(&self) -> (usize, usize) {
        self.remembered.lock().map(|r| (r.by_hash.len(), r.bytes)).unwrap_or_default()
    }
}

/// Reads an Apollo persisted-query manifest
/// (`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id","body",…}]}`)
/// into hash → document, checking that every id is its body's SHA-256.
pub fn read_manifest(text: &str) -> anyhow::Result<HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        format: String,
        version: u32,
        operations: Vec<Operation>,
    }
    #[derive(serde::Deserialize)]
    struct Operation {
        id: String,
        body: String,
    }
    let manifest: Manifest = serde_json::from_str(text)?;
    anyhow::ensure!(
        manifest.format == "apollo-persisted-query-manifest" && manifest.version == 1,
        "the safelist is not an Apollo persisted-query manifest of version 1"
    );
    let mut out = HashMap::new();
    for operation in manifest.operations {
        let id = operation.id.to_ascii_lowercase();
        anyhow::ensure!(sha256_hex(&operation.body) == id, "safelist operation {id}: the id is not its body's SHA-256");
        out.insert(id, operation.body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let extension = serde_json::json!({ "version": 1, "sha256Hash": hash });
        request
            .extensions
            .insert("persistedQuery".into(), async_graphql::Value::from_json(extension).unwrap_or_default());
        request
    }

    #[test]
    fn a_query_is_registered_by_its_text_then_runs_by_its_hash() {
        let persisted = PersistedQueries::new(true, None);
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        assert_eq!(persisted.resolve(&mut with_hash("", &hash)), Err(Refusal::NotFound));
        assert!(matches!(persisted.resolve(&mut with_hash("{ me { id } }", &hash)), Err(Refusal::BadInput(_))));
        assert_eq!(persisted.resolve(&mut with_hash(query, &hash)), Ok(Some(hash.clone())));
        // Not remembered until admitted.
        assert_eq!(persisted.resolve(&mut with_hash("", &hash)), Err(Refusal::NotFound));
        persisted.remember(hash.clone(), query);
        let mut by_hash = with_hash("", &hash);
        assert_eq!(persisted.resolve(&mut by_hash), Ok(None));
        assert_eq!(by_hash.query, query);
    }

    #[test]
    fn the_store_of_persisted_queries_is_bounded_in_bytes() {
        let persisted = PersistedQueries::new(true, None);
        let document = format!("{{ __typename {} }}", " ".repeat(250 * 1024));
        for n in 0..100 {
            let text = format!("{document} # {n}");
            persisted.remember(sha256_hex(&text), &text);
        }
        let (entries, bytes) = persisted.remembered();
        assert!(bytes <= MAX_REMEMBERED_BYTES, "{bytes}");
        assert!(entries < 100 && entries > 0, "{entries}");
    }

    #[test]
    fn safelist_mode_runs_listed_operations_only() {
        let listed = "query Dashboard { me { id } }";
        let safelist = HashMap::from([(sha256_hex(listed), listed.to_owned())]);
        let persisted = PersistedQueries::new(true, Some(std::sync::Arc::new(safelist)));
        let mut by_hash = with_hash("", &sha256_hex(listed));
        assert_eq!(persisted.resolve(&mut by_hash), Ok(None));
        assert_eq!(by_hash.query, listed);
        assert_eq!(persisted.resolve(&mut Request::new(listed)), Ok(None));
        assert_eq!(persisted.resolve(&mut Request::new("{ __typename }")), Err(Refusal::NotListed));
        // Registering a new one is not possible either.
        let other = "{ __typename }";
        assert_eq!(persisted.resolve(&mut with_hash(other, &sha256_hex(other))), Err(Refusal::NotListed));
    }

    #[test]
    fn a_manifest_whose_ids_are_not_the_hashes_is_refused() {
        let body = "query A { me { id } }";
        let good = serde_json::json!({ "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": sha256_hex(body), "name": "A", "type": "query", "body": body }] });
        assert_eq!(read_manifest(&good.to_string()).map(|m| m.len()).ok(), Some(1));
        let bad = serde_json::json!({ "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": "00", "body": body }] });
        assert!(read_manifest(&bad.to_string()).is_err());
    }
}
