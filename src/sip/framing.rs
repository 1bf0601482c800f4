//! Splitting a SIP byte stream (TCP) into messages by Content-Length (RFC 3261 §18.3).

use super::message::find_header_end;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("message larger than the limit")]
    TooLarge,
    #[error("bad Content-Length")]
    BadContentLength,
}

/// Length of the first complete message in `buf`, `Ok(None)` when more bytes are needed.
/// Leading CRLFs (keep-alives, RFC 5626) count as a message of their own length.
pub fn next_frame(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let crlfs = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if crlfs > 0 {
        return Ok(Some(crlfs));
    }
    let Some((head_end, body_start)) = find_header_end(buf) else {
        return if buf.len() > max {
            Err(FrameError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let head = &buf[..head_end];
    let mut length = 0usize;
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]);
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let value = String::from_utf8_lossy(&line[colon + 1..]);
            length = value
                .trim()
                .parse()
                .map_err(|_| FrameError::BadContentLength)?;
        }
    }
    let total = body_start.checked_add(length).ok_or(FrameError::TooLarge)?;
    if total > max {
        return Err(FrameError::TooLarge);
    }
    Ok((buf.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn frames_split_at_content_length() {
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(next_frame(&two, 1000), Ok(Some(MSG.len())));
        assert_eq!(next_frame(&MSG[..MSG.len() - 1], 1000), Ok(None));
        assert_eq!(next_frame(&MSG[..10], 1000), Ok(None));
    }

    #[test]
    fn compact_length_keepalive_and_limits() {
        assert_eq!(next_frame(b"\r\n\r\nOPTIONS", 1000), Ok(Some(4)));
        assert_eq!(
            next_frame(b"X sip:a SIP/2.0\r\nl: 2\r\n\r\nab", 1000),
            Ok(Some(27))
        );
        assert_eq!(
            next_frame(b"X sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n", 1000),
            Err(FrameError::BadContentLength)
        );
        assert_eq!(
            next_frame(b"X sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n", 1000),
            Err(FrameError::TooLarge)
        );
        assert_eq!(next_frame(&[b'a'; 2000], 1000), Err(FrameError::TooLarge));
    }
}
