//! Which network addresses outbound webhooks may reach: the public
//! internet only, unless the operator names a private host
//! (`GATEHOUSE_WEBHOOK_PRIVATE_HOSTS`, for self-hosted setups). Checked when
//! an endpoint is entered and again at connect time, after DNS resolution,
//! so a name that later resolves to a private address (DNS rebinding) is
//! refused all the same. Pure; unit-tested below.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Hosts the operator allows although they are private: names as written
/// in a URL, or IP addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivateHosts(Vec<String>);

impl PrivateHosts {
    /// None allowed: the default.
    pub fn none() -> Self {
        PrivateHosts(Vec::new())
    }

    /// A comma-separated list of names or addresses (`hooks.internal,10.0.0.5`).
    pub fn parse(list: &str) -> Self {
        PrivateHosts(
            list.split(',')
                .map(|host| {
                    host.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|host| !host.is_empty())
                .collect(),
        )
    }

    /// Whether the operator named `host` (a name, or an address in any spelling).
    pub fn allows(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let as_ip = host.parse::<IpAddr>().ok();
        self.0
            .iter()
            .any(|allowed| *allowed == host || (as_ip.is_some() && allowed.parse::<IpAddr>().ok() == as_ip))
    }
}

/// Whether `ip` is an address on the public internet (not loopback,
/// private, link-local, shared, documentation, multicast, reserved, or an
/// IPv6 spelling of one of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", 0.0.0.0
        || a == 10                             // RFC 1918
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // RFC 1918
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // RFC 1918
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // IPv4 addresses written as IPv6 (mapped, compatible, NAT64) are judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0, 0, 0, 0, 0, 0] {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        return segments[6] != 0 && is_public_v4(ip.to_ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, high, low] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    let first = segments[0];
    !((first & 0xfe00) == 0xfc00        // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80   // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0   // site-local (deprecated) fec0::/10
        || (first & 0xff00) == 0xff00   // multicast
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || first == 0x2002 && !is_public_v4(Ipv4Addr::from((u32::from(segments[1]) << 16) | u32::from(segments[2]))) // 6to4 of a private v4
        || (first == 0x0100 && segments[1..4] == [0, 0, 0])) // discard-only
}

/// Why a host may not be posted to, if it may not.
pub fn refusal(host: &url::Host<&str>, allowed: &PrivateHosts) -> Option<String> {
    let (text, ip) = match host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if allowed.allows(&name) {
                return None;
            }
            if name == "localhost" || name.ends_with(".localhost") {
                return Some(format!("{name} is this machine; webhooks go to public addresses"));
            }
            return None;
        }
        url::Host::Ipv4(v4) => (v4.to_string(), IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => (v6.to_string(), IpAddr::V6(*v6)),
    };
    if is_public(ip) || allowed.allows(&text) {
        None
    } else {
        Some(format!(
            "{text} is a private or reserved address; webhooks go to public addresses (an operator can allow a private host with GATEHOUSE_WEBHOOK_PRIVATE_HOSTS)"
        ))
    }
}

/// The private hosts the operator lets webhooks reach, as the server
/// provided them to the request.
#[cfg(feature = "ssr")]
pub fn private_hosts() -> Result<PrivateHosts, crate::error::AppError> {
    crate::context::provided()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(url: &str) -> String {
        let parsed = url::Url::parse(url).expect("parses");
        match parsed.host().expect("has a host") {
            url::Host::Domain(d) => format!("domain {d}"),
            url::Host::Ipv4(v4) => format!("v4 {v4}"),
            url::Host::Ipv6(v6) => format!("v6 {v6}"),
        }
    }

    fn refused(url: &str, allowed: &PrivateHosts) -> bool {
        let parsed = url::Url::parse(url).expect("parses");
        refusal(&parsed.host().expect("has a host"), allowed).is_some()
    }

    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        let none = PrivateHosts::none();
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.000.000.001/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://[fc00::1]/",
            "http://10.0.0.1/",
            "http://10.255.255.255/",
            "http://172.16.0.1/",
            "http://172.31.255.254/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://198.18.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "https://127.0.0.1:8443/hooks",
        ] {
            assert!(refused(url, &none), "{url} ({}) must be refused", host_of(url));
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        let none = PrivateHosts::none();
        for url in [
            "https://example.com/hooks",
            "https://8.8.8.8/",
            "http://172.15.0.1/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://[2606:4700::1111]/",
            "http://[::ffff:8.8.8.8]/",
        ] {
            assert!(!refused(url, &none), "{url} is public");
        }
    }

    #[test]
    fn an_operator_may_allow_named_private_hosts_in_any_spelling() {
        let allowed = PrivateHosts::parse(" hooks.internal , 127.0.0.1,[::1]");
        for url in [
            "http://127.0.0.1:9000/",
            "http://127.1/",
            "http://[::1]/",
            "http://hooks.internal/",
        ] {
            assert!(!refused(url, &allowed), "{url} is allowed");
        }
        assert!(refused("http://10.0.0.1/", &allowed));
        assert!(refused("http://localhost/", &allowed));
        assert!(allowed.allows("HOOKS.internal"));
    }
}
