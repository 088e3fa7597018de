//! The personal items of the notification form, each parsed from client
//! input with a reason when it is refused. Errors carry only the rule that
//! was broken, never the refused value: it may be personal data.

use chrono::{Datelike, NaiveDate};

pub use super::text::Refusal;

/// A name in kanji (or any script): non-empty, at most 100 characters, one
/// line without control or bidirectional characters (`text::check_line`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let name = normalise_spaces(raw);
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > 100 {
            return Err("must be at most 100 characters");
        }
        super::text::check_line(&name)?;
        Ok(PersonName(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A name reading in full-width katakana: katakana letters, the long vowel
/// mark ー and spaces only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKana(String);

impl NameKana {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        // Half-width katakana (ﾔﾏﾀﾞ) is taken as its full-width letters.
        let name = normalise_spaces(&super::kana::full_width(raw));
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > 100 {
            return Err("must be at most 100 characters");
        }
        let katakana = |c: char| matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | ' ' | '\u{3000}');
        if !name.chars().all(katakana) {
            return Err("must be written in full-width katakana (with ー and spaces) only");
        }
        if !name.chars().any(|c| matches!(c, '\u{30A1}'..='\u{30FA}')) {
            return Err("must contain at least one katakana letter");
        }
        Ok(NameKana(name))
    }
    pub fn into_inner(self) -> String {
        self.0
    }
    /// The form the reading is searched by.
    pub fn search_key(&self) -> String {
        super::kana::search_key(&self.0).unwrap_or_default()
    }
}

/// A date of birth: not in the future and not before 1900.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthDate(NaiveDate);

impl BirthDate {
    pub fn parse(date: NaiveDate, today: NaiveDate) -> Result<Self, Refusal> {
        if date > today {
            return Err("must not be in the future");
        }
        if date.year() < 1900 {
            return Err("must not be before 1900");
        }
        Ok(BirthDate(date))
    }
    pub fn date(self) -> NaiveDate {
        self.0
    }
}

/// A postal address: free text, at most 300 characters, one line without
/// control or bidirectional characters (`text::check_line`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalAddress(String);

impl PostalAddress {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let address = normalise_spaces(raw);
        if address.is_empty() {
            return Err("must not be empty when given");
        }
        if address.chars().count() > 300 {
            return Err("must be at most 300 characters");
        }
        super::text::check_line(&address)?;
        Ok(PostalAddress(address))
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A telephone number: digits with optional +, -, spaces and brackets;
/// 6 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPhone(String);

impl ContactPhone {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let phone = raw.trim();
        if !phone.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')')) {
            return Err("may contain only digits, +, -, spaces and brackets");
        }
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !(6..=15).contains(&digits) {
            return Err("must have between 6 and 15 digits");
        }
        Ok(ContactPhone(phone.to_owned()))
    }
    /// The number's digits, as it is searched by.
    pub fn digits(&self) -> String {
        super::kana::phone_digits(&self.0)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An e-mail address: one @, a non-empty local part, a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEmail(String);

impl ContactEmail {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let email = raw.trim();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control() || super::text::is_bidi_control(c))
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if !valid {
            return Err("must be an e-mail address such as name@example.jp");
        }
        Ok(ContactEmail(email.to_owned()))
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Age in whole years on `on` of someone born on `birth` (0 before birth).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0)
}

/// Ten-year age bands of the MHLW open data ("under 10", "10s", …, "90 and
/// over").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgeBand {
    /// Under 10 years (10歳未満).
    Under10,
    /// 10 to 19 (10代).
    Age10s,
    /// 20 to 29 (20代).
    Age20s,
    /// 30 to 39 (30代).
    Age30s,
    /// 40 to 49 (40代).
    Age40s,
    /// 50 to 59 (50代).
    Age50s,
    /// 60 to 69 (60代).
    Age60s,
    /// 70 to 79 (70代).
    Age70s,
    /// 80 to 89 (80代).
    Age80s,
    /// 90 and over (90歳以上).
    Age90AndOver,
}

impl AgeBand {
    /// Every band, youngest first (the position is the decade).
    pub const ALL: [AgeBand; 10] = [
        AgeBand::Under10,
        AgeBand::Age10s,
        AgeBand::Age20s,
        AgeBand::Age30s,
        AgeBand::Age40s,
        AgeBand::Age50s,
        AgeBand::Age60s,
        AgeBand::Age70s,
        AgeBand::Age80s,
        AgeBand::Age90AndOver,
    ];

    /// The band of a decade as stored (0 under 10, …, 9 ninety and over).
    pub fn from_decade(decade: i16) -> Option<AgeBand> {
        usize::try_from(decade).ok().and_then(|d| Self::ALL.get(d).copied())
    }

    /// The band of someone born on `birth` at the date `on`.
    pub fn at(birth: NaiveDate, on: NaiveDate) -> AgeBand {
        match age_on(birth, on) / 10 {
            0 => AgeBand::Under10,
            1 => AgeBand::Age10s,
            2 => AgeBand::Age20s,
            3 => AgeBand::Age30s,
            4 => AgeBand::Age40s,
            5 => AgeBand::Age50s,
            6 => AgeBand::Age60s,
            7 => AgeBand::Age70s,
            8 => AgeBand::Age80s,
            _ => AgeBand::Age90AndOver,
        }
    }
}

/// Trims and folds runs of ASCII or full-width spaces into one.
fn normalise_spaces(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split([' ', '\u{3000}', '\t']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_accepts_katakana_long_vowel_and_spaces() {
        assert_eq!(NameKana::parse(" ヤマダ　タロー ").map(NameKana::into_inner), Ok("ヤマダ タロー".to_owned()));
    }

    #[test]
    fn kana_refuses_kanji_hiragana_and_latin() {
        assert!(NameKana::parse("山田").is_err());
        assert!(NameKana::parse("やまだ").is_err());
        assert!(NameKana::parse("Yamada").is_err());
        assert!(NameKana::parse("ー").is_err());
        assert!(NameKana::parse("  ").is_err());
    }

    #[test]
    fn birth_date_refuses_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        assert!(BirthDate::parse(today, today).is_ok());
        assert!(BirthDate::parse(today.succ_opt().unwrap_or_default(), today).is_err());
    }

    #[test]
    fn age_band_counts_birthdays() {
        let birth = NaiveDate::from_ymd_opt(2000, 6, 15).unwrap_or_default();
        let before = NaiveDate::from_ymd_opt(2020, 6, 14).unwrap_or_default();
        let on = NaiveDate::from_ymd_opt(2020, 6, 15).unwrap_or_default();
        assert_eq!(AgeBand::at(birth, before), AgeBand::Age10s);
        assert_eq!(AgeBand::at(birth, on), AgeBand::Age20s);
    }

    #[test]
    fn contacts_are_checked() {
        assert!(ContactPhone::parse("03-1234-5678").is_ok());
        assert!(ContactPhone::parse("call me").is_err());
        assert!(ContactEmail::parse("taro@example.jp").is_ok());
        assert!(ContactEmail::parse("taro@localhost").is_err());
    }
}
