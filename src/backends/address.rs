//! Which network addresses a backend's host name may lead to (reliability.md §7.3).
//!
//! Base URLs come only from configuration, but the name in one is resolved at connect time, by whoever answers
//! for that name's DNS. If that answer turns into a loopback, private or link-local address (the cloud metadata
//! service at 169.254.169.254 among them), ordermux would send the backend's credentials and callers' orders to a
//! service inside the operator's network. So a name is resolved here, the addresses are checked, and the
//! connection goes to a checked address (no second look-up for a rebinding answer to slip into).
//!
//! A base URL that names an IP address literally, or `localhost`, says where it goes: it is taken as written. A
//! shop reached by name on the operator's own network needs `allow_private_addresses = true` on its backend.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// Resolves a backend's host name, keeping only the addresses it may connect to. Used by the adapters' HTTP
/// client (reqwest) and by the pass-through's connector (hyper), so both reach the same addresses.
#[derive(Clone)]
pub struct GuardedResolver {
    backend: Arc<str>,
    allow_private: bool,
    lookup: Lookup,
}

impl GuardedResolver {
    pub fn new(backend: &str, allow_private: bool) -> GuardedResolver {
        GuardedResolver {
            backend: backend.into(),
            allow_private,
            lookup: Arc::new(|host| {
                Box::pin(async move {
                    // Port 0: the connector sets the URL's port on each address.
                    Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect())
                })
            }),
        }
    }

    /// A resolver answering from `answers` (host, addresses) instead of DNS.
    #[cfg(test)]
    pub fn answering(
        allow_private: bool,
        answers: Vec<(&'static str, Vec<IpAddr>)>,
    ) -> GuardedResolver {
        let answers = Arc::new(answers);
        GuardedResolver {
            backend: "test".into(),
            allow_private,
            lookup: Arc::new(move |host| {
                let found = answers
                    .iter()
                    .find(|(name, _)| *name == host)
                    .map(|(_, ips)| ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect());
                Box::pin(async move {
                    found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
                })
            }),
        }
    }

    async fn resolve(&self, host: String) -> Result<Vec<SocketAddr>, BoxError> {
        let found = (self.lookup)(host.clone()).await?;
        admit(&host, found, self.allow_private).map_err(|refused| {
            tracing::warn!(backend = %self.backend, host = %host, addresses = %refused.addresses, "backend host name resolves only to addresses it may not reach; not connecting (allow_private_addresses)");
            refused.into()
        })
    }
}

/// What `check-config` finds for a backend's base URL.
#[derive(Debug, PartialEq, Eq)]
pub enum HostCheck {
    /// An IP address, `localhost`, a backend allowed private addresses, or a name with public addresses.
    Reachable,
    /// A name that resolves only to addresses the backend may not reach: it would never be connected to.
    Refused(String),
    /// The name could not be resolved here (no DNS, or not known to it): nothing to say.
    Unresolved(String),
}

/// Resolves a base URL's host name as serving will, and says whether serving could connect to it.
pub async fn check_base_url(base_url: &str, allow_private: bool) -> HostCheck {
    let Some(host) = base_url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
    else {
        return HostCheck::Unresolved(format!("{base_url:?} names no host"));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    // The connectors never resolve an address; an allowed backend may reach any.
    if allow_private || bare.parse::<IpAddr>().is_ok() {
        return HostCheck::Reachable;
    }
    // The resolver serving uses (silent here: check-config sets up no log).
    let resolver = GuardedResolver::new(base_url, false);
    let resolving = resolver.resolve(bare.to_owned());
    match tokio::time::timeout(std::time::Duration::from_secs(5), resolving).await {
        Ok(Ok(_)) => HostCheck::Reachable,
        Ok(Err(e)) => match e.downcast::<Refused>() {
            Ok(refused) => HostCheck::Refused(refused.to_string()),
            Err(e) => HostCheck::Unresolved(format!("{bare} could not be resolved here: {e}")),
        },
        Err(_) => HostCheck::Unresolved(format!("{bare} was not resolved within 5 s")),
    }
}

/// The addresses of `host` a connection may go to: all of them where private addresses are allowed or the name
/// is `localhost`, else the public ones. None left is an error naming what was found.
fn admit(
    host: &str,
    found: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    if allow_private || is_localhost(host) || is_numeric_address(host) {
        return Ok(found);
    }
    let addresses = found
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() {
        return Err(Refused {
            host: host.to_owned(),
            addresses,
        });
    }
    Ok(public)
}

/// A host name that resolved only to addresses a backend may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses outside the public internet ({addresses}); set allow_private_addresses = true on the backend if the shop is on your network")]
pub struct Refused {
    host: String,
    addresses: String,
}

/// `localhost` and its subdomains (RFC 6761: always the loopback interface).
fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// An IPv4 address in one of the shorter numeric forms the system resolver reads (`127.1`, `2130706433`,
/// `0x7f.0.0.1`): written as an address, so taken as written, as the adapters' URL parser (which turns these into
/// `127.0.0.1` before any look-up) takes it too.
fn is_numeric_address(host: &str) -> bool {
    let number = |label: &str| {
        let (digits, radix) = match label
            .strip_prefix("0x")
            .or_else(|| label.strip_prefix("0X"))
        {
            Some(hex) => (hex, 16),
            None if label.len() > 1 && label.starts_with('0') => (&label[1..], 8),
            None => (label, 10),
        };
        !label.is_empty()
            && u32::from_str_radix(if digits.is_empty() { "0" } else { digits }, radix).is_ok()
    };
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    labels.len() <= 4 && labels.iter().all(|l| number(l))
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique-local), shared
/// (RFC 6598), link-local, unspecified, multicast, broadcast, reserved or set aside for documentation. An IPv6
/// address carrying an IPv4 one (mapped, or NAT64's well-known prefix) is judged by the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
        || ip.is_multicast()
        || a >= 240) // reserved, and the broadcast address
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fc00::/7)
        || (first & 0xffc0) == 0xfe80 // link-local (fe80::/10)
        || (first & 0xffc0) == 0xfec0 // site-local, deprecated (fec0::/10)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || ip.to_ipv4().is_some()) // IPv4-compatible (::a.b.c.d), deprecated
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(this.resolve(host).await?.into_iter());
            Ok(addrs)
        })
    }
}

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move { Ok(this.resolve(host).await?.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_told_from_the_rest() {
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.215.14",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(public)), "{public} is public");
        }
        for other in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "::10.0.0.1",
        ] {
            assert!(!is_public(ip(other)), "{other} is not public");
        }
    }

    fn addrs(ips: &[&str]) -> Vec<SocketAddr> {
        ips.iter().map(|s| SocketAddr::new(ip(s), 0)).collect()
    }

    #[test]
    fn a_name_keeps_only_its_public_addresses_unless_private_ones_are_allowed() {
        let mixed = addrs(&["10.0.0.5", "93.184.215.14", "::1"]);
        assert_eq!(
            admit("shop.example.com", mixed.clone(), false).unwrap(),
            addrs(&["93.184.215.14"])
        );
        assert_eq!(
            admit("shop.example.com", mixed.clone(), true).unwrap(),
            mixed
        );

        let private = addrs(&["169.254.169.254", "fd00::7"]);
        let refused = admit("shop.example.com", private.clone(), false).unwrap_err();
        let said = refused.to_string();
        assert!(
            said.contains("shop.example.com") && said.contains("169.254.169.254, fd00::7"),
            "{said}"
        );
        assert!(said.contains("allow_private_addresses"), "{said}");
        assert_eq!(
            admit("shop.example.com", private.clone(), true).unwrap(),
            private
        );
    }

    #[test]
    fn localhost_and_numeric_addresses_say_where_they_go() {
        let loopback = addrs(&["127.0.0.1", "::1"]);
        for host in ["localhost", "LocalHost.", "shop.localhost"] {
            assert_eq!(
                admit(host, loopback.clone(), false).unwrap(),
                loopback,
                "{host}"
            );
        }
        assert!(admit("localhost.example.com", loopback.clone(), false).is_err());
        for host in ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1"] {
            assert_eq!(
                admit(host, loopback.clone(), false).unwrap(),
                loopback,
                "{host}"
            );
        }
        for host in ["cafe", "1.example", "0x7g.1", "1.2.3.4.5"] {
            assert!(admit(host, loopback.clone(), false).is_err(), "{host}");
        }
    }

    #[tokio::test]
    async fn check_config_says_which_base_urls_serving_could_reach() {
        for reachable in [
            "http://127.0.0.1:9",
            "http://[::1]:9/shop",
            "http://localhost:8080",
            "http://127.1",
        ] {
            assert_eq!(
                check_base_url(reachable, false).await,
                HostCheck::Reachable,
                "{reachable}"
            );
        }
        // RFC 6761: `.invalid` never resolves, wherever this runs.
        assert!(matches!(
            check_base_url("https://shop.invalid", false).await,
            HostCheck::Unresolved(_)
        ));
        assert_eq!(
            check_base_url("https://shop.invalid", true).await,
            HostCheck::Reachable
        );
    }

    #[tokio::test]
    async fn both_clients_resolve_through_the_guard() {
        let resolver = GuardedResolver::answering(
            false,
            vec![
                ("rebound.example", vec![ip("127.0.0.1")]),
                ("public.example", vec![ip("93.184.215.14")]),
            ],
        );
        let via_reqwest =
            |host: &str| reqwest::dns::Resolve::resolve(&resolver, host.parse().unwrap());
        assert!(via_reqwest("rebound.example").await.is_err());
        let found: Vec<SocketAddr> = via_reqwest("public.example").await.unwrap().collect();
        assert_eq!(found, addrs(&["93.184.215.14"]));

        let mut hyper_side = resolver.clone();
        let name = |host: &str| host.parse::<hyper_util::client::legacy::connect::dns::Name>();
        assert!(
            tower_service::Service::call(&mut hyper_side, name("rebound.example").unwrap())
                .await
                .is_err()
        );
        let found: Vec<SocketAddr> =
            tower_service::Service::call(&mut hyper_side, name("public.example").unwrap())
                .await
                .unwrap()
                .collect();
        assert_eq!(found, addrs(&["93.184.215.14"]));
    }

    /// A listener on loopback that counts the connections made to it.
    async fn counting_listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        (port, count)
    }

    #[tokio::test]
    async fn a_name_rebound_to_loopback_is_not_connected_to_unless_allowed() {
        let answers = || vec![("shop.example", vec![ip("127.0.0.1")])];
        let (port, connections) = counting_listener().await;
        let url = format!("http://shop.example:{port}/orders");
        let client = |allow| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver::answering(allow, answers())))
                .build()
                .unwrap()
        };
        let refused = client(false).get(&url).send().await.unwrap_err();
        assert!(refused.is_connect(), "{refused:?}");
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
        let answered = client(true).get(&url).send().await.unwrap();
        assert_eq!(answered.status(), 200);
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);

        // The pass-through's connector.
        let connector = |allow| {
            hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(
                GuardedResolver::answering(allow, answers()),
            )
        };
        let uri: http::Uri = url.parse().unwrap();
        assert!(
            tower_service::Service::call(&mut connector(false), uri.clone())
                .await
                .is_err()
        );
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
        let _stream = tower_service::Service::call(&mut connector(true), uri)
            .await
            .unwrap();
        // Connected: the listener counts it once its accept has run.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while connections.load(std::sync::atomic::Ordering::SeqCst) < 2 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the allowed connection reaches the listener");
    }
}
