//! Running the real daemon binary and SIPp against it, on loopback, bounded in time.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    pub sip_udp: SocketAddr,
    pub sip_tcp: Option<SocketAddr>,
    pub http: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
    _dir: TempDir,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n: u64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let p = std::env::temp_dir().join(format!("pstn-bridge-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Daemon {
    /// Starts `pstn-bridge --config` on `config` (TOML) and waits for its "listening" line.
    pub fn start(config: &str) -> Daemon {
        let dir = TempDir::new("daemon");
        let path = dir.0.join("config.toml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pstn-bridge"))
            .arg("--config")
            .arg(&path)
            .env("PSTN_BRIDGE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pstn-bridge");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!("daemon did not start: {:?}", log.lock().expect("log lock"))
            });
        let field = |name: &str| -> Option<SocketAddr> {
            let rest = line.split(&format!("{name}=")).nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        };
        Daemon {
            child,
            sip_udp: field("sip_udp").expect("sip_udp in the listening line"),
            sip_tcp: field("sip_tcp"),
            http: field("http").expect("http in the listening line"),
            log,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Sends a signal and waits (bounded) for exit.
    pub fn signal(&mut self, sig: &str) -> Option<std::process::ExitStatus> {
        self.send_signal(sig);
        self.wait_exit(Duration::from_secs(15))
    }

    pub fn send_signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn http_get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.http).expect("connect http");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (code, body)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free local UDP port (bound and released; good enough on a quiet loopback).
pub fn free_udp_port(ip: &str) -> u16 {
    let s = std::net::UdpSocket::bind((ip, 0)).expect("bind");
    s.local_addr().expect("addr").port()
}

pub fn require_tool(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{tool}` is not installed: run the README's test command, which installs it"
    );
}

/// Runs SIPp as a UAC against `target` with `scenario` and extra args; bounded by `limit`.
pub fn sipp(
    scenario: &Path,
    target: SocketAddr,
    local_ip: &str,
    args: &[&str],
    limit: Duration,
) -> Output {
    require_tool("sipp");
    let port = free_udp_port(local_ip).to_string();
    let mut cmd = Command::new("timeout");
    cmd.arg(limit.as_secs().to_string())
        .arg("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(target.to_string())
        .args(["-i", local_ip, "-p", &port, "-nostdin", "-timeout_error"])
        .args([
            "-timeout",
            &format!("{}s", limit.as_secs().saturating_sub(2).max(1)),
        ])
        .args(args)
        .stdin(Stdio::null());
    cmd.output().expect("run sipp")
}

/// Reads a scenario from tests/sipp and fills in `@NAME@` placeholders.
pub fn scenario(name: &str, dir: &TempDir, subst: &[(&str, &str)]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name);
    let mut text = std::fs::read_to_string(&src).expect("scenario file");
    for (k, v) in subst {
        text = text.replace(&format!("@{k}@"), v);
    }
    let out = dir.0.join(name);
    std::fs::write(&out, text).expect("write scenario");
    out
}

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
