//! Properties of number parsing and role allow-lists, checked against a reference model
//! written here from the rules' plain statements (string operations only; it never calls
//! the policy code it checks).

mod policy_fixture;

use proptest::prelude::*;
use pstn_bridge::config::Config;
use pstn_bridge::policy::{
    CallerIdChoice, E164, InboundAuth, InboundDecision, InboundRequest, NumberPattern,
    OutboundDecision, OutboundRequest, Rejection, Target, decide_inbound, decide_outbound,
};

// ---------------------------------------------------------------- reference model

/// E.164 by the book: after dropping visual separators, `+`, a non-zero digit, then 6 to
/// 14 more digits (7 to 15 in all).
fn ref_e164(s: &str) -> Option<String> {
    let kept: String = s.chars().filter(|c| !" -.()".contains(*c)).collect();
    let digits = kept.strip_prefix('+')?;
    let ok = (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| kept.clone())
}

/// A pattern matches a `+digits` number: `*` all, `X*` numbers starting with X, else equal.
fn ref_matches(pattern: &str, number: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        number.starts_with(prefix)
    } else {
        pattern == number
    }
}

#[derive(Debug, PartialEq)]
enum RefVerdict {
    Allowed,
    Denied,
    NotListed,
}

fn ref_role(allow: &[String], deny: &[String], number: &str) -> RefVerdict {
    if deny.iter().any(|p| ref_matches(p, number)) {
        RefVerdict::Denied
    } else if allow.iter().any(|p| ref_matches(p, number)) {
        RefVerdict::Allowed
    } else {
        RefVerdict::NotListed
    }
}

// ---------------------------------------------------------------- generators

/// Canonical digits of a valid number: 7 to 15 digits, the first not 0.
fn digits() -> impl Strategy<Value = String> {
    ("[1-9]", "[0-9]{6,14}").prop_map(|(a, b)| format!("{a}{b}"))
}

/// Digits from a small alphabet so patterns and numbers collide often.
fn dense_digits() -> impl Strategy<Value = String> {
    ("[12]", "[0-2]{6,8}").prop_map(|(a, b)| format!("{a}{b}"))
}

/// One of the spellings a carrier or a browser may use for `+digits`.
fn spelling(digits: String) -> impl Strategy<Value = String> {
    let seps = proptest::collection::vec(
        prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("(")],
        digits.len(),
    );
    (0..7usize, seps).prop_map(move |(form, seps)| {
        let spaced: String = digits
            .chars()
            .zip(&seps)
            .map(|(c, s)| format!("{s}{c}"))
            .collect();
        let spaced = spaced.replace('(', "");
        match form {
            0 => format!("+{digits}"),
            1 => format!("+{spaced}"),
            2 => format!("tel:+{}", spaced.replace(' ', "-")),
            3 => format!("sip:+{digits}@carrier.example;user=phone"),
            4 => format!("%2B{digits}"),
            5 => format!("<sips:%2b{digits}@[2001:db8::1]:5061;transport=tls>"),
            _ => format!("  TEL:+{digits};phone-context=example.com "),
        }
    })
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_owned()),
        6 => "[12][0-2]{0,4}".prop_map(|p| format!("+{p}*")),
        3 => dense_digits().prop_map(|d| format!("+{d}")),
    ]
}

fn fixture() -> Config {
    policy_fixture::load(policy_fixture::Fixture::Base).expect("fixture loads")
}

/// `solo` owns one number and sends everything to `intl`, so only the role decides.
fn decide(cfg: &mut Config, allow: &[String], deny: &[String], to: &str) -> OutboundDecision {
    let role = cfg
        .apps
        .get_mut("solo")
        .and_then(|a| a.roles.get_mut("caller"))
        .expect("fixture role");
    role.allow = allow.to_vec();
    role.deny = deny.to_vec();
    let scopes = ["pstn".to_owned()];
    let req = OutboundRequest {
        app: "solo",
        role: "caller",
        endpoint: "prop",
        scopes: &scopes,
        to,
        caller_id: CallerIdChoice::Default,
    };
    decide_outbound(cfg, &req)
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_spelling_normalises_to_the_same_number(
        (d, s) in digits().prop_flat_map(|d| (Just(d.clone()), spelling(d)))
    ) {
        let parsed = E164::parse(&s);
        prop_assert_eq!(parsed.map(|e| e.to_string()), Ok(format!("+{d}")), "spelling {:?}", s);
    }

    #[test]
    fn distinct_numbers_never_collide(
        (a, sa) in digits().prop_flat_map(|d| (Just(d.clone()), spelling(d))),
        (b, sb) in digits().prop_flat_map(|d| (Just(d.clone()), spelling(d))),
    ) {
        let (pa, pb) = (E164::parse(&sa).ok(), E164::parse(&sb).ok());
        prop_assert!(pa.is_some() && pb.is_some());
        prop_assert_eq!(a == b, pa == pb, "{:?} vs {:?}", sa, sb);
    }

    #[test]
    fn parsing_agrees_with_the_reference(s in prop_oneof!["[+0-9 ().a*-]{0,20}", "[ (]?[+]?[0-9 ().-]{0,22}"]) {
        let got = E164::parse(&s).ok().map(|e| e.to_string());
        prop_assert_eq!(got, ref_e164(&s), "input {:?}", s);
    }

    #[test]
    fn role_decision_agrees_with_the_reference(
        allow in proptest::collection::vec(pattern(), 0..4),
        deny in proptest::collection::vec(pattern(), 0..3),
        (number, dialled) in dense_digits().prop_flat_map(|d| (Just(format!("+{d}")), spelling(d))),
    ) {
        let mut cfg = fixture();
        let got = decide(&mut cfg, &allow, &deny, &dialled);
        let want = ref_role(&allow, &deny, &number);
        match (&want, &got) {
            (RefVerdict::Allowed, OutboundDecision::Place { to, .. }) => prop_assert_eq!(to.to_string(), number),
            (RefVerdict::Denied, OutboundDecision::Reject(Rejection::DeniedNumber)) => {}
            (RefVerdict::NotListed, OutboundDecision::Reject(Rejection::ForbiddenNumber)) => {}
            _ => prop_assert!(false, "reference {:?}, got {:?}", want, got),
        }
    }

    #[test]
    fn nothing_outside_the_allow_list_is_placed(
        allow in proptest::collection::vec(pattern(), 0..4),
        (number, dialled) in dense_digits().prop_flat_map(|d| (Just(format!("+{d}")), spelling(d))),
    ) {
        let mut cfg = fixture();
        if let OutboundDecision::Place { .. } = decide(&mut cfg, &allow, &[], &dialled) {
            prop_assert!(allow.iter().any(|p| ref_matches(p, &number)), "{} placed with allow {:?}", number, allow);
        }
    }

    #[test]
    fn deny_always_wins(
        allow in proptest::collection::vec(pattern(), 0..4),
        deny_prefix_len in 1..=9usize,
        (number, dialled) in dense_digits().prop_flat_map(|d| (Just(format!("+{d}")), spelling(d))),
    ) {
        // A deny pattern built to cover the number; allow it every way too.
        let cut = deny_prefix_len.min(number.len());
        let deny = vec![format!("{}*", &number[..cut])];
        let allow: Vec<String> = allow.into_iter().chain(["*".to_owned(), number.clone()]).collect();
        let mut cfg = fixture();
        let got = decide(&mut cfg, &allow, &deny, &dialled);
        prop_assert_eq!(got, OutboundDecision::Reject(Rejection::DeniedNumber));
    }

    /// Nothing a peer or an endpoint sends panics the policy: any text in any field.
    #[test]
    fn arbitrary_input_never_panics(
        to in prop_oneof![any::<String>(), "(sip:|tel:|%2B|\\+|<)[%0-9a-fA-F+;@:<> .-]{0,30}"],
        from in any::<String>(),
        pai in proptest::option::of(any::<String>()),
        privacy_id in any::<bool>(),
    ) {
        let cfg = fixture();
        let _ = E164::parse(&to);
        let _ = NumberPattern::parse(&to);
        let req = InboundRequest {
            source: "192.0.2.7".parse().expect("literal address"),
            to: &to,
            from: &from,
            from_name: Some(&from),
            pai: pai.as_deref(),
            pai_name: pai.as_deref(),
            privacy_id,
            auth: InboundAuth::None,
        };
        let _ = decide_inbound(&cfg, &req);
        let scopes = ["pstn".to_owned()];
        for caller_id in [CallerIdChoice::Default, CallerIdChoice::Explicit(from.clone()), CallerIdChoice::Anonymous] {
            let req = OutboundRequest { app: "shop", role: "agent", endpoint: "p", scopes: &scopes, to: &to, caller_id };
            let _ = decide_outbound(&cfg, &req);
        }
    }

    /// The caller shown for an inbound call: nothing under `Privacy: id`, else PAI from a
    /// trusted trunk, else From; the DID in any spelling reaches the endpoint assigned to it.
    #[test]
    fn inbound_caller_and_did_agree_with_the_reference(
        (from, from_spelled) in digits().prop_flat_map(|d| (Just(format!("+{d}")), spelling(d))),
        (pai, pai_spelled) in digits().prop_flat_map(|d| (Just(format!("+{d}")), spelling(d))),
        (did, did_spelled) in prop_oneof![Just("14155550100"), Just("14155550101"), Just("442079460000"), Just("16175550100"), Just("14155550111")]
            .prop_flat_map(|d| (Just(format!("+{d}")), spelling(d.to_owned()))),
        trusted in any::<bool>(),
        privacy_id in any::<bool>(),
    ) {
        // Reference: the fixture's DIDs, and which source address is a trusted trunk's.
        let owner = |d: &str| match d {
            "+14155550100" => Some("alice"),
            "+14155550101" => Some("bob"),
            "+442079460000" => Some("echo"),
            "+16175550100" => Some("carol"),
            _ => None,
        };
        let source = if trusted { "192.0.2.7" } else { "192.0.2.200" };
        let want_number = if privacy_id { None } else if trusted { Some(pai.clone()) } else { Some(from.clone()) };

        let cfg = fixture();
        let req = InboundRequest {
            source: source.parse().expect("literal address"),
            to: &did_spelled,
            from: &from_spelled,
            from_name: None,
            pai: Some(&pai_spelled),
            pai_name: None,
            privacy_id,
            auth: InboundAuth::None,
        };
        match (owner(&did), decide_inbound(&cfg, &req)) {
            (Some(endpoint), InboundDecision::Route { did: d, target, caller_id, .. }) => {
                prop_assert_eq!(d.to_string(), did);
                let got = match target { Target::Endpoint(e) => e, Target::Echo => "echo".to_owned() };
                prop_assert_eq!(got, endpoint);
                prop_assert_eq!(caller_id.number, want_number);
                prop_assert_eq!(caller_id.name, None);
            }
            (None, InboundDecision::Reject(Rejection::NotADid)) => {}
            (want, got) => prop_assert!(false, "reference {:?}, got {:?}", want, got),
        }
    }
}
