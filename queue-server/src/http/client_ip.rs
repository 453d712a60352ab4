//! Which address a request comes from, for the per-address limits.
//!
//! The socket's peer, unless the peer is one of the operator's proxies
//! (`--trusted-proxies`, for example the deploy's nginx on loopback): then
//! `X-Forwarded-For`, read from the right, past every trusted hop, to the
//! first address a trusted proxy saw connecting. Addresses further left were
//! written by the client itself and prove nothing, so a client cannot spread
//! its joins over made-up addresses, and a request that did not come through
//! a trusted proxy has its header ignored.

use std::net::IpAddr;
use std::str::FromStr;

use hyper::header::HeaderMap;
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses (`127.0.0.1`) and networks
    /// (`10.0.0.0/8`); empty for none.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                IpNet::from_str(item)
                    .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                    .map_err(|_| {
                        format!("{item:?} is neither an address nor a network (a.b.c.d/n)")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer`, or what the trusted proxies in front of
    /// it say (see the module docs).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if self.is_empty() || !self.trusts(peer) {
            return Some(peer);
        }
        let mut client = peer;
        // Several headers are one list, in order.
        let hops = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = IpAddr::from_str(hop.trim()) else {
                // Garbage where an address should be: whoever wrote it is not
                // a proxy we trust, so the last trusted hop's peer is the client.
                break;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        Some(client)
    }
}

/// An IPv4 client of a dual-stack socket reads as `::ffff:a.b.c.d`: one
/// client, one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), &headers(&["203.0.113.9"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_a_forged_hop_does_not_count() {
        let trusted = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        // The client wrote 1.1.1.1 itself; nginx appended what it saw.
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &headers(&["1.1.1.1, 203.0.113.9"])),
            ip("203.0.113.9")
        );
        // Two trusted hops (a load balancer in 10/8, then nginx).
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &headers(&["203.0.113.9", "10.1.2.3"])),
            ip("203.0.113.9")
        );
        // A peer that is not a proxy of ours: its header means nothing.
        assert_eq!(
            trusted.client_ip(ip("198.51.100.7"), &headers(&["203.0.113.9"])),
            ip("198.51.100.7")
        );
        // No header, or garbage in it: the proxy itself.
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &headers(&[])),
            ip("127.0.0.1")
        );
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &headers(&["not-an-ip"])),
            ip("127.0.0.1")
        );
        assert_eq!(
            trusted.client_ip(ip("::ffff:127.0.0.1"), &headers(&["2001:db8::1"])),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn the_list_is_checked() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("::1,127.0.0.0/8").is_ok());
        assert!(TrustedProxies::parse("localhost").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
