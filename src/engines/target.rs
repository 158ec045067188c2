//! The database an operation works on, parsed from its URL: the database name, and the
//! credentials split off so child processes get them through the environment (`PGPASSWORD`) or
//! an option file that exists on disk only for an instant (MySQL), never on their command line.

use crate::engines::url::{DbUrl, decode};
use crate::engines::{EngineKind, redact_url};
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

fn split_url(url: &str) -> Result<DbUrl, TargetError> {
    DbUrl::parse(url).map_err(|e| TargetError(e.to_string()))
}

/// The server as the URL names it: `host:port`, or the socket folder/file from the query.
fn server(u: &DbUrl, socket_param: &str) -> String {
    let mut s = if u.hosts.is_empty() {
        u.param(socket_param).unwrap_or_else(|| "localhost".into())
    } else {
        u.hosts.clone()
    };
    if let Some(sock) = u.param(socket_param).filter(|_| !u.hosts.is_empty()) {
        s = sock;
    }
    if let Some(port) = u.param("port") {
        s.push(':');
        s.push_str(&port);
    }
    s
}

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgTarget {
    parts: DbUrl,
    pub database: String,
}

impl PgTarget {
    pub fn parse(url: &str) -> Result<PgTarget, TargetError> {
        let parts = split_url(url)?;
        let database = parts
            .database
            .clone()
            .or_else(|| parts.user.clone())
            .ok_or_else(|| {
                TargetError(format!("{}: no database name in the URL", redact_url(url)))
            })?;
        Ok(PgTarget { parts, database })
    }

    /// URL with password, for migsafe's own (in-process) connections to `db`. An empty host
    /// (`postgresql://u@/db?host=/socket/dir`, valid for libpq) becomes `localhost`, which the
    /// `host` parameter then overrides, because sqlx's URL parser rejects an empty host.
    pub fn sqlx_url(&self, db: &str) -> String {
        let mut p = self.parts.clone();
        if p.hosts.is_empty() {
            p.hosts = "localhost".into();
        }
        p.with_password(Some(db))
    }

    /// URL without password, for child processes' `--dbname`.
    pub fn libpq_url(&self, db: &str) -> String {
        self.parts.without_password(Some(db))
    }

    pub fn redacted(&self) -> String {
        self.parts.redacted_for(&self.database)
    }

    pub fn password(&self) -> Option<&str> {
        self.parts.password.as_deref()
    }

    /// True when the server runs on this machine (Unix socket or loopback), so its data folder
    /// can be inspected for free space.
    pub fn is_local(&self) -> bool {
        let host = self
            .parts
            .param("host")
            .unwrap_or_else(|| self.parts.hosts.clone());
        let host = host
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .filter(|_| !host.starts_with('['))
            .unwrap_or(host);
        host.is_empty()
            || host.starts_with('/')
            || host == "localhost"
            || host == "127.0.0.1"
            || host == "[::1]"
    }

    /// Environment for child processes: the password (if any) and a recognisable
    /// application_name.
    pub fn child_env(&self, app: &str) -> Vec<(String, String)> {
        let mut env = vec![("PGAPPNAME".to_string(), app.to_string())];
        if let Some(p) = &self.parts.password {
            env.push(("PGPASSWORD".to_string(), p.clone()));
        }
        env
    }

    /// Removes the password from a child's output, in case a tool ever echoes it.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.parts.password.as_deref())
    }
}

pub fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(p) if p.len() >= 3 && text.contains(p) => text.replace(p, "****"),
        _ => text.to_string(),
    }
}

/// A MySQL/MariaDB database.
#[derive(Debug, Clone)]
pub struct MyTarget {
    parts: DbUrl,
    pub database: String,
}

impl MyTarget {
    pub fn parse(url: &str) -> Result<MyTarget, TargetError> {
        let parts = split_url(url)?;
        let database = parts.database.clone().ok_or_else(|| {
            TargetError(format!(
                "{}: no database name in the URL (mysql://user@host/DATABASE)",
                redact_url(url)
            ))
        })?;
        Ok(MyTarget { parts, database })
    }

    pub fn sqlx_url(&self, db: &str) -> String {
        let mut p = self.parts.clone();
        if p.scheme == "mariadb" {
            p.scheme = "mysql".into();
        }
        p.with_password(Some(db))
    }

    pub fn redacted(&self) -> String {
        self.parts.redacted_for(&self.database)
    }

    pub fn password(&self) -> Option<&str> {
        self.parts.password.as_deref()
    }

    /// The URL's TLS settings (`ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key`, as sqlx reads them) as
    /// option-file lines for the client tools. `loose-` lets each tool skip what it does not know:
    /// MySQL's tools read `ssl-mode`, MariaDB's read `ssl`/`skip-ssl` and
    /// `ssl-verify-server-cert` (which checks the host name too, so VERIFY_CA is as strict as
    /// VERIFY_IDENTITY there).
    fn tls_options(&self) -> String {
        let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let mut text = String::new();
        let mode = self.parts.param("ssl-mode").map(|m| m.to_ascii_uppercase());
        if let Some(m) = &mode {
            text.push_str(&format!("loose-ssl-mode={m}\n"));
        }
        match mode.as_deref() {
            Some("DISABLED") => text.push_str("loose-skip-ssl\n"),
            Some("REQUIRED") => text.push_str("loose-ssl\n"),
            Some("VERIFY_CA" | "VERIFY_IDENTITY") => {
                text.push_str("loose-ssl\nloose-ssl-verify-server-cert\n")
            }
            _ => {}
        }
        for key in ["ssl-ca", "ssl-cert", "ssl-key"] {
            if let Some(v) = self.parts.param(key) {
                text.push_str(&format!("loose-{key}=\"{}\"\n", esc(&v)));
            }
        }
        text
    }

    /// A `[client]` option file with everything needed to connect (0600, in a private 0700
    /// folder, removed on drop): passed as `--defaults-extra-file`, so no credential reaches a
    /// command line.
    pub fn defaults_file(&self) -> Result<DefaultsFile, TargetError> {
        let mut text = String::from("[client]\n");
        let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        if let Some(u) = &self.parts.user {
            text.push_str(&format!("user=\"{}\"\n", esc(u)));
        }
        if let Some(p) = &self.parts.password {
            text.push_str(&format!("password=\"{}\"\n", esc(p)));
        }
        let hostport = self.parts.hosts.as_str();
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
            _ => (hostport, None),
        };
        if let Some(sock) = self.parts.param("socket") {
            text.push_str(&format!("socket=\"{}\"\n", esc(&sock)));
            text.push_str("protocol=socket\n");
        } else if !host.is_empty() {
            text.push_str(&format!("host=\"{}\"\n", esc(host)));
            // a port means TCP, as for sqlx (MariaDB's tools would take the default socket)
            if host != "localhost" || port.is_some() {
                text.push_str("protocol=tcp\n");
            }
        }
        if let Some(p) = port {
            text.push_str(&format!("port={p}\n"));
        }
        text.push_str(&self.tls_options());
        DefaultsFile::write(&text)
    }
}

/// The `[client]` option file of MySQL client tools, without a name on disk: an anonymous
/// temporary file (0600, unlinked from the start, or at once where the file system cannot create
/// one without a name), so even a kill -9 of migsafe leaves no plaintext password behind.
/// Children read it as `/dev/fd/N`, a descriptor they inherit (see [`DefaultsFile::pass_to`]).
#[derive(Debug)]
pub struct DefaultsFile {
    file: std::fs::File,
}

impl DefaultsFile {
    fn write(text: &str) -> Result<DefaultsFile, TargetError> {
        let made = (|| {
            let mut f = tempfile::tempfile()?;
            f.write_all(text.as_bytes())?;
            f.rewind()?;
            Ok::<_, std::io::Error>(f)
        })();
        let file = made.map_err(|e| {
            TargetError(format!(
                "cannot write the MySQL option file (an unnamed temporary file in {}): {e}",
                std::env::temp_dir().display()
            ))
        })?;
        Ok(DefaultsFile { file })
    }

    /// The argument that must come first on a MySQL client tool's command line.
    pub fn arg(&self) -> String {
        format!("--defaults-extra-file=/dev/fd/{}", self.file.as_raw_fd())
    }

    /// Lets `cmd` inherit the descriptor [`DefaultsFile::arg`] names (migsafe opens files
    /// close-on-exec; only the child's copy is changed).
    pub fn pass_to(&self, cmd: &mut std::process::Command) {
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl is async-signal-safe and touches only the child's descriptor table.
        unsafe {
            cmd.pre_exec(move || {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// The text, for tests.
    pub fn read(&self) -> std::io::Result<String> {
        std::fs::read_to_string(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteTarget {
    pub path: PathBuf,
    pub database: String,
}

impl SqliteTarget {
    pub fn parse(url: &str) -> Result<SqliteTarget, TargetError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .or_else(|| url.strip_prefix("sqlite3://"))
            .or_else(|| url.strip_prefix("sqlite3:"))
            .ok_or_else(|| TargetError(format!("{url}: expected sqlite:PATH")))?;
        let path = rest.split('?').next().unwrap_or(rest);
        if path.is_empty() || path == ":memory:" || path.contains("mode=memory") {
            return Err(TargetError(format!(
                "{url}: an in-memory SQLite database cannot be backed up or restored (give a file path)"
            )));
        }
        let path = PathBuf::from(decode(path));
        let database = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sqlite".into());
        Ok(SqliteTarget { path, database })
    }

    pub fn sqlx_url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    pub fn sqlx_url_for(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }
}

/// A backup source or restore target, by engine.
#[derive(Debug, Clone)]
pub enum Target {
    Postgres(PgTarget),
    Mysql(MyTarget),
    Sqlite(SqliteTarget),
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        match EngineKind::from_url(url) {
            Some(EngineKind::Postgres) => Ok(Target::Postgres(PgTarget::parse(url)?)),
            Some(EngineKind::Mysql) => Ok(Target::Mysql(MyTarget::parse(url)?)),
            Some(EngineKind::Sqlite) => Ok(Target::Sqlite(SqliteTarget::parse(url)?)),
            None => Err(TargetError(format!(
                "{}: unknown URL scheme (expected postgres://, mysql://, mariadb:// or sqlite:)",
                redact_url(url)
            ))),
        }
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Target::Postgres(_) => EngineKind::Postgres,
            Target::Mysql(_) => EngineKind::Mysql,
            Target::Sqlite(_) => EngineKind::Sqlite,
        }
    }

    pub fn database(&self) -> &str {
        match self {
            Target::Postgres(t) => &t.database,
            Target::Mysql(t) => &t.database,
            Target::Sqlite(t) => &t.database,
        }
    }

    /// The server (or file) without credentials, to tell whether two URLs reach the same one.
    pub fn server(&self) -> String {
        match self {
            Target::Postgres(t) => server(&t.parts, "host"),
            Target::Mysql(t) => server(&t.parts, "socket"),
            Target::Sqlite(t) => t.path.display().to_string(),
        }
    }

    pub fn redacted(&self) -> String {
        match self {
            Target::Postgres(t) => t.redacted(),
            Target::Mysql(t) => t.redacted(),
            Target::Sqlite(t) => format!("sqlite:{}", t.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_lose_their_password_for_children() {
        let t =
            PgTarget::parse("postgres://app:p%40ss@db.example:5432/app?sslmode=require").unwrap();
        assert_eq!(t.database, "app");
        assert_eq!(t.password(), Some("p@ss"));
        assert_eq!(
            t.libpq_url("app_restore"),
            "postgres://app@db.example:5432/app_restore?sslmode=require"
        );
        assert_eq!(
            t.sqlx_url("postgres"),
            "postgres://app:p%40ss@db.example:5432/postgres?sslmode=require"
        );
        assert!(!t.redacted().contains("p%40ss") && !t.redacted().contains("p@ss"));
        assert!(
            t.child_env("x")
                .contains(&("PGPASSWORD".into(), "p@ss".into()))
        );
        assert!(!t.is_local());
        let s =
            PgTarget::parse("postgresql://postgres@/app?host=/tmp/sock&password=secret").unwrap();
        assert_eq!(s.password(), Some("secret"));
        assert_eq!(
            s.libpq_url("app"),
            "postgresql://postgres@/app?host=/tmp/sock"
        );
        assert_eq!(
            s.sqlx_url("app"),
            "postgresql://postgres:secret@localhost/app?host=/tmp/sock"
        );
        assert!(s.is_local());
        assert_eq!(s.scrub("auth failed for secret"), "auth failed for ****");
        assert!(PgTarget::parse("postgres://h:5432").is_err());
    }

    #[test]
    fn mysql_credentials_go_to_a_private_option_file() {
        let t = MyTarget::parse("mysql://root:pw\"x@localhost/app?socket=/run/my.sock").unwrap();
        assert_eq!(t.database, "app");
        let f = t.defaults_file().unwrap();
        let text = f.read().unwrap();
        assert!(
            text.contains("password=\"pw\\\"x\"") && text.contains("socket=\"/run/my.sock\""),
            "{text}"
        );
        assert!(f.arg().starts_with("--defaults-extra-file=/dev/fd/"));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            f.file.metadata().unwrap().nlink(),
            0,
            "nothing with a password has a name on disk"
        );
        let mut cmd = std::process::Command::new("cat");
        cmd.arg(f.arg().trim_start_matches("--defaults-extra-file="));
        f.pass_to(&mut cmd);
        let out = cmd.output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            text,
            "a child reads it"
        );
        assert!(MyTarget::parse("mysql://h/").is_err());
    }

    /// Issue 12 §2: `%a` then a non-ASCII character panicked (a byte slice inside a character).
    #[test]
    fn odd_percent_escapes_are_no_panic() {
        let t = PgTarget::parse("postgres://u:p%a\u{e9}@h/db").unwrap();
        assert_eq!(t.password(), Some("p%a\u{e9}"));
        let m = MyTarget::parse("mysql://u:%\u{e9}@h/d%a\u{e9}").unwrap();
        assert_eq!(m.database, "d%a\u{e9}");
    }

    /// Issue 12 §2: every printed form of a target hides a password that was not
    /// percent-encoded, whole.
    #[test]
    fn unencoded_passwords_never_leak() {
        for (url, secret) in [
            ("postgres://app:se/cret@db/app", "cret"),
            ("postgres://app:se?cret@db/app", "cret"),
            ("postgres://app:12/34@db/app", "34"),
            ("mysql://root:a/b?c@localhost/app", "b?c"),
        ] {
            let shown = match Target::parse(url) {
                Ok(t) => t.redacted(),
                Err(e) => e.to_string(),
            };
            assert!(!shown.contains(secret), "{url} → {shown}");
            assert!(
                !redact_url(url).contains(secret),
                "{url} → {}",
                redact_url(url)
            );
        }
    }

    #[test]
    fn mysql_tls_settings_reach_the_option_file() {
        let t = MyTarget::parse(
            "mysql://app@127.0.0.1:3307/app?ssl-mode=verify_identity&ssl-ca=/c/ca.pem&ssl-cert=/c/me.pem&ssl-key=/c/me.key",
        )
        .unwrap();
        let text = t.defaults_file().unwrap().read().unwrap();
        for line in [
            "protocol=tcp",
            "port=3307",
            "loose-ssl-mode=VERIFY_IDENTITY",
            "loose-ssl\n",
            "loose-ssl-verify-server-cert",
            "loose-ssl-ca=\"/c/ca.pem\"",
            "loose-ssl-cert=\"/c/me.pem\"",
            "loose-ssl-key=\"/c/me.key\"",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        let off = MyTarget::parse("mysql://app@db/app?ssl-mode=DISABLED").unwrap();
        assert!(
            off.defaults_file()
                .unwrap()
                .read()
                .unwrap()
                .contains("loose-skip-ssl")
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            SqliteTarget::parse("sqlite:data/app.db").unwrap().path,
            PathBuf::from("data/app.db")
        );
        assert_eq!(
            SqliteTarget::parse("sqlite:///abs/app.db?mode=rwc")
                .unwrap()
                .path,
            PathBuf::from("/abs/app.db")
        );
        assert!(SqliteTarget::parse("sqlite::memory:").is_err());
    }
}
