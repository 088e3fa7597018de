//! The items of reference data administrators enter: the public code and
//! the names of a health centre or a medical institution, and a
//! prefecture's JIS code. Each is parsed from input with the rule it broke
//! when refused. And the 47 prefectures themselves, in JIS order.

pub use super::text::Refusal;

/// Most characters of a public code.
pub const MAX_CODE: usize = 20;

/// Most characters of a name.
pub const MAX_NAME: usize = 100;

/// The public code of a health centre or a facility (e.g. `131032`,
/// `F13-0001`): 1 to 20 ASCII letters, digits and hyphens, surrounding
/// spaces ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionCode(String);

impl InstitutionCode {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let code = raw.trim();
        if code.is_empty() || code.len() > MAX_CODE {
            return Err("must be 1 to 20 characters");
        }
        if !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("must hold ASCII letters, digits and hyphens only");
        }
        Ok(InstitutionCode(code.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The name of a health centre or a facility, in English or Japanese: 1 to
/// 100 characters of one line (`text::check_line`), surrounding spaces
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionName(String);

impl InstitutionName {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err("must be 1 to 100 characters");
        }
        super::text::check_line(name)?;
        Ok(InstitutionName(name.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A prefecture's two-digit JIS X 0401 code, "01" (Hokkaido) to "47"
/// (Okinawa), which is also its ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefectureCode(i32);

impl PrefectureCode {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let code = raw.trim();
        let number = (code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()))
            .then(|| code.parse::<i32>().ok())
            .flatten()
            .filter(|n| (1..=47).contains(n));
        number.map(PrefectureCode).ok_or("must be a JIS X 0401 code, \"01\" to \"47\"")
    }
    /// The prefecture's ID (its JIS number).
    pub fn id(self) -> i32 {
        self.0
    }
}

/// The 47 prefectures in JIS X 0401 order (the position plus one is the
/// code): (English name as in the MHLW open data, Japanese name).
pub const PREFECTURES: [(&str, &str); 47] = [
    ("Hokkaido", "北海道"),
    ("Aomori", "青森県"),
    ("Iwate", "岩手県"),
    ("Miyagi", "宮城県"),
    ("Akita", "秋田県"),
    ("Yamagata", "山形県"),
    ("Fukushima", "福島県"),
    ("Ibaraki", "茨城県"),
    ("Tochigi", "栃木県"),
    ("Gunma", "群馬県"),
    ("Saitama", "埼玉県"),
    ("Chiba", "千葉県"),
    ("Tokyo", "東京都"),
    ("Kanagawa", "神奈川県"),
    ("Niigata", "新潟県"),
    ("Toyama", "富山県"),
    ("Ishikawa", "石川県"),
    ("Fukui", "福井県"),
    ("Yamanashi", "山梨県"),
    ("Nagano", "長野県"),
    ("Gifu", "岐阜県"),
    ("Shizuoka", "静岡県"),
    ("Aichi", "愛知県"),
    ("Mie", "三重県"),
    ("Shiga", "滋賀県"),
    ("Kyoto", "京都府"),
    ("Osaka", "大阪府"),
    ("Hyogo", "兵庫県"),
    ("Nara", "奈良県"),
    ("Wakayama", "和歌山県"),
    ("Tottori", "鳥取県"),
    ("Shimane", "島根県"),
    ("Okayama", "岡山県"),
    ("Hiroshima", "広島県"),
    ("Yamaguchi", "山口県"),
    ("Tokushima", "徳島県"),
    ("Kagawa", "香川県"),
    ("Ehime", "愛媛県"),
    ("Kochi", "高知県"),
    ("Fukuoka", "福岡県"),
    ("Saga", "佐賀県"),
    ("Nagasaki", "長崎県"),
    ("Kumamoto", "熊本県"),
    ("Oita", "大分県"),
    ("Miyazaki", "宮崎県"),
    ("Kagoshima", "鹿児島県"),
    ("Okinawa", "沖縄県"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_ascii_words_with_hyphens() {
        assert_eq!(InstitutionCode::parse(" F13-0004 ").map(InstitutionCode::into_inner), Ok("F13-0004".to_owned()));
        assert!(InstitutionCode::parse("").is_err());
        assert!(InstitutionCode::parse("   ").is_err());
        assert!(InstitutionCode::parse(&"1".repeat(21)).is_err());
        assert!(InstitutionCode::parse("13 1032").is_err());
        assert!(InstitutionCode::parse("１３１").is_err(), "full-width digits are not ASCII");
    }

    #[test]
    fn names_are_one_line_of_at_most_100_characters() {
        assert_eq!(
            InstitutionName::parse(" 港区保健所 ").map(InstitutionName::into_inner),
            Ok("港区保健所".to_owned())
        );
        assert!(InstitutionName::parse("").is_err());
        assert!(InstitutionName::parse(&"名".repeat(101)).is_err());
        assert!(InstitutionName::parse(&"名".repeat(100)).is_ok());
        assert!(InstitutionName::parse("Minato\nClinic").is_err());
        assert!(InstitutionName::parse("Minato \u{202E}Clinic").is_err());
    }

    #[test]
    fn prefecture_codes_run_from_01_to_47() {
        assert_eq!(PrefectureCode::parse("13").map(PrefectureCode::id), Ok(13));
        assert_eq!(PrefectureCode::parse("01").map(PrefectureCode::id), Ok(1));
        for refused in ["00", "48", "1", "013", "+1", "ab", ""] {
            assert!(PrefectureCode::parse(refused).is_err(), "{refused}");
        }
    }
}
