//! Where calls go. The default is the official SDK's endpoint for every region; an override exists
//! for the local emulator and for tests. Plain `http://` would send signed requests (and the
//! AccessKey ID) in clear text, so it is accepted only when the host cannot be off this machine.

use std::fmt;
use std::net::IpAddr;

/// The endpoint the official SDK maps every region of ApsaraVideo Live to.
pub const DEFAULT_ENDPOINT: &str = "https://live.aliyuncs.com";

/// A checked endpoint: scheme, host and port only (every call goes to path `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: url::Url,
    host_header: String,
}

/// Why an endpoint URL was refused; the message says what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint {url:?} is not a URL ({reason}); expected e.g. https://live.aliyuncs.com")]
    Invalid { url: String, reason: String },
    #[error(
        "endpoint {url:?} uses scheme {scheme:?}; only https:// (or http:// for a loopback host) is accepted"
    )]
    Scheme { url: String, scheme: String },
    #[error(
        "endpoint {url:?} uses plain http:// to host {host:?}, which is not loopback: signed requests \
         would travel unencrypted. Use https://, or http:// only with 127.0.0.1, ::1 or localhost \
         (e.g. the local emulator)"
    )]
    InsecureHttp { url: String, host: String },
    #[error(
        "endpoint {url:?} must be scheme://host[:port] only, without {what}; every call goes to path /"
    )]
    Extra { url: String, what: &'static str },
}

impl Endpoint {
    /// Parses and checks an endpoint URL.
    pub fn parse(raw: &str) -> Result<Endpoint, EndpointError> {
        // Errors show the URL without any user:password part, which may hold a secret.
        let shown = redact_userinfo(raw);
        let s = shown.as_str();
        let url = url::Url::parse(raw.trim()).map_err(|e| EndpointError::Invalid {
            url: s.to_string(),
            reason: e.to_string(),
        })?;
        let scheme = url.scheme().to_string();
        if scheme != "https" && scheme != "http" {
            return Err(EndpointError::Scheme {
                url: s.to_string(),
                scheme,
            });
        }
        let host = match url.host() {
            Some(h) => h,
            None => {
                return Err(EndpointError::Invalid {
                    url: s.to_string(),
                    reason: "no host".into(),
                });
            }
        };
        if scheme == "http" && !is_loopback(&host) {
            return Err(EndpointError::InsecureHttp {
                url: s.to_string(),
                host: host.to_string(),
            });
        }
        let extra = if !url.username().is_empty() || url.password().is_some() {
            Some("user information")
        } else if url.path() != "/" && !url.path().is_empty() {
            Some("a path")
        } else if url.query().is_some() {
            Some("a query")
        } else if url.fragment().is_some() {
            Some("a fragment")
        } else {
            None
        };
        if let Some(what) = extra {
            return Err(EndpointError::Extra {
                url: s.to_string(),
                what,
            });
        }
        // The `host` header the HTTP stack sends: the port only when it is not the scheme's default
        // (`Url::port` is `None` then), IPv6 literals in brackets. It is signed, so it must match.
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Endpoint { url, host_header })
    }

    /// The endpoint the user set (`--endpoint` / `LIVEBATCH_ENDPOINT`), else the default.
    pub fn from_setting(endpoint: Option<&str>) -> Result<Endpoint, EndpointError> {
        match endpoint {
            Some(s) if !s.trim().is_empty() => Endpoint::parse(s),
            _ => Ok(Endpoint::default()),
        }
    }

    /// The base URL, always ending in `/`.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The value of the signed `host` header.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }

    /// The host is this machine (127.0.0.0/8, ::1 or `localhost`): such an endpoint is never
    /// reached through a proxy.
    pub fn is_loopback(&self) -> bool {
        self.url.host().is_some_and(|h| is_loopback(&h))
    }

    pub fn is_default(&self) -> bool {
        self.url.as_str().trim_end_matches('/') == DEFAULT_ENDPOINT
    }
}

impl Default for Endpoint {
    fn default() -> Endpoint {
        Endpoint {
            url: url::Url::parse(DEFAULT_ENDPOINT).unwrap_or_else(|_| unreachable!()),
            host_header: "live.aliyuncs.com".to_string(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str().trim_end_matches('/'))
    }
}

/// The URL as errors may show it: anything before the last `@` of what follows `scheme://` (or of
/// the whole text, when there is no `://`) is a user and password, and becomes `***`. Done on the
/// text rather than on a parsed URL, so that a URL which does not parse (a port out of range, a
/// bad host, no scheme) is redacted too. An endpoint never has a legitimate `@` after its host,
/// so cutting at the last one also covers a password holding `/`, `?` or `#`.
pub fn redact_userinfo(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    match s[start..].rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &s[start + at..]),
        None => s.to_string(),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_official_endpoint() {
        let e = Endpoint::default();
        assert_eq!(e.to_string(), "https://live.aliyuncs.com");
        assert_eq!(e.host_header(), "live.aliyuncs.com");
        assert!(e.is_default());
        assert_eq!(Endpoint::parse("https://live.aliyuncs.com/").unwrap(), e);
    }

    #[test]
    fn http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:9000",
            "http://localhost:1234/",
            "http://LOCALHOST",
            "https://example.com",
            "https://live.ap-southeast-1.aliyuncs.com",
        ] {
            let e = Endpoint::parse(ok).unwrap();
            assert_eq!(e.is_loopback(), ok.starts_with("http:"), "{ok}");
        }
        for bad in [
            "http://live.aliyuncs.com",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://[::2]",
            "http://localhost.example.com",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(
                matches!(e, EndpointError::InsecureHttp { .. }),
                "{bad}: {e}"
            );
            assert!(e.to_string().contains("loopback"));
        }
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(matches!(
            Endpoint::parse("ftp://127.0.0.1"),
            Err(EndpointError::Scheme { .. })
        ));
        assert!(matches!(
            Endpoint::parse("live.aliyuncs.com"),
            Err(EndpointError::Invalid { .. })
        ));
        assert!(matches!(
            Endpoint::parse("https://h/path"),
            Err(EndpointError::Extra { what: "a path", .. })
        ));
        let e = Endpoint::parse("https://user:hunter2@h").unwrap_err();
        assert!(matches!(e, EndpointError::Extra { .. }));
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(matches!(
            Endpoint::parse("https://h/?a=1"),
            Err(EndpointError::Extra {
                what: "a query",
                ..
            })
        ));
    }

    #[test]
    fn a_password_is_never_shown_whatever_the_shape() {
        for raw in [
            "https://u:SECRET@127.0.0.1:99999",
            "https://u:SECRET@h",
            "https://u:SECRET@h/path",
            "http://u:SECRET@10.0.0.1",
            "ftp://u:SECRET@h",
            "u:SECRET@h",
            "https://u:SEC/RET@h",
            "https://u:SEC@RET@h:1",
            "https://:SECRET@[::1",
            " https://u:SECRET@h ",
        ] {
            let e = Endpoint::parse(raw).unwrap_err().to_string();
            assert!(!e.contains("SECRET") && !e.contains("RET"), "{raw}: {e}");
            assert!(e.contains("***"), "{raw}: {e}");
        }
        assert_eq!(redact_userinfo("https://h:1"), "https://h:1");
        assert_eq!(
            redact_userinfo("https://u:p@h:99999"),
            "https://***@h:99999"
        );
    }

    #[test]
    fn host_header_keeps_non_default_port() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:8080")
                .unwrap()
                .host_header(),
            "127.0.0.1:8080"
        );
        assert_eq!(Endpoint::parse("https://h:443").unwrap().host_header(), "h");
        assert_eq!(
            Endpoint::parse("http://[::1]:9").unwrap().host_header(),
            "[::1]:9"
        );
    }
}
