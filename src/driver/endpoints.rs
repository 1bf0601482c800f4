//! Connected endpoint sessions and live call tasks, shared between the WebSocket sessions
//! and the signaling task. Touched when sessions come and go and per control message,
//! never per media packet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::api::signaling::messages::ServerMessage;

/// One WebSocket session: where to send it messages.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub id: u64,
    pub tx: mpsc::Sender<ServerMessage>,
}

impl SessionHandle {
    /// Queues a message; a session too slow to keep up loses it (and will time out).
    pub fn send(&self, msg: ServerMessage) {
        let _ = self.tx.try_send(msg);
    }
}

#[derive(Default)]
pub struct Endpoints {
    sessions: DashMap<(String, String), Vec<SessionHandle>>,
    next_id: AtomicU64,
}

impl Endpoints {
    pub fn new_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a session; true when it is the endpoint's first (it just came online).
    pub fn add(&self, app: &str, endpoint: &str, s: SessionHandle) -> bool {
        let mut list = self
            .sessions
            .entry((app.to_owned(), endpoint.to_owned()))
            .or_default();
        list.push(s);
        list.len() == 1
    }

    /// Removes a session; true when it was the endpoint's last (it went offline).
    pub fn remove(&self, app: &str, endpoint: &str, id: u64) -> bool {
        let key = (app.to_owned(), endpoint.to_owned());
        let empty = match self.sessions.get_mut(&key) {
            Some(mut list) => {
                list.retain(|s| s.id != id);
                list.is_empty()
            }
            None => false,
        };
        if empty {
            self.sessions.remove_if(&key, |_, l| l.is_empty());
        }
        empty
    }

    pub fn sessions_of(&self, app: &str, endpoint: &str) -> Vec<SessionHandle> {
        self.sessions
            .get(&(app.to_owned(), endpoint.to_owned()))
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.iter().map(|e| e.value().len()).sum()
    }
}

/// Shared handle type.
pub type SharedEndpoints = Arc<Endpoints>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_session_flip_presence() {
        let e = Endpoints::default();
        let (tx, _rx) = mpsc::channel(1);
        let a = SessionHandle {
            id: e.new_session_id(),
            tx: tx.clone(),
        };
        let b = SessionHandle {
            id: e.new_session_id(),
            tx,
        };
        assert!(e.add("demo", "alice", a.clone()));
        assert!(!e.add("demo", "alice", b.clone()));
        assert_eq!(e.sessions_of("demo", "alice").len(), 2);
        assert!(!e.remove("demo", "alice", a.id));
        assert!(e.remove("demo", "alice", b.id));
        assert!(e.sessions_of("demo", "alice").is_empty());
        assert!(
            !e.remove("demo", "alice", 99),
            "unknown session changes nothing"
        );
    }
}
