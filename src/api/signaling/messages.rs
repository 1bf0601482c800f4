//! The JSON messages of `docs/signaling.md`, protocol version 1.

use serde::{Deserialize, Serialize};

use crate::call::core::CallState;
use crate::policy::{CallerId, EndReason};

pub const PROTOCOL: u32 = 1;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    Auth {
        token: String,
        #[serde(default)]
        protocol: Option<u32>,
    },
    StartPhoneCall {
        request_id: String,
        number: String,
        /// Absent: the role's default; `""` or `null`: anonymous.
        #[serde(default, deserialize_with = "explicit_null")]
        caller_id: Option<Option<String>>,
        sdp: String,
    },
    Answer {
        call_id: String,
        sdp: String,
    },
    Reject {
        call_id: String,
        #[serde(default)]
        busy: bool,
    },
    HangUp {
        call_id: String,
    },
    Hold {
        call_id: String,
    },
    Resume {
        call_id: String,
    },
    SendDtmf {
        call_id: String,
        digits: String,
        #[serde(default)]
        duration_ms: Option<u32>,
    },
    Ping,
}

/// Keeps `"callerId": null` apart from a missing `callerId`.
fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The wire form of an end reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEndReason {
    pub code: u16,
    pub sub_code: u32,
}

impl From<EndReason> for WireEndReason {
    fn from(r: EndReason) -> Self {
        Self {
            code: r.code,
            sub_code: r.sub_code,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WireCallerId {
    pub number: Option<String>,
    pub name: Option<String>,
}

impl From<&CallerId> for WireCallerId {
    fn from(c: &CallerId) -> Self {
        Self {
            number: c.number.clone(),
            name: c.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    Ready {
        protocol: u32,
        session_id: String,
        app: String,
        endpoint: String,
        role: String,
        ice_servers: Vec<IceServer>,
    },
    IncomingCall {
        call_id: String,
        caller_id: WireCallerId,
        to: String,
    },
    CallAccepted {
        request_id: String,
        call_id: String,
    },
    Sdp {
        call_id: String,
        sdp: String,
    },
    CallState {
        call_id: String,
        state: CallState,
    },
    CallEnded {
        #[serde(skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        call_end_reason: WireEndReason,
        reason: String,
    },
    Error {
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
    },
    Pong,
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.into(),
            message: message.into(),
            request_id: None,
            call_id: None,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_with_camel_case_keys() {
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"startPhoneCall","requestId":"r1","number":"+14155551234","sdp":"v=0"}"#,
        )
        .expect("parse");
        assert!(matches!(
            m,
            ClientMessage::StartPhoneCall {
                caller_id: None,
                ..
            }
        ));
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"startPhoneCall","requestId":"r1","number":"+1","callerId":null,"sdp":""}"#,
        )
        .expect("parse");
        assert!(matches!(
            m,
            ClientMessage::StartPhoneCall {
                caller_id: Some(None),
                ..
            }
        ));
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"sendDtmf","callId":"c","digits":"12#","durationMs":80}"#,
        )
        .expect("parse");
        assert_eq!(
            m,
            ClientMessage::SendDtmf {
                call_id: "c".into(),
                digits: "12#".into(),
                duration_ms: Some(80)
            }
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"frobnicate"}"#).is_err());
    }

    #[test]
    fn server_messages_serialise_as_documented() {
        let m = ServerMessage::CallEnded {
            call_id: Some("c1".into()),
            request_id: None,
            call_end_reason: WireEndReason {
                code: 486,
                sub_code: 48601,
            },
            reason: "busy".into(),
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"callEnded","callId":"c1","callEndReason":{"code":486,"subCode":48601},"reason":"busy"}"#
        );
        let m = ServerMessage::CallState {
            call_id: "c1".into(),
            state: CallState::EarlyMedia,
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"callState","callId":"c1","state":"EarlyMedia"}"#
        );
        let m = ServerMessage::IncomingCall {
            call_id: "c2".into(),
            caller_id: WireCallerId {
                number: None,
                name: None,
            },
            to: "+14155550100".into(),
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"incomingCall","callId":"c2","callerId":{"number":null,"name":null},"to":"+14155550100"}"#
        );
    }
}
