//! Name readings (フリガナ) as people type them and as they are searched.
//!
//! The same reading arrives in several forms: full-width katakana
//! (ヤマダ タロウ), half-width katakana from older systems and faxed forms
//! typed in (ﾔﾏﾀﾞ ﾀﾛｳ, with the voicing marks as separate characters),
//! hiragana, small kana written large or the other way round (ジョウ and
//! ジヨウ), and any spacing. [`full_width`] brings half-width katakana to
//! full width; [`search_key`] reduces a reading to the one form that
//! records are found by.

/// Full-width katakana for U+FF66 (ｦ) to U+FF9D (ﾝ), in order.
const HALF_WIDTH: &str =
    "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";

/// The voiced form of a katakana letter (ガ for カ), if it has one.
fn voiced(c: char) -> Option<char> {
    match c {
        'カ' | 'キ' | 'ク' | 'ケ' | 'コ' | 'サ' | 'シ' | 'ス' | 'セ' | 'ソ' | 'タ' | 'チ' | 'ツ' | 'テ' | 'ト'
        | 'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => char::from_u32(c as u32 + 1),
        'ウ' => Some('ヴ'),
        'ワ' => Some('ヷ'),
        'ヲ' => Some('ヺ'),
        _ => None,
    }
}

/// The semi-voiced form (パ for ハ), if it has one.
fn semi_voiced(c: char) -> Option<char> {
    match c {
        'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => char::from_u32(c as u32 + 2),
        _ => None,
    }
}

/// Half-width katakana made full-width, voicing marks (half-width, spacing
/// or combining) joined to the letter before them, and the ideographic
/// space made an ordinary one. Everything else is left as it is.
pub fn full_width(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let mark = match c {
            '\u{FF9E}' | '\u{309B}' | '\u{3099}' => Some(voiced as fn(char) -> Option<char>),
            '\u{FF9F}' | '\u{309C}' | '\u{309A}' => Some(semi_voiced as fn(char) -> Option<char>),
            _ => None,
        };
        if let Some(join) = mark {
            if let Some(joined) = out.chars().last().and_then(join) {
                out.pop();
                out.push(joined);
                continue;
            }
            // A mark after nothing it can voice stays, and the reading is
            // refused for it where readings are checked.
            out.push(c);
            continue;
        }
        let c = match c {
            '\u{FF66}'..='\u{FF9D}' => HALF_WIDTH.chars().nth(c as usize - 0xFF66).unwrap_or(c),
            '\u{FF65}' => '・',
            '\u{3000}' => ' ',
            other => other,
        };
        out.push(c);
    }
    out
}

/// The large letter of a small kana (ア for ァ), or the letter itself.
fn large(c: char) -> char {
    match c {
        'ァ' | 'ィ' | 'ゥ' | 'ェ' | 'ォ' | 'ッ' | 'ャ' | 'ュ' | 'ョ' | 'ヮ' => {
            char::from_u32(c as u32 + 1).unwrap_or(c)
        }
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        other => other,
    }
}

/// The form a reading is searched by: full-width katakana (hiragana made
/// katakana), small kana made large, without spaces or middle dots. `None`
/// when what is left is not a reading (no katakana letter, or anything but
/// katakana and ー).
pub fn search_key(raw: &str) -> Option<String> {
    let mut key = String::with_capacity(raw.len());
    for c in full_width(raw).chars() {
        let c = match c {
            // Hiragana to katakana: the same letters 0x60 further on.
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            ' ' | '・' | '\t' => continue,
            other => other,
        };
        key.push(large(c));
    }
    let letter = |c: char| matches!(c, '\u{30A1}'..='\u{30FA}');
    (key.chars().all(|c| letter(c) || c == 'ー') && key.chars().any(letter)).then_some(key)
}

/// The digits of a telephone number (full-width digits counted as
/// digits), without separators.
pub fn phone_digits(raw: &str) -> String {
    raw.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_width_katakana_is_made_full_width_with_its_voicing_marks() {
        assert_eq!(full_width("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダ タロウ");
        assert_eq!(full_width("ﾊﾟﾝ ｳﾞｨｰ"), "パン ヴィー");
        assert_eq!(full_width("ｶ\u{3099}"), "ガ");
        assert_eq!(full_width("ヤマダ　タロウ"), "ヤマダ タロウ");
    }

    #[test]
    fn every_form_of_a_reading_has_the_same_key() {
        let key = search_key("ヤマダ タロウ");
        assert_eq!(key.as_deref(), Some("ヤマダタロウ"));
        for form in ["ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞﾀﾛｳ", "やまだ たろう", " ヤマダ　タロウ ", "ヤマダ・タロウ"]
        {
            assert_eq!(search_key(form), key, "{form}");
        }
        assert_eq!(search_key("キョウコ"), search_key("キヨウコ"));
        assert_eq!(search_key("ｷｮｳｺ"), search_key("キヨウコ"));
    }

    #[test]
    fn what_is_not_a_reading_has_no_key() {
        for raw in ["", "  ", "ー", "山田", "Yamada", "ﾞ"] {
            assert_eq!(search_key(raw), None, "{raw}");
        }
    }

    #[test]
    fn a_phone_number_is_its_digits() {
        assert_eq!(phone_digits("03-1234-5678"), "0312345678");
        assert_eq!(phone_digits("(03) 1234 5678"), "0312345678");
        assert_eq!(phone_digits("０３１２３４５６７８"), "0312345678");
    }
}
