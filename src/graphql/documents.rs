//! Parsed documents of recent requests, by their text.
//!
//! Dashboards send the same few operations over and over, each time as
//! text; parsing one (async-graphql's parser) was about a thirtieth of a
//! dashboard request's work. A document that parsed and passed the
//! operation limits is kept here, and the next request with the same text
//! starts from a copy of it: no parse, and no second limit check (the check
//! depends on the document alone). Bounded in entries and in the length of
//! the text kept, so that a client sending ever new documents can neither
//! grow it nor fill it with large ones; when full, an arbitrary entry makes
//! room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;

/// Documents kept at most.
const CAPACITY: usize = 256;
/// Longest document text kept, in bytes.
const MAX_TEXT: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: Mutex<HashMap<String, Arc<ExecutableDocument>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl DocumentCache {
    /// The document parsed from `text`, if kept.
    pub fn get(&self, text: &str) -> Option<Arc<ExecutableDocument>> {
        let found = self.entries.lock().ok().and_then(|entries| entries.get(text).cloned());
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `document`, parsed from `text`, which passed the limits.
    pub fn keep(&self, text: &str, document: Arc<ExecutableDocument>) {
        if text.len() > MAX_TEXT {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= CAPACITY && !entries.contains_key(text) {
            let evicted = entries.keys().next().cloned();
            if let Some(evicted) = evicted {
                entries.remove(&evicted);
            }
        }
        entries.insert(text.to_owned(), document);
    }

    /// Requests that found their document here, and those that did not.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Arc<ExecutableDocument> {
        Arc::new(async_graphql::parser::parse_query(text).expect("a valid document"))
    }

    #[test]
    fn keeps_what_it_is_given_and_no_more_than_its_capacity() {
        let cache = DocumentCache::default();
        assert!(cache.get("{ a }").is_none());
        cache.keep("{ a }", parse("{ a }"));
        let found = cache.get("{ a }").expect("kept");
        assert_eq!(found.operations.iter().count(), 1);
        assert_eq!(cache.counts(), (1, 1));

        for n in 0..CAPACITY + 10 {
            let text = format!("{{ f{n} }}");
            cache.keep(&text, parse(&text));
        }
        assert_eq!(cache.entries.lock().map(|e| e.len()).unwrap_or_default(), CAPACITY);
        let last = format!("{{ f{} }}", CAPACITY + 9);
        assert!(cache.get(&last).is_some(), "the newest entry is kept");
    }

    #[test]
    fn a_long_text_is_not_kept() {
        let cache = DocumentCache::default();
        let text = format!("{{ a {} }}", " ".repeat(MAX_TEXT));
        cache.keep(&text, parse(&text));
        assert!(cache.get(&text).is_none());
    }
}
