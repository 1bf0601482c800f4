//! The echo service's media, through the call media pipeline: RTP from the SDP address
//! comes back to it. In passthrough the payload is returned as sent (with our own SSRC,
//! sequence and timestamps); with `media.echo_transcode` each frame goes G.711 → Opus →
//! G.711 on its way back, exercising the transcoding path a WebRTC call would take.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::api::Metrics;
use crate::call::sdp::{G711, TrunkOffer};
use crate::call::switchboard::CallId;
use crate::media::{
    Codec, EndpointFrame, MediaConfig, MediaEvent, MediaOutput, MediaPipeline, SideCodec,
    SourcePolicy,
};

/// Why echo media stopped on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaProblem {
    BindFailed,
    RtpTimeout,
}

/// The driver's handle on one echo call's media task.
pub(super) struct EchoHandle {
    pub remote: watch::Sender<(SocketAddr, bool)>,
    pub stop: oneshot::Sender<()>,
}

/// What the echo needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub(super) struct EchoSettings {
    pub rtp_timeout: Duration,
    pub transcode: bool,
    pub opus: crate::media::OpusSettings,
}

pub(super) fn spawn(
    call: CallId,
    (bind, sock): (SocketAddr, std::io::Result<UdpSocket>),
    offer: TrunkOffer,
    settings: EchoSettings,
    report: mpsc::Sender<(CallId, MediaProblem)>,
    metrics: Arc<Metrics>,
) -> EchoHandle {
    let (remote_tx, remote_rx) = watch::channel((offer.remote, true));
    let (stop_tx, stop_rx) = oneshot::channel();
    tokio::spawn(async move {
        let problem = run(bind, sock, &offer, settings, remote_rx, stop_rx, &metrics).await;
        tracing::debug!(%call, "echo media ended");
        if let Some(p) = problem {
            tracing::info!(%call, problem = ?p, "echo media stopped");
            let _ = report.send((call, p)).await;
        }
    });
    EchoHandle {
        remote: remote_tx,
        stop: stop_tx,
    }
}

fn media_config(offer: &TrunkOffer, s: &EchoSettings) -> MediaConfig {
    let trunk_codec = match offer.codec {
        G711::Pcmu => Codec::Pcmu,
        G711::Pcma => Codec::Pcma,
    };
    let trunk = SideCodec {
        codec: trunk_codec,
        pt: offer.pt,
        dtmf_pt: offer.dtmf_pt,
        dtmf_clock: 8000,
    };
    let mut cfg = MediaConfig {
        trunk,
        source: SourcePolicy::Strict(offer.remote),
        rtp_timeout: Some(s.rtp_timeout),
        ..MediaConfig::default()
    };
    cfg.opus = s.opus;
    if !s.transcode {
        cfg.endpoint = SideCodec {
            pt: 96,
            dtmf_pt: Some(97),
            ..trunk
        };
    }
    cfg
}

async fn run(
    bind: SocketAddr,
    sock: std::io::Result<UdpSocket>,
    offer: &TrunkOffer,
    settings: EchoSettings,
    mut remote: watch::Receiver<(SocketAddr, bool)>,
    mut stop: oneshot::Receiver<()>,
    metrics: &Metrics,
) -> Option<MediaProblem> {
    let sock = match sock {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%bind, error = %e, "cannot bind echo media port");
            return Some(MediaProblem::BindFailed);
        }
    };
    let start = Instant::now();
    let mut media = match MediaPipeline::new(
        media_config(offer, &settings),
        start.into_std(),
        SystemTime::now(),
    ) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "echo media pipeline refused its configuration");
            return Some(MediaProblem::BindFailed);
        }
    };
    let (rx_count, tx_count, dropped) = (
        metrics.rtp_packets.with_label_values(&["in"]),
        metrics.rtp_packets.with_label_values(&["out"]),
        metrics.rtp_packets.with_label_values(&["dropped"]),
    );
    let mut buf = [0u8; 2048];
    // One frame looped from the endpoint side back in (the output borrows the pipeline).
    let mut looped = [0u8; 1500];
    let (mut to, mut sending) = *remote.borrow();
    let mut next;
    loop {
        // Drain: trunk packets go out, endpoint frames come straight back in.
        loop {
            let mut back: Option<(u8, u32, u16, bool, usize)> = None;
            match media.poll_output() {
                MediaOutput::TrunkRtp(pkt) => {
                    if sending && sock.try_send_to(pkt, to).is_ok() {
                        tx_count.inc();
                    }
                }
                MediaOutput::TrunkRtcp(pkt) => {
                    let rtcp = SocketAddr::new(to.ip(), to.port().wrapping_add(1));
                    let _ = sock.try_send_to(pkt, rtcp);
                }
                MediaOutput::EndpointMedia(f) => {
                    let n = f.payload.len().min(looped.len());
                    looped[..n].copy_from_slice(&f.payload[..n]);
                    back = Some((f.pt, f.timestamp, f.seq, f.marker, n));
                }
                MediaOutput::Event(MediaEvent::RtpTimeout { .. }) => {
                    metrics.add_call_media(&media.stats());
                    return Some(MediaProblem::RtpTimeout);
                }
                MediaOutput::Event(_) => {}
                MediaOutput::Timeout(at) => {
                    next = Instant::from_std(at);
                    break;
                }
            }
            if let Some((pt, timestamp, seq, marker, n)) = back {
                let frame = EndpointFrame {
                    pt,
                    timestamp,
                    seq,
                    marker,
                    payload: &looped[..n],
                };
                let _ = media.handle_endpoint_media(Instant::now().into_std(), frame);
            }
        }
        tokio::select! {
            _ = &mut stop => {
                metrics.add_call_media(&media.stats());
                return None;
            }
            changed = remote.changed() => {
                if changed.is_err() {
                    metrics.add_call_media(&media.stats());
                    return None;
                }
                (to, sending) = *remote.borrow();
                media.set_source_policy(SourcePolicy::Strict(to));
                // On hold the carrier may send nothing: no RTP timeout then.
                media.set_rtp_timeout(Instant::now().into_std(), sending.then_some(settings.rtp_timeout));
            }
            got = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                if media.handle_trunk_rtp(Instant::now().into_std(), from, &buf[..n]).is_ok() {
                    rx_count.inc();
                } else {
                    dropped.inc();
                }
            }
            _ = tokio::time::sleep_until(next) => media.handle_timeout(Instant::now().into_std()),
        }
    }
}
