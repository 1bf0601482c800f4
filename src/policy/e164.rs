//! `E164`: a telephone number in international form, `+` and 7 to 15 digits.
//!
//! Every spelling a carrier or a browser may use normalises to one value:
//! `+1 (415) 555-1234`, `tel:+1-415-555-1234`, `sip:+14155551234@host;user=phone`,
//! `%2B14155551234`, and, with a trunk's [`NationalFormat`], `4155551234`. Distinct numbers
//! never collide: the value is exactly the digit sequence, nothing is dropped but visual
//! separators.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::NationalFormat;

/// Fewest digits (country code included) accepted: the shortest numbers in service
/// (e.g. Niue, +683 and four digits) have seven.
pub const MIN_DIGITS: usize = 7;
/// ITU-T E.164: at most 15 digits, country code included.
pub const MAX_DIGITS: usize = 15;
/// Digits collected before giving up; room for an international prefix before 15 digits.
const SCAN_LIMIT: usize = 24;

/// A normalised E.164 number; `Display` writes `+14155551234`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

/// Why a string is not an E.164 number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum E164Error {
    #[error("empty number")]
    Empty,
    #[error("character {0:?} is not allowed in a telephone number")]
    InvalidCharacter(char),
    #[error("malformed %-escape")]
    BadEscape,
    #[error("the SIP URI has no user part")]
    NoUserPart,
    #[error("no country code: write the number as +<country code><number>")]
    MissingCountryCode,
    #[error("a country code never starts with 0")]
    LeadingZero,
    #[error("{0} digits is too short for an E.164 number (at least {MIN_DIGITS})")]
    TooShort(usize),
    #[error("more than {MAX_DIGITS} digits")]
    TooLong,
}

/// The digits of a dialled string, before deciding whether it is international.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dialled {
    pub plus: bool,
    pub digits: String,
}

impl E164 {
    /// Parses an international spelling; a number without `+` is refused.
    pub fn parse(input: &str) -> Result<Self, E164Error> {
        Self::parse_with(input, None)
    }

    /// Parses with a trunk's national rules for numbers written without `+`.
    pub fn parse_with(input: &str, national: Option<&NationalFormat>) -> Result<Self, E164Error> {
        let d = dialled(input)?;
        if d.plus {
            return Self::from_digits(&d.digits);
        }
        let Some(rule) = national else {
            return Err(E164Error::MissingCountryCode);
        };
        if let Some(intl) = rule
            .international_prefix
            .as_deref()
            .filter(|p| !p.is_empty())
            && let Some(rest) = d.digits.strip_prefix(intl)
        {
            return Self::from_digits(rest);
        }
        let len = usize::from(rule.length);
        if d.digits.len() == len {
            return Self::from_digits(&format!("{}{}", rule.country_code, d.digits));
        }
        if let Some(tp) = rule.trunk_prefix.as_deref().filter(|p| !p.is_empty())
            && let Some(rest) = d.digits.strip_prefix(tp)
            && rest.len() == len
        {
            return Self::from_digits(&format!("{}{rest}", rule.country_code));
        }
        Err(E164Error::MissingCountryCode)
    }

    fn from_digits(digits: &str) -> Result<Self, E164Error> {
        match digits.len() {
            0 => Err(E164Error::Empty),
            n if n > MAX_DIGITS => Err(E164Error::TooLong),
            _ if digits.starts_with('0') => Err(E164Error::LeadingZero),
            n if n < MIN_DIGITS => Err(E164Error::TooShort(n)),
            _ => Ok(Self(format!("+{digits}"))),
        }
    }

    /// `+14155551234`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `14155551234`.
    pub fn digits(&self) -> &str {
        // Invariant: built only by `from_digits`, always `+` (one byte) then ASCII digits.
        &self.0[1..]
    }

    /// A form safe for logs: country code and area kept, the rest masked.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.0)
    }
}

impl std::str::FromStr for E164 {
    type Err = E164Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for E164 {
    type Error = E164Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<E164> for String {
    fn from(e: E164) -> Self {
        e.0
    }
}

/// Log form of a number: `+1415*****34`; only the first four and last two digits show.
#[derive(Clone, Copy)]
pub struct Redacted<'a>(&'a E164);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.digits();
        f.write_str("+")?;
        for (i, c) in d.chars().enumerate() {
            let keep = i < 4 || i + 2 >= d.len();
            let mut buf = [0; 4];
            f.write_str(if keep { c.encode_utf8(&mut buf) } else { "*" })?;
        }
        Ok(())
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({self})")
    }
}

/// Strips URI syntax, %-escapes and visual separators; keeps a leading `+` and the digits.
pub(crate) fn dialled(input: &str) -> Result<Dialled, E164Error> {
    let user = user_part(input.trim())?;
    let decoded = percent_decode(user)?;
    let mut plus = false;
    let mut digits = String::new();
    for c in decoded.chars() {
        match c {
            '0'..='9' => {
                if digits.len() == SCAN_LIMIT {
                    return Err(E164Error::TooLong);
                }
                digits.push(c);
            }
            '+' if !plus && digits.is_empty() => plus = true,
            ' ' | '-' | '.' | '(' | ')' => {}
            other => return Err(E164Error::InvalidCharacter(other)),
        }
    }
    if digits.is_empty() {
        return Err(E164Error::Empty);
    }
    Ok(Dialled { plus, digits })
}

/// The telephone-number part of a bare number, a `tel:` URI or a `sip:`/`sips:` URI.
fn user_part(s: &str) -> Result<&str, E164Error> {
    let s = match s.strip_prefix('<') {
        Some(inner) => inner.split('>').next().unwrap_or(inner),
        None => s,
    };
    if s.is_empty() {
        return Err(E164Error::Empty);
    }
    let lower_starts = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if lower_starts("tel:") {
        return Ok(cut(&s[4..], ';'));
    }
    let rest = if lower_starts("sips:") {
        &s[5..]
    } else if lower_starts("sip:") {
        &s[4..]
    } else {
        return Ok(s);
    };
    let (userinfo, _host) = rest.split_once('@').ok_or(E164Error::NoUserPart)?;
    Ok(cut(cut(userinfo, ';'), ':'))
}

fn cut(s: &str, sep: char) -> &str {
    s.split(sep).next().unwrap_or(s)
}

/// Decodes `%XX` once; a decoded `%` is not decoded again.
fn percent_decode(s: &str) -> Result<String, E164Error> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(E164Error::BadEscape)?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| E164Error::BadEscape)?;
            if !v.is_ascii() {
                return Err(E164Error::BadEscape);
            }
            out.push(char::from(v));
            i += 3;
        } else {
            let c = s[i..].chars().next().ok_or(E164Error::BadEscape)?;
            out.push(c);
            i += c.len_utf8();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanp() -> NationalFormat {
        NationalFormat {
            country_code: "1".into(),
            length: 10,
            trunk_prefix: Some("1".into()),
            international_prefix: Some("011".into()),
        }
    }

    #[test]
    fn spellings_normalise() {
        for s in [
            "+14155551234",
            "+1 (415) 555-1234",
            "tel:+1-415-555-1234",
            "TEL:+1.415.555.1234;phone-context=example.com",
            "sip:+14155551234@host;user=phone",
            "<sips:+14155551234:pw@host:5061>",
            "%2B14155551234",
            "sip:%2B1415555%31234@h",
        ] {
            assert_eq!(
                E164::parse(s).map(|e| e.to_string()),
                Ok("+14155551234".into()),
                "{s}"
            );
        }
    }

    #[test]
    fn national_rules() {
        let r = nanp();
        for s in [
            "4155551234",
            "14155551234",
            "(415) 555-1234",
            "01114155551234",
            "+14155551234",
        ] {
            assert_eq!(
                E164::parse_with(s, Some(&r)).map(|e| e.to_string()),
                Ok("+14155551234".into()),
                "{s}"
            );
        }
        assert_eq!(
            E164::parse_with("5551234", Some(&r)),
            Err(E164Error::MissingCountryCode)
        );
        assert_eq!(
            E164::parse("4155551234"),
            Err(E164Error::MissingCountryCode)
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(E164::parse(""), Err(E164Error::Empty));
        assert_eq!(E164::parse("+"), Err(E164Error::Empty));
        assert_eq!(E164::parse("sip:host"), Err(E164Error::NoUserPart));
        assert_eq!(
            E164::parse("+1415555CALL"),
            Err(E164Error::InvalidCharacter('C'))
        );
        assert_eq!(E164::parse("+1234567890123456"), Err(E164Error::TooLong));
        assert_eq!(E164::parse("+0123456789"), Err(E164Error::LeadingZero));
        assert_eq!(E164::parse("+123456"), Err(E164Error::TooShort(6)));
        assert_eq!(
            E164::parse("+1415+5551234"),
            Err(E164Error::InvalidCharacter('+'))
        );
        assert_eq!(E164::parse("%2"), Err(E164Error::BadEscape));
        assert_eq!(
            E164::parse("%252B14155551234"),
            Err(E164Error::InvalidCharacter('%'))
        );
        assert_eq!(
            E164::parse("+1415555123é"),
            Err(E164Error::InvalidCharacter('é'))
        );
    }

    #[test]
    fn redaction_hides_the_subscriber() {
        let e = E164::parse("+14155551234").unwrap();
        assert_eq!(e.redacted().to_string(), "+1415*****34");
        assert_eq!(format!("{:?}", e.redacted()), "E164(+1415*****34)");
    }
}
