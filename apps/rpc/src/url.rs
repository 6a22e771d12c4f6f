//! [`HttpUrl`]: the `http://host:port/path` a client is pointed at, as `ServerProxy` takes it.

/// An `http://` URL split into what a connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// The host (a name, an IPv4 address, or an IPv6 address without its brackets).
    pub host: String,
    /// The port (80 when the URL has none).
    pub port: u16,
    /// The path and query, `/RPC2` when the URL has none (as Python's `ServerProxy`).
    pub path: String,
}

impl HttpUrl {
    /// Parses `http://host[:port][/path]`.
    ///
    /// ```
    /// use spindle_rpc::HttpUrl;
    ///
    /// let u = HttpUrl::parse("http://localhost:4242")?;
    /// assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("localhost", 4242, "/RPC2"));
    /// let u = HttpUrl::parse("http://[::1]/")?;
    /// assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 80, "/"));
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Not `http://` (https is not supported), user info (no authentication yet), or a bad
    /// host or port; the message says which.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "{url:?}: user names and passwords are not supported"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            None => 80,
        };
        let path = if path.is_empty() { "/RPC2" } else { path };
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The `Host` header's value: `host:port`, brackets around an IPv6 address.
    pub fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://127.0.0.1:4242/RPC2?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 4242, "/RPC2?x=1")
        );
        assert_eq!(u.host_header(), "127.0.0.1:4242");
        let u = HttpUrl::parse("http://example.org").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/RPC2"));
        assert_eq!(
            HttpUrl::parse("http://[::1]:8080/").unwrap().host_header(),
            "[::1]:8080"
        );
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://:80/",
            "http://x:port/",
            "http://x:70000/",
            "http://u:p@x/",
            "http://[::1/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
