//! The one UDP socket every WebRTC peer shares. Its task owns the demultiplexing maps
//! (no locks): a datagram from a known address goes to that call's task; a STUN binding
//! request from a new address is routed by the ICE username (`ourUfrag:theirUfrag`) and
//! its address learned. Call tasks send directly on the shared socket.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::call_task::CallMsg;

/// Receive buffer size: dozens of audio datagrams, while a datagram waiting in an inbox
/// pins at most this much.
const SLAB_BYTES: usize = 16 * 1024;
/// Room kept free for the next datagram (an Ethernet-sized one and more).
const MAX_DATAGRAM: usize = 2048;

enum Control {
    Register {
        ufrag: String,
        inbox: mpsc::Sender<CallMsg>,
    },
    Unregister {
        ufrag: String,
    },
}

/// The shared socket and a way to (un)register peers by their local ICE ufrag.
#[derive(Clone)]
pub struct WebRtcSocket {
    pub sock: Arc<UdpSocket>,
    pub local: SocketAddr,
    control: mpsc::Sender<Control>,
}

impl WebRtcSocket {
    /// Binds the shared socket with kernel buffers of `buffer_bytes` (every call's media
    /// arrives here: a small buffer loses datagrams whenever the daemon is briefly busy).
    pub async fn bind(addr: SocketAddr, buffer_bytes: usize) -> std::io::Result<Self> {
        let sock = super::socket_buffers::bind_udp(addr, buffer_bytes, "webrtc")?;
        let sock = Arc::new(sock);
        let local = sock.local_addr()?;
        let (control, rx) = mpsc::channel(1024);
        tokio::spawn(demux(sock.clone(), local, rx));
        Ok(Self {
            sock,
            local,
            control,
        })
    }

    pub async fn register(&self, ufrag: String, inbox: mpsc::Sender<CallMsg>) {
        let _ = self.control.send(Control::Register { ufrag, inbox }).await;
    }

    pub fn unregister(&self, ufrag: String) {
        let _ = self.control.try_send(Control::Unregister { ufrag });
    }

    pub fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let _ = self.sock.try_send_to(bytes, to);
    }
}

async fn demux(sock: Arc<UdpSocket>, local: SocketAddr, mut control: mpsc::Receiver<Control>) {
    let mut by_ufrag: HashMap<String, mpsc::Sender<CallMsg>> = HashMap::new();
    let mut by_addr: HashMap<SocketAddr, (String, mpsc::Sender<CallMsg>)> = HashMap::new();
    // Datagrams land in one large buffer and travel to call tasks as slices of it: one
    // allocation per `SLAB_BYTES` of traffic instead of one per datagram.
    let mut slab = BytesMut::with_capacity(SLAB_BYTES);
    loop {
        if slab.capacity() < MAX_DATAGRAM {
            slab.reserve(SLAB_BYTES);
        }
        tokio::select! {
            got = sock.recv_buf_from(&mut slab) => {
                let Ok((n, from)) = got else {
                    slab.clear();
                    continue;
                };
                if let Entry::Vacant(e) = by_addr.entry(from) {
                    let ufrag = stun_local_ufrag(&slab[..n]);
                    if let Some((u, tx)) = ufrag.and_then(|u| Some((u, by_ufrag.get(u)?))) {
                        e.insert((u.to_owned(), tx.clone()));
                    }
                }
                match by_addr.get(&from).map(|(_, tx)| tx) {
                    Some(tx) => {
                        let bytes = slab.split_to(n).freeze();
                        let _ = tx.try_send(CallMsg::WebRtc { from, to: local, bytes });
                    }
                    None => slab.clear(),
                }
            }
            cmd = control.recv() => match cmd {
                Some(Control::Register { ufrag, inbox }) => { by_ufrag.insert(ufrag, inbox); }
                Some(Control::Unregister { ufrag }) => {
                    by_ufrag.remove(&ufrag);
                    by_addr.retain(|_, (u, _)| *u != ufrag);
                }
                None => return,
            },
        }
    }
}

/// The local (our) ufrag of a STUN binding request: the USERNAME attribute's part before
/// `:` (RFC 8445 §7.2.2). `None` for anything else.
pub fn stun_local_ufrag(data: &[u8]) -> Option<&str> {
    const MAGIC: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
    if data.len() < 20 || data[0] & 0xC0 != 0 || data[4..8] != MAGIC {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let attrs = data.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= attrs.len() {
        let kind = u16::from_be_bytes([attrs[at], attrs[at + 1]]);
        let alen = usize::from(u16::from_be_bytes([attrs[at + 2], attrs[at + 3]]));
        let value = attrs.get(at + 4..at + 4 + alen)?;
        if kind == 0x0006 {
            let user = std::str::from_utf8(value).ok()?;
            return user.split(':').next();
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&0x0006u16.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        m.extend_from_slice(&[7u8; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn username_routes_by_our_ufrag() {
        assert_eq!(
            stun_local_ufrag(&binding_request("srvU:brwsr")),
            Some("srvU")
        );
        assert_eq!(stun_local_ufrag(&binding_request("abc")), Some("abc"));
    }

    #[test]
    fn non_stun_and_truncated_input_is_ignored() {
        let mut m = binding_request("srvU:brwsr");
        assert_eq!(stun_local_ufrag(&m[..19]), None);
        m[4] = 0; // wrong magic cookie
        assert_eq!(stun_local_ufrag(&m), None);
        assert_eq!(stun_local_ufrag(&[0x80; 40]), None, "RTP/DTLS first bytes");
        let mut long = binding_request("srvU:brwsr");
        long[3] = 200; // length beyond the datagram
        assert_eq!(stun_local_ufrag(&long), None);
    }
}
