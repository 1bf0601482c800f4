//! `pstn-bridge policy ...` dry-run: command-line parsing and the JSON object `run` prints.

use clap::Parser;
use pstn_bridge::cli::policy::{PolicyCommand, dry_run};
use pstn_bridge::cli::{Cli, Command};
use pstn_bridge::config::{Config, EMBEDDED_DEFAULT, load_str};
use serde_json::{Value, json};

const KEYS: &[&str] = &[
    "decision",
    "sip_code",
    "reason",
    "end_reason",
    "trunk",
    "caller_id",
    "privacy",
    "endpoint",
];

fn demo() -> Config {
    load_str(EMBEDDED_DEFAULT, "default.toml", false).expect("embedded default loads")
}

fn parse(args: &[&str]) -> Result<PolicyCommand, clap::Error> {
    let argv = ["pstn-bridge", "policy"].iter().chain(args);
    match Cli::try_parse_from(argv)?.command {
        Some(Command::Policy(p)) => Ok(p),
        other => panic!("not a policy command: {other:?}"),
    }
}

fn run(args: &[&str]) -> (Value, u8) {
    let cmd = parse(args).expect("arguments parse");
    let (v, code) = dry_run(&demo(), &cmd);
    for k in KEYS {
        assert!(v.get(k).is_some(), "key {k} missing in {v}");
    }
    (v, code)
}

#[test]
fn outbound_allowed() {
    let (v, code) = run(&[
        "outbound",
        "--app",
        "demo",
        "--role",
        "agent",
        "--to",
        "+1 (212) 555-0123",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["sip_code"], 200);
    assert_eq!(v["end_reason"], json!({"code": 0, "sub_code": 0}));
    assert_eq!(v["trunk"], "loopback");
    assert_eq!(v["to"], "+12125550123");
    assert_eq!(
        v["caller_id"],
        json!({"number": "+14155550100", "name": null})
    );
    assert_eq!(v["privacy"], "none");
    assert_eq!(v["pai"], "+14155550100");
}

#[test]
fn outbound_denied() {
    let (v, code) = run(&[
        "outbound",
        "--app",
        "demo",
        "--role",
        "agent",
        "--to",
        "+19005550123",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["decision"], "reject");
    assert_eq!(v["reason"], "denied_number");
    assert_eq!(v["sip_code"], 403);
    assert_eq!(v["end_reason"], json!({"code": 403, "sub_code": 40307}));
    assert_eq!(v["trunk"], Value::Null);
}

#[test]
fn outbound_anonymous_both_spellings() {
    for extra in [&["--anonymous"][..], &["--caller-id", ""][..]] {
        let mut args = vec![
            "outbound",
            "--app",
            "demo",
            "--role",
            "agent",
            "--to",
            "+12125550123",
        ];
        args.extend_from_slice(extra);
        let (v, code) = run(&args);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["privacy"], "id");
        assert_eq!(v["caller_id"], json!({"number": null, "name": "Anonymous"}));
        assert_eq!(v["from"], "\"Anonymous\" <sip:anonymous@anonymous.invalid>");
        assert_eq!(v["pai"], "+14155550100", "loopback is trusted");
    }
}

#[test]
fn outbound_scope_and_caller_id() {
    let (v, code) = run(&[
        "outbound",
        "--app",
        "demo",
        "--role",
        "agent",
        "--to",
        "+12125550123",
        "--scope",
        "chat",
    ]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("missing_pstn_scope"))
    );
    let (v, code) = run(&[
        "outbound",
        "--app",
        "demo",
        "--role",
        "agent",
        "--to",
        "+12125550123",
        "--caller-id",
        "+14155550199",
    ]);
    assert_eq!(
        (code, v["caller_id"]["number"].as_str()),
        (0, Some("+14155550199"))
    );
    let (v, code) = run(&[
        "outbound",
        "--app",
        "demo",
        "--role",
        "agent",
        "--to",
        "+12125550123",
        "--caller-id",
        "+14155550000",
    ]);
    assert_eq!(
        (code, v["reason"].as_str(), v["sip_code"].as_u64()),
        (1, Some("caller_id_not_owned"), Some(403))
    );
}

#[test]
fn outbound_emergency_refused_in_demo() {
    let (v, code) = run(&[
        "outbound", "--app", "demo", "--role", "agent", "--to", "911",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["reason"], "emergency_not_allowed");
    assert_eq!(v["end_reason"], json!({"code": 403, "sub_code": 40310}));
}

#[test]
fn inbound_routed_with_privacy() {
    let (v, code) = run(&[
        "inbound",
        "--source",
        "127.0.0.1",
        "--to",
        "+14155550100",
        "--from",
        "+12125550123",
        "--pai",
        "+12125550123",
        "--privacy",
        "id",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["endpoint"], "alice");
    assert_eq!(v["trunk"], "loopback");
    assert_eq!(v["caller_id"], json!({"number": null, "name": null}));
    assert_eq!(v["privacy"], "id");
}

#[test]
fn inbound_echo_and_caller() {
    let (v, code) = run(&[
        "inbound",
        "--source",
        "127.0.0.1",
        "--to",
        "tel:+1-415-555-0199",
        "--from",
        "+12125550123",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["endpoint"], "echo");
    assert_eq!(
        v["caller_id"],
        json!({"number": "+12125550123", "name": null})
    );
    assert_eq!(v["privacy"], "none");
}

#[test]
fn inbound_refusals() {
    let (v, code) = run(&[
        "inbound",
        "--source",
        "192.0.2.1",
        "--to",
        "+14155550100",
        "--from",
        "+12125550123",
    ]);
    assert_eq!(
        (code, v["reason"].as_str(), v["sip_code"].as_u64()),
        (1, Some("unknown_source"), Some(403))
    );
    let (v, code) = run(&[
        "inbound",
        "--source",
        "127.0.0.1",
        "--to",
        "+14155550111",
        "--from",
        "+12125550123",
    ]);
    assert_eq!(
        (code, v["reason"].as_str(), v["sip_code"].as_u64()),
        (1, Some("not_a_did"), Some(404))
    );
    assert_eq!(v["end_reason"], json!({"code": 404, "sub_code": 40401}));
}

#[test]
fn usage_errors() {
    let cmd = parse(&[
        "inbound",
        "--source",
        "127.0.0.1",
        "--to",
        "+14155550100",
        "--from",
        "x",
        "--privacy",
        "maybe",
    ])
    .expect("clap accepts any --privacy text");
    let (v, code) = dry_run(&demo(), &cmd);
    assert_eq!(code, 2);
    assert!(v["error"].as_str().is_some_and(|e| e.contains("--privacy")));
    assert!(
        parse(&[
            "outbound",
            "--app",
            "demo",
            "--role",
            "agent",
            "--to",
            "+1",
            "--anonymous",
            "--caller-id",
            "+1"
        ])
        .is_err()
    );
    assert!(
        parse(&[
            "inbound",
            "--source",
            "not-an-ip",
            "--to",
            "+1",
            "--from",
            "+1"
        ])
        .is_err()
    );
    assert!(
        parse(&["outbound", "--app", "demo", "--to", "+12125550123"]).is_err(),
        "--role is required"
    );
}
