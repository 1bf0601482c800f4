//! Endpoint tokens end to end: config validation of `token_keys`, the `token` command, and
//! verification never panicking on arbitrary input.

use std::process::Command;

use proptest::prelude::*;
use pstn_bridge::auth::{TokenError, TokenKeys};
use pstn_bridge::config::{EMBEDDED_DEFAULT, load_str};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn pem(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/tokens/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture")
}

fn load(extra: &str) -> Result<pstn_bridge::config::Config, pstn_bridge::config::ConfigError> {
    load_str(&format!("{EMBEDDED_DEFAULT}\n{extra}"), "t.toml", false)
}

fn key_error(key: &str) -> (String, String) {
    let e = load(&format!("[apps.demo.token_keys.k1]\n{key}\n")).expect_err("must fail");
    assert_eq!(e.file, "t.toml");
    (e.key, e.reason)
}

#[test]
fn config_validation_names_file_key_and_reason() {
    let cases = [
        (
            "alg = \"RS256\"\nsecret = \"x\"",
            "apps.demo.token_keys.k1",
            "not supported",
        ),
        (
            "alg = \"HS256\"",
            "apps.demo.token_keys.k1",
            "needs `secret`",
        ),
        (
            "alg = \"HS256\"\nsecret = \"short\"",
            "apps.demo.token_keys.k1",
            "5 bytes",
        ),
        (
            "alg = \"ES256\"",
            "apps.demo.token_keys.k1",
            "needs `public_key_pem`",
        ),
        (
            "alg = \"ES256\"\npublic_key_pem = \"nope\"",
            "apps.demo.token_keys.k1",
            "not a valid ES256 public key",
        ),
        (
            &format!("alg = \"ES256\"\nsecret = \"{SECRET}\""),
            "apps.demo.token_keys.k1",
            "take no `secret`",
        ),
    ];
    for (body, key, reason) in cases {
        let (k, r) = key_error(body);
        assert_eq!(k, key, "{body}");
        assert!(r.contains(reason), "{body}: {r}");
    }
    // A P-256 key declared as EdDSA, and a private key that is not the public key's pair.
    let (_, r) = key_error(&format!(
        "alg = \"EdDSA\"\npublic_key_pem = '''{}'''",
        pem("es256_public.pem")
    ));
    assert!(r.contains("EdDSA public key"), "{r}");
    let (_, r) = key_error(&format!(
        "alg = \"ES256\"\npublic_key_pem = '''{}'''\nprivate_key_pem = '''{}'''",
        pem("es256_public.pem"),
        pem("es256_other_private.pem")
    ));
    assert!(r.contains("does not match"), "{r}");
    let e = load("[apps.demo.token_keys.k1]\nalg = \"HS256\"\nsekret = \"x\"\n")
        .expect_err("unknown key");
    assert!(e.to_string().contains("sekret"), "{e}");
    let e = load(&format!(
        "[apps.demo.token_keys.\"a.b\"]\nalg = \"HS256\"\nsecret = \"{SECRET}\"\n"
    ));
    assert!(e.is_err(), "a kid with a dot is refused");
}

#[test]
fn kid_keeps_its_case() {
    let cfg = load(&format!(
        "[apps.demo.token_keys.Key-2026]\nalg = \"HS256\"\nsecret = \"{SECRET}\"\n"
    ))
    .expect("loads");
    assert!(cfg.apps["demo"].token_keys.contains_key("Key-2026"));
}

fn config_file(name: &str, extra: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pstn-bridge-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, format!("{EMBEDDED_DEFAULT}\n{extra}")).expect("write config");
    path
}

fn token_cmd(config: &std::path::Path, extra: &[&str]) -> std::process::Output {
    token_cmd_as(config, "agent", extra)
}

fn token_cmd_as(config: &std::path::Path, role: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pstn-bridge"))
        .args(["token", "--config"])
        .arg(config)
        .args(["--app", "demo", "--endpoint", "alice", "--role", role])
        .args(extra)
        .output()
        .expect("run pstn-bridge")
}

#[test]
fn cli_prints_a_token_that_verifies() {
    let extra = format!("[apps.demo.token_keys.k1]\nalg = \"HS256\"\nsecret = \"{SECRET}\"\n");
    let path = config_file("cli-ok", &extra);
    let out = token_cmd(
        &path,
        &["--ttl", "120", "--scope", "pstn", "--scope", "video"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(token.lines().count(), 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (keys, _) = TokenKeys::from_config(&load(&extra).expect("loads")).expect("keys");
    let c = keys.verify(token.trim(), now).expect("verifies");
    assert_eq!((c.endpoint.as_str(), c.role.as_str()), ("alice", "agent"));
    assert_eq!(c.scopes, ["pstn", "video"]);
    assert!(c.exp - c.iat == 120);
    std::fs::remove_file(path).ok();
}

#[test]
fn cli_refuses_an_app_without_configured_keys() {
    let path = config_file("cli-none", "");
    let out = token_cmd(&path, &[]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no configured token keys"), "{err}");
}

#[test]
fn cli_refuses_a_public_only_key_and_an_unknown_role() {
    let extra = format!(
        "[apps.demo.token_keys.pub1]\nalg = \"EdDSA\"\npublic_key_pem = '''{}'''\n",
        pem("ed25519_public.pem")
    );
    let path = config_file("cli-pub", &extra);
    let out = token_cmd(&path, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key this bridge can sign with"));
    std::fs::remove_file(&path).ok();
    let path = config_file(
        "cli-role",
        &format!("[apps.demo.token_keys.k1]\nalg = \"HS256\"\nsecret = \"{SECRET}\"\n"),
    );
    let out = token_cmd_as(&path, "admin", &[]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no role `admin`"));
}

fn demo_keys() -> TokenKeys {
    let extra = format!("[apps.demo.token_keys.k1]\nalg = \"HS256\"\nsecret = \"{SECRET}\"\n");
    TokenKeys::from_config(&load(&extra).expect("loads"))
        .expect("keys")
        .0
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,300}") {
        let keys = demo_keys();
        prop_assert!(keys.verify(&s, 1_800_000_000).is_err());
    }

    #[test]
    fn jwt_shaped_garbage_never_panics(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,90}") {
        let keys = demo_keys();
        let t = format!("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0{a}.{b}.{c}");
        prop_assert!(keys.verify(&t, 1_800_000_000).is_err());
    }

    #[test]
    fn tampered_tokens_are_refused(pos in 0usize..400, ch in "[A-Za-z0-9_-]") {
        let keys = demo_keys();
        let t = keys.mint("demo", "alice", "agent", &["pstn".into()], 600, 1_800_000_000).expect("mint");
        let pos = pos % t.len();
        let mut bytes = t.clone().into_bytes();
        if bytes[pos] == b'.' || bytes[pos] == ch.as_bytes()[0] { return Ok(()); }
        bytes[pos] = ch.as_bytes()[0];
        let t2 = String::from_utf8(bytes).expect("ascii");
        // Base64url's last character can carry unused bits; anything else must fail.
        if let Ok(c) = keys.verify(&t2, 1_800_000_000) {
            prop_assert_eq!(c.endpoint, "alice");
        }
    }
}

#[test]
fn errors_have_codes() {
    let keys = demo_keys();
    let e = keys.verify("nope", 0).unwrap_err();
    assert!(matches!(e, TokenError::Malformed(_)));
    assert_eq!(e.code(), "token_malformed");
}

#[test]
fn docs_name_every_error_code_and_the_leeway() {
    let doc = include_str!("../docs/tokens.md");
    for code in [
        "token_malformed",
        "token_expired",
        "token_not_yet_valid",
        "token_unknown_key",
        "token_claims",
        "token_invalid",
    ] {
        assert!(doc.contains(&format!("`{code}`")), "{code}");
    }
    assert!(doc.contains(&format!(
        "{} seconds of clock skew",
        pstn_bridge::auth::LEEWAY_S
    )));
}
