//! The client's address and user agent.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use domain::ClientInfo;

/// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[ipnet::IpNet]>);

impl TrustedProxies {
    pub fn new(networks: Vec<ipnet::IpNet>) -> Self {
        Self(networks.into())
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from `peer`: the peer, or — when the peer is
    /// a trusted proxy — the nearest address in `X-Forwarded-For` that is not
    /// itself a trusted proxy (walking from the right).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(&peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.contains(&ip) {
                break;
            }
        }
        client
    }

    /// The address and user agent of a request with these headers and
    /// extensions (the peer is axum's `ConnectInfo`).
    pub fn client_of(&self, headers: &HeaderMap, extensions: &Extensions) -> ClientInfo {
        let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        ClientInfo::new(user_agent, self.address_of(headers, extensions))
    }

    /// The client's address alone (`None` without a peer: never on a socket).
    pub fn address_of(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
        Some(self.client_ip(peer.ip(), headers))
    }
}

/// The client's address and user agent, as [`TrustedProxies::client_of`]
/// finds them, in any router whose state gives the trusted proxies.
pub struct Client(pub ClientInfo);

impl<S> FromRequestParts<S> for Client
where
    S: Send + Sync,
    TrustedProxies: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let proxies = TrustedProxies::from_ref(state);
        Ok(Self(proxies.client_of(&parts.headers, &parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let nobody = TrustedProxies::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.7".parse().unwrap(),
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From a trusted proxy: the nearest untrusted hop.
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &headers), ip("1.2.3.4"));
        // From anyone else: the peer, whatever the header says.
        assert_eq!(trusted.client_ip(ip("8.8.8.8"), &headers), ip("8.8.8.8"));
        assert_eq!(nobody.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
        // Garbage stops the walk at the last hop that parsed.
        headers.insert("x-forwarded-for", "nonsense, 10.0.0.9".parse().unwrap());
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.9"));
        headers.remove("x-forwarded-for");
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }
}
