//! The daemon's HTTP side as the generator needs it: `/metrics` samples (so a remote
//! deployment is measured the same way) and development tokens. Plain HTTP/1.1.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The daemon's process counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub cpu_seconds: f64,
    pub rss_bytes: f64,
    pub active_calls: f64,
}

/// `host:port` of an `http://host:port[/...]` URL.
pub fn authority(base: &str) -> Result<&str, String> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("--daemon {base}: only http:// URLs are supported"))?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

/// One request; returns the status code and body.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let host = authority(base)?;
    let go = async {
        let mut s = TcpStream::connect(host).await?;
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/json\r\n"
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), go)
        .await
        .map_err(|_| format!("{base}{path}: no answer in 10 s"))?
        .map_err(|e| format!("{base}{path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{base}{path}: not an HTTP response"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_owned()
    };
    Ok((code, body))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub async fn sample(base: &str) -> Result<Sample, String> {
    let (code, body) = request(base, "GET", "/metrics", "").await?;
    if code != 200 {
        return Err(format!("{base}/metrics answered {code}"));
    }
    parse_sample(&body, Instant::now())
}

pub fn parse_sample(text: &str, at: Instant) -> Result<Sample, String> {
    let value = |name: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .ok_or_else(|| format!("/metrics has no {name}"))
    };
    Ok(Sample {
        at,
        cpu_seconds: value("process_cpu_seconds_total")?,
        rss_bytes: value("process_resident_memory_bytes")?,
        active_calls: value("active_calls").unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_process_counters() {
        let text = "# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\nprocess_resident_memory_bytes 1.048576e+07\nactive_calls 3\nsip_requests_total{method=\"INVITE\"} 9\n";
        let s = parse_sample(text, Instant::now()).expect("parses");
        assert_eq!(s.cpu_seconds, 12.5);
        assert_eq!(s.rss_bytes, 10_485_760.0);
        assert_eq!(s.active_calls, 3.0);
        assert!(parse_sample("active_calls 1\n", Instant::now()).is_err());
    }

    #[test]
    fn urls_and_chunks() {
        assert_eq!(
            authority("http://127.0.0.1:8080/").unwrap(),
            "127.0.0.1:8080"
        );
        assert!(authority("https://x").is_err());
        assert_eq!(
            unchunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
