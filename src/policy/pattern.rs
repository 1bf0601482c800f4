//! Number patterns of role allow/deny lists and trunk `numbers`.
//!
//! - `*`: every E.164 number (never an emergency code);
//! - `+1*`, `+1900*`, `+*`: every E.164 number whose `+digits` form starts with the text
//!   before the `*` (written `+` and digits only, no separators);
//! - `+14155550100` (any spelling): that one number;
//! - `911`: that emergency code, which only a pattern naming it exactly ever matches.

use std::fmt;

use super::e164::{E164, E164Error};

/// What a call is placed to: an E.164 number, or an emergency code kept as dialled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dialable {
    Number(E164),
    Emergency(String),
}

impl fmt::Display for Dialable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dialable::Number(n) => n.fmt(f),
            Dialable::Emergency(code) => f.write_str(code),
        }
    }
}

/// One parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberPattern {
    Any,
    /// `+` followed by 0 to 14 digits.
    Prefix(String),
    Exact(E164),
    /// A short code without `+`: matches that emergency code only.
    Short(String),
}

/// Why a pattern is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    #[error("empty pattern")]
    Empty,
    #[error("a prefix pattern is `+`, up to 14 digits and a final `*` (e.g. `+1900*`)")]
    BadPrefix,
    #[error("not an E.164 number: {0}")]
    BadNumber(E164Error),
}

impl NumberPattern {
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PatternError::Empty);
        }
        if s == "*" {
            return Ok(Self::Any);
        }
        if let Some(body) = s.strip_suffix('*') {
            let digits = body.strip_prefix('+').ok_or(PatternError::BadPrefix)?;
            let ok = digits.len() < super::e164::MAX_DIGITS
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0');
            return if ok {
                Ok(Self::Prefix(body.to_owned()))
            } else {
                Err(PatternError::BadPrefix)
            };
        }
        if (2..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Short(s.to_owned()));
        }
        E164::parse(s)
            .map(Self::Exact)
            .map_err(PatternError::BadNumber)
    }

    pub fn matches(&self, d: &Dialable) -> bool {
        match (self, d) {
            (Self::Any, Dialable::Number(_)) => true,
            (Self::Prefix(p), Dialable::Number(n)) => n.as_str().starts_with(p.as_str()),
            (Self::Exact(e), Dialable::Number(n)) => e == n,
            (Self::Short(s), Dialable::Emergency(code)) => s == code,
            _ => false,
        }
    }
}

/// True when any pattern of `list` matches. A pattern that does not parse matches nothing
/// here; callers that must fail closed (deny lists) use [`any_or_invalid`].
pub fn any_matches(list: &[String], d: &Dialable) -> bool {
    list.iter()
        .any(|p| NumberPattern::parse(p).is_ok_and(|p| p.matches(d)))
}

/// Like [`any_matches`], but an unparsable pattern counts as a match (validation refuses
/// such configurations; this keeps a deny list closed if one ever slips through).
pub fn any_or_invalid(list: &[String], d: &Dialable) -> bool {
    list.iter()
        .any(|p| NumberPattern::parse(p).map_or(true, |p| p.matches(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Dialable {
        Dialable::Number(E164::parse(s).unwrap())
    }

    #[test]
    fn kinds() {
        assert_eq!(NumberPattern::parse("*"), Ok(NumberPattern::Any));
        assert_eq!(
            NumberPattern::parse("+*"),
            Ok(NumberPattern::Prefix("+".into()))
        );
        assert_eq!(
            NumberPattern::parse("+1900*"),
            Ok(NumberPattern::Prefix("+1900".into()))
        );
        assert_eq!(
            NumberPattern::parse("911"),
            Ok(NumberPattern::Short("911".into()))
        );
        assert!(matches!(
            NumberPattern::parse("+1 415 555 0100"),
            Ok(NumberPattern::Exact(_))
        ));
        for bad in [
            "",
            "1900*",
            "+1-900*",
            "+0*",
            "**",
            "+1*9",
            "+123456789012345*",
            "abc",
        ] {
            assert!(NumberPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let p = NumberPattern::parse("+1900*").unwrap();
        assert!(p.matches(&num("+19005551234")));
        assert!(!p.matches(&num("+14155551234")));
        assert!(!NumberPattern::Any.matches(&Dialable::Emergency("911".into())));
        assert!(
            NumberPattern::parse("911")
                .unwrap()
                .matches(&Dialable::Emergency("911".into()))
        );
        assert!(any_or_invalid(&["bogus".into()], &num("+14155551234")));
        assert!(!any_matches(&["bogus".into()], &num("+14155551234")));
    }
}
