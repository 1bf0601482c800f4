use super::*;

fn se(interval: u64, refresher: Option<Refresher>) -> SessionExpires {
    SessionExpires {
        interval,
        refresher,
    }
}

#[test]
fn parses_and_formats_headers() {
    let v = SessionExpires::parse("1800;refresher=uac").unwrap();
    assert_eq!(v, se(1800, Some(Refresher::Uac)));
    assert_eq!(v.to_string(), "1800;refresher=uac");
    let v = SessionExpires::parse(" 90 ; x=y ; Refresher = UAS ").unwrap();
    assert_eq!(v, se(90, Some(Refresher::Uas)));
    assert_eq!(SessionExpires::parse("4000").unwrap().to_string(), "4000");
    assert_eq!(parse_min_se(" 120;foo"), Ok(120));
    for bad in [
        "",
        "abc",
        "-5",
        "0",
        "1800;refresher=both",
        "99999999999999999999999",
        "1 800",
    ] {
        assert!(SessionExpires::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(parse_min_se("x"), Err(SessionTimerError::BadSeconds));

    let raw = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
               x: 600;refresher=uas\r\nMin-SE: 300\r\nContent-Length: 0\r\n\r\n";
    let req = rsip::Request::try_from(raw).unwrap();
    assert_eq!(
        read_session_expires(&req.headers),
        Ok(Some(se(600, Some(Refresher::Uas))))
    );
    assert_eq!(read_min_se(&req.headers), Ok(Some(300)));
    let mut headers = rsip::Headers::default();
    assert_eq!(read_session_expires(&headers), Ok(None));
    headers.push(se(1800, Some(Refresher::Uac)).to_header());
    headers.push(min_se_header(90));
    assert_eq!(
        headers.to_string(),
        "Session-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n"
    );
}

#[test]
fn uas_refuses_interval_below_min_se_with_422() {
    assert_eq!(
        negotiate_uas(Some(se(60, None)), None, true, 1800, 90),
        Err(TooSmall { min_se: 90 })
    );
    assert_eq!(
        negotiate_uas(Some(se(300, None)), Some(200), true, 1800, 600),
        Err(TooSmall { min_se: 600 })
    );
    // Without Supported: timer the caller cannot retry: raise instead, and we refresh.
    let n = negotiate_uas(Some(se(300, Some(Refresher::Uac))), None, false, 1800, 600).unwrap();
    assert_eq!(
        (n.interval, n.refresher, n.we_refresh, n.require_timer),
        (600, Refresher::Uas, true, false)
    );
}

#[test]
fn uas_negotiation_keeps_or_lowers_the_interval() {
    let n = negotiate_uas(
        Some(se(1800, Some(Refresher::Uac))),
        Some(90),
        true,
        1800,
        90,
    )
    .unwrap();
    assert_eq!(n.session_expires(), se(1800, Some(Refresher::Uac)));
    assert!(n.require_timer && !n.we_refresh);

    // We may lower it, never below the request's Min-SE.
    let n = negotiate_uas(Some(se(3600, None)), Some(900), true, 600, 90).unwrap();
    assert_eq!((n.interval, n.refresher), (900, Refresher::Uac));
    // Never raise it above what was asked.
    let n = negotiate_uas(Some(se(1000, Some(Refresher::Uas))), None, true, 7200, 90).unwrap();
    assert_eq!(
        (n.interval, n.refresher, n.we_refresh, n.require_timer),
        (1000, Refresher::Uas, true, false)
    );

    // No Session-Expires: we may insert ours.
    let n = negotiate_uas(None, Some(120), true, 1800, 90).unwrap();
    assert_eq!((n.interval, n.refresher), (1800, Refresher::Uac));
    let n = negotiate_uas(None, None, false, 60, 90).unwrap();
    assert_eq!(
        (n.interval, n.refresher, n.we_refresh),
        (90, Refresher::Uas, true)
    );
}

#[test]
fn uac_reads_the_2xx() {
    assert_eq!(negotiate_uac(None), None);
    let n = negotiate_uac(Some(se(900, Some(Refresher::Uas)))).unwrap();
    assert_eq!((n.interval, n.we_refresh), (900, false));
    let n = negotiate_uac(Some(se(900, None))).unwrap();
    assert_eq!((n.refresher, n.we_refresh), (Refresher::Uac, true));
    assert_eq!(interval_after_422(300, 1200), 1200);
    assert_eq!(interval_after_422(1800, 1200), 1800);
}

const S: Duration = Duration::from_secs(1);

#[test]
fn refresher_sends_refresh_at_half_interval() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(t0, 1800 * S, true);
    assert_eq!(t.poll_timeout(), Some(t0 + 900 * S));
    assert_eq!(t.handle_timeout(t0 + 899 * S), None);
    assert_eq!(
        t.handle_timeout(t0 + 900 * S),
        Some(SessionTimerAction::SendRefresh)
    );
    assert_eq!(t.handle_timeout(t0 + 901 * S), None);
    // Waiting for the 2xx: the next deadline is expiry.
    assert_eq!(t.poll_timeout(), Some(t0 + 1768 * S));
    t.handle_refresh(t0 + 905 * S);
    assert_eq!(t.poll_timeout(), Some(t0 + 1805 * S));
    assert_eq!(
        t.handle_timeout(t0 + 1805 * S),
        Some(SessionTimerAction::SendRefresh)
    );
    // The refresh never gets answered: give up before expiry.
    assert_eq!(t.handle_timeout(t0 + (905 + 1767) * S), None);
    assert_eq!(
        t.handle_timeout(t0 + (905 + 1768) * S),
        Some(SessionTimerAction::Expire)
    );
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(t.handle_timeout(t0 + 9999 * S), None);
}

#[test]
fn peer_refresh_resets_expiry() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(t0, 1800 * S, false);
    // interval − min(32, 600) = 1768 s.
    assert_eq!(t.poll_timeout(), Some(t0 + 1768 * S));
    assert_eq!(t.handle_timeout(t0 + 900 * S), None);
    t.handle_refresh(t0 + 1000 * S);
    assert_eq!(t.poll_timeout(), Some(t0 + 2768 * S));
    assert_eq!(t.handle_timeout(t0 + 1768 * S), None);
    assert_eq!(t.handle_timeout(t0 + 2767 * S), None);
    assert_eq!(
        t.handle_timeout(t0 + 2768 * S),
        Some(SessionTimerAction::Expire)
    );
    t.handle_refresh(t0 + 2769 * S);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn short_interval_expires_a_third_early_and_renegotiates() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(t0, 90 * S, false);
    // interval − min(32, 30) = 60 s.
    assert_eq!(t.poll_timeout(), Some(t0 + 60 * S));
    t.renegotiate(t0 + 10 * S, 120 * S, true);
    assert!(t.we_refresh());
    assert_eq!(t.interval(), 120 * S);
    assert_eq!(t.poll_timeout(), Some(t0 + 70 * S));
    let n = negotiate_uac(Some(se(90, Some(Refresher::Uas)))).unwrap();
    let mut t = n.timer(t0);
    assert_eq!(
        t.handle_timeout(t0 + 60 * S),
        Some(SessionTimerAction::Expire)
    );
}
