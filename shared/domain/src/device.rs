//! Devices as the service knows them: one canonical host per spelling ([`DeviceHost`]), the
//! device key `host:port` ([`DeviceKey`]) and the operator's allow-list ([`DeviceAllow`]).
//!
//! Pure: literal forms are parsed here; no name is ever resolved.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

/// A device host in its one canonical spelling.
///
/// - IPv4 in any form `inet_aton` takes (`127.1`, `0x7f.1`, `017700000001`, `2130706433`)
///   becomes dotted decimal (`127.0.0.1`);
/// - IPv6 (optionally in brackets) becomes RFC 5952 text, and an IPv4-mapped address
///   (`::ffff:127.0.0.1`) becomes its IPv4 address;
/// - `localhost` and every name under it (`LOCALHOST.`, `bigip.localhost`) become `127.0.0.1`:
///   RFC 6761 §6.3 reserves them for loopback, so this is a rewrite, not a lookup;
/// - any other DNS name is lower-cased and loses one trailing dot (`Bigip.Lab.` → `bigip.lab`).
///
/// No other name is resolved here (nor anywhere in the service: a lookup at submit time
/// would tie the device key to one DNS answer), so a name and an address of one machine stay
/// two hosts. With an allow-list set, names are refused, so every device is an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceHost(HostKind);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum HostKind {
    Ip(IpAddr),
    Name(String),
}

impl DeviceHost {
    /// Parses any accepted spelling of a host, or says why it is not one (never quoting it).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() || s.len() > 253 {
            return Err("must be 1 to 253 characters");
        }
        if s.contains(':') || s.starts_with('[') {
            let inner = match s.strip_prefix('[') {
                Some(rest) => rest.strip_suffix(']').ok_or("has an unclosed '['")?,
                None => s,
            };
            let v6 = Ipv6Addr::from_str(inner).map_err(|_| "is not a valid IPv6 address")?;
            return Ok(DeviceHost::ip(IpAddr::V6(v6)));
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        let labels: Vec<&str> = s.split('.').collect();
        // As a URL parser does: a host whose last label is a number is an IPv4 address, and
        // must parse as one (so `1.2.3.256` is refused rather than taken as a name).
        if labels.last().is_some_and(|l| is_number(l)) {
            return parse_ipv4(&labels)
                .map(|a| DeviceHost::ip(IpAddr::V4(a)))
                .ok_or("is not a valid IPv4 address");
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-');
            if !ok {
                return Err("must be a host name or an IP address");
            }
        }
        let name = s.to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return Ok(DeviceHost::ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        Ok(DeviceHost(HostKind::Name(name)))
    }

    /// The host of address `ip` (an IPv4-mapped IPv6 address becomes its IPv4 address).
    pub fn ip(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        DeviceHost(HostKind::Ip(ip))
    }

    /// The address, when the host is an IP address rather than a name.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match &self.0 {
            HostKind::Ip(ip) => Some(*ip),
            HostKind::Name(_) => None,
        }
    }
}

impl fmt::Display for DeviceHost {
    /// The canonical spelling, without brackets (what a socket connect takes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            HostKind::Ip(ip) => write!(f, "{ip}"),
            HostKind::Name(n) => f.write_str(n),
        }
    }
}

impl Serialize for DeviceHost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceHost {
    /// Parses (and so canonicalises) the host: a message queued before canonical hosts
    /// existed reads as the canonical device.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DeviceHost::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether `label` is an `inet_aton` number: decimal digits, or `0x` and hex digits.
fn is_number(label: &str) -> bool {
    if let Some(hex) = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        return hex.bytes().all(|c| c.is_ascii_hexdigit());
    }
    !label.is_empty() && label.bytes().all(|c| c.is_ascii_digit())
}

/// One `inet_aton` part: `0x` hex, `0`-prefixed octal, or decimal.
fn parse_part(p: &str) -> Option<u64> {
    if p.is_empty() || p.len() > 32 {
        return None;
    }
    if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        return if hex.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(hex, 16).ok()
        };
    }
    if p.len() > 1 && p.starts_with('0') {
        return u64::from_str_radix(&p[1..], 8).ok();
    }
    p.parse().ok()
}

/// The `inet_aton` forms `a`, `a.b`, `a.b.c`, `a.b.c.d`: the last part fills the bytes left.
fn parse_ipv4(labels: &[&str]) -> Option<Ipv4Addr> {
    if labels.is_empty() || labels.len() > 4 {
        return None;
    }
    let parts: Vec<u64> = labels
        .iter()
        .map(|l| parse_part(l))
        .collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.iter().any(|&p| p > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << rest_bits {
        return None;
    }
    let mut n: u64 = 0;
    for (i, p) in head.iter().enumerate() {
        n |= p << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from((n | last) as u32))
}

/// A device: a canonical host and an SSH port. Its text form, `host:port` (`[v6]:port` for an
/// IPv6 address), is the key of the FIFO message group, the session lock and the host-key pin.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    /// The canonical host.
    pub host: DeviceHost,
    /// The SSH port.
    pub port: u16,
}

impl DeviceKey {
    /// Parses `host:port` (`[v6]:port` for IPv6; any accepted host spelling, canonicalised).
    /// Errors say what is wrong without quoting the text.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or("must be [ipv6]:port")?;
            (format!("[{h}]"), p)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or("must be host:port")?;
            if h.contains(':') {
                return Err("an IPv6 device is written [address]:port");
            }
            (h.to_owned(), p)
        };
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|c| c.is_ascii_digit()) => p,
            _ => return Err("has no port from 1 to 65535"),
        };
        Ok(DeviceKey {
            host: DeviceHost::parse(&host)?,
            port,
        })
    }
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.as_ip() {
            Some(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// One allow-list entry: a network and a port range.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowEntry {
    net: IpAddr,
    prefix: u8,
    ports: (u16, u16),
}

impl AllowEntry {
    fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("entry {:?} {why}", printable(s));
        // `[v6net]:ports`, `v4net:ports`, or a bare network (any port).
        let (net, ports) = if let Some(rest) = s.strip_prefix('[') {
            match rest.split_once(']') {
                Some((net, "")) => (net, None),
                Some((net, p)) => (
                    net,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| bad("has text after ']'"))?,
                    ),
                ),
                None => return Err(bad("has an unclosed '['")),
            }
        } else if s.matches(':').count() > 1 {
            (s, None)
        } else {
            match s.split_once(':') {
                Some((net, p)) => (net, Some(p)),
                None => (s, None),
            }
        };
        let (addr, prefix) = match net.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (net, None),
        };
        let ip = IpAddr::from_str(addr)
            .map_err(|_| bad("is not an IP network (CIDR such as 10.0.0.0/8)"))?;
        if let IpAddr::V6(v6) = ip
            && v6.to_ipv4_mapped().is_some()
        {
            return Err(bad("is IPv4-mapped: write the IPv4 network"));
        }
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|c| c.is_ascii_digit()) => n,
                _ => return Err(bad("has a bad prefix length")),
            },
        };
        if mask(ip, prefix) != ip {
            return Err(bad("has host bits set past its prefix"));
        }
        let ports = match ports {
            None => (1, u16::MAX),
            Some(p) => {
                let port = |t: &str| match t.parse::<u16>() {
                    Ok(n) if n > 0 && t.bytes().all(|c| c.is_ascii_digit()) => Ok(n),
                    _ => Err(bad("has a port that is not 1 to 65535")),
                };
                let (lo, hi) = match p.split_once('-') {
                    Some((lo, hi)) => (port(lo)?, port(hi)?),
                    None => (port(p)?, port(p)?),
                };
                if lo > hi {
                    return Err(bad("has a port range whose low end is above its high end"));
                }
                (lo, hi)
            }
        };
        Ok(AllowEntry {
            net: ip,
            prefix,
            ports,
        })
    }

    fn contains(&self, ip: IpAddr, port: u16) -> bool {
        let same_family = ip.is_ipv4() == self.net.is_ipv4();
        same_family
            && mask(ip, self.prefix) == self.net
            && (self.ports.0..=self.ports.1).contains(&port)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}

/// The operator's list of allowed devices (`CCAAS_DEVICE_ALLOW`), or every device.
///
/// Syntax: comma-separated entries, each a CIDR (a bare address is a /32 or /128) with an
/// optional port part: `10.0.0.0/8:22`, `192.0.2.7:2222-2230`, `[fd00::/8]:22`. An IPv6
/// network takes a port only in brackets; without a port part any port is allowed. When a
/// list is set, only IP addresses can be in it: a DNS name is never allowed (resolving it at
/// submit and again at connect would let DNS change the answer in between).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceAllow(Option<Vec<AllowEntry>>);

impl DeviceAllow {
    /// Every device (the setting is unset).
    pub fn any() -> Self {
        DeviceAllow(None)
    }

    /// Parses the setting. Unset or blank is [`DeviceAllow::any`]. Errors: the first bad
    /// entry and why.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(DeviceAllow::any());
        }
        s.split(',')
            .map(|e| match e.trim() {
                "" => Err("has an empty entry".to_owned()),
                e => AllowEntry::parse(e),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| DeviceAllow(Some(v)))
    }

    /// Whether a list is set (some devices may be refused).
    pub fn is_restricted(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `host:port` is allowed: always without a list; with one, only an IP address
    /// inside an entry's network and port range.
    pub fn allows(&self, host: &DeviceHost, port: u16) -> bool {
        match &self.0 {
            None => true,
            Some(entries) => host
                .as_ip()
                .is_some_and(|ip| entries.iter().any(|e| e.contains(ip, port))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        DeviceHost::parse(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .to_string()
    }

    #[test]
    fn every_spelling_of_an_address_has_one_canonical_form() {
        for (given, want) in [
            ("127.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0X7F.0.0.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("017700000001", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("[::ffff:7f00:1]", "127.0.0.1"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("FD00:0:0::0A", "fd00::a"),
            ("10.0.0.010", "10.0.0.8"),
            ("LOCALHOST", "127.0.0.1"),
            ("localhost.", "127.0.0.1"),
            ("BigIP.LocalHost", "127.0.0.1"),
            ("localhost.example", "localhost.example"),
            ("notlocalhost", "notlocalhost"),
            ("Bigip-1.Lab.Example.", "bigip-1.lab.example"),
            ("h", "h"),
        ] {
            assert_eq!(canon(given), want, "{given}");
        }
    }

    #[test]
    fn malformed_hosts_are_refused() {
        let long = "a".repeat(254);
        for bad in [
            "",
            "1.2.3.256",
            "256.1",
            "1.0x1000000",
            "1.2.3.4.5",
            "08.1.1.1",
            "1..2",
            ".",
            "..",
            "a..b",
            "-a.example",
            "a-.example",
            "a_b",
            "h; rm -rf /",
            "::1::2",
            "[::1",
            "fe80::1%eth0",
            "a.b.0x",
            long.as_str(),
        ] {
            assert!(DeviceHost::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_host_reads_back_from_json_in_its_canonical_form() {
        let h: DeviceHost = serde_json::from_str("\"0x7f.1\"").unwrap();
        assert_eq!(serde_json::to_string(&h).unwrap(), "\"127.0.0.1\"");
        assert!(serde_json::from_str::<DeviceHost>("\"1.2.3.999\"").is_err());
    }

    #[test]
    fn device_keys_bracket_ipv6_and_parse_back_canonically() {
        for (given, want) in [
            ("127.1:22", "127.0.0.1:22"),
            ("LOCALHOST.:2222", "127.0.0.1:2222"),
            ("Bigip.Lab.:2222", "bigip.lab:2222"),
            ("[::1]:22", "[::1]:22"),
            ("[::ffff:127.0.0.1]:22", "127.0.0.1:22"),
            ("[FD00::0001]:830", "[fd00::1]:830"),
        ] {
            let k = DeviceKey::parse(given).unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(k.to_string(), want);
            assert_eq!(DeviceKey::parse(&k.to_string()), Ok(k));
        }
        for bad in [
            "127.0.0.1",
            "::1:22",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "h:+22",
            "[::1]22",
            ":22",
        ] {
            assert!(DeviceKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn allows(list: &str, host: &str, port: u16) -> bool {
        DeviceAllow::parse(list)
            .unwrap_or_else(|e| panic!("{list}: {e}"))
            .allows(&DeviceHost::parse(host).unwrap(), port)
    }

    #[test]
    fn the_allow_list_matches_networks_and_port_ranges() {
        for (list, host, port, want) in [
            ("", "anything.example", 22, true),
            ("  ", "10.0.0.1", 1, true),
            ("10.0.0.0/8", "10.255.1.2", 2222, true),
            ("10.0.0.0/8", "11.0.0.1", 22, false),
            ("10.0.0.0/8:22", "10.0.0.1", 22, true),
            ("10.0.0.0/8:22", "10.0.0.1", 23, false),
            ("127.0.0.0/8:2200-2299", "127.1", 2250, true),
            ("127.0.0.0/8:2200-2299", "127.1", 2300, false),
            ("127.0.0.1", "127.0.0.1", 22, true),
            ("127.0.0.1", "127.0.0.2", 22, false),
            ("127.0.0.1:22", "::ffff:127.0.0.1", 22, true),
            ("0.0.0.0/0", "192.0.2.1", 22, true),
            ("0.0.0.0/0", "::1", 22, false),
            ("[fd00::/8]:22", "fd12::1", 22, true),
            ("[fd00::/8]:22", "fd12::1", 2222, false),
            ("fd00::/8", "fd12::1", 2222, true),
            ("::1", "[::1]", 22, true),
            ("10.0.0.0/8, [::1]:22", "::1", 22, true),
            ("10.0.0.0/8, [::1]:22", "::1", 23, false),
            ("127.0.0.0/8", "localhost", 22, true),
            ("10.0.0.0/8", "localhost", 22, false),
            ("127.0.0.0/8", "bigip.lab", 22, false),
        ] {
            assert_eq!(allows(list, host, port), want, "{list} / {host}:{port}");
        }
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0.0/8,",
            "10.0.0.0/8,,127.0.0.1",
            "10.0.0.0/8:0",
            "10.0.0.0/8:70000",
            "10.0.0.0/8:30-20",
            "10.0.0.0/8:22-",
            "lab.example",
            "10.0.0.0/8/8",
            "[fd00::/8",
            "[fd00::/8]22",
            "::ffff:10.0.0.0/104",
            "127.1",
        ] {
            let e = DeviceAllow::parse(bad).unwrap_err();
            assert!(e.contains("entry") || e.contains("empty"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_unset_list_is_unrestricted_and_a_set_one_is_not() {
        assert!(!DeviceAllow::any().is_restricted());
        assert!(DeviceAllow::parse("127.0.0.1").unwrap().is_restricted());
    }
}
