//! The answer's JSON, written straight from the response's values.
//!
//! serde_json writes a value one token at a time through a writer: on a
//! page of a hundred patients that is some sixteen thousand calls, each a
//! bounds check and a copy of a few bytes, and a sixth of the gateway's
//! work on the page. The response's `data` is written here instead, into
//! one string: a text's runs of plain bytes are copied whole, punctuation
//! is pushed a byte at a time. The output is byte for byte what serde_json
//! writes for the same response (the tests below compare them): numbers
//! are written by serde_json's own `Number` display, and binary values,
//! extensions and errors, which are few, by serde_json itself.
//!
//! The answer is bounded: once it is longer than the limit, writing stops
//! and nothing is returned. It is checked after every value, so the text
//! held never exceeds the limit by more than one value's own text (which
//! the response already holds).

use std::cell::RefCell;
use std::fmt::Write as _;

use async_graphql::{Response, Value};

/// What each byte of a text becomes: 0 for itself, `u` for `\u00XX`, any
/// other for a backslash and that character.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether any of the eight bytes of `word` is one a text must escape: a
/// control character (below 0x20), `"` or `\`. Each test is exact about
/// whether some byte matches (not which): a byte below `n` sets its high
/// bit in `(w - n·1) & !w & 0x80·1`, and a byte equal to `b` is a zero byte
/// of `w ^ b·1`.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let equal = |w: u64, b: u8| below(w ^ (ONES * u64::from(b)), 1);
    (below(word, 0x20) | equal(word, b'"') | equal(word, b'\\')) != 0
}

/// The buffer an answer is written into is kept between answers on the
/// same thread, so that a page does not grow it from empty each time; a
/// buffer that grew past this is not kept.
const KEPT_CAPACITY: usize = 1 << 20;

thread_local! {
    static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The answer is longer than the limit.
struct Full;

struct Writer<'a> {
    out: &'a mut String,
    limit: usize,
}

impl Writer<'_> {
    fn check(&self) -> Result<(), Full> {
        if self.out.len() > self.limit { Err(Full) } else { Ok(()) }
    }

    fn value(&mut self, value: &Value) -> Result<(), Full> {
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Boolean(true) => self.out.push_str("true"),
            Value::Boolean(false) => self.out.push_str("false"),
            Value::String(text) => self.text(text),
            Value::Enum(name) => self.text(name),
            Value::Number(number) => {
                let _ = write!(self.out, "{number}");
            }
            Value::Binary(_) => self.serde(value)?,
            Value::List(items) => {
                self.out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.out.push(',');
                    }
                    self.value(item)?;
                }
                self.out.push(']');
            }
            Value::Object(map) => {
                self.out.push('{');
                for (index, (key, item)) in map.iter().enumerate() {
                    if index > 0 {
                        self.out.push(',');
                    }
                    self.text(key);
                    self.out.push(':');
                    self.value(item)?;
                }
                self.out.push('}');
            }
        }
        self.check()
    }

    /// A JSON string: the text's runs of plain bytes copied whole, each
    /// byte that must be escaped escaped as serde_json escapes it. Eight
    /// bytes without one are passed over at a time.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        self.out.reserve(bytes.len() + 2);
        self.out.push('"');
        let mut start = 0;
        let mut index = 0;
        while index < bytes.len() {
            if let Some(word) = bytes.get(index..index + 8).and_then(|word| <[u8; 8]>::try_from(word).ok())
                && !needs_escape(u64::from_le_bytes(word))
            {
                index += 8;
                continue;
            }
            let (at, byte) = (index, bytes[index]);
            index += 1;
            let escape = ESCAPE[usize::from(byte)];
            if escape == 0 {
                continue;
            }
            // Every byte escaped is ASCII, so `at` is a boundary.
            self.out.push_str(&text[start..at]);
            self.out.push('\\');
            if escape == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.push_str("u00");
                self.out.push(char::from(HEX[usize::from(byte >> 4)]));
                self.out.push(char::from(HEX[usize::from(byte & 0xF)]));
            } else {
                self.out.push(char::from(escape));
            }
            start = at + 1;
        }
        self.out.push_str(&text[start..]);
        self.out.push('"');
    }

    /// A part written by serde_json, if it fits.
    fn serde(&mut self, part: &impl serde::Serialize) -> Result<(), Full> {
        let json = serde_json::to_string(part).map_err(|_| Full)?;
        self.out.push_str(&json);
        self.check()
    }

    fn response(&mut self, response: &Response) -> Result<(), Full> {
        // The fields in the order, and with the omissions, of the response's
        // own serialisation.
        self.out.push_str("{\"data\":");
        self.value(&response.data)?;
        if !response.extensions.is_empty() {
            self.out.push_str(",\"extensions\":");
            self.serde(&response.extensions)?;
        }
        if !response.errors.is_empty() {
            self.out.push_str(",\"errors\":");
            self.serde(&response.errors)?;
        }
        self.out.push('}');
        self.check()
    }
}

/// The response as JSON if it takes at most `limit` bytes.
pub(super) fn response_within(response: &Response, limit: usize) -> Option<String> {
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.clear();
        let written = Writer { out: &mut buffer, limit }.response(response);
        // The answer leaves in a string of its own size: an answer that
        // waits in a socket's queue keeps no more than it holds.
        let json = written.ok().map(|()| buffer.as_str().to_owned());
        if buffer.capacity() > KEPT_CAPACITY {
            *buffer = String::new();
        }
        json
    })
}

#[cfg(test)]
mod tests {
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{ErrorExtensionValues, Name, Pos, ServerError};

    use super::*;

    fn object(entries: Vec<(&str, Value)>) -> Value {
        Value::Object(entries.into_iter().map(|(k, v)| (Name::new(k), v)).collect::<IndexMap<_, _>>())
    }

    /// Every byte that serde_json escapes, in every position of a text,
    /// with multi-byte characters around it.
    fn texts() -> Vec<String> {
        let mut texts =
            vec![String::new(), "plain".to_owned(), "厚生 労働省".to_owned(), "a\u{7f}\u{2028}b".to_owned()];
        for byte in (0u8..0x20).chain([b'"', b'\\', b'/']) {
            let c = char::from(byte);
            texts.push(format!("{c}"));
            texts.push(format!("{c}東京{c}x{c}{c}"));
            texts.push(format!("😷{c}"));
            texts.push(format!("0123456789abcdef{c}"));
            texts.push(format!("{c}0123456789abcdef{c}東京都千代田区霞が関{c}"));
        }
        texts
    }

    fn values() -> Vec<Value> {
        let mut values = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Number(0.into()),
            Value::Number((-42).into()),
            Value::Number(u64::MAX.into()),
            Value::Number(i64::MIN.into()),
            Value::from(1.5),
            Value::from(1e300),
            Value::from(-0.000_001),
            Value::Enum(Name::new("POSITIVE")),
            Value::Binary(vec![0u8, 1, 255].into()),
            Value::List(Vec::new()),
            Value::Object(IndexMap::new()),
        ];
        values.extend(texts().into_iter().map(Value::String));
        let nested = object(vec![
            ("id", Value::String("1".to_owned())),
            ("tests", Value::List(vec![object(vec![("result", Value::Enum(Name::new("NEGATIVE")))]), Value::Null])),
            ("empty", Value::List(vec![Value::List(Vec::new()), Value::Object(IndexMap::new())])),
        ]);
        values.push(Value::List(values.clone()));
        values.push(nested);
        values
            .push(object(texts().into_iter().map(|t| (Box::leak(t.into_boxed_str()) as &str, Value::Null)).collect()));
        values
    }

    fn error() -> ServerError {
        let mut error = ServerError::new("refused \"x\"\n", Some(Pos { line: 1, column: 3 }));
        error.path =
            vec![async_graphql::PathSegment::Field("patient".to_owned()), async_graphql::PathSegment::Index(0)];
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", "FORBIDDEN");
        error.extensions = Some(extensions);
        error
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for data in values() {
            let mut responses = vec![Response::new(data.clone()), Response::new(data.clone()).extension("cost", data)];
            let mut with_errors = Response::new(Value::Null);
            with_errors.errors = vec![error(), ServerError::new("other", None)];
            responses.push(with_errors);
            responses.push(Response::from_errors(vec![error()]));
            for response in responses {
                let expected = serde_json::to_string(&response).expect("serde_json");
                assert_eq!(response_within(&response, usize::MAX).as_deref(), Some(expected.as_str()));
                assert_eq!(response_within(&response, expected.len()).as_deref(), Some(expected.as_str()));
            }
        }
    }

    #[test]
    fn eight_bytes_need_escaping_exactly_when_one_does() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut words: Vec<[u8; 8]> = Vec::new();
        for position in 0..8 {
            for byte in 0..=255u8 {
                let mut word = *b"abcdefgh";
                word[position] = byte;
                words.push(word);
                word = [0xE3; 8];
                word[position] = byte;
                words.push(word);
            }
        }
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            words.push(state.to_le_bytes());
        }
        for word in words {
            let expected = word.iter().any(|&b| ESCAPE[usize::from(b)] != 0);
            assert_eq!(needs_escape(u64::from_le_bytes(word)), expected, "{word:?}");
        }
    }

    #[test]
    fn stops_past_the_limit_and_keeps_no_large_buffer() {
        let page = Value::List(vec![Value::String("x".repeat(1000)); 2000]);
        let response = Response::new(page);
        let length = serde_json::to_string(&response).expect("serde_json").len();
        assert_eq!(response_within(&response, length - 1), None);
        BUFFER.with(|buffer| assert!(buffer.borrow().len() <= length - 1 + 1003, "wrote past the limit"));
        assert_eq!(response_within(&response, length).map(|json| json.len()), Some(length));
        BUFFER.with(|buffer| assert!(buffer.borrow().capacity() <= KEPT_CAPACITY));
        let small = Response::new(Value::Null);
        let json = response_within(&small, 100).expect("fits");
        assert_eq!(json, r#"{"data":null}"#);
        assert!(json.capacity() < 64, "an answer keeps a string of its own size");
    }
}
