//! Where a dry-run happens: migsafe's own ephemeral server (optionally started from a cached
//! template), or a uniquely named scratch database on an existing server (`--scratch-url`),
//! dropped afterwards, with leftovers of crashed runs swept first.

use crate::engines::conn::Conn;
use crate::engines::mysql::ephemeral::EphemeralMysql;
use crate::engines::postgres::ephemeral::{EphemeralPostgres, PgInstall, PgOptions};
use crate::engines::sqlite::ephemeral::EphemeralSqlite;
use crate::engines::{EngineError, EngineKind, postgres, process, redact_url};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The database name migrations run in on an ephemeral MySQL/MariaDB server.
pub const MYSQL_DB: &str = "migsafe";
const SCRATCH_PREFIX: &str = "migsafe_scratch_";
/// Scratch databases of other machines are swept once they are this old.
const FOREIGN_SCRATCH_TTL_SECS: u64 = 24 * 3600;

pub enum Server {
    Postgres(Box<EphemeralPostgres>),
    Mysql(Box<EphemeralMysql>),
    Sqlite(EphemeralSqlite),
    Scratch(Scratch),
}

pub struct Scratch {
    admin_url: String,
    pub name: String,
    url: String,
    /// Scratch databases left by crashed runs and dropped before this one started.
    pub swept: Vec<String>,
}

pub struct Target {
    pub kind: EngineKind,
    pub server: Server,
    pub server_version: String,
    /// PostgreSQL client tools (psql, pg_dump, pg_restore) matching the server when local.
    pub pg_install: Option<PgInstall>,
}

/// What the ephemeral server should start from.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub pg_bin_dir: Option<PathBuf>,
    pub want_major: Option<u32>,
    pub template: Option<PathBuf>,
    /// SQLite: the database file to copy (`--schema-from sqlite:…`, `--from-backup`).
    pub sqlite_source: Option<PathBuf>,
}

impl Target {
    pub async fn ephemeral(kind: EngineKind, opts: &StartOptions) -> Result<Target, EngineError> {
        match kind {
            EngineKind::Postgres => {
                let pg = EphemeralPostgres::start(&PgOptions {
                    bin_dir: opts.pg_bin_dir.clone(),
                    want_major: opts.want_major,
                    settings: Vec::new(),
                    template: opts.template.clone(),
                })
                .await?;
                Ok(Target {
                    kind,
                    server_version: pg.server_version.clone(),
                    pg_install: Some(pg.install.clone()),
                    server: Server::Postgres(Box::new(pg)),
                })
            }
            EngineKind::Mysql => {
                let my = EphemeralMysql::start_from(opts.template.as_deref()).await?;
                let mut c = Conn::Mysql(my.connect(None).await?);
                c.execute(&format!("CREATE DATABASE IF NOT EXISTS {MYSQL_DB}"))
                    .await
                    .map_err(|e| EngineError::step("creating the dry-run database", e))?;
                c.close().await;
                Ok(Target {
                    kind,
                    server_version: my.server_version.clone(),
                    pg_install: None,
                    server: Server::Mysql(Box::new(my)),
                })
            }
            EngineKind::Sqlite => {
                let db = EphemeralSqlite::start(opts.sqlite_source.as_deref()).await?;
                let mut c = Conn::Sqlite(db.connect().await?);
                let version = kind
                    .engine()
                    .catalog()
                    .server_version(&mut c)
                    .await
                    .unwrap_or_default();
                c.close().await;
                Ok(Target {
                    kind,
                    server_version: version,
                    pg_install: None,
                    server: Server::Sqlite(db),
                })
            }
        }
    }

    /// A new scratch database on the server of `admin_url`, after sweeping leftovers.
    pub async fn scratch(admin_url: &str, opts: &StartOptions) -> Result<Target, EngineError> {
        let kind = EngineKind::from_url(admin_url).ok_or_else(|| EngineError::Connect {
            target: redact_url(admin_url),
            message: "--scratch-url must be a postgres:// or mysql:// URL".into(),
        })?;
        if kind == EngineKind::Sqlite {
            return Err(EngineError::Connect {
                target: redact_url(admin_url),
                message: "--scratch-url needs a server (postgres:// or mysql://); SQLite dry-runs always use a temporary file".into(),
            });
        }
        let mut admin = Conn::open(admin_url).await?;
        let swept = sweep(&mut admin).await;
        let name = scratch_name(std::process::id(), now_secs());
        let create = format!("CREATE DATABASE {}", quote(kind, &name));
        admin.execute(&create).await.map_err(|e| {
            EngineError::step(
                format!(
                    "creating scratch database {name} on {}",
                    redact_url(admin_url)
                ),
                e,
            )
        })?;
        let server_version = kind
            .engine()
            .catalog()
            .server_version(&mut admin)
            .await
            .unwrap_or_default();
        admin.close().await;
        let url = postgres::dry_run::with_database(admin_url, &name);
        let pg_install = if kind == EngineKind::Postgres {
            let major = server_version
                .split('.')
                .next()
                .and_then(|m| m.trim().parse().ok());
            postgres::ephemeral::find_install(opts.pg_bin_dir.as_deref(), major).ok()
        } else {
            None
        };
        Ok(Target {
            kind,
            server_version,
            pg_install,
            server: Server::Scratch(Scratch {
                admin_url: admin_url.to_string(),
                name,
                url,
                swept,
            }),
        })
    }

    pub fn kind_name(&self) -> &'static str {
        match self.server {
            Server::Scratch(_) => "scratch",
            _ => "ephemeral",
        }
    }

    /// A new connection to the database the migrations run in.
    pub async fn connect(&self) -> Result<Conn, EngineError> {
        Ok(match &self.server {
            Server::Postgres(pg) => Conn::Postgres(pg.connect("postgres").await?),
            Server::Mysql(my) => Conn::Mysql(my.connect(Some(MYSQL_DB)).await?),
            Server::Sqlite(db) => Conn::Sqlite(db.connect().await?),
            Server::Scratch(s) => Conn::open(&s.url).await?,
        })
    }

    /// A URL for client tools (psql, pg_restore) and the migration connection; may carry a
    /// password (scratch servers): pass it through `LibpqTarget`, never print it unredacted.
    pub fn url(&self) -> String {
        match &self.server {
            Server::Postgres(pg) => pg.url("postgres"),
            Server::Mysql(my) => my.url(MYSQL_DB),
            Server::Sqlite(db) => format!("sqlite:{}", db.path().display()),
            Server::Scratch(s) => s.url.clone(),
        }
    }

    pub fn mysql_socket(&self) -> Option<&Path> {
        match &self.server {
            Server::Mysql(my) => Some(my.socket()),
            _ => None,
        }
    }

    pub fn startup(&self) -> Option<std::time::Duration> {
        match &self.server {
            Server::Postgres(pg) => Some(pg.startup),
            Server::Mysql(my) => Some(my.startup),
            _ => None,
        }
    }

    pub fn from_template(&self) -> bool {
        match &self.server {
            Server::Postgres(pg) => pg.from_template,
            Server::Mysql(my) => my.from_template,
            _ => false,
        }
    }

    /// Stops the server cleanly, lets `save` copy its data directory, starts it again. Only
    /// for ephemeral servers; `None` otherwise.
    pub async fn with_stopped_data_dir<T>(
        &mut self,
        save: impl FnOnce(&Path) -> T,
    ) -> Result<Option<T>, EngineError> {
        match &mut self.server {
            Server::Postgres(pg) => Ok(Some(pg.with_stopped_data_dir(save).await?)),
            Server::Mysql(my) => Ok(Some(my.with_stopped_data_dir(save).await?)),
            _ => Ok(None),
        }
    }

    /// Drops the scratch database (ephemeral servers stop when dropped).
    pub async fn finish(self) -> Result<(), EngineError> {
        if let Server::Scratch(s) = &self.server {
            let mut admin = Conn::open(&s.admin_url).await?;
            drop_scratch(&mut admin, self.kind, &s.name)
                .await
                .map_err(|e| {
                    EngineError::step(format!("dropping scratch database {}", s.name), e)
                })?;
            admin.close().await;
        }
        Ok(())
    }
}

fn quote(kind: EngineKind, s: &str) -> String {
    kind.engine().catalog().quote_ident(s)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A short digest of this machine's name, so a sweep only judges its own runs by pid.
fn host_tag() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let d = Sha256::digest(host.trim().as_bytes());
    crate::sys::hex::hex(&d[..4])
}

/// `migsafe_scratch_<host>_<pid>_<unix time>`.
pub fn scratch_name(pid: u32, at: u64) -> String {
    format!("{SCRATCH_PREFIX}{}_{pid}_{at}", host_tag())
}

/// Whether a scratch database name belongs to a run that is gone: same machine and its process
/// is no longer a running migsafe, or another machine's and older than a day.
pub fn scratch_is_stale(name: &str, now: u64) -> bool {
    let Some(rest) = name.strip_prefix(SCRATCH_PREFIX) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let [host, pid, at] = parts.as_slice() else {
        return false;
    };
    let (Ok(pid), Ok(at)) = (pid.parse::<u32>(), at.parse::<u64>()) else {
        return false;
    };
    if *host == host_tag() {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let running_migsafe =
            process::alive(pid, None) && String::from_utf8_lossy(&cmd).contains("migsafe");
        !running_migsafe
    } else {
        now.saturating_sub(at) > FOREIGN_SCRATCH_TTL_SECS
    }
}

async fn drop_scratch(admin: &mut Conn, kind: EngineKind, name: &str) -> Result<(), sqlx::Error> {
    match kind {
        EngineKind::Postgres => {
            // PostgreSQL 13+ can force; older servers need the sessions terminated first
            let forced = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(kind, name));
            if admin.execute(&forced).await.is_err() {
                let _ = admin.execute(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", name.replace('\'', "''"))).await;
                admin
                    .execute(&format!("DROP DATABASE IF EXISTS {}", quote(kind, name)))
                    .await?;
            }
        }
        _ => {
            admin
                .execute(&format!("DROP DATABASE IF EXISTS {}", quote(kind, name)))
                .await?;
        }
    }
    Ok(())
}

/// Drops scratch databases of runs that crashed; returns their names.
async fn sweep(admin: &mut Conn) -> Vec<String> {
    let kind = admin.kind();
    let list = match kind {
        EngineKind::Postgres => {
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'migsafe\\_scratch\\_%'"
        }
        _ => {
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'migsafe\\_scratch\\_%'"
        }
    };
    let Ok((_, rows)) = admin.query_text(list).await else {
        return Vec::new();
    };
    let now = now_secs();
    let mut out = Vec::new();
    for name in rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
    {
        if scratch_is_stale(&name, now) && drop_scratch(admin, kind, &name).await.is_ok() {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_identify_their_run() {
        let now = now_secs();
        let mine = scratch_name(std::process::id(), now);
        assert!(mine.len() <= 63, "fits PostgreSQL identifiers");
        // this test binary is not named migsafe: its own name counts as a dead run
        let dead_pid = scratch_name(u32::MAX - 7, now);
        assert!(scratch_is_stale(&dead_pid, now));
        assert!(
            !scratch_is_stale("migsafe_scratch_ffffffff_1_0", 3600),
            "another host's fresh database is kept"
        );
        assert!(scratch_is_stale(
            "migsafe_scratch_ffffffff_1_0",
            FOREIGN_SCRATCH_TTL_SECS + 1
        ));
        assert!(!scratch_is_stale("app_production", now));
        let _ = mine;
    }
}
