//! API keys of service accounts: their text (`hak_` and 32 random bytes,
//! shown once, stored as SHA-256 like session tokens) and their scope, the
//! operations a key may run. The scope is checked by the pipeline once an
//! operation is admitted, on every transport.

use base64::Engine;

/// Prefix that makes a leaked key easy to recognise (the log redactor
/// masks it).
const KEY_PREFIX: &str = "hak_";

/// Longest validity of a key, in days.
pub const MAX_LIFETIME_DAYS: i64 = 365;

/// Most named operations a key's scope may hold.
pub const MAX_OPERATIONS: usize = 50;

/// Root fields no key runs whatever its scope: they are about a person's
/// session or password, which a key does not have.
const SESSION_FIELDS: [&str; 6] =
    ["login", "patientLogin", "changePassword", "logout", "logoutEverywhere", "endSession"];

/// A new random key and the hash to store.
pub fn new_key() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let key = format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = super::session::hash_token(&key);
    (key, hash)
}

/// Whether `token` has the shape of the keys this server issues.
pub fn looks_like_key(token: &str) -> bool {
    token.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What a key may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Queries and subscriptions, no mutation.
    ReadOnly,
    /// Only operations whose every root field is one of these.
    Operations(Vec<String>),
}

impl Scope {
    /// The stored form.
    pub fn to_stored(&self) -> String {
        match self {
            Scope::ReadOnly => "READ_ONLY".to_owned(),
            Scope::Operations(names) => format!("OPERATIONS:{}", names.join(",")),
        }
    }

    /// From the stored form; an unreadable one permits nothing.
    pub fn from_stored(text: &str) -> Scope {
        match text.strip_prefix("OPERATIONS:") {
            Some(names) => Scope::Operations(names.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect()),
            None if text == "READ_ONLY" => Scope::ReadOnly,
            None => Scope::Operations(Vec::new()),
        }
    }

    /// How the scope is named in a refusal.
    pub fn describe(&self) -> String {
        match self {
            Scope::ReadOnly => "READ_ONLY".to_owned(),
            Scope::Operations(names) => format!("the operations [{}]", names.join(", ")),
        }
    }

    /// Whether an operation selecting these root fields is within the
    /// scope; `Err` says why not.
    pub fn permits(&self, is_mutation: bool, root_fields: &[String]) -> Result<(), String> {
        let fields = root_fields.iter().filter(|f| !f.starts_with("__"));
        if let Some(field) = root_fields.iter().find(|f| SESSION_FIELDS.contains(&f.as_str())) {
            return Err(format!("an API key has no session or password: `{field}` is not for API keys"));
        }
        match self {
            Scope::ReadOnly if is_mutation => {
                Err("the API key's scope is READ_ONLY: it runs queries and subscriptions, no mutation".to_owned())
            }
            Scope::ReadOnly => Ok(()),
            Scope::Operations(names) => match fields.clone().find(|f| !names.contains(f)) {
                Some(field) => Err(format!("`{field}` is outside the API key's scope, {}", self.describe())),
                None => Ok(()),
            },
        }
    }
}

/// A name of a root field: a GraphQL name.
pub fn valid_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 100
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn issued_keys_have_the_shape_and_session_tokens_do_not() {
        let (key, hash) = new_key();
        assert!(looks_like_key(&key));
        assert_ne!(hash, key);
        let (token, _) = super::super::session::new_token();
        assert!(!looks_like_key(&token));
        assert!(!looks_like_key(&key[..key.len() - 1]));
    }

    #[test]
    fn scopes_read_back_and_permit_what_they_name() {
        for scope in [Scope::ReadOnly, Scope::Operations(fields(&["recordTest", "statistics"]))] {
            assert_eq!(Scope::from_stored(&scope.to_stored()), scope);
        }
        assert!(Scope::ReadOnly.permits(false, &fields(&["statistics"])).is_ok());
        assert!(Scope::ReadOnly.permits(true, &fields(&["recordTest"])).is_err());
        let named = Scope::Operations(fields(&["recordTest"]));
        assert!(named.permits(true, &fields(&["recordTest", "__typename"])).is_ok());
        assert!(named.permits(true, &fields(&["recordTest", "registerPatient"])).is_err());
        assert!(named.permits(false, &fields(&["patients"])).is_err());
        assert!(Scope::Operations(fields(&["logout"])).permits(true, &fields(&["logout"])).is_err());
        assert_eq!(Scope::from_stored("garbage"), Scope::Operations(Vec::new()));
    }
}
