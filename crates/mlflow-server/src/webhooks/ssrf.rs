//! Webhook URL validation (`_validate_webhook_url`) and the connect-time SSRF guard.
//!
//! At create/update/send time the scheme must be allowed and, unless private targets are
//! allowed, every address the host resolves to must be public. At connect time the HTTP
//! client resolves names through [`PublicOnlyResolver`], which refuses non-public answers,
//! so a DNS-rebinding host cannot slip a private address in between (IP-literal URLs never
//! reach a resolver and are checked up front).

use mlflow_domain::validation::py_repr;
use mlflow_domain::{Error, Result};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Python's `ip.is_global` after unwrapping IPv4-mapped, 6to4 and NAT64 addresses
/// (`_is_public_ip`); multicast counts as non-public too.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = v6.segments();
    let o = v6.octets();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    None
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    !BLOCKED.iter().any(|(net, bits)| in_v4(ip, *net, *bits))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let blocked = ip.is_loopback()
        || ip.is_unspecified()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 IETF assignments (Teredo, ORCHID…)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
        || s[..5] == [0, 0, 0, 0, 0]; // IPv4-compatible and other ::/80 forms
    !blocked
}

/// The parts of a webhook URL the checks need.
pub struct ParsedUrl {
    pub url: Url,
    pub host: String,
}

/// `_validate_webhook_url`: scheme allow-list, a hostname, and (unless private targets are
/// allowed) only public resolved addresses.
pub async fn validate_webhook_url(
    raw: &str,
    allowed_schemes: &[String],
    allow_private_ips: bool,
) -> Result<ParsedUrl> {
    if raw.trim().is_empty() {
        return Err(Error::invalid(format!(
            "Webhook URL cannot be empty or just whitespace: {}",
            py_repr(raw)
        )));
    }
    let scheme_of = |r: &str| -> String {
        match r.split_once(':') {
            Some((s, _))
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                s.to_ascii_lowercase()
            }
            _ => String::new(),
        }
    };
    let scheme = scheme_of(raw);
    if !allowed_schemes.iter().any(|s| s == &scheme) {
        return Err(Error::invalid(format!(
            "Invalid webhook URL scheme: {}. Allowed schemes are: {}.",
            py_repr(&scheme),
            allowed_schemes.join(", ")
        )));
    }
    let url = Url::parse(raw)
        .map_err(|e| Error::invalid(format!("Invalid webhook URL {}: {e}", py_repr(raw))))?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => {
            return Err(Error::invalid(format!(
                "Webhook URL must include a hostname: {}",
                py_repr(raw)
            )));
        }
    };
    if !allow_private_ips {
        for ip in resolve(&host).await? {
            if !is_public_ip(ip) {
                return Err(Error::invalid(format!(
                    "Webhook URL must not resolve to a non-public IP address. {} resolves to {ip}.",
                    py_repr(&host)
                )));
            }
        }
    }
    Ok(ParsedUrl { url, host })
}

async fn resolve(host: &str) -> Result<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((host, 0)),
    )
    .await
    .map_err(|_| {
        Error::invalid(format!(
            "Timed out resolving Webhook URL hostname {} after 5 seconds",
            py_repr(host)
        ))
    })?
    .map_err(|e| {
        Error::invalid(format!(
            "Cannot resolve Webhook URL hostname {}: {e}",
            py_repr(host)
        ))
    })?;
    Ok(lookup.map(|a: SocketAddr| a.ip()).collect())
}

/// A DNS resolver that refuses names resolving to any non-public address (fail closed).
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
                let e = std::io::Error::other(format!(
                    "Webhook connection blocked: {} is not a public IP address. This may \
                     indicate a DNS rebinding attempt.",
                    bad.ip()
                ));
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_ips() {
        for p in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public_ip(ip(p)), "{p}");
        }
        for p in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2002:7f00:1::",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(!is_public_ip(ip(p)), "{p}");
        }
    }

    #[tokio::test]
    async fn url_rules() {
        let https = vec!["https".to_string()];
        let e = validate_webhook_url("ftp://x", &["http".into(), "https".into()], true)
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https."
        );
        let e = validate_webhook_url("http://example.com/", &https, false)
            .await
            .err()
            .unwrap();
        assert!(e.message.contains("Allowed schemes are: https."));
        let e = validate_webhook_url("https://127.0.0.1:9/x", &https, false)
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1."
        );
        assert!(
            validate_webhook_url("https://[::ffff:a9fe:a9fe]/", &https, false)
                .await
                .is_err()
        );
        assert!(
            validate_webhook_url("https://localhost/", &https, false)
                .await
                .is_err()
        );
        assert!(
            validate_webhook_url("https://127.0.0.1/", &https, true)
                .await
                .is_ok()
        );
        assert!(validate_webhook_url("  ", &https, true).await.is_err());
    }
}
