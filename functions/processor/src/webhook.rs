//! The HTTP adapter of [`Notifier`]: one JSON POST per attempt, retried with backoff, with
//! guards against server-side request forgery.
//!
//! What a webhook may reach: `http` or `https` URLs (checked at submission) whose host
//! resolves only to public addresses. Every address a name resolves to is checked by the
//! client's own resolver (so the checked address is the one connected to), and a literal IP
//! host is checked before the request. Loopback, private (RFC 1918, CGNAT, IPv6 unique-local)
//! addresses are refused unless `CCAAS_WEBHOOK_ALLOW_PRIVATE=on`; unspecified, link-local
//! (cloud metadata endpoints), multicast and broadcast addresses are always refused.
//! Redirects are never followed (a 3xx is a refusal), proxies from the environment are
//! ignored, the response body is never read, and each attempt has a timeout.

use std::net::{IpAddr, SocketAddr};
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
    allow_private: bool,
    /// How many POSTs at most (the first included).
    pub attempts: u32,
    /// The pause after the first failed attempt; each later pause doubles.
    pub first_backoff: Duration,
    /// The limit of one attempt, connection included.
    pub attempt_timeout: Duration,
}

impl HttpNotifier {
    /// The production notifier: 4 attempts, pauses of 0.5 s, 1 s and 2 s, 5 s per attempt.
    pub fn new(allow_private: bool) -> Self {
        Self::with_schedule(
            allow_private,
            4,
            Duration::from_millis(500),
            Duration::from_secs(5),
        )
    }

    /// A notifier with its own retry schedule.
    pub fn with_schedule(
        allow_private: bool,
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
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        HttpNotifier {
            client,
            allow_private,
            attempts: attempts.max(1),
            first_backoff,
            attempt_timeout,
        }
    }
}

/// Why an address is refused, or `None` when a webhook may reach it.
pub fn refused(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let (always, private) = match ip {
        IpAddr::V4(a) => (
            a.is_unspecified() || a.is_link_local() || a.is_multicast() || a.is_broadcast(),
            a.is_loopback()
                || a.is_private()
                // 100.64.0.0/10, carrier-grade NAT.
                || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64),
        ),
        IpAddr::V6(a) => (
            a.is_unspecified() || a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80,
            a.is_loopback() || (a.segments()[0] & 0xfe00) == 0xfc00,
        ),
    };
    if always {
        Some("a link-local, unspecified, multicast or broadcast address")
    } else if private && !allow_private {
        Some("a loopback or private address (CCAAS_WEBHOOK_ALLOW_PRIVATE is off)")
    } else {
        None
    }
}

/// The system resolver, keeping only the addresses [`refused`] lets through.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| refused(a.ip(), allow_private).is_none())
                .collect();
            if allowed.is_empty() {
                let why = addrs
                    .first()
                    .and_then(|a| refused(a.ip(), allow_private))
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
            && let Some(why) = refused(ip, self.allow_private)
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
