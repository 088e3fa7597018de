//! Opaque session tokens. The token is 32 random bytes shown once to the
//! client; the database keeps only its SHA-256, so a copy of the table
//! opens no session.

use base64::Engine;
use sha2::{Digest, Sha256};

/// Prefix that makes a leaked token easy to recognise in secret scanners.
const TOKEN_PREFIX: &str = "hst_";

/// A new random token and the hash to store.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    (token, hash)
}

/// Whether `token` has the shape of the tokens this server issues (the
/// prefix and 43 characters of URL-safe base64): anything else (`null`, a
/// JWT, a typo) names no session and is not looked up.
pub fn looks_like_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token of an `Authorization: Bearer …` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_have_the_shape_and_others_do_not() {
        let (token, _) = new_token();
        assert!(looks_like_token(&token));
        for other in ["null", "hst_", "eyJhbGciOiJIUzI1NiJ9.e30.x", &token[..token.len() - 1], &format!("{token}x")] {
            assert!(!looks_like_token(other), "{other}");
        }
    }
}
