//! docs/policy.md's decision table says what the code does (the README copies that table).

use pstn_bridge::policy::{EndReason, Rejection};

const DOC: &str = include_str!("../docs/policy.md");

fn row(name: &str) -> &'static str {
    let rows: Vec<&str> = DOC
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(name))
        .collect();
    assert_eq!(rows.len(), 1, "exactly one table row for {name}: {rows:?}");
    rows[0]
}

#[test]
fn every_refusal_is_documented_as_coded() {
    for r in Rejection::ALL {
        let line = row(&format!("`{}`", r.name()));
        let e = r.end_reason();
        assert!(
            line.contains(&format!("{} {}", r.sip_code(), r.reason_phrase())),
            "{line}"
        );
        assert!(
            line.contains(&format!("`{{{}, {}}}`", e.code, e.sub_code)),
            "{line}"
        );
    }
}

#[test]
fn allow_and_challenge_rows() {
    let c = EndReason::CHALLENGE;
    assert!(row("| challenge |").contains(&format!("`{{{}, {}}}`", c.code, c.sub_code)));
    let n = EndReason::NORMAL;
    for name in ["| route (`allow`) |", "| place (`allow`) |"] {
        assert!(
            row(name).contains(&format!("`{{{}, {}}}`", n.code, n.sub_code)),
            "{name}"
        );
    }
}
