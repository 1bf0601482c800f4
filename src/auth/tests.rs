use super::*;
use crate::config::{Config, EMBEDDED_DEFAULT, load_str};

const NOW: u64 = 1_800_000_000;
const SECRET_A: &str = "0123456789abcdef0123456789abcdef";
const SECRET_B: &str = "another-secret-another-secret-xx";

fn pem(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/tokens/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture")
}

fn config(extra: &str) -> Config {
    let text = format!("{EMBEDDED_DEFAULT}\n{extra}");
    load_str(&text, "test.toml", false).expect("test config loads")
}

fn two_apps() -> String {
    format!(
        r#"
[apps.demo.token_keys.k1]
alg = "HS256"
secret = "{SECRET_A}"

[apps.demo.token_keys.ec1]
alg = "ES256"
public_key_pem = '''{es_pub}'''
private_key_pem = '''{es_priv}'''

[apps.demo.token_keys.ed1]
alg = "EdDSA"
public_key_pem = '''{ed_pub}'''

[apps.other]
trunks = ["loopback"]
[apps.other.roles.agent]
allow = ["+1*"]
[apps.other.token_keys.o1]
alg = "HS256"
secret = "{SECRET_B}"
[apps.other.token_keys.k1]
alg = "HS256"
secret = "{SECRET_B}"
"#,
        es_pub = pem("es256_public.pem"),
        es_priv = pem("es256_private.pem"),
        ed_pub = pem("ed25519_public.pem"),
    )
}

fn keys() -> TokenKeys {
    let (keys, generated) = TokenKeys::from_config(&config(&two_apps())).expect("keys");
    assert!(generated.is_empty());
    keys
}

fn raw(
    alg: jsonwebtoken::Algorithm,
    kid: &str,
    key: &jsonwebtoken::EncodingKey,
    claims: serde_json::Value,
) -> String {
    let mut h = jsonwebtoken::Header::new(alg);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, &claims, key).expect("encode")
}

fn hs(kid: &str, secret: &str, claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    raw(jsonwebtoken::Algorithm::HS256, kid, &key, claims)
}

fn claims(app: &str) -> serde_json::Value {
    serde_json::json!({"app": app, "sub": "alice", "role": "agent", "scopes": ["pstn"],
        "iat": NOW, "exp": NOW + 600})
}

#[test]
fn mint_round_trip_uses_first_signing_kid() {
    let k = keys();
    let t = k
        .mint("demo", "alice", "agent", &["pstn".into()], 600, NOW)
        .expect("mint");
    let c = k.verify(&t, NOW + 10).expect("verify");
    assert_eq!(
        (c.app.as_str(), c.endpoint.as_str(), c.role.as_str()),
        ("demo", "alice", "agent")
    );
    assert!(c.has_scope("pstn"));
    assert_eq!((c.iat, c.exp, c.kid.as_str()), (NOW, NOW + 600, "ec1"));
}

#[test]
fn es256_round_trip_and_ed25519_verify() {
    let k = keys();
    // ec1 sorts first among demo's signing keys.
    let t = k.mint("demo", "bob", "agent", &[], 60, NOW).expect("mint");
    let h = jsonwebtoken::decode_header(&t).expect("header");
    assert_eq!(h.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(
        k.verify(&t, NOW).expect("verify").scopes,
        Vec::<String>::new()
    );
    let ed =
        jsonwebtoken::EncodingKey::from_ed_pem(pem("ed25519_private.pem").as_bytes()).expect("ed");
    let t = raw(jsonwebtoken::Algorithm::EdDSA, "ed1", &ed, claims("demo"));
    assert_eq!(k.verify(&t, NOW).expect("verify").kid, "ed1");
}

#[test]
fn hs256_token_from_a_backend_verifies() {
    let t = hs("k1", SECRET_A, claims("demo"));
    assert_eq!(keys().verify(&t, NOW).expect("verify").kid, "k1");
}

#[test]
fn expiry_and_not_before_with_leeway() {
    let k = keys();
    let t = hs("k1", SECRET_A, claims("demo"));
    assert!(k.verify(&t, NOW + 600 + LEEWAY_S).is_ok());
    assert!(matches!(
        k.verify(&t, NOW + 601 + LEEWAY_S),
        Err(TokenError::Expired { .. })
    ));
    assert!(k.verify(&t, NOW - LEEWAY_S).is_ok());
    assert!(matches!(
        k.verify(&t, NOW - LEEWAY_S - 1),
        Err(TokenError::NotYetValid { .. })
    ));
    let mut c = claims("demo");
    c["nbf"] = (NOW + 300).into();
    let t = hs("k1", SECRET_A, c);
    assert!(
        matches!(k.verify(&t, NOW), Err(TokenError::NotYetValid { at, .. }) if at == NOW + 300)
    );
}

#[test]
fn forged_signature_is_refused() {
    let k = keys();
    let t = hs("k1", "a-different-secret-of-32-bytes!!!", claims("demo"));
    let e = k.verify(&t, NOW).unwrap_err();
    assert!(matches!(e, TokenError::BadSignature { .. }), "{e}");
    // Tampered payload keeps the original signature.
    let good = hs("k1", SECRET_A, claims("demo"));
    let mut parts: Vec<&str> = good.split('.').collect();
    let evil = hs(
        "k1",
        SECRET_A,
        serde_json::json!({"app": "demo", "sub": "mallory", "role": "agent", "scopes": ["pstn"], "iat": NOW, "exp": NOW + 99999}),
    );
    let evil_payload = evil.split('.').nth(1).expect("payload");
    parts[1] = evil_payload;
    assert!(matches!(
        k.verify(&parts.join("."), NOW),
        Err(TokenError::BadSignature { .. })
    ));
}

#[test]
fn alg_none_and_alg_confusion_are_refused() {
    let k = keys();
    // HS256 token on an ES256 kid, "signed" with the public key as an HMAC secret.
    let t = hs("ec1", &pem("es256_public.pem"), claims("demo"));
    assert!(matches!(
        k.verify(&t, NOW),
        Err(TokenError::WrongAlgorithm { .. })
    ));
    let none = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJhcHAiOiJkZW1vIn0.";
    assert!(k.verify(none, NOW).is_err());
}

#[test]
fn wrong_app_is_refused() {
    let k = keys();
    // Claims app demo, signed with other's key o1 (a kid demo does not have).
    let e = k
        .verify(&hs("o1", SECRET_B, claims("demo")), NOW)
        .unwrap_err();
    assert!(
        matches!(&e, TokenError::WrongApp { key_app, .. } if &**key_app == "other"),
        "{e}"
    );
    // Claims app demo, kid k1 exists in both apps, signed with other's k1.
    let e = k
        .verify(&hs("k1", SECRET_B, claims("demo")), NOW)
        .unwrap_err();
    assert!(
        matches!(&e, TokenError::WrongApp { key_app, .. } if &**key_app == "other"),
        "{e}"
    );
    // Claims app other, signed with demo's k1.
    let e = k
        .verify(&hs("k1", SECRET_A, claims("other")), NOW)
        .unwrap_err();
    assert!(matches!(e, TokenError::WrongApp { .. }), "{e}");
    let e = k
        .verify(&hs("k1", SECRET_A, claims("nope")), NOW)
        .unwrap_err();
    assert!(matches!(e, TokenError::UnknownApp { .. }), "{e}");
    assert!(e.to_string().contains("nope"));
}

#[test]
fn unknown_kid_is_refused() {
    let e = keys()
        .verify(&hs("zz", SECRET_A, claims("demo")), NOW)
        .unwrap_err();
    assert!(matches!(e, TokenError::UnknownKey { .. }), "{e}");
    assert_eq!(e.to_string(), "app `demo` has no key with kid `zz`");
}

#[test]
fn missing_and_bad_claims() {
    let k = keys();
    for (claim, want) in [
        ("scopes", "scopes"),
        ("sub", "sub"),
        ("exp", "exp"),
        ("iat", "iat"),
        ("app", "app"),
    ] {
        let mut c = claims("demo");
        c.as_object_mut().expect("object").remove(claim);
        let e = k.verify(&hs("k1", SECRET_A, c), NOW).unwrap_err();
        assert_eq!(e, TokenError::MissingClaim(want), "{claim}");
    }
    let mut c = claims("demo");
    c["scopes"] = "pstn".into();
    assert!(matches!(
        k.verify(&hs("k1", SECRET_A, c), NOW),
        Err(TokenError::InvalidClaim {
            claim: "scopes",
            ..
        })
    ));
    let mut c = claims("demo");
    c["role"] = "admin".into();
    assert!(matches!(
        k.verify(&hs("k1", SECRET_A, c), NOW),
        Err(TokenError::UnknownRole { .. })
    ));
    // No role: the app's default_role.
    let mut c = claims("demo");
    c.as_object_mut().expect("object").remove("role");
    assert_eq!(
        k.verify(&hs("k1", SECRET_A, c), NOW).expect("verify").role,
        "agent"
    );
    let mut no_header_kid = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    no_header_kid.kid = None;
    let t = jsonwebtoken::encode(
        &no_header_kid,
        &claims("demo"),
        &jsonwebtoken::EncodingKey::from_secret(SECRET_A.as_bytes()),
    )
    .expect("encode");
    assert!(matches!(
        k.verify(&t, NOW),
        Err(TokenError::MissingClaim(_))
    ));
}

#[test]
fn garbage_is_malformed() {
    let k = keys();
    for g in [
        "",
        "   ",
        "abc",
        "a.b.c",
        "....",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        &"x".repeat(10_000),
    ] {
        assert!(k.verify(g, NOW).is_err(), "{g}");
    }
}

#[test]
fn mint_checks() {
    let k = keys();
    assert!(matches!(
        k.mint("demo", "a", "admin", &[], 60, NOW),
        Err(TokenError::UnknownRole { .. })
    ));
    assert!(matches!(
        k.mint("demo", "a", "agent", &[], 0, NOW),
        Err(TokenError::InvalidTtl { .. })
    ));
    assert!(matches!(
        k.mint("demo", "", "agent", &[], 60, NOW),
        Err(TokenError::InvalidClaim { .. })
    ));
    assert!(matches!(
        k.mint("zz", "a", "agent", &[], 60, NOW),
        Err(TokenError::UnknownApp { .. })
    ));
}

#[test]
fn default_config_generates_a_key() {
    let cfg = config("");
    let (k, generated) = TokenKeys::from_config(&cfg).expect("keys");
    assert_eq!(generated, vec!["demo".to_owned()]);
    assert!(k.is_generated("demo"));
    let t = k
        .mint("demo", "alice", "agent", &["pstn".into()], 60, NOW)
        .expect("mint");
    assert_eq!(k.verify(&t, NOW).expect("verify").kid, GENERATED_KID);
    // Another start-up: another key.
    let (k2, _) = TokenKeys::from_config(&cfg).expect("keys");
    assert!(matches!(
        k2.verify(&t, NOW),
        Err(TokenError::BadSignature { .. })
    ));
    assert!(generated_key_notice("demo").starts_with("app demo has no token keys"));
}

#[tokio::test]
async fn dev_mint_only_on_loopback_and_generated_keys() {
    let (k, _) = TokenKeys::from_config(&config("")).expect("keys");
    let body = serde_json::json!({"app": "demo", "endpoint": "alice", "role": "agent"});
    let far: std::net::SocketAddr = "192.0.2.1:5000".parse().expect("addr");
    let e = dev_mint::mint_dev_token(&k, far, body.clone(), NOW)
        .await
        .unwrap_err();
    assert_eq!(e.0, 403);
    for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
        let v = dev_mint::mint_dev_token(&k, peer.parse().expect("addr"), body.clone(), NOW)
            .await
            .expect("mint");
        let t = v["token"].as_str().expect("token");
        assert!(k.verify(t, NOW).expect("verify").has_scope("pstn"));
    }
    let bad = serde_json::json!({"app": "demo"});
    let lo: std::net::SocketAddr = "127.0.0.1:1".parse().expect("addr");
    assert_eq!(
        dev_mint::mint_dev_token(&k, lo, bad, NOW)
            .await
            .unwrap_err()
            .0,
        400
    );
    let configured = keys();
    assert_eq!(
        dev_mint::mint_dev_token(&configured, lo, body, NOW)
            .await
            .unwrap_err()
            .0,
        403
    );
}
