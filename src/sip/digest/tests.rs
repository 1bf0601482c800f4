use super::*;

/// RFC 2617 §3.5.
const RFC2617_AUTH: &str = r#"Digest username="Mufasa",
    realm="testrealm@host.com",
    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    uri="/dir/index.html",
    qop=auth,
    nc=00000001,
    cnonce="0a4f113b",
    response="6629fae49393a05397450978507c4ef1",
    opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

/// RFC 7616 §3.9.1.
const RFC7616_CHALLENGE: &str = r#"Digest
    realm="http-auth@example.org",
    qop="auth, auth-int",
    algorithm=SHA-256,
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

#[test]
fn rfc2617_md5_vector_verifies() {
    let c = Credentials::parse(RFC2617_AUTH).unwrap();
    assert_eq!(c.nc, Some(1));
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert!(verify(&c, "GET", "Circle Of Life"));
    assert!(!verify(&c, "GET", "circle of life"));
    assert!(!verify(&c, "POST", "Circle Of Life"));
}

#[test]
fn rfc7616_sha256_and_md5_vectors() {
    let ch = Challenge::parse(RFC7616_CHALLENGE).unwrap();
    assert_eq!(ch.algorithm, Algorithm::Sha256);
    assert_eq!(ch.qop, ["auth", "auth-int"]);
    let uri = "/dir/index.html";
    let c = respond(
        &ch,
        "GET",
        uri,
        "Mufasa",
        "Circle of Life",
        RFC7616_CNONCE,
        1,
    );
    assert_eq!(
        c.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(c.opaque, ch.opaque);
    assert!(verify(&c, "GET", "Circle of Life"));

    let md5 = Challenge {
        algorithm: Algorithm::Md5,
        ..ch
    };
    let c = respond(
        &md5,
        "GET",
        uri,
        "Mufasa",
        "Circle of Life",
        RFC7616_CNONCE,
        1,
    );
    assert_eq!(c.response, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn round_trips_through_display() {
    let ch = Challenge::parse(RFC7616_CHALLENGE).unwrap();
    let text = ch.to_string();
    assert!(text.starts_with(r#"Digest realm="http-auth@example.org", nonce="7ypf"#));
    assert!(text.contains("algorithm=SHA-256"));
    assert_eq!(Challenge::parse(&text).unwrap(), ch);

    let stale = Challenge {
        stale: true,
        qop: vec!["auth".into()],
        ..ch.clone()
    };
    assert!(stale.to_string().ends_with(r#"qop="auth", stale=true"#));
    assert_eq!(Challenge::parse(&stale.to_string()).unwrap(), stale);

    for alg in [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ] {
        let ch = Challenge {
            algorithm: alg,
            ..ch.clone()
        };
        let c = respond(
            &ch,
            "INVITE",
            "sip:+15551234567@carrier.example",
            "trunk",
            "pw",
            "abc",
            7,
        );
        let parsed = Credentials::parse(&c.to_string()).unwrap();
        assert_eq!(parsed, c);
        assert!(verify(&parsed, "INVITE", "pw"), "{alg}");
        assert!(!verify(&parsed, "INVITE", "wrong"), "{alg}");
    }
}

#[test]
fn legacy_without_qop() {
    let ch = Challenge::parse(r#"Digest realm="sip.example", nonce="abc""#).unwrap();
    assert_eq!(ch.algorithm, Algorithm::Md5);
    let c = respond(
        &ch,
        "REGISTER",
        "sip:sip.example",
        "bob",
        "zanzibar",
        "x",
        1,
    );
    assert_eq!(
        (c.qop.as_ref(), c.cnonce.as_ref(), c.nc),
        (None, None, None)
    );
    let text = c.to_string();
    assert!(!text.contains("nc=") && !text.contains("cnonce"));
    assert!(verify(
        &Credentials::parse(&text).unwrap(),
        "REGISTER",
        "zanzibar"
    ));
}

#[test]
fn parser_is_lenient_where_it_may_be() {
    let ch = Challenge::parse(
        "digest   REALM = \"a \\\"quoted\\\\ realm\" ,,NONCE=tok/en+1 ,  Algorithm = sha-256 , \
         foo=\"ignored\", STALE=TRUE, nonce=\"second is ignored\"",
    )
    .unwrap();
    assert_eq!(ch.realm, "a \"quoted\\ realm");
    assert_eq!(ch.nonce, "tok/en+1");
    assert_eq!(ch.algorithm, Algorithm::Sha256);
    assert!(ch.stale);
    assert_eq!(Challenge::parse(&ch.to_string()).unwrap(), ch);
}

#[test]
fn malformed_inputs_are_errors() {
    use DigestError::*;
    let cases: &[(&str, DigestError)] = &[
        ("", NotDigest),
        ("Basic realm=\"x\"", NotDigest),
        ("Digest realm=\"x\"", MissingParam("nonce")),
        (
            "Digest realm=\"x\", nonce=\"y\", algorithm=SHA-512",
            UnsupportedAlgorithm,
        ),
        ("Digest realm=\"unterminated, nonce=\"y\"", Syntax(0)),
        ("Digest realm=\"x\\", Syntax(0)),
        ("Digest realm=", Syntax(0)),
        ("Digest =x", Syntax(0)),
        ("Digest realm x", Syntax(0)),
        ("Digest realm=\"x\" nonce=\"y\"", Syntax(0)),
        ("Digest realm=\"é\"x", Syntax(0)),
    ];
    for (input, want) in cases {
        let got = Challenge::parse(input).unwrap_err();
        match (want, got) {
            (Syntax(_), Syntax(_)) => {}
            _ => assert_eq!(got, *want, "{input:?}"),
        }
    }
    let bad_nc = RFC2617_AUTH.replace("nc=00000001", "nc=1");
    assert_eq!(Credentials::parse(&bad_nc), Err(InvalidNc));
    let bad_nc = RFC2617_AUTH.replace("nc=00000001", "nc=0000000g");
    assert_eq!(Credentials::parse(&bad_nc), Err(InvalidNc));
    let no_resp = RFC2617_AUTH.replace("response=", "xresponse=");
    assert_eq!(Credentials::parse(&no_resp), Err(MissingParam("response")));
}

#[test]
fn parser_never_panics_on_prefixes_and_garbage() {
    for s in [RFC2617_AUTH, RFC7616_CHALLENGE, "Digest a=\"\\é\", b=ü"] {
        for (i, _) in s.char_indices() {
            let _ = Challenge::parse(&s[..i]);
            let _ = Credentials::parse(&s[i..]);
        }
    }
}

#[test]
fn verify_rejects_inconsistent_credentials() {
    let mut c = Credentials::parse(RFC2617_AUTH).unwrap();
    c.cnonce = None;
    assert!(!verify(&c, "GET", "Circle Of Life"));
    let mut c = Credentials::parse(RFC2617_AUTH).unwrap();
    c.qop = Some("auth-int".into());
    assert!(!verify(&c, "GET", "Circle Of Life"));
    let mut c = Credentials::parse(RFC2617_AUTH).unwrap();
    c.response = c.response.to_ascii_uppercase();
    assert!(verify(&c, "GET", "Circle Of Life"));
    c.response.pop();
    assert!(!verify(&c, "GET", "Circle Of Life"));
}

#[test]
fn nonces_are_fresh_then_stale_and_unforgeable() {
    let mut issuer = NonceIssuer::new([7; 32], 300);
    let a = issuer.issue(1_000);
    let b = issuer.issue(1_000);
    assert_ne!(a, b);
    assert_eq!(issuer.check(&a, 1_000), NonceCheck::Valid);
    assert_eq!(issuer.check(&a, 1_300), NonceCheck::Valid);
    assert_eq!(issuer.check(&a, 1_301), NonceCheck::Stale);
    assert_eq!(
        issuer.check(&a.to_ascii_uppercase(), 1_000),
        NonceCheck::Invalid
    );

    let other = NonceIssuer::new([8; 32], 300);
    assert_eq!(other.check(&a, 1_000), NonceCheck::Invalid);
    // Rewriting the timestamp breaks the MAC.
    let forged = format!("{:016x}{}", 2_000u64, &a[16..]);
    assert_eq!(issuer.check(&forged, 2_000), NonceCheck::Invalid);
    for junk in [
        "",
        "zz",
        &a[1..],
        &format!("{a}0"),
        &a.replace(&a[..1], "g"),
    ] {
        assert_eq!(issuer.check(junk, 1_000), NonceCheck::Invalid, "{junk}");
    }
    let mut random = NonceIssuer::random(60);
    let n = random.issue(5);
    assert_eq!(random.check(&n, 6), NonceCheck::Valid);
}

proptest::proptest! {
    #[test]
    fn parsers_never_panic(s in "(?s)[Dd]igest[ ,=\"\\\\a-zA-Z0-9é/-]{0,80}") {
        let _ = Challenge::parse(&s);
        let _ = Credentials::parse(&s);
    }

    #[test]
    fn challenge_display_round_trips(realm in "\\PC{0,20}", nonce in "[ -~]{1,40}", stale: bool) {
        let ch = Challenge {
            realm, nonce, opaque: None, algorithm: Algorithm::Sha256,
            qop: vec!["auth".into()], stale,
        };
        proptest::prop_assert_eq!(Challenge::parse(&ch.to_string()), Ok(ch));
    }
}
