//! `pstn-bridge dial`: place one test call on a trunk and report what the carrier did.
//! It runs its own node from the configuration, so give it SIP ports the daemon does not
//! use (for example `PSTN_BRIDGE__SIP__BIND_UDP=0.0.0.0:0`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::call::sdp;
use crate::call::switchboard::{LegEvent, OutboundCall};
use crate::config::Config;
use crate::driver;

#[derive(Debug, Args)]
pub struct DialArgs {
    /// Trunk to place the call on.
    #[arg(long)]
    pub trunk: String,
    /// Number to call, as it goes on the wire (E.164 with +).
    #[arg(long)]
    pub to: String,
    /// Caller ID (From user part); anonymous when absent.
    #[arg(long)]
    pub from: Option<String>,
    /// Seconds to stay connected before hanging up.
    #[arg(long, default_value_t = 2)]
    pub hold: u64,
    /// Give up (CANCEL) when unanswered after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// Exit 0 when answered, 1 when the call failed, 2 when it could not be placed.
pub fn run(cfg: Config, args: DialArgs) -> ExitCode {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start runtime");
        return ExitCode::from(2);
    };
    rt.block_on(dial(cfg, args))
}

async fn dial(cfg: Config, args: DialArgs) -> ExitCode {
    let media = SocketAddr::new(cfg.media.advertised_ip, cfg.media.port_min);
    let (stop_tx, stop_rx) = driver::shutdown_channel();
    let running = match driver::start(cfg, stop_rx).await {
        Ok(r) => r,
        Err(e) => {
            println!("{}", json!({"result": "error", "error": e.to_string()}));
            return ExitCode::from(2);
        }
    };
    let anonymous = args.from.is_none();
    let call = OutboundCall {
        trunk: args.trunk.clone(),
        to: args.to.clone(),
        from_user: args.from.clone().unwrap_or_else(|| "anonymous".into()),
        from_display: anonymous.then(|| "Anonymous".into()),
        from_host: anonymous.then(|| "anonymous.invalid".into()),
        privacy_id: anonymous,
        pai: None,
        sdp: sdp::offer(media, u64::from(rand::random::<u32>()), 1).into_bytes(),
    };
    let started = Instant::now();
    let (leg, mut events) = match running.handle.place_call(call).await {
        Ok(x) => x,
        Err(e) => {
            println!("{}", json!({"result": "error", "error": e.to_string()}));
            return ExitCode::from(2);
        }
    };
    let mut progress = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let outcome = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(LegEvent::Progress { code, .. }) => progress.push(code),
                Some(LegEvent::Answered { .. }) => break Ok(started.elapsed()),
                Some(LegEvent::Failed { code, reason }) => break Err((code, reason)),
                Some(LegEvent::Ended { .. }) | None => break Err((0, "ended".into())),
            },
            _ = tokio::time::sleep_until(deadline) => {
                running.handle.cancel(leg).await;
                break Err((408, "no answer before --timeout".into()));
            }
        }
    };
    let code = match outcome {
        Ok(setup) => {
            tokio::time::sleep(Duration::from_secs(args.hold)).await;
            running.handle.hangup(leg).await;
            let remote_hangup =
                matches!(events.try_recv(), Ok(LegEvent::Ended { by_remote: true }));
            println!(
                "{}",
                json!({"result": "answered", "progress": progress, "setup_ms": setup.as_millis() as u64,
                       "held_s": args.hold, "remote_hangup": remote_hangup})
            );
            0
        }
        Err((code, reason)) => {
            println!(
                "{}",
                json!({"result": "failed", "code": code, "reason": reason, "progress": progress})
            );
            1
        }
    };
    // Let the BYE or CANCEL leave and be answered before the node stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(driver::Stop::Immediate);
    let _ = running.done.await;
    ExitCode::from(code)
}
