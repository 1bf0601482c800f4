//! One case table for the dial plan: every rule and its edges, driving `decide_inbound`,
//! `decide_outbound` and configuration validation alike.

mod policy_fixture;

use std::collections::HashSet;

use policy_fixture::{Fixture, load};
use pstn_bridge::policy::{
    CallerIdChoice, Dialable, InboundAuth, InboundDecision, InboundRequest, OutboundDecision,
    OutboundRequest, Rejection as R, Target, decide_inbound, decide_outbound,
};

use Fixture::{Base, Default as Demo, With};

struct Case {
    name: &'static str,
    config: Fixture,
    run: Run,
}

enum Run {
    /// Loading fails at this key, the reason containing this text.
    Invalid(&'static str, &'static str),
    In(In, InExpect),
    Out(Out, OutExpect),
}

#[derive(Clone, Copy)]
struct In {
    source: &'static str,
    to: &'static str,
    from: &'static str,
    from_name: Option<&'static str>,
    pai: Option<&'static str>,
    pai_name: Option<&'static str>,
    privacy_id: bool,
    auth: Auth,
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Verified(&'static str),
    Failed,
}

const IN: In = In {
    source: "192.0.2.7",
    to: "sip:+14155550100@bridge;user=phone",
    from: "sip:+12125550123@192.0.2.7",
    from_name: Some("Bob"),
    pai: None,
    pai_name: None,
    privacy_id: false,
    auth: Auth::None,
};

enum InExpect {
    /// trunk, app, did, endpoint (or "echo"), caller number, caller name.
    Route(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    ),
    Challenge,
    Reject(R),
}

#[derive(Clone, Copy)]
struct Out {
    app: &'static str,
    role: &'static str,
    pstn_scope: bool,
    to: &'static str,
    caller: Caller,
}

#[derive(Clone, Copy)]
enum Caller {
    Default,
    Explicit(&'static str),
    Anonymous,
}

const OUT: Out = Out {
    app: "shop",
    role: "agent",
    pstn_scope: true,
    to: "+12125550123",
    caller: Caller::Default,
};

enum OutExpect {
    /// trunk, dialled, From user, PAI, Privacy: id.
    Place(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        bool,
    ),
    Reject(R),
}

use InExpect::{Challenge, Route};
use OutExpect::Place;
use Run::{In as I, Invalid, Out as O};

const fn case(name: &'static str, config: Fixture, run: Run) -> Case {
    Case { name, config, run }
}

// One row per rule or edge; kept one line each so the table reads as a table.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- inbound: trunk identification
    case("address match, caller from From", Base, I(IN, Route("carrier", "shop", "+14155550100", "alice", Some("+12125550123"), Some("Bob")))),
    case("longest prefix wins, untrusted ignores PAI", Base, I(In { source: "192.0.2.200", pai: Some("tel:+13125550000"), ..IN }, Route("carrier_edge", "shop", "+14155550100", "alice", Some("+12125550123"), Some("Bob")))),
    case("IPv4-mapped IPv6 source", Base, I(In { source: "::ffff:192.0.2.7", ..IN }, Route("carrier", "shop", "+14155550100", "alice", Some("+12125550123"), Some("Bob")))),
    case("no address, a trunk takes credentials: challenge", Base, I(In { source: "10.0.0.1", ..IN }, Challenge)),
    case("no address, no credentials anywhere: refused", Demo, I(In { source: "10.0.0.1", to: "+14155550100", ..IN }, InExpect::Reject(R::UnknownSource))),
    case("verified digest names the trunk", Base, I(In { source: "10.0.0.1", auth: Auth::Verified("intl"), ..IN }, Route("intl", "shop", "+14155550100", "alice", Some("+12125550123"), Some("Bob")))),
    case("trunk names are case-insensitive", Base, I(In { source: "10.0.0.1", auth: Auth::Verified("INTL"), ..IN }, Route("intl", "shop", "+14155550100", "alice", Some("+12125550123"), Some("Bob")))),
    case("verified for a trunk without credentials", Base, I(In { auth: Auth::Verified("carrier"), ..IN }, InExpect::Reject(R::BadCredentials))),
    case("failed digest refused even from a known address", Base, I(In { auth: Auth::Failed, ..IN }, InExpect::Reject(R::BadCredentials))),
    // --- inbound: DID
    case("national 10-digit To", Base, I(In { to: "4155550101", ..IN }, Route("carrier", "shop", "+14155550101", "bob", Some("+12125550123"), Some("Bob")))),
    case("national To with trunk prefix", Base, I(In { to: "sip:14155550101@bridge", ..IN }, Route("carrier", "shop", "+14155550101", "bob", Some("+12125550123"), Some("Bob")))),
    case("international prefix To, echo DID", Base, I(In { to: "011442079460000", ..IN }, Route("carrier", "shop", "+442079460000", "echo", Some("+12125550123"), Some("Bob")))),
    case("%2B-escaped To", Base, I(In { to: "sip:%2B16175550100@bridge", ..IN }, Route("carrier", "solo", "+16175550100", "carol", Some("+12125550123"), Some("Bob")))),
    case("national To on a trunk without a format", Base, I(In { source: "192.0.2.200", to: "4155550100", ..IN }, InExpect::Reject(R::InvalidNumber))),
    case("To is not a number", Base, I(In { to: "sip:alice@bridge", ..IN }, InExpect::Reject(R::InvalidNumber))),
    case("number not assigned", Base, I(In { to: "+14155550111", ..IN }, InExpect::Reject(R::NotADid))),
    // --- inbound: caller ID
    case("trusted trunk: caller from PAI", Base, I(In { pai: Some("<tel:+13125550000>"), pai_name: Some("Verified Co"), ..IN }, Route("carrier", "shop", "+14155550100", "alice", Some("+13125550000"), Some("Verified Co")))),
    case("PAI without name keeps From name", Base, I(In { pai: Some("sip:+13125550000@c"), ..IN }, Route("carrier", "shop", "+14155550100", "alice", Some("+13125550000"), Some("Bob")))),
    case("national From", Base, I(In { from: "sip:2125550123@c", from_name: None, ..IN }, Route("carrier", "shop", "+14155550100", "alice", Some("+12125550123"), None))),
    case("Privacy: id hides number and name", Base, I(In { pai: Some("tel:+13125550000"), pai_name: Some("X"), privacy_id: true, ..IN }, Route("carrier", "shop", "+14155550100", "alice", None, None))),
    case("anonymous From is unknown", Base, I(In { from: "sip:anonymous@anonymous.invalid", from_name: Some("Anonymous"), ..IN }, Route("carrier", "shop", "+14155550100", "alice", None, None))),
    // --- outbound: request
    case("placed on the first trunk that carries it", Base, O(Out { to: "+1 (212) 555-0123", ..OUT }, Place("carrier", "+12125550123", "+14155550100", Some("+14155550100"), false))),
    case("earlier trunk in the app's order wins", Base, O(Out { to: "+442079460009", ..OUT }, Place("carrier_edge", "+442079460009", "+14155550100", None, false))),
    case("unknown app", Base, O(Out { app: "nope", ..OUT }, OutExpect::Reject(R::UnknownApp))),
    case("unknown role", Base, O(Out { role: "boss", ..OUT }, OutExpect::Reject(R::UnknownRole))),
    case("role names are case-insensitive", Base, O(Out { role: "Agent", ..OUT }, Place("carrier", "+12125550123", "+14155550100", Some("+14155550100"), false))),
    case("no PSTN scope", Base, O(Out { pstn_scope: false, ..OUT }, OutExpect::Reject(R::MissingPstnScope))),
    case("national number outbound", Base, O(Out { to: "2125550123", ..OUT }, OutExpect::Reject(R::InvalidNumber))),
    case("letters", Base, O(Out { to: "+1800FLOWERS", ..OUT }, OutExpect::Reject(R::InvalidNumber))),
    case("16 digits", Base, O(Out { to: "+1212555012345678", ..OUT }, OutExpect::Reject(R::InvalidNumber))),
    // --- outbound: allow/deny
    case("deny prefix wins over allow prefix", Base, O(Out { to: "+19005551234", ..OUT }, OutExpect::Reject(R::DeniedNumber))),
    case("deny exact, another spelling", Base, O(Out { to: "tel:+1-415-555-0199", ..OUT }, OutExpect::Reject(R::DeniedNumber))),
    case("deny wins over exact allow", Base, O(Out { role: "strict", to: "+14155550123", ..OUT }, OutExpect::Reject(R::DeniedNumber))),
    case("allowed by prefix beside a deny", Base, O(Out { role: "strict", to: "+14155550200", ..OUT }, Place("carrier", "+14155550200", "+14155550101", Some("+14155550101"), false))),
    case("not on the allow-list", Base, O(Out { to: "+33123456789", ..OUT }, OutExpect::Reject(R::ForbiddenNumber))),
    case("empty allow-list allows nothing", Base, O(Out { role: "closed", ..OUT }, OutExpect::Reject(R::ForbiddenNumber))),
    // --- outbound: caller ID
    case("* allows any number; explicit caller ID", Base, O(Out { role: "open", to: "+33123456789", caller: Caller::Explicit("+1.415.555.0101"), ..OUT }, Place("intl", "+33123456789", "+14155550101", None, false))),
    case("explicit caller ID not owned", Base, O(Out { caller: Caller::Explicit("+14155559999"), ..OUT }, OutExpect::Reject(R::CallerIdNotOwned))),
    case("explicit caller ID not a number", Base, O(Out { caller: Caller::Explicit("alice"), ..OUT }, OutExpect::Reject(R::CallerIdNotOwned))),
    case("no default, several numbers", Base, O(Out { role: "open", ..OUT }, OutExpect::Reject(R::NoCallerId))),
    case("no default, the app's only number", Base, O(Out { app: "solo", role: "caller", ..OUT }, Place("intl", "+12125550123", "+16175550100", None, false))),
    case("anonymous: PAI to a trusted trunk", Base, O(Out { caller: Caller::Anonymous, ..OUT }, Place("carrier", "+12125550123", "anonymous", Some("+14155550100"), true))),
    case("empty caller ID is anonymous", Base, O(Out { caller: Caller::Explicit(""), ..OUT }, Place("carrier", "+12125550123", "anonymous", Some("+14155550100"), true))),
    case("anonymous: no PAI to an untrusted trunk", Base, O(Out { to: "+442079460009", caller: Caller::Anonymous, ..OUT }, Place("carrier_edge", "+442079460009", "anonymous", None, true))),
    // --- outbound: trunk choice
    case("no trunk carries the number", Base, O(Out { app: "uk", role: "any", caller: Caller::Explicit("+442079460001"), ..OUT }, OutExpect::Reject(R::NoTrunk))),
    // --- outbound: emergency
    case("emergency named by the role, emergency trunk", Base, O(Out { to: "911", ..OUT }, Place("psap", "911", "+14155550100", Some("+14155550100"), false))),
    case("emergency in tel: with separators", Base, O(Out { to: "tel:9-1-1", ..OUT }, Place("psap", "911", "+14155550100", Some("+14155550100"), false))),
    case("emergency ignores an anonymous request", Base, O(Out { to: "911", caller: Caller::Anonymous, ..OUT }, Place("psap", "911", "+14155550100", Some("+14155550100"), false))),
    case("emergency not named by the role", Base, O(Out { to: "112", ..OUT }, OutExpect::Reject(R::EmergencyNotAllowed))),
    case("* does not cover emergency", Base, O(Out { role: "open", to: "911", ..OUT }, OutExpect::Reject(R::EmergencyNotAllowed))),
    case("emergency without an emergency trunk", Base, O(Out { app: "solo", role: "caller", to: "112", ..OUT }, OutExpect::Reject(R::NoEmergencyTrunk))),
    case("+911 is not an emergency code", Base, O(Out { to: "+911", ..OUT }, OutExpect::Reject(R::InvalidNumber))),
    case("unlisted short code", Base, O(Out { to: "933", ..OUT }, OutExpect::Reject(R::InvalidNumber))),
    case("configured emergency list", With("[emergency]\nnumbers = [\"911\", \"112\", \"933\"]"), O(Out { role: "open", to: "933", ..OUT }, OutExpect::Reject(R::EmergencyNotAllowed))),
    // --- demo configuration
    case("demo: agent calls +1", Demo, O(Out { app: "demo", to: "+12125550123", ..OUT }, Place("loopback", "+12125550123", "+14155550100", Some("+14155550100"), false))),
    case("demo: +1900 denied", Demo, O(Out { app: "demo", to: "+19005550123", ..OUT }, OutExpect::Reject(R::DeniedNumber))),
    // --- validation
    case("DID assigned twice across apps", With("[apps.zed]\nnumbers = { \"+1 415 555 0100\" = \"dave\" }"), Invalid("apps.zed.numbers.+1 415 555 0100", "assigned twice (also in app `shop`)")),
    case("DID assigned twice in one app", With("[apps.zed]\nnumbers = { \"+16465550100\" = \"x\", \"+1-646-555-0100\" = \"y\" }"), Invalid("apps.zed.numbers.+16465550100", "assigned twice")),
    case("DID not E.164", With("[apps.zed]\nnumbers = { \"6465550100\" = \"x\" }"), Invalid("apps.zed.numbers.6465550100", "no country code")),
    case("DID to a number: never routed back out", With("[apps.zed]\nnumbers = { \"+16465550100\" = \"+16465550199\" }"), Invalid("apps.zed.numbers.+16465550100", "never leave through a trunk")),
    case("DID to a URI", With("[apps.zed]\nnumbers = { \"+16465550100\" = \"sip:x@example.com\" }"), Invalid("apps.zed.numbers.+16465550100", "not a number or URI")),
    case("default caller ID not owned", With("[apps.zed.roles.r]\ndefault_caller_id = \"+14155550100\""), Invalid("apps.zed.roles.r.default_caller_id", "not a number of app `zed`")),
    case("unknown trunk", With("[apps.zed]\ntrunks = [\"nope\"]"), Invalid("apps.zed.trunks", "unknown trunk `nope`")),
    case("unknown default role", With("[apps.zed]\ndefault_role = \"boss\""), Invalid("apps.zed.default_role", "unknown role `boss`")),
    case("allow prefix without +", With("[apps.zed.roles.r]\nallow = [\"1900*\"]"), Invalid("apps.zed.roles.r.allow", "invalid pattern `1900*`")),
    case("deny prefix with separators", With("[apps.zed.roles.r]\ndeny = [\"+1-900*\"]"), Invalid("apps.zed.roles.r.deny", "invalid pattern")),
    case("star in the middle", With("[apps.zed.roles.r]\nallow = [\"+1*9\"]"), Invalid("apps.zed.roles.r.allow", "invalid pattern")),
    case("short code not an emergency number", With("[apps.zed.roles.r]\nallow = [\"933\"]"), Invalid("apps.zed.roles.r.allow", "not one of the emergency numbers")),
    case("trunk pattern invalid", With("[trunks.zed]\ndestination = \"192.0.2.1:5060\"\nnumbers = [\"+44 20*\"]"), Invalid("trunks.zed.numbers", "invalid pattern")),
    case("short code in trunk numbers", With("[trunks.zed]\ndestination = \"192.0.2.1:5060\"\nnumbers = [\"911\"]"), Invalid("trunks.zed.numbers", "emergency = true")),
    case("emergency trunk without destination", With("[trunks.zed]\naddresses = [\"10.0.0.1\"]\nemergency = true"), Invalid("trunks.zed.destination", "no destination")),
    case("digest username on two trunks", With("[trunks.zed]\ninbound_auth = { username = \"intl-user\", password = \"x\" }"), Invalid("trunks.zed.inbound_auth.username", "also used by trunk `intl`")),
    case("bad national country code", With("[trunks.zed]\naddresses = [\"10.0.0.1\"]\nnational = { country_code = \"01\", length = 10 }"), Invalid("trunks.zed.national.country_code", "1 to 3 digits")),
    case("national length too long", With("[trunks.zed]\naddresses = [\"10.0.0.1\"]\nnational = { country_code = \"44\", length = 14 }"), Invalid("trunks.zed.national.length", "1 to 15")),
    case("bad emergency number", With("[emergency]\nnumbers = [\"+911\"]"), Invalid("emergency.numbers", "2 to 6 digits")),
];

fn check_inbound(c: &Case, cfg: &pstn_bridge::config::Config, i: &In, e: &InExpect) {
    let auth = match i.auth {
        Auth::None => InboundAuth::None,
        Auth::Verified(t) => InboundAuth::Verified { trunk: t.into() },
        Auth::Failed => InboundAuth::Failed,
    };
    let req = InboundRequest {
        source: i.source.parse().unwrap(),
        to: i.to,
        from: i.from,
        from_name: i.from_name,
        pai: i.pai,
        pai_name: i.pai_name,
        privacy_id: i.privacy_id,
        auth,
    };
    let got = decide_inbound(cfg, &req);
    match (e, &got) {
        (Route(trunk, app, did, endpoint, number, name), InboundDecision::Route { .. }) => {
            let InboundDecision::Route {
                trunk: t,
                app: a,
                did: d,
                target,
                caller_id,
            } = &got
            else {
                unreachable!()
            };
            let ep = match target {
                Target::Endpoint(e) => e.as_str(),
                Target::Echo => "echo",
            };
            assert_eq!(
                (t.as_str(), a.as_str(), d.as_str(), ep),
                (*trunk, *app, *did, *endpoint),
                "{}",
                c.name
            );
            assert_eq!(
                (caller_id.number.as_deref(), caller_id.name.as_deref()),
                (*number, *name),
                "{}",
                c.name
            );
            assert_eq!(
                (got.sip_code(), got.end_reason().code),
                (200, 0),
                "{}",
                c.name
            );
        }
        (Challenge, InboundDecision::Challenge) => assert_eq!(got.sip_code(), 401),
        (InExpect::Reject(r), InboundDecision::Reject(g)) => {
            assert_eq!(r, g, "{}", c.name);
            assert_eq!(got.end_reason(), r.end_reason(), "{}", c.name);
        }
        _ => panic!("{}: got {got:?}", c.name),
    }
}

fn check_outbound(c: &Case, cfg: &pstn_bridge::config::Config, o: &Out, e: &OutExpect) {
    let scopes: Vec<String> = if o.pstn_scope {
        vec!["chat".into(), "pstn".into()]
    } else {
        vec!["chat".into()]
    };
    let caller_id = match o.caller {
        Caller::Default => CallerIdChoice::Default,
        Caller::Explicit(s) => CallerIdChoice::Explicit(s.into()),
        Caller::Anonymous => CallerIdChoice::Anonymous,
    };
    let req = OutboundRequest {
        app: o.app,
        role: o.role,
        endpoint: "ep",
        scopes: &scopes,
        to: o.to,
        caller_id,
    };
    let got = decide_outbound(cfg, &req);
    match (e, &got) {
        (
            Place(trunk, to, user, pai, privacy),
            OutboundDecision::Place {
                trunk: t,
                to: d,
                identity,
            },
        ) => {
            assert_eq!(
                (t.as_str(), d.to_string().as_str()),
                (*trunk, *to),
                "{}",
                c.name
            );
            assert_eq!(
                matches!(d, Dialable::Emergency(_)),
                !to.starts_with('+'),
                "{}",
                c.name
            );
            assert_eq!(identity.from_user, *user, "{}", c.name);
            assert_eq!(
                identity.pai.as_ref().map(|p| p.as_str()),
                *pai,
                "{}",
                c.name
            );
            assert_eq!(identity.privacy_id, *privacy, "{}", c.name);
            let anon = (
                identity.from_display.as_deref(),
                identity.from_host.as_deref(),
            );
            let want = if *privacy {
                (Some("Anonymous"), Some("anonymous.invalid"))
            } else {
                (None, None)
            };
            assert_eq!(anon, want, "{}", c.name);
        }
        (OutExpect::Reject(r), OutboundDecision::Reject(g)) => {
            assert_eq!(r, g, "{}", c.name);
            assert_eq!(
                (got.sip_code(), got.end_reason()),
                (r.sip_code(), r.end_reason()),
                "{}",
                c.name
            );
        }
        _ => panic!("{}: got {got:?}", c.name),
    }
}

#[test]
fn case_table() {
    let mut names = HashSet::new();
    for c in CASES {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
        let loaded = load(c.config);
        match &c.run {
            Invalid(key, says) => {
                let err = loaded
                    .err()
                    .unwrap_or_else(|| panic!("{}: config accepted", c.name));
                assert_eq!(
                    (err.file.as_str(), err.key.as_str()),
                    ("cases.toml", *key),
                    "{}: {err}",
                    c.name
                );
                assert!(err.reason.contains(says), "{}: {err}", c.name);
            }
            I(i, e) => check_inbound(
                c,
                &loaded.unwrap_or_else(|e| panic!("{}: {e}", c.name)),
                i,
                e,
            ),
            O(o, e) => check_outbound(
                c,
                &loaded.unwrap_or_else(|e| panic!("{}: {e}", c.name)),
                o,
                e,
            ),
        }
    }
}

#[test]
fn table_covers_every_refusal() {
    let seen: HashSet<R> = CASES
        .iter()
        .filter_map(|c| match &c.run {
            I(_, InExpect::Reject(r)) | O(_, OutExpect::Reject(r)) => Some(*r),
            _ => None,
        })
        .collect();
    for r in R::ALL {
        assert!(seen.contains(r), "no case for {r:?}");
    }
}
