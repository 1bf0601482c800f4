//! Where call tasks register to receive messages from the shared SIP socket and endpoint
//! sessions: a key (`cid:…`, `to:…`, `caller:…`, `req:…`) → the call's channel. Touched when
//! calls start, end and exchange signaling, never per media packet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedSender;

use super::call::Event;

#[derive(Clone, Default)]
pub struct Routes {
    map: Arc<Mutex<HashMap<String, UnboundedSender<Event>>>>,
}

impl Routes {
    pub fn insert(&self, key: String, tx: UnboundedSender<Event>) {
        self.lock().insert(key, tx);
    }

    pub fn get(&self, key: &str) -> Option<UnboundedSender<Event>> {
        self.lock().get(key).cloned()
    }

    pub fn forget(&self, keys: &[String]) {
        let mut map = self.lock();
        for k in keys {
            map.remove(k);
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, UnboundedSender<Event>>> {
        // A panicking holder cannot leave the map half-updated: each change is one call.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}
