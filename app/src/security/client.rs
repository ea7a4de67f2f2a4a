//! The client address a request came from, for throttles and the audit log:
//! the first `X-Forwarded-For` hop when (and only when) the operator says a
//! trusted proxy sets it, else the peer of the connection.

use std::net::IpAddr;

/// The address of the client, as text of at most 64 characters.
pub fn client_address(headers: &http::HeaderMap, peer: Option<IpAddr>, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(first) = forwarded.split(',').next()
        && !first.trim().is_empty()
    {
        return first
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
    }
    peer.map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        let peer = Some("127.0.0.1".parse().unwrap());
        assert_eq!(client_address(&headers, peer, true), "203.0.113.9");
        assert_eq!(client_address(&headers, peer, false), "127.0.0.1");
        assert_eq!(client_address(&http::HeaderMap::new(), None, true), "unknown");
        headers.insert("x-forwarded-for", "x".repeat(200).parse().unwrap());
        assert_eq!(client_address(&headers, peer, true).len(), 64);
    }
}
