//! The password policy of the security guide: long, not the username, not
//! a commonly used password.

/// Passwords that appear at the top of every leaked-password list, and
/// obvious ones for this system. Compared case-insensitively, also with
/// digits and symbols stripped from the end.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "password1",
    "password123",
    "123456789012",
    "1234567890123",
    "qwertyuiopas",
    "qwertyuiop12",
    "qwerty123456",
    "111111111111",
    "000000000000",
    "abcdefghijkl",
    "abc123456789",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "admin1234567",
    "changeme1234",
    "trustno11234",
    "dragon123456",
    "monkey123456",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "superman1234",
    "starwars1234",
    "hersys",
    "hersys2020",
    "hersys2026",
    "covid19",
    "covid-19",
    "coronavirus",
    "hokenjo",
    "tokyo2020",
    "japan",
    "nippon",
    "sakura",
    "pokemon",
    "doraemon",
    "qwerty",
    "asdfghjkl",
    "zxcvbnm",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
];

/// Why a new password is refused, or `Ok`.
pub fn check(username: &str, password: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < 12 {
        return Err("must be at least 12 characters long");
    }
    if length > 128 {
        return Err("must be at most 128 characters long");
    }
    let lower = password.to_lowercase();
    let user = username.trim().to_lowercase();
    if !user.is_empty() && lower.contains(&user) {
        return Err("must not contain the username");
    }
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    if COMMON.iter().any(|common| lower == *common || stem == *common) {
        return Err("is a commonly used password; choose another");
    }
    if lower.chars().all(|c| c == lower.chars().next().unwrap_or(' ')) {
        return Err("must not repeat one character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn short_common_and_username_passwords_are_refused() {
        assert!(check("hc1", "short").is_err());
        assert!(check("hc1", "Password123456").is_err(), "a common word with digits");
        assert!(check("tanaka", "my-tanaka-secret").is_err(), "contains the username");
        assert!(check("hc1", "aaaaaaaaaaaaaa").is_err());
        assert!(check("hc1", "hersys2026!!!!").is_err());
    }

    #[test]
    fn a_long_unusual_password_is_accepted() {
        assert!(check("hc1", "correct horse battery staple").is_ok());
    }
}
