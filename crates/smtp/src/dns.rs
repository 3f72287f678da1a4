//! DNS for SMTP: the one resolver the inbound checks (SPF, DKIM, DMARC)
//! and the outbound MX lookups use, the time a message may spend on DNS,
//! and which answers outbound delivery may act on.
//!
//! Implementation notes:
//! - Resolver ([`Resolver`], `[dns] resolver`): the system's
//!   (`/etc/resolv.conf`), one `ip:port` (UDP, and TCP for truncated
//!   answers), or `off`. Without a usable one the server says so at start
//!   and in `tidings check`, inbound mail is marked
//!   `Authentication-Results: <host>; none` (RFC 8601 §2.2: nothing was
//!   checked), and outbound mail leaves only through `[smtp] relay` or
//!   `[smtp.mx]`.
//! - Budget ([`DnsConfig::budget`]): all the lookups of one inbound
//!   message's checks together get this long; past it the message is
//!   accepted with `temperror` results (RFC 7208 §2.6.6, RFC 7489 §6.6.3:
//!   a DNS failure is temporary and never a reason to refuse). One lookup
//!   waits at most [`LOOKUP_TIMEOUT`] (or the budget, if shorter).
//! - Where outbound mail may go ([`is_public`]): an MX host, or a domain's
//!   own address, found in DNS must be a public unicast address. Loopback,
//!   unspecified, RFC 1918 and RFC 6598 ranges, link-local, multicast,
//!   broadcast, documentation and reserved ranges, IPv6 ULA (RFC 4193
//!   `fc00::/7`), site-local, and the IPv4-mapped, -compatible, NAT64 and
//!   6to4 forms of those are refused before any connection: whoever
//!   publishes an MX record must not be able to make the server talk to
//!   its own network. Routes the administrator wrote (`[smtp] relay`,
//!   `[smtp.mx]`) are not checked.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};

/// The longest one DNS query is waited for.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The default of [`DnsConfig::budget`].
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

/// Which resolver answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resolver {
    /// The system's configuration (`/etc/resolv.conf`).
    #[default]
    System,
    /// One recursive resolver at this address (UDP and TCP).
    Addr(SocketAddr),
    /// No DNS at all.
    Off,
}

impl std::fmt::Display for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolver::System => f.write_str("the system resolver"),
            Resolver::Addr(a) => write!(f, "the resolver at {a}"),
            Resolver::Off => f.write_str("no resolver (turned off)"),
        }
    }
}

/// `[dns]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    pub resolver: Resolver,
    /// How long all the DNS lookups of one inbound message's checks may
    /// take together.
    pub budget: Duration,
    /// The resolver validates DNSSEC and is trusted to say so with the AD
    /// bit (`[dns] dnssec`): outbound delivery then uses DANE (`dane`).
    pub dnssec: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            resolver: Resolver::System,
            budget: DEFAULT_BUDGET,
            dnssec: false,
        }
    }
}

impl DnsConfig {
    /// The hickory configuration; `Err` says why there is no resolver.
    pub fn hickory(&self) -> Result<(ResolverConfig, ResolverOpts), String> {
        let (config, mut options) = match self.resolver {
            Resolver::Off => return Err("turned off by `[dns] resolver = \"off\"`".into()),
            Resolver::System => {
                let (config, options) = hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
                if config.name_servers().is_empty() {
                    return Err("the system resolver configuration names no server".into());
                }
                (config, options)
            }
            Resolver::Addr(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                (
                    ResolverConfig::from_name_servers(vec![server]),
                    ResolverOpts::default(),
                )
            }
        };
        // Most SPF and DMARC lookups of most senders find nothing: keep
        // that for at least a minute (RFC 2308).
        options.negative_min_ttl = Some(Duration::from_secs(60));
        options.timeout = LOOKUP_TIMEOUT.min(self.budget);
        options.attempts = 2;
        Ok((config, options))
    }

    /// A resolver for outbound MX lookups.
    pub fn resolver(&self) -> Result<hickory_resolver::TokioResolver, String> {
        let (config, options) = self.hickory()?;
        hickory_resolver::TokioResolver::builder_with_config(
            config,
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()
        .map_err(|e| e.to_string())
    }

    /// The resolver of the inbound checks.
    pub fn authenticator(&self) -> Result<mail_auth::MessageAuthenticator, String> {
        let (config, options) = self.hickory()?;
        mail_auth::MessageAuthenticator::new(config, options).map_err(|e| e.to_string())
    }

    /// Asks the resolver one question (the root's NS records) to see that it
    /// answers at all: any answer, even an error code, will do; silence or
    /// a refused connection will not.
    pub async fn probe(&self) -> Result<(), String> {
        let resolver = self.resolver()?;
        let lookup = resolver.lookup(
            hickory_resolver::proto::rr::Name::root(),
            hickory_resolver::proto::rr::RecordType::NS,
        );
        match tokio::time::timeout(self.budget, lookup).await {
            Err(_) => Err(format!(
                "{} did not answer in {:?}",
                self.resolver, self.budget
            )),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => Ok(()),
            Ok(Err(e)) => Err(format!("{} did not answer: {e}", self.resolver)),
        }
    }
}

/// Whether outbound mail may be sent to `ip` when DNS named it (see the
/// module notes).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4); // ::ffff:0:0/96
            }
            let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            if s[..6] == [0; 6] {
                return false; // ::/96: unspecified, loopback, IPv4-compatible (RFC 4291 §2.5.5.1)
            }
            if s[0] == 0x64 && s[1] == 0xff9b {
                // NAT64 (RFC 6052 §2.1): the IPv4 address inside decides;
                // 64:ff9b:1::/48 is for local use (RFC 8215).
                return s[2..6] == [0; 4] && is_public_v4(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public_v4(embedded(s[1], s[2])); // 6to4 (RFC 3056)
            }
            let global_unicast = (s[0] & 0xe000) == 0x2000; // 2000::/3
            let documentation = s[0] == 0x2001 && s[1] == 0x0db8; // RFC 3849
            let ietf = s[0] == 0x2001 && s[1] < 0x0200; // 2001::/23 (Teredo, benchmarking, ...)
            global_unicast && !documentation && !ietf
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(o[0] == 0 // 0.0.0.0/8 "this network" (RFC 791), unspecified
        || ip.is_loopback()
        || ip.is_private() // RFC 1918
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared (RFC 6598)
        || ip.is_link_local() // 169.254.0.0/16
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF (RFC 6890)
        || ip.is_documentation()
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking (RFC 2544)
        || ip.is_multicast()
        || o[0] >= 240) // reserved, and the broadcast address
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for ok in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:2800:21f:cb07::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ok.parse().unwrap()), "{ok}");
        }
        for inside in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.25",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.1.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::25",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::25",
            "2001::1",
            "100::1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        assert!(is_public("64:ff9b::808:808".parse().unwrap()));
    }

    #[test]
    fn a_resolver_address_keeps_its_port() {
        let config = DnsConfig {
            resolver: Resolver::Addr("127.0.0.1:5353".parse().unwrap()),
            budget: Duration::from_secs(2),
            dnssec: false,
        };
        let (c, o) = config.hickory().unwrap();
        assert_eq!(c.name_servers().len(), 1);
        assert!(
            c.name_servers()[0]
                .connections
                .iter()
                .all(|c| c.port == 5353)
        );
        assert_eq!(o.timeout, Duration::from_secs(2));
        let off = DnsConfig {
            resolver: Resolver::Off,
            ..config
        };
        assert!(off.hickory().is_err());
    }
}
