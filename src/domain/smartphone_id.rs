//! Smartphone input IDs (スマホ入力ID): what a patient uses, with their date
//! of birth, to report their health.
//!
//! An ID is 12 digits: 11 random digits from the operating system's random
//! source (10^11 possibilities, so guessing one is hopeless even before the
//! sign-in lockout) and a Luhn check digit that catches a mistyped or
//! swapped digit before it reaches the database. Digits alone read out
//! easily over the phone; they are shown in groups of four
//! (`1234-5678-9012`), and input is accepted with or without separators.

use rand::Rng;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartphoneId(String);

impl SmartphoneId {
    /// A fresh random ID.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut digits: String = (0..11).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect();
        digits.push(luhn_check_digit(&digits));
        SmartphoneId(digits)
    }

    /// Parses client input: 12 digits, with optional spaces or hyphens, and
    /// a correct check digit.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{3000}')).collect();
        if digits.len() != 12 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err("must be the 12 digits given to the patient");
        }
        if luhn_check_digit(&digits[..11]) != digits.as_bytes()[11] as char {
            return Err("has a wrong check digit: a digit was probably mistyped");
        }
        Ok(SmartphoneId(digits))
    }

    /// The stored form: digits only.
    pub fn as_digits(&self) -> &str {
        &self.0
    }

    /// Wraps a value read from the database.
    pub fn from_stored(digits: String) -> Self {
        SmartphoneId(digits)
    }

    /// The form shown to people: groups of four.
    pub fn display(&self) -> String {
        let bytes = self.0.as_bytes();
        bytes.chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
    }
}

/// The Luhn check digit of a string of ASCII digits.
fn luhn_check_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_in_their_displayed_form() {
        for _ in 0..1000 {
            let id = SmartphoneId::generate();
            assert_eq!(SmartphoneId::parse(&id.display()), Ok(id));
        }
    }

    #[test]
    fn a_mistyped_digit_is_caught() {
        let id = SmartphoneId::generate();
        let mut digits: Vec<u8> = id.as_digits().bytes().collect();
        digits[3] = if digits[3] == b'9' { b'0' } else { digits[3] + 1 };
        let typo = String::from_utf8(digits).unwrap_or_default();
        assert!(SmartphoneId::parse(&typo).is_err());
    }

    #[test]
    fn known_luhn_value() {
        // 7992739871 has Luhn check digit 3.
        assert_eq!(luhn_check_digit("7992739871"), '3');
    }
}
