//! Network addresses: the peer of a connection, and lists of trusted
//! networks (proxies) written as addresses or CIDRs in the settings.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The address of the connection's peer, for servers that are not axum
/// (axum's `ConnectInfo<SocketAddr>` is read as well): insert it into the
/// request's extensions.
///
/// ```
/// use restflow_auth::Request;
/// use restflow_auth::net::PeerAddr;
///
/// let (mut parts, ()) = http::Request::new(()).into_parts();
/// parts.extensions.insert(PeerAddr("10.0.0.7:51234".parse().unwrap()));
/// assert_eq!(Request::new(&parts).peer_ip(), Some("10.0.0.7".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A list of networks: `["10.0.0.0/8", "127.0.0.1", "::1"]` (a bare
/// address is a network of one). Read from the settings as strings; a
/// malformed entry is an error at load time.
///
/// ```
/// use restflow_auth::net::Networks;
///
/// let n: Networks = serde_json::from_str(r#"["10.0.0.0/8", "::1"]"#).unwrap();
/// assert!(n.contains("10.1.2.3".parse().unwrap()));
/// assert!(n.contains("::1".parse().unwrap()));
/// assert!(!n.contains("192.168.0.1".parse().unwrap()));
/// assert!(serde_json::from_str::<Networks>(r#"["10.0.0.0/33"]"#).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// No networks.
    pub fn new() -> Self {
        Networks(Vec::new())
    }

    /// Parses entries (addresses or CIDRs).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| parse_one(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Networks)
    }

    /// Whether no network is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (`::ffff:10.0.0.1` is `10.0.0.1`).
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_one(entry: &str) -> Result<IpNet, String> {
    let e = entry.trim();
    if let Ok(net) = e.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    e.parse::<IpAddr>()
        .map(|ip| IpNet::from(canonical(ip)))
        .map_err(|_| format!("`{entry}` is not an IP address or a CIDR such as 10.0.0.0/8"))
}

impl fmt::Debug for Networks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|n| n.to_string()))
            .finish()
    }
}

impl Serialize for Networks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|n| n.to_string()))
    }
}

impl<'de> Deserialize<'de> for Networks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        Networks::parse(&entries).map_err(serde::de::Error::custom)
    }
}
