//! The configuration model: what `config/default.toml` documents, key by key.
//!
//! Every struct denies unknown keys: a typo in a deny list must not silently open it.
//! Durations carry their unit in the key name (`_ms`, `_s`) so environment overrides
//! stay plain integers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub http: HttpConfig,
    pub media: MediaConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    #[serde(default)]
    pub trunks: BTreeMap<String, TrunkConfig>,
    #[serde(default)]
    pub apps: BTreeMap<String, AppConfig>,
    #[serde(default)]
    pub emergency: EmergencyConfig,
    #[serde(default)]
    pub admission: AdmissionConfig,
}

/// Admission by measured load: new calls are refused while the daemon is near capacity.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Refuse new calls while measured CPU load plus the expected cost of calls admitted
    /// since the last measurement passes this percentage of the cores the daemon may use.
    /// 0 disables the rule.
    #[serde(default = "default_max_cpu_percent")]
    pub max_cpu_percent: u8,
    /// Retry-After (seconds) on the 503 that refuses a call for load.
    #[serde(default = "default_retry_after")]
    pub retry_after_s: u32,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            max_cpu_percent: default_max_cpu_percent(),
            retry_after_s: default_retry_after(),
        }
    }
}

fn default_max_cpu_percent() -> u8 {
    85
}

fn default_retry_after() -> u32 {
    5
}

/// Emergency short codes: never rewritten into E.164, placed only on trunks marked
/// `emergency` and only for roles whose allow-list names the code.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyConfig {
    /// Dialled strings (digits only, no `+`) treated as emergency calls.
    #[serde(default = "default_emergency_numbers")]
    pub numbers: Vec<String>,
}

impl Default for EmergencyConfig {
    fn default() -> Self {
        Self {
            numbers: default_emergency_numbers(),
        }
    }
}

/// How a carrier writes numbers without a leading `+` (inbound To, From and PAI).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NationalFormat {
    /// Country code added to national numbers, digits only (`1` for NANP).
    pub country_code: String,
    /// Digits in a national significant number (10 for NANP).
    pub length: u8,
    /// Prefix that may precede a national number and is dropped (`1` in NANP, `0` in the UK).
    #[serde(default)]
    pub trunk_prefix: Option<String>,
    /// Prefix that introduces an international number and stands for `+` (`011`, `00`).
    #[serde(default)]
    pub international_prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// UDP listen address; port 0 picks a free port.
    pub bind_udp: Option<SocketAddr>,
    /// TCP listen address; port 0 picks a free port.
    pub bind_tcp: Option<SocketAddr>,
    /// Host (IP or name) written into Via, Contact and Record-Route.
    pub advertised_host: String,
    /// Port written into Via and Contact; defaults to the bound port.
    #[serde(default)]
    pub advertised_port: Option<u16>,
    /// Realm of our digest challenges toward carriers.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Digest algorithms offered in our challenges, strongest first ("SHA-256", "MD5").
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<String>,
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// RFC 3261 timer T1 (round-trip estimate).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// RFC 3261 timer T2 (maximum retransmit interval for non-INVITE).
    #[serde(default = "default_t2")]
    pub t2_ms: u64,
    /// RFC 3261 timer T4 (maximum time a message stays in the network).
    #[serde(default = "default_t4")]
    pub t4_ms: u64,
    /// Largest SIP message accepted on any transport.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Kernel receive/send buffer of the SIP UDP socket, in bytes (0: kernel default).
    #[serde(default = "default_socket_buffer")]
    pub udp_buffer_bytes: usize,
    /// Cap on live transactions; new requests beyond it get 503.
    #[serde(default = "default_max_transactions")]
    pub max_transactions: usize,
    /// TCP connections idle this long are closed.
    #[serde(default = "default_tcp_idle")]
    pub tcp_idle_timeout_s: u64,
    /// Cap on concurrent TCP connections; more are refused at accept.
    #[serde(default = "default_tcp_max")]
    pub tcp_max_connections: usize,
    /// RFC 4028 session interval we ask for or accept.
    #[serde(default = "default_session_expires")]
    pub session_expires_s: u64,
    /// RFC 4028 smallest session interval we accept (422 below it).
    #[serde(default = "default_min_se")]
    pub min_se_s: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: SocketAddr,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Address RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// Address written into SDP `c=` lines.
    pub advertised_ip: IpAddr,
    /// First port of the RTP range (inclusive, even).
    pub port_min: u16,
    /// Last port of the RTP range (inclusive).
    pub port_max: u16,
    /// A call whose RTP stops for this long ends with an RTP-timeout reason.
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_s: u64,
    /// The one UDP port all WebRTC peers share (the ICE-lite host candidate is
    /// `advertised_ip:webrtc_port`); 0 picks a free port.
    #[serde(default)]
    pub webrtc_port: u16,
    /// ICE server URLs (`stun:`, `turn:`, `turns:`) sent to browsers; empty when the bridge's
    /// advertised address is reachable (it is ICE-lite: browsers need none to reach it).
    #[serde(default)]
    pub ice_servers: Vec<String>,
    /// An inbound call nobody answers is refused (480) after this long.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_s: u64,
    /// A call whose endpoint's WebSocket dropped ends after this grace period.
    #[serde(default = "default_signaling_grace")]
    pub signaling_grace_s: u64,
    /// Echo DIDs answer in G.711 but loop each frame through Opus (tests transcoding).
    #[serde(default)]
    pub echo_transcode: bool,
    /// Opus encoder complexity 0..=10 (cost measured in BENCHMARKS.md).
    #[serde(default = "default_opus_complexity")]
    pub opus_complexity: u8,
    /// Opus in-band forward error correction (SILK mode only).
    #[serde(default = "default_true")]
    pub opus_fec: bool,
    /// Which Opus layer encodes toward browsers: "celt" (default) or "silk".
    #[serde(default)]
    pub opus_mode: crate::media::OpusMode,
    /// Kernel receive/send buffer of the shared WebRTC socket, in bytes (0: kernel default).
    #[serde(default = "default_socket_buffer")]
    pub socket_buffer_bytes: usize,
}

impl MediaConfig {
    /// The Opus encoder settings for calls (bridged and echo).
    pub fn opus(&self) -> crate::media::OpusSettings {
        crate::media::OpusSettings {
            mode: self.opus_mode,
            complexity: self.opus_complexity,
            inband_fec: self.opus_fec,
            ..crate::media::OpusSettings::default()
        }
    }
}

fn default_socket_buffer() -> usize {
    4 * 1024 * 1024
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// On SIGTERM, wait at most this long for active calls to end.
    #[serde(default = "default_drain")]
    pub drain_timeout_s: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_timeout_s: default_drain(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Udp,
    Tcp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Source networks admitted for inbound requests (CIDR or single IP).
    #[serde(
        default,
        deserialize_with = "networks::deserialize",
        serialize_with = "networks::serialize"
    )]
    pub addresses: Vec<IpNet>,
    /// Digest credentials the carrier must present when its address is not listed.
    #[serde(default)]
    pub inbound_auth: Option<Credentials>,
    /// Where outbound INVITEs go.
    pub destination: Option<SocketAddr>,
    #[serde(default)]
    pub transport: TransportKind,
    /// Digest credentials we answer the carrier's challenges with.
    #[serde(default)]
    pub outbound_auth: Option<Credentials>,
    /// Number patterns this trunk carries outbound (`+1*`, exact numbers, or `*`).
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Trusted trunks receive and send P-Asserted-Identity (RFC 3325).
    #[serde(default)]
    pub trusted: bool,
    /// This trunk accepts emergency calls (the `[emergency]` numbers), placed as dialled.
    #[serde(default)]
    pub emergency: bool,
    /// National number format this carrier sends; absent: numbers must carry `+`.
    #[serde(default)]
    pub national: Option<NationalFormat>,
    /// Concurrent calls on this trunk, both directions; 0 = unlimited.
    #[serde(default)]
    pub max_concurrent_calls: u32,
    /// New calls per second on this trunk, both directions; 0 = unlimited.
    #[serde(default)]
    pub max_calls_per_second: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// DID (E.164) → endpoint id, or `echo` for the line-check echo service.
    #[serde(default)]
    pub numbers: BTreeMap<String, String>,
    /// Trunks for outbound calls, in order of preference.
    #[serde(default)]
    pub trunks: Vec<String>,
    #[serde(default)]
    pub roles: BTreeMap<String, RoleConfig>,
    /// Role given to endpoints whose token names none; must be one of `roles`.
    #[serde(default)]
    pub default_role: Option<String>,
    /// Keys that sign this app's endpoint tokens, by `kid`. None: the daemon generates an
    /// ephemeral HS256 key at start-up (usable only by that process).
    #[serde(default)]
    pub token_keys: BTreeMap<String, TokenKeyConfig>,
}

/// One endpoint-token key of an app (`[apps.NAME.token_keys.KID]`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyConfig {
    /// "HS256" (shared secret), "ES256" (P-256) or "EdDSA" (Ed25519).
    pub alg: String,
    /// HS256 shared secret, at least 32 bytes.
    #[serde(default)]
    pub secret: Option<String>,
    /// ES256/EdDSA public key (PEM, SubjectPublicKeyInfo): verifies tokens.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// ES256/EdDSA private key (PEM, PKCS#8): only needed to mint tokens here.
    #[serde(default)]
    pub private_key_pem: Option<String>,
}

impl std::fmt::Debug for TokenKeyConfig {
    // Secrets stay out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeyConfig")
            .field("alg", &self.alg)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem.is_some())
            .field(
                "private_key_pem",
                &self.private_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Numbers the role may call: exact E.164, prefixes ending in `*`, or `*`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Patterns refused even when allowed; deny wins.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Caller ID used when an endpoint gives none; must be a number the app owns.
    #[serde(default)]
    pub default_caller_id: Option<String>,
}

fn default_realm() -> String {
    "pstn-bridge".into()
}
fn default_digest_algorithms() -> Vec<String> {
    vec!["SHA-256".into(), "MD5".into()]
}
fn default_user_agent() -> String {
    concat!("pstn-bridge/", env!("CARGO_PKG_VERSION")).into()
}
fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4000
}
fn default_t4() -> u64 {
    5000
}
fn default_max_message_bytes() -> usize {
    65_535
}
fn default_max_transactions() -> usize {
    100_000
}
fn default_tcp_idle() -> u64 {
    300
}
fn default_tcp_max() -> usize {
    1024
}
fn default_session_expires() -> u64 {
    1800
}
fn default_min_se() -> u64 {
    90
}
fn default_rtp_timeout() -> u64 {
    30
}
fn default_ring_timeout() -> u64 {
    60
}
fn default_signaling_grace() -> u64 {
    10
}
fn default_opus_complexity() -> u8 {
    1
}
fn default_true() -> bool {
    true
}
fn default_drain() -> u64 {
    30
}
fn default_emergency_numbers() -> Vec<String> {
    ["911", "112", "999", "000", "110", "119", "118"]
        .map(String::from)
        .to_vec()
}

/// Networks written as CIDR (`10.0.0.0/8`) or a single address (`192.0.2.7`).
mod networks {
    use std::net::IpAddr;

    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        items
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        D::Error::custom(format!("`{s}` is not an IP address or CIDR network"))
                    })
            })
            .collect()
    }

    pub fn serialize<S: Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nets.iter().map(|n| n.to_string()))
    }
}
