//! Database URLs: the one parser of `postgres://`, `postgresql://`, `mysql://` and `mariadb://`
//! URLs (on the `url` and `percent-encoding` crates), and the one way to print any URL:
//! [`redact`], `user:****@host`, which never fails and never shows a password, even one written
//! without percent-encoding.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters is encoded in a rebuilt URL part.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `%40` → `@`; a `%` not followed by two hex digits stays as it is, invalid UTF-8 becomes U+FFFD.
pub fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The inverse of [`decode`] for one URL part (user, password, database, parameter value).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{redacted}: {reason}")]
pub struct UrlError {
    /// The URL as [`redact`] prints it.
    pub redacted: String,
    pub reason: String,
}

/// A server URL split into the parts migsafe rebuilds it from (for another database, without
/// its password, for a child process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// Lower case, as written (`postgres`, `postgresql`, `mysql`, `mariadb`).
    pub scheme: String,
    /// Decoded.
    pub user: Option<String>,
    /// Decoded; a `password=` query parameter lands here too.
    pub password: Option<String>,
    /// `host[:port][,host2[:port]…]` as written; empty for libpq's `postgresql://u@/db?host=/dir`.
    pub hosts: String,
    /// Decoded; `dbname=` when the path has none.
    pub database: Option<String>,
    /// Query parameters other than `password`, key and value as written (see [`DbUrl::param`]).
    pub params: Vec<(String, String)>,
}

/// Stands in for a host list the `url` crate does not take (several hosts, an empty host after a
/// user name) while it parses the rest.
const PLACEHOLDER_HOST: &str = "migsafe.invalid";

impl DbUrl {
    pub fn parse(input: &str) -> Result<DbUrl, UrlError> {
        let fail = |reason: &str| UrlError {
            redacted: redact(input),
            reason: reason.to_string(),
        };
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| fail("not a URL (expected scheme://user@host/database)"))?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        // `user:pa/ss@host`: the password ends the authority early, and the url crate would read
        // `user` as the host and `pa` as its port
        let after = &rest[authority_end..];
        let path = after.split(['?', '#']).next().unwrap_or("");
        // with a password in the URL, a later `@` leaves it ambiguous where the password ends
        // (`user:@pa?ss@host` reads as an empty password and host `pa`): refuse rather than guess
        let has_password = match userinfo {
            Some(u) => u.contains(':'),
            None => authority.contains(':'),
        };
        if path.contains('@') || has_password && after.contains('@') {
            return Err(fail(
                "an `@` after the host: percent-encode `/`, `?` and `#` in a password (%2F, %3F, %23) and `@` elsewhere (%40), or keep the password out of the URL (PGPASSFILE / ~/.pgpass for PostgreSQL)",
            ));
        }
        if rest.contains('#') {
            return Err(fail("a `#` in a database URL: percent-encode it as %23"));
        }
        let single_host = !hosts.is_empty() && !hosts.contains(',');
        let for_url_crate = if single_host {
            input.to_string()
        } else {
            let user = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
            format!(
                "{scheme}://{user}{PLACEHOLDER_HOST}{}",
                &rest[authority_end..]
            )
        };
        let u = url::Url::parse(&for_url_crate).map_err(|e| fail(&e.to_string()))?;
        let user = Some(decode(u.username())).filter(|s| !s.is_empty());
        let mut password = u.password().map(decode);
        let path = u.path().strip_prefix('/').unwrap_or(u.path());
        if path.contains('/') {
            return Err(fail(
                "the database name contains `/`: percent-encode it as %2F",
            ));
        }
        let mut database = Some(decode(path)).filter(|s| !s.is_empty());
        let mut params = Vec::new();
        for kv in u
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty())
        {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "password" => password = Some(decode(v)),
                "dbname" if database.is_none() => database = Some(decode(v)),
                _ => params.push((k.to_string(), v.to_string())),
            }
        }
        Ok(DbUrl {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            hosts: hosts.to_string(),
            database,
            params,
        })
    }

    /// The URL for `database` with `password` (already encoded, or `****`), query secrets masked
    /// when `mask` is set.
    fn build(&self, database: Option<&str>, password: Option<&str>, mask: bool) -> String {
        let mut s = format!("{}://", self.scheme);
        if let Some(u) = &self.user {
            s.push_str(&encode(u));
            if let Some(p) = password {
                s.push(':');
                s.push_str(p);
            }
            s.push('@');
        } else if let Some(p) = password {
            s.push(':');
            s.push_str(p);
            s.push('@');
        }
        s.push_str(&self.hosts);
        if let Some(db) = database {
            s.push('/');
            s.push_str(&encode(db));
        }
        if !self.params.is_empty() {
            s.push('?');
            let q: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| match () {
                    _ if v.is_empty() => k.clone(),
                    _ if mask && secret_key(k) => format!("{k}=****"),
                    _ => format!("{k}={v}"),
                })
                .collect();
            s.push_str(&q.join("&"));
        }
        s
    }

    /// With its password (percent-encoded), for migsafe's own connections.
    pub fn with_password(&self, database: Option<&str>) -> String {
        self.build(
            database,
            self.password.as_deref().map(encode).as_deref(),
            false,
        )
    }

    /// Without its password, for a child process whose password goes through its environment.
    pub fn without_password(&self, database: Option<&str>) -> String {
        self.build(database, None, false)
    }

    /// For messages: `user:****@host/db`.
    pub fn redacted(&self) -> String {
        self.build(
            self.database.as_deref(),
            self.password.as_ref().map(|_| "****"),
            true,
        )
    }

    /// For messages about `database` (another database on the same server).
    pub fn redacted_for(&self, database: &str) -> String {
        self.build(Some(database), self.password.as_ref().map(|_| "****"), true)
    }

    /// A query parameter, decoded (the last one wins, as in libpq).
    pub fn param(&self, key: &str) -> Option<String> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| decode(v))
    }
}

/// Query parameters whose value is a secret.
fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("pass") || k.contains("secret") || k.contains("token")
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if secret_key(k) => format!("{k}=****"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Query secrets in `tail` (`/db?password=…`) masked.
fn redact_tail(tail: &str) -> String {
    match tail.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_query(query)),
        None => tail.to_string(),
    }
}

/// Any string that may be a URL, as it may be printed: `postgres://app:****@db/app`. Never fails.
/// Works on the text alone, so a password written without percent-encoding (`p@ss`, `p/ss`,
/// `p?ss`) is masked as a whole: when an `@` follows a `/`, `?` or `#`, everything from the first
/// `:` to the last `@` may be the password and is masked (more than needed for a URL whose query
/// holds an `@`, never less).
pub fn redact(input: &str) -> String {
    let lower = input.get(..7).unwrap_or(input).to_ascii_lowercase();
    let (scheme, rest) = match input.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None if lower.starts_with("sqlite") => return redact_tail(input),
        None => (String::new(), input),
    };
    if lower.starts_with("sqlite") {
        return format!("{scheme}{}", redact_tail(rest));
    }
    let Some(last_at) = rest.rfind('@') else {
        return format!("{scheme}{}", redact_tail(rest));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let first_colon = rest.find(':');
    let userinfo_end = if last_at < authority_end {
        last_at
    } else {
        match rest[..authority_end].rfind('@') {
            // `user@host…?x=a@b`: a user without password; the later `@` is not in its userinfo
            Some(at) if first_colon.is_none_or(|c| c > at) => at,
            // the password may run past the authority's end: mask up to the last `@`
            _ => last_at,
        }
    };
    let userinfo = &rest[..userinfo_end];
    let host_and_tail = &rest[userinfo_end + 1..];
    let userinfo = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:****"),
        None => userinfo.to_string(),
    };
    format!("{scheme}{userinfo}@{}", redact_tail(host_and_tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_libpq_and_mysql_accept() {
        let u = DbUrl::parse("postgres://app:p%40ss@db.example:5432/app?sslmode=require").unwrap();
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.hosts, "db.example:5432");
        assert_eq!(u.database.as_deref(), Some("app"));
        assert_eq!(u.param("sslmode").as_deref(), Some("require"));
        assert_eq!(
            u.with_password(Some("x")),
            "postgres://app:p%40ss@db.example:5432/x?sslmode=require"
        );
        assert_eq!(
            u.redacted(),
            "postgres://app:****@db.example:5432/app?sslmode=require"
        );
        let s = DbUrl::parse("postgresql://postgres@/app?host=/tmp/sock&password=secret").unwrap();
        assert_eq!(
            (s.hosts.as_str(), s.password.as_deref()),
            ("", Some("secret"))
        );
        assert_eq!(s.param("host").as_deref(), Some("/tmp/sock"));
        assert_eq!(
            s.without_password(Some("app")),
            "postgresql://postgres@/app?host=/tmp/sock"
        );
        let m = DbUrl::parse("postgresql://u@h1:5432,h2:5433/db").unwrap();
        assert_eq!(m.hosts, "h1:5432,h2:5433");
        let w = DbUrl::parse("postgres://u:p@ss@h/db").unwrap();
        assert_eq!(
            w.password.as_deref(),
            Some("p@ss"),
            "the last @ ends the userinfo"
        );
        let my = DbUrl::parse("mysql://root:pw\"x@localhost/app?socket=/run/my.sock").unwrap();
        assert_eq!(my.password.as_deref(), Some("pw\"x"));
        assert!(DbUrl::parse("postgres:/x").is_err());
        assert!(DbUrl::parse("postgres://h:notaport/db").is_err());
    }

    /// Issue 12 §2: `%a` followed by a non-ASCII character panicked in a hand-written decoder.
    #[test]
    fn a_bad_percent_escape_before_non_ascii_does_not_panic() {
        for s in [
            "postgres://u:p%a\u{e9}@h/db",
            "postgres://u:%\u{e9}\u{e9}@h/db",
            "mysql://u:p%a\u{1F600}@h/db",
            "postgres://u@h/d%a\u{e9}?x=%a\u{e9}",
        ] {
            let u = DbUrl::parse(s).unwrap();
            let _ = u.redacted();
            assert!(!redact(s).contains("p%a"), "{}", redact(s));
        }
        assert_eq!(decode("p%a\u{e9}"), "p%a\u{e9}");
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    /// Issue 12 §2: a password with an unencoded `@`, `/` or `?` leaked in part.
    #[test]
    fn redaction_hides_unencoded_passwords_whole() {
        for (url, secret) in [
            ("postgresql://a:b@c@d/e", "b@c"),
            ("postgres://app:se@cr@et@db:5432/app", "cr@et"),
            ("postgres://app:se/cret@db/app", "cret"),
            ("postgres://app:se?cret@db/app", "cret"),
            ("postgres://app:12/34@db/app", "34"),
            ("postgres://app:se#cret@db/app", "cret"),
            (
                "mysql://root:a/b?c@d@localhost:3306/app?ssl-mode=REQUIRED",
                "b?c@d",
            ),
            ("postgres://app:s3cret@db/app?password=other", "other"),
        ] {
            let r = redact(url);
            assert!(!r.contains(secret), "{url} → {r}");
            assert!(r.contains(":****@"), "{url} → {r}");
        }
        assert_eq!(
            redact("postgres://app:se/cret@db/app"),
            "postgres://app:****@db/app"
        );
        assert_eq!(
            redact("postgres://app@db:5432/app?application_name=a@b"),
            "postgres://app@db:5432/app?application_name=a@b"
        );
        assert_eq!(
            redact("mysql://root@localhost/test"),
            "mysql://root@localhost/test"
        );
        assert_eq!(redact("sqlite:app.db"), "sqlite:app.db");
        assert_eq!(
            redact("sqlite://x.db?password=p"),
            "sqlite://x.db?password=****"
        );
        // and the strict parser refuses them with the way out, never misreading the password
        let e = DbUrl::parse("postgres://app:12/34@db/app").unwrap_err();
        assert!(e.reason.contains("percent-encode"), "{e}");
        assert!(!e.to_string().contains("34"), "{e}");
        assert!(DbUrl::parse("postgres://app:se?cret@db/app").is_err());
        assert!(DbUrl::parse("postgres://app:se#cret@db/app").is_err());
        // found by the property test: a password that starts with `@` and holds a `?`
        assert!(DbUrl::parse("postgres://a:@a\u{a1}?@-/").is_err());
        assert!(DbUrl::parse("postgres://u:@h?k=v@@host/db").is_err());
        // without a password an `@` in a query value is only a value
        assert!(DbUrl::parse("postgres://u@host/db?application_name=a@b").is_ok());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn never_panics(s in "\\PC*") {
                let _ = redact(&s);
                if let Ok(u) = DbUrl::parse(&s) {
                    let _ = (u.redacted(), u.with_password(None), u.param("sslmode"));
                }
            }

            #[test]
            fn never_panics_on_url_shaped_noise(
                scheme in "(postgres|postgresql|mysql|mariadb|sqlite)",
                body in "[a-z:@/?#%&=.,\\[\\]0-9\u{e9}\u{1F600} ]{0,40}",
            ) {
                let s = format!("{scheme}://{body}");
                let _ = redact(&s);
                if let Ok(u) = DbUrl::parse(&s) {
                    let _ = u.redacted();
                }
            }

            #[test]
            fn redaction_never_shows_the_password(
                scheme in "(postgres|postgresql|mysql|mariadb)",
                user in "[a-zA-Z0-9_.-]{1,12}",
                password in "[^\\x00]{4,24}",
                encoded in any::<bool>(),
                host in "[a-z0-9.-]{1,20}",
                port in proptest::option::of(1u16..),
                db in "[a-z0-9_]{0,12}",
                query in "(\\?[a-z_]{1,8}=[a-z0-9@/:]{0,8}(&[a-z_]{1,8}=[a-z0-9@/:]{0,8}){0,3})?",
            ) {
                let pw = if encoded { encode(&password) } else { password.clone() };
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let url = format!("{scheme}://{user}:{pw}@{host}{port}/{db}{query}");
                let shape = format!("{scheme}://{user}:****@{host}{port}/{db}{query}");
                prop_assume!(!shape.contains(&pw));
                let r = redact(&url);
                prop_assert!(!r.contains(&pw), "{} → {}", url, r);
                if let Ok(u) = DbUrl::parse(&url) {
                    let r = u.redacted();
                    prop_assert!(!r.contains(&pw), "{} → {}", url, r);
                    if encoded {
                        prop_assert_eq!(u.password.as_deref(), Some(password.as_str()));
                    }
                }
            }
        }
    }
}
