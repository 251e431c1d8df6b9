//! The HTTP adapter of [`Notifier`]: one JSON POST per attempt, retried with backoff, with
//! guards against server-side request forgery.
//!
//! What a webhook may reach: `http` or `https` URLs (checked at submission) whose host
//! resolves only to public addresses. Every address a name resolves to is checked by the
//! client's own resolver (so the checked address is the one connected to), and a literal IP
//! host is checked before the request. [`classify`] sorts an address (IPv6 forms that embed an
//! IPv4 address, such as `::ffff:127.0.0.1` or NAT64 `64:ff9b::/96`, by that IPv4 address):
//! private ranges (RFC 1918, CGNAT, IPv6 unique-local) are refused unless
//! `CCAAS_WEBHOOK_ALLOW_PRIVATE=on`; loopback is refused unless `CCAAS_WEBHOOK_ALLOW_LOOPBACK=on`
//! (ccaas-local and tests only; the private switch never opens it); unspecified, "this
//! network", link-local, cloud metadata (169.254.169.254, `fd00:ec2::/32`), reserved,
//! benchmarking, documentation, multicast and broadcast addresses are always refused.
//! Redirects are never followed (a 3xx is a refusal), proxies from the environment are
//! ignored, the response body is never read, and each attempt has a timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ccaas_app::{Notification, Notifier, NotifyError};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{StatusCode, redirect};
use tracing::debug;

/// POSTs notifications with retries.
#[derive(Clone, Debug)]
pub struct HttpNotifier {
    client: reqwest::Client,
    reach: Reach,
    /// How many POSTs at most (the first included).
    pub attempts: u32,
    /// The pause after the first failed attempt; each later pause doubles.
    pub first_backoff: Duration,
    /// The limit of one attempt, connection included.
    pub attempt_timeout: Duration,
}

impl HttpNotifier {
    /// The production notifier: 4 attempts, pauses of 0.5 s, 1 s and 2 s, 5 s per attempt.
    pub fn new(reach: Reach) -> Self {
        Self::with_schedule(reach, 4, Duration::from_millis(500), Duration::from_secs(5))
    }

    /// A notifier with its own retry schedule.
    pub fn with_schedule(
        reach: Reach,
        attempts: u32,
        first_backoff: Duration,
        attempt_timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .connect_timeout(attempt_timeout.min(Duration::from_secs(3)))
            .timeout(attempt_timeout)
            .user_agent(concat!("ccaas/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { reach }))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        HttpNotifier {
            client,
            reach,
            attempts: attempts.max(1),
            first_backoff,
            attempt_timeout,
        }
    }
}

/// Which non-public addresses a webhook may reach. The default reaches public ones only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// `CCAAS_WEBHOOK_ALLOW_PRIVATE`: RFC 1918, CGNAT (100.64.0.0/10) and IPv6 unique-local
    /// addresses (an in-VPC receiver). Never loopback, link-local or metadata.
    pub private: bool,
    /// `CCAAS_WEBHOOK_ALLOW_LOOPBACK`: loopback (ccaas-local and tests; never on Lambda, where
    /// loopback is the Runtime API).
    pub loopback: bool,
}

/// What kind of address a webhook host is, for [`refused`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// Routed on the Internet.
    Public,
    /// RFC 1918, CGNAT, IPv6 unique-local: opened by [`Reach::private`].
    Private,
    /// 127.0.0.0/8 and `::1`: opened by [`Reach::loopback`].
    Loopback,
    /// Never reachable: unspecified, "this network", link-local (and so the cloud metadata
    /// endpoints), AWS's `fd00:ec2::/32`, reserved, benchmarking, documentation, IETF protocol
    /// assignments, multicast, broadcast, discard-only, Teredo and local-use NAT64.
    Never,
}

/// Sorts an address. An IPv6 address that embeds an IPv4 one (mapped `::ffff:a.b.c.d`,
/// translated `::ffff:0:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) is judged by that IPv4 address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}

fn classify_v4(a: Ipv4Addr) -> AddressClass {
    let o = a.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        (u32::from(a) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
    };
    if o[0] == 0                        // 0.0.0.0/8, "this network" (0.0.0.0 included)
        || a.is_link_local()            // 169.254.0.0/16: metadata, ECS credentials, DNS
        || in_net([192, 0, 0, 0], 24)   // IETF protocol assignments
        || in_net([192, 0, 2, 0], 24)   // documentation
        || in_net([198, 18, 0, 0], 15)  // benchmarking
        || in_net([198, 51, 100, 0], 24) // documentation
        || in_net([203, 0, 113, 0], 24) // documentation
        || a.is_multicast()             // 224.0.0.0/4
        || o[0] >= 240
    // 240.0.0.0/4, reserved, and the broadcast address
    {
        AddressClass::Never
    } else if a.is_loopback() {
        AddressClass::Loopback
    } else if a.is_private() || in_net([100, 64, 0, 0], 10) {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

fn classify_v6(a: Ipv6Addr) -> AddressClass {
    let s = a.segments();
    let embedded =
        |hi: u16, lo: u16| classify_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    if a.is_unspecified() {
        return AddressClass::Never;
    }
    if a.is_loopback() {
        return AddressClass::Loopback;
    }
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff | 0, hi, lo] => return embedded(hi, lo),
        // ::ffff:0:a.b.c.d (SIIT translated).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => return embedded(hi, lo),
        // 64:ff9b::/96, the well-known NAT64 prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return embedded(hi, lo),
        // 2002::/16, 6to4: the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => return embedded(hi, lo),
        _ => {}
    }
    let never = a.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0xfd00 && s[1] == 0x0ec2) // AWS instance services: IMDS fd00:ec2::254, DNS, NTP
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // 64:ff9b:1::/48, local-use NAT64
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // 100::/64, discard-only
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0); // Teredo: tunnels to an IPv4 address
    if never {
        AddressClass::Never
    } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        // fc00::/7 unique-local, fec0::/10 deprecated site-local.
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// Why an address is refused under `reach`, or `None` when a webhook may reach it.
pub fn refused(ip: IpAddr, reach: Reach) -> Option<&'static str> {
    match classify(ip) {
        AddressClass::Public => None,
        AddressClass::Private if reach.private => None,
        AddressClass::Loopback if reach.loopback => None,
        AddressClass::Private => Some("a private address (CCAAS_WEBHOOK_ALLOW_PRIVATE is off)"),
        AddressClass::Loopback => Some("a loopback address (CCAAS_WEBHOOK_ALLOW_LOOPBACK is off)"),
        AddressClass::Never => {
            Some("a link-local, metadata, unspecified, reserved, multicast or broadcast address")
        }
    }
}

/// The system resolver, keeping only the addresses [`refused`] lets through.
struct GuardedResolver {
    reach: Reach,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.reach;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| refused(a.ip(), reach).is_none())
                .collect();
            if allowed.is_empty() {
                let why = addrs
                    .first()
                    .and_then(|a| refused(a.ip(), reach))
                    .unwrap_or("no address");
                return Err(format!("the webhook host resolves to {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The outcome of one attempt.
enum Attempt {
    Delivered,
    /// Worth another attempt: connection error, timeout, 5xx, 429.
    Again(String),
    /// Final: another 4xx, a redirect, a refused address.
    Refused(String),
}

impl HttpNotifier {
    async fn attempt(&self, n: &Notification) -> Attempt {
        let r = self
            .client
            .post(&n.url)
            .header("x-ccaas-delivery", &n.delivery_id)
            .json(&n.body)
            .send()
            .await;
        match r {
            // The body is dropped unread: nothing the receiver sends is buffered.
            Ok(resp) => {
                let st = resp.status();
                if st.is_success() {
                    Attempt::Delivered
                } else if st.is_server_error() || st == StatusCode::TOO_MANY_REQUESTS {
                    Attempt::Again(format!("the webhook answered HTTP {}", st.as_u16()))
                } else if st.is_redirection() {
                    Attempt::Refused(format!(
                        "the webhook answered HTTP {} (redirects are not followed)",
                        st.as_u16()
                    ))
                } else {
                    Attempt::Refused(format!("the webhook answered HTTP {}", st.as_u16()))
                }
            }
            Err(e) => {
                let cause = source_chain(&e);
                let refused_addr = cause.contains("the webhook host resolves to");
                // The URL may hold a secret token, so it is dropped from the message; the
                // causes (connector, resolver) do not name it.
                let builder = e.is_builder();
                let msg = format!("{}: {cause}", e.without_url());
                if refused_addr || builder {
                    Attempt::Refused(msg)
                } else {
                    Attempt::Again(msg)
                }
            }
        }
    }
}

/// The error's causes, joined.
fn source_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

impl Notifier for HttpNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = reqwest::Url::parse(&n.url).map_err(|_| NotifyError {
            attempts: 0,
            message: "the webhook URL does not parse".into(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NotifyError {
                attempts: 0,
                message: "the webhook URL is not http or https".into(),
            });
        }
        let host = url.host_str().unwrap_or_default();
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse()
            && let Some(why) = refused(ip, self.reach)
        {
            return Err(NotifyError {
                attempts: 0,
                message: format!("the webhook host is {why}"),
            });
        }
        let mut pause = self.first_backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            match self.attempt(n).await {
                Attempt::Delivered => return Ok(()),
                Attempt::Refused(m) => {
                    return Err(NotifyError {
                        attempts: attempt,
                        message: m,
                    });
                }
                Attempt::Again(m) => {
                    debug!(attempt, error = %m, "webhook attempt failed");
                    last = m;
                }
            }
            if attempt < self.attempts {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        Err(NotifyError {
            attempts: self.attempts,
            message: last,
        })
    }

    fn budget(&self) -> Duration {
        let pauses: Duration = (0..self.attempts.saturating_sub(1))
            .map(|i| self.first_backoff * 2u32.saturating_pow(i))
            .sum();
        self.attempt_timeout * self.attempts + pauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::{Loopback, Never, Private, Public};

    /// Every address class the guard knows, with IPv4 and IPv6 examples of each edge.
    const TABLE: &[(&str, AddressClass)] = &[
        // Public.
        ("8.8.8.8", Public),
        ("1.1.1.1", Public),
        ("100.63.255.255", Public),
        ("100.128.0.1", Public),
        ("172.32.0.1", Public),
        ("192.0.1.1", Public),
        ("198.17.255.255", Public),
        ("198.20.0.1", Public),
        ("223.255.255.255", Public),
        ("2606:4700::1111", Public),
        ("::ffff:8.8.8.8", Public),
        ("64:ff9b::8.8.8.8", Public),
        ("2002:0808:0808::1", Public),
        // Private: opened by CCAAS_WEBHOOK_ALLOW_PRIVATE.
        ("10.1.2.3", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("100.64.0.1", Private),
        ("100.127.255.255", Private),
        ("fd00::1", Private),
        ("fc00::1", Private),
        ("fec0::1", Private),
        ("::ffff:10.0.0.1", Private),
        ("64:ff9b::10.0.0.1", Private),
        // Loopback: never opened by the private switch.
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("::1", Loopback),
        ("::ffff:127.0.0.1", Loopback),
        ("::127.0.0.1", Loopback),
        ("::ffff:0:127.0.0.1", Loopback),
        ("64:ff9b::127.0.0.1", Loopback),
        ("2002:7f00:0001::1", Loopback),
        // Never.
        ("0.0.0.0", Never),
        ("0.1.2.3", Never),
        ("0.255.255.255", Never),
        ("169.254.169.254", Never),
        ("169.254.170.2", Never),
        ("169.254.0.1", Never),
        ("192.0.0.1", Never),
        ("192.0.0.192", Never),
        ("192.0.0.255", Never),
        ("192.0.2.1", Never),
        ("198.18.0.1", Never),
        ("198.19.255.255", Never),
        ("198.51.100.1", Never),
        ("203.0.113.1", Never),
        ("224.0.0.1", Never),
        ("239.255.255.250", Never),
        ("240.0.0.1", Never),
        ("255.255.255.254", Never),
        ("255.255.255.255", Never),
        ("::", Never),
        ("fe80::1", Never),
        ("febf::1", Never),
        ("ff02::1", Never),
        ("fd00:ec2::254", Never),
        ("fd00:ec2::253", Never),
        ("fd00:ec2::123", Never),
        ("::ffff:169.254.169.254", Never),
        ("::169.254.169.254", Never),
        ("::ffff:0.0.0.0", Never),
        ("::0.0.0.2", Never),
        ("64:ff9b::169.254.169.254", Never),
        ("64:ff9b::198.18.0.1", Never),
        ("64:ff9b::240.0.0.1", Never),
        ("64:ff9b:1::a9fe:a9fe", Never),
        ("2002:a9fe:a9fe::1", Never),
        ("100::1", Never),
        ("2001:db8::1", Never),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Never),
    ];

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text} parses"))
    }

    #[test]
    fn every_address_in_the_table_gets_its_class() {
        for &(text, class) in TABLE {
            assert_eq!(classify(ip(text)), class, "{text}");
        }
    }

    #[test]
    fn each_switch_opens_its_own_class_and_nothing_opens_the_never_class() {
        let all = [
            Reach::default(),
            Reach {
                private: true,
                loopback: false,
            },
            Reach {
                private: false,
                loopback: true,
            },
            Reach {
                private: true,
                loopback: true,
            },
        ];
        for &(text, class) in TABLE {
            for reach in all {
                let open = match class {
                    Public => true,
                    Private => reach.private,
                    Loopback => reach.loopback,
                    Never => false,
                };
                assert_eq!(
                    refused(ip(text), reach).is_none(),
                    open,
                    "{text} under {reach:?}"
                );
            }
        }
    }

    #[test]
    fn the_private_switch_never_opens_loopback_link_local_or_metadata() {
        let private = Reach {
            private: true,
            loopback: false,
        };
        for text in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "169.254.169.254",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "fe80::1",
        ] {
            assert!(refused(ip(text), private).is_some(), "{text}");
        }
        let why = refused(ip("127.0.0.1"), private).unwrap_or_default();
        assert!(why.contains("CCAAS_WEBHOOK_ALLOW_LOOPBACK"), "{why}");
        let why = refused(ip("10.0.0.1"), Reach::default()).unwrap_or_default();
        assert!(why.contains("CCAAS_WEBHOOK_ALLOW_PRIVATE"), "{why}");
    }
}
