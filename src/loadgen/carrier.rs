//! The carrier's SIP socket: one UDP socket for every call, messages routed to call tasks
//! by Call-ID (or, for an INVITE the bridge places, by the dialled number).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;

use super::call::Event;
use super::routes::Routes;
use super::sip_text::SipMsg;

/// Where call tasks register to receive the bridge's SIP messages.
#[derive(Clone, Default)]
pub struct SipRoutes(Routes);

impl SipRoutes {
    /// Messages of the dialog with Call-ID `call_id` go to `tx`.
    pub fn by_call_id(&self, call_id: &str, tx: UnboundedSender<Event>) {
        self.0.insert(format!("cid:{call_id}"), tx);
    }

    /// The bridge's INVITE to `number` (outbound mode) goes to `tx`.
    pub fn by_dialled(&self, number: &str, tx: UnboundedSender<Event>) {
        self.0.insert(format!("to:{number}"), tx);
    }

    pub fn forget(&self, keys: &[String]) {
        self.0.forget(keys);
    }

    fn route(&self, msg: &SipMsg) -> Option<UnboundedSender<Event>> {
        let mut map = self.0.lock();
        let cid = format!("cid:{}", msg.value("Call-ID"));
        if let Some(tx) = map.get(&cid) {
            return Some(tx.clone());
        }
        if msg.method() != Some(rsip::Method::Invite) {
            return None;
        }
        // A new INVITE from the bridge: find the call by number, then keep its Call-ID.
        let tx = map.get(&format!("to:{}", msg.to_user()?))?.clone();
        map.insert(cid, tx.clone());
        Some(tx)
    }
}

/// Receives the bridge's SIP until the process ends; unroutable messages are counted.
pub async fn receive_loop(sock: Arc<UdpSocket>, routes: SipRoutes) {
    let mut buf = vec![0u8; 65535];
    let mut strays = 0u64;
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "carrier SIP socket");
                continue;
            }
        };
        let Some(msg) = SipMsg::parse(&buf[..n]) else {
            tracing::warn!(%from, "unparseable SIP from the bridge");
            continue;
        };
        match routes.route(&msg) {
            Some(tx) => {
                let _ = tx.send(Event::Sip(Box::new(msg), from));
            }
            None => {
                strays += 1;
                tracing::debug!(strays, call_id = msg.value("Call-ID"), "SIP for no call");
            }
        }
    }
}

/// Sends one message; loopback send errors are logged, the call's timers retry.
pub fn send(sock: &UdpSocket, to: SocketAddr, text: &str) {
    if let Err(e) = sock.try_send_to(text.as_bytes(), to) {
        tracing::debug!(error = %e, %to, "carrier SIP send");
    }
}
