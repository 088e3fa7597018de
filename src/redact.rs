//! Secrets kept out of what the gateway prints. Every log line and the
//! error a command exits with pass through [`redact`], which masks the
//! password of a connection URL (`postgres://user:***@host`), `password=`
//! and token-like query parameters, bearer credentials and session
//! tokens, wherever a library happened to copy them into a message.

use std::borrow::Cow;

const MASK: &str = "***";

/// Parameter names whose value is a secret (matched case-insensitively,
/// followed by `=`).
const SECRET_PARAMETERS: [&str; 8] =
    ["password=", "passwd=", "pwd=", "sslpassword=", "token=", "api_key=", "apikey=", "secret="];

/// Prefixes of the gateway's own credentials (session tokens, API keys).
const CREDENTIAL_PREFIXES: [&str; 2] = ["hst_", "hak_"];

/// `text` with every secret it holds masked; borrowed when it holds none.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !might_hold_a_secret(text) {
        return Cow::Borrowed(text);
    }
    let mut out = mask_url_passwords(text);
    out = mask_after_markers(&out, &SECRET_PARAMETERS, true);
    out = mask_after_markers(&out, &["bearer "], true);
    out = mask_after_markers(&out, &CREDENTIAL_PREFIXES, false);
    Cow::Owned(out)
}

/// A cheap first look, so that most lines are not copied.
fn might_hold_a_secret(text: &str) -> bool {
    text.contains("://")
        || text.contains('=')
        || CREDENTIAL_PREFIXES.iter().any(|prefix| text.contains(prefix))
        || text.to_ascii_lowercase().contains("bearer ")
}

/// Where a secret value ends.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '&' | '"' | '\'' | ',' | ';' | ')' | ']' | '}' | '>' | '\\')
}

/// Masks the password of every `scheme://user:password@` in `text`.
fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first '/', '?', '#' or end of value;
        // its user information at the last '@' within it.
        let authority_end = after.find(|c: char| matches!(c, '/' | '?' | '#') || ends_value(c)).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at_sign) => {
                let userinfo = &authority[..at_sign];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at_sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Masks the value that follows each marker (`password=`, `Bearer `…).
fn mask_after_markers(text: &str, markers: &[&str], case_insensitive: bool) -> String {
    let haystack = if case_insensitive { text.to_ascii_lowercase() } else { text.to_owned() };
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    loop {
        let next = markers
            .iter()
            .filter_map(|marker| haystack[position..].find(marker).map(|found| (position + found, marker.len())))
            .min_by_key(|(found, _)| *found);
        let Some((found, length)) = next else { break };
        let value_start = found + length;
        let value_end = text[value_start..].find(ends_value).map(|end| value_start + end).unwrap_or(text.len());
        out.push_str(&text[position..value_start]);
        if value_end > value_start {
            out.push_str(MASK);
        }
        position = value_end.max(value_start);
    }
    out.push_str(&text[position..]);
    out
}

/// A writer that redacts what passes through it: the log output wraps
/// standard error in it. The formatter writes one whole line at a time.
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.0.write_all(redact(text).as_bytes())?,
            Err(_) => self.0.write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn connection_url_passwords_are_masked_wherever_they_appear() {
        let line = "error: cannot connect: The connection string 'postgress://bob:S3cret@127.0.0.1:5432/x' has no \
                    supporting driver.: The connection string 'postgress://bob:S3cret@127.0.0.1:5432/x'";
        let redacted = redact(line);
        assert!(!redacted.contains("S3cret"), "{redacted}");
        assert_eq!(redacted.matches("postgress://bob:***@127.0.0.1:5432/x").count(), 2, "{redacted}");
        // A password holding '@' or ':' is masked whole.
        let odd = redact("postgres://ops:p@ss:w0rd@db.internal/hersys?sslmode=require");
        assert_eq!(odd, "postgres://ops:***@db.internal/hersys?sslmode=require");
        // No user information, nothing to mask.
        assert_eq!(redact("sqlite://hersys.db?mode=rwc"), "sqlite://hersys.db?mode=rwc");
        assert_eq!(redact("http://collector:4318/v1/traces"), "http://collector:4318/v1/traces");
    }

    #[test]
    fn parameters_bearer_credentials_and_tokens_are_masked() {
        assert_eq!(redact("host=db user=ops password=hunter2 dbname=x"), "host=db user=ops password=*** dbname=x");
        assert_eq!(
            redact("postgres://db/x?user=ops&Password=hunter2&sslmode=require"),
            "postgres://db/x?user=ops&Password=***&sslmode=require"
        );
        assert_eq!(redact("authorization: Bearer hst_abcDEF123"), "authorization: Bearer ***");
        assert_eq!(redact("token hst_abcDEF123 seen"), "token hst_*** seen");
        assert_eq!(redact("key hak_abcDEF123"), "key hak_***");
        assert_eq!(redact("nothing secret here: 42 patients"), "nothing secret here: 42 patients");
        assert_eq!(redact("an empty password= stays"), "an empty password= stays");
    }

    #[test]
    fn the_writer_redacts_every_line_it_passes_on() {
        use std::io::Write;
        let mut out = super::Redacting(Vec::new());
        writeln!(out, "connecting to postgres://ops:hunter2@db/x").expect("written");
        assert_eq!(String::from_utf8(out.0).expect("text"), "connecting to postgres://ops:***@db/x\n");
    }
}
