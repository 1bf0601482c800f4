//! Digest header parameter parser: quoted strings with escapes, tokens,
//! free spacing, case-insensitive names; never panics.

use super::{Algorithm, DigestError};

/// `Digest` followed by `name=value` pairs; names lowercased, first occurrence wins.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(s: &str) -> Result<Params, DigestError> {
        let s = s.trim_start();
        let scheme_end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
        if !s[..scheme_end].eq_ignore_ascii_case("digest") {
            return Err(DigestError::NotDigest);
        }
        let b = s.as_bytes();
        let mut i = scheme_end;
        let mut out: Vec<(String, String)> = Vec::new();
        let skip_ws = |i: &mut usize| {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
        };
        loop {
            skip_ws(&mut i);
            while i < b.len() && b[i] == b',' {
                i += 1;
                skip_ws(&mut i);
            }
            if i >= b.len() {
                break;
            }
            let start = i;
            while i < b.len() && is_token(b[i]) {
                i += 1;
            }
            if i == start {
                return Err(DigestError::Syntax(i));
            }
            let name = s[start..i].to_ascii_lowercase();
            skip_ws(&mut i);
            if b.get(i) != Some(&b'=') {
                return Err(DigestError::Syntax(i));
            }
            i += 1;
            skip_ws(&mut i);
            let value = if b.get(i) == Some(&b'"') {
                i += 1;
                let mut v = Vec::new();
                loop {
                    match b.get(i) {
                        None => return Err(DigestError::Syntax(i)),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            v.push(*b.get(i + 1).ok_or(DigestError::Syntax(i))?);
                            i += 2;
                        }
                        Some(&c) => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                String::from_utf8(v).map_err(|_| DigestError::Syntax(i))?
            } else {
                let vs = i;
                while i < b.len() && is_token(b[i]) {
                    i += 1;
                }
                if i == vs {
                    return Err(DigestError::Syntax(i));
                }
                s[vs..i].to_owned()
            };
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, value));
            }
            skip_ws(&mut i);
            match b.get(i) {
                None | Some(b',') => {}
                Some(_) => return Err(DigestError::Syntax(i)),
            }
        }
        Ok(Params(out))
    }

    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub(super) fn required(&self, name: &'static str) -> Result<String, DigestError> {
        self.get(name).ok_or(DigestError::MissingParam(name))
    }

    pub(super) fn algorithm(&self) -> Result<Algorithm, DigestError> {
        self.get("algorithm")
            .map_or(Ok(Algorithm::Md5), |a| Algorithm::from_token(&a))
    }
}

/// RFC 7230 tchar.
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c)
}
