//! Call flows on simulated time: each test is one story a user would tell.

use std::time::{Duration, Instant};

use super::*;
use crate::call::reasons;

fn drain(c: &mut Call) -> Vec<CallOutput> {
    std::iter::from_fn(|| c.poll_output())
        .take_while(|o| !matches!(o, CallOutput::Timeout(_)))
        .collect()
}

fn states(out: &[CallOutput]) -> Vec<CallState> {
    out.iter()
        .filter_map(|o| match o {
            CallOutput::State(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn trunk(out: &[CallOutput]) -> Vec<TrunkCommand> {
    out.iter()
        .filter_map(|o| match o {
            CallOutput::Trunk(t) => Some(*t),
            _ => None,
        })
        .collect()
}

fn ended(out: &[CallOutput]) -> Option<EndReason> {
    out.iter().find_map(|o| match o {
        CallOutput::Ended(r) => Some(*r),
        _ => None,
    })
}

#[test]
fn inbound_rings_answers_connects_and_the_carrier_hangs_up() {
    let now = Instant::now();
    let mut c = Call::inbound(now, CallTimers::default());
    let out = drain(&mut c);
    assert_eq!(states(&out), [CallState::Incoming]);
    assert_eq!(trunk(&out), [TrunkCommand::Ring]);
    c.handle_endpoint(now, EndpointInput::Answer);
    let out = drain(&mut c);
    assert_eq!(trunk(&out), [TrunkCommand::Answer]);
    assert_eq!(states(&out), [CallState::Connecting]);
    c.handle_endpoint(now, EndpointInput::MediaConnected);
    assert_eq!(states(&drain(&mut c)), [CallState::Connected]);
    c.handle_trunk(now, TrunkInput::HungUp);
    let out = drain(&mut c);
    assert_eq!(states(&out), [CallState::Disconnected]);
    assert_eq!(ended(&out), Some(reasons::REMOTE_HANGUP));
    assert!(
        trunk(&out).is_empty(),
        "the carrier's BYE needs no command back"
    );
}

#[test]
fn inbound_rejections_map_to_sip_codes() {
    for (busy, code, reason) in [
        (true, 486, reasons::ENDPOINT_BUSY),
        (false, 603, reasons::ENDPOINT_DECLINED),
    ] {
        let mut c = Call::inbound(Instant::now(), CallTimers::default());
        drain(&mut c);
        c.handle_endpoint(Instant::now(), EndpointInput::Reject { busy });
        let out = drain(&mut c);
        assert_eq!(trunk(&out), [TrunkCommand::Reject { code }]);
        assert_eq!(ended(&out), Some(reason));
    }
}

#[test]
fn caller_cancel_before_answer_and_ring_timeout() {
    let now = Instant::now();
    let mut c = Call::inbound(now, CallTimers::default());
    drain(&mut c);
    c.handle_trunk(now, TrunkInput::HungUp);
    assert_eq!(ended(&drain(&mut c)), Some(reasons::CALLER_CANCELLED));

    let mut c = Call::inbound(now, CallTimers::default());
    drain(&mut c);
    let Some(CallOutput::Timeout(at)) = c.poll_output() else {
        panic!("ring timer armed")
    };
    assert_eq!(at, now + Duration::from_secs(60));
    c.handle_timeout(at - Duration::from_millis(1));
    assert!(drain(&mut c).is_empty());
    c.handle_timeout(at);
    let out = drain(&mut c);
    assert_eq!(trunk(&out), [TrunkCommand::Reject { code: 480 }]);
    assert_eq!(ended(&out), Some(reasons::NO_ANSWER));
    assert_eq!(c.poll_output(), None, "no timer after the end");
}

#[test]
fn outbound_ringing_early_media_answer_and_local_hangup() {
    let now = Instant::now();
    let mut c = Call::outbound(CallTimers::default());
    assert_eq!(states(&drain(&mut c)), [CallState::Connecting]);
    c.handle_trunk(
        now,
        TrunkInput::Progress {
            code: 180,
            early_media: false,
        },
    );
    c.handle_trunk(
        now,
        TrunkInput::Progress {
            code: 183,
            early_media: true,
        },
    );
    c.handle_trunk(
        now,
        TrunkInput::Progress {
            code: 180,
            early_media: false,
        },
    );
    assert_eq!(
        states(&drain(&mut c)),
        [CallState::Ringing, CallState::EarlyMedia]
    );
    c.handle_trunk(now, TrunkInput::Answered);
    assert_eq!(states(&drain(&mut c)), [CallState::Connected]);
    c.handle_endpoint(now, EndpointInput::HangUp);
    let out = drain(&mut c);
    assert_eq!(
        states(&out),
        [CallState::Disconnecting, CallState::Disconnected]
    );
    assert_eq!(trunk(&out), [TrunkCommand::HangUp]);
    assert_eq!(ended(&out), Some(reasons::LOCAL_HANGUP));
}

#[test]
fn outbound_carrier_failures_keep_their_code() {
    for code in [404u16, 486, 603] {
        let mut c = Call::outbound(CallTimers::default());
        c.handle_trunk(Instant::now(), TrunkInput::Failed { code });
        assert_eq!(ended(&drain(&mut c)), Some(reasons::carrier_final(code)));
        assert_eq!(
            c.end_reason().map(|r| r.sub_code),
            Some(u32::from(code) * 100)
        );
    }
}

#[test]
fn hold_from_either_side() {
    let now = Instant::now();
    let mut c = Call::outbound(CallTimers::default());
    c.handle_trunk(now, TrunkInput::Answered);
    drain(&mut c);
    c.handle_endpoint(now, EndpointInput::Hold);
    let out = drain(&mut c);
    assert_eq!(
        (trunk(&out), states(&out)),
        (vec![TrunkCommand::Hold], vec![CallState::Hold])
    );
    c.handle_trunk(now, TrunkInput::RemoteHold(true));
    c.handle_endpoint(now, EndpointInput::Resume);
    let out = drain(&mut c);
    assert_eq!(trunk(&out), [TrunkCommand::Resume]);
    assert!(states(&out).is_empty(), "still held by the carrier");
    c.handle_trunk(now, TrunkInput::RemoteHold(false));
    assert_eq!(states(&drain(&mut c)), [CallState::Connected]);
}

#[test]
fn lost_signaling_ends_after_grace_unless_restored() {
    let now = Instant::now();
    let timers = CallTimers {
        ring_timeout: Duration::from_secs(60),
        signaling_grace: Duration::from_secs(10),
    };
    let mut c = Call::outbound(timers);
    c.handle_trunk(now, TrunkInput::Answered);
    drain(&mut c);
    c.handle_endpoint(now, EndpointInput::SignalingLost);
    c.handle_endpoint(
        now + Duration::from_secs(5),
        EndpointInput::SignalingRestored,
    );
    c.handle_timeout(now + Duration::from_secs(11));
    assert!(drain(&mut c).is_empty(), "restored in time");
    c.handle_endpoint(now + Duration::from_secs(20), EndpointInput::SignalingLost);
    c.handle_timeout(now + Duration::from_secs(30));
    let out = drain(&mut c);
    assert_eq!(trunk(&out), [TrunkCommand::HangUp]);
    assert_eq!(ended(&out), Some(reasons::ENDPOINT_SIGNALING_LOST));
}

#[test]
fn rtp_timeout_hangs_up_and_nothing_happens_after_the_end() {
    let now = Instant::now();
    let mut c = Call::outbound(CallTimers::default());
    c.handle_trunk(now, TrunkInput::Answered);
    drain(&mut c);
    c.handle_trunk(now, TrunkInput::Lost(reasons::RTP_TIMEOUT));
    let out = drain(&mut c);
    assert_eq!(trunk(&out), [TrunkCommand::HangUp]);
    assert_eq!(ended(&out), Some(reasons::RTP_TIMEOUT));
    c.handle_endpoint(now, EndpointInput::HangUp);
    c.handle_trunk(now, TrunkInput::HungUp);
    assert!(drain(&mut c).is_empty());
    assert!(c.is_over());
}
