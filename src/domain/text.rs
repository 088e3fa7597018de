//! Text from clients, whatever field it is for: the characters no stored
//! text may hold, the first day a clinical event can have, and free-text
//! notes. Refusals name the rule, never the value.
//!
//! No text holds control characters (a note may hold line breaks and
//! tabs), nor the invisible characters that reorder how text is shown
//! (bidirectional embeddings, overrides, isolates and marks: U+202A–U+202E,
//! U+2066–U+2069, U+200E, U+200F, U+061C), with which a name or a note can
//! be made to read as something else on a screen or in an export. A text
//! of one line (names, addresses, institutions) holds no line or paragraph
//! separator either.

use chrono::{DateTime, NaiveDate, Utc};

/// Why an input value was refused (the field name is added by the caller).
pub type Refusal = &'static str;

/// Whether `c` changes the direction in which the text around it is shown.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Checks a text of one line: no control, bidirectional or line-separating
/// characters.
pub fn check_line(text: &str) -> Result<(), Refusal> {
    if text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err("must not contain control characters or line breaks");
    }
    if text.chars().any(is_bidi_control) {
        return Err(
            "must not contain characters that change the direction of text (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)",
        );
    }
    Ok(())
}

/// Most characters of any free-text note.
pub const MAX_NOTE: usize = 4_000;

/// A free-text note: trimmed, at most `max` characters (itself at most
/// [`MAX_NOTE`]); line breaks and tabs allowed, other control characters
/// and bidirectional controls not. Empty is none.
pub fn parse_note(raw: &str, max: usize) -> Result<Option<String>, Refusal> {
    let note = raw.trim();
    if note.chars().count() > max.min(MAX_NOTE) {
        return Err("is too long");
    }
    if note.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters other than line breaks and tabs");
    }
    if note.chars().any(is_bidi_control) {
        return Err(
            "must not contain characters that change the direction of text (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)",
        );
    }
    Ok((!note.is_empty()).then(|| note.to_owned()))
}

/// The first day a clinical event of this system can have happened: the
/// first cases were reported in December 2019.
pub fn first_clinical_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2019, 12, 1).unwrap_or_default()
}

/// Checks the moment of a clinical event (a sample, a result, a report, a
/// call, an admission, a condition, a discharge, an outcome): not before
/// [`first_clinical_day`] (Japan time), and not after `now` (with a minute
/// of grace for clock skew between the client and the server).
pub fn check_clinical_moment(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    if at > now + chrono::Duration::minutes(1) {
        return Err("must not be in the future");
    }
    if at.with_timezone(&crate::domain::calendar::local_offset()).date_naive() < first_clinical_day() {
        return Err("must not be before 1 December 2019");
    }
    Ok(())
}

/// Checks the day of a clinical event: from [`first_clinical_day`] to
/// `today`.
pub fn check_clinical_day(day: NaiveDate, today: NaiveDate) -> Result<(), Refusal> {
    if day > today {
        return Err("must not be in the future");
    }
    if day < first_clinical_day() {
        return Err("must not be before 1 December 2019");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_control_bidirectional_and_separating_characters() {
        assert!(check_line("東京都港区芝公園 4-2-8").is_ok());
        assert!(check_line("Tanaka-Müller").is_ok());
        for bad in [
            '\u{7}', '\n', '\u{2028}', '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}',
            '\u{61C}',
        ] {
            assert!(check_line(&format!("山田{bad}太郎")).is_err(), "{:04X}", bad as u32);
        }
    }

    #[test]
    fn notes_keep_line_breaks_and_are_bounded() {
        assert_eq!(parse_note("  咳は軽快\n熱なし  ", 100), Ok(Some("咳は軽快\n熱なし".to_owned())));
        assert_eq!(parse_note("   ", 100), Ok(None));
        assert!(parse_note(&"あ".repeat(101), 100).is_err());
        assert!(parse_note(&"あ".repeat(MAX_NOTE + 1), usize::MAX).is_err());
        assert!(parse_note("ok\u{202E}", 100).is_err());
        assert!(parse_note("ok\u{1b}[31m", 100).is_err());
    }

    #[test]
    fn clinical_moments_lie_between_december_2019_and_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z").map(|t| t.to_utc()).unwrap_or_default();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).unwrap_or_default();
        assert!(check_clinical_moment(at("2019-11-30T15:00:00Z"), now).is_ok(), "1 December in Japan");
        assert!(check_clinical_moment(at("2019-11-30T14:59:59Z"), now).is_err());
        assert!(check_clinical_moment(now + chrono::Duration::seconds(30), now).is_ok());
        assert!(check_clinical_moment(now + chrono::Duration::minutes(2), now).is_err());
        let today = now.date_naive();
        assert!(check_clinical_day(first_clinical_day(), today).is_ok());
        assert!(check_clinical_day(first_clinical_day().pred_opt().unwrap_or_default(), today).is_err());
        assert!(check_clinical_day(today.succ_opt().unwrap_or_default(), today).is_err());
    }
}
