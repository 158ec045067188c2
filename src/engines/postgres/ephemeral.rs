//! A throwaway PostgreSQL cluster from the locally installed server binaries: initdb into a
//! private workspace, `postgres` listening only on a Unix socket there, durability off (the data
//! is thrown away), run as an unprivileged user when migsafe runs as root; stopped and removed on
//! drop, on Ctrl-C, or by the next run if this one was killed.

use crate::engines::EngineError;
use crate::engines::process::{self, ServiceUser, Workspace};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const SUPERUSER: &str = "postgres";

/// An installation of the PostgreSQL server binaries.
#[derive(Debug, Clone)]
pub struct PgInstall {
    pub bin_dir: PathBuf,
    pub major: u32,
    /// `postgres --version` output, e.g. `postgres (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)`.
    pub version: String,
}

fn probe(bin_dir: &Path) -> Option<PgInstall> {
    let postgres = bin_dir.join("postgres");
    if !postgres.is_file() || !bin_dir.join("initdb").is_file() {
        return None;
    }
    let out = Command::new(&postgres).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = version
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?
        .split('.')
        .next()?
        .parse()
        .ok()?;
    Some(PgInstall {
        bin_dir: bin_dir.to_path_buf(),
        major,
        version,
    })
}

/// Finds server binaries: `explicit` (`--pg-bin-dir`), `pg_config --bindir`,
/// `/usr/lib/postgresql/*/bin`, then `PATH`. With `want_major`, an installation of that major
/// version is preferred; otherwise the newest.
pub fn find_install(
    explicit: Option<&Path>,
    want_major: Option<u32>,
) -> Result<PgInstall, EngineError> {
    if let Some(dir) = explicit {
        return probe(dir).ok_or_else(|| EngineError::BinaryMissing {
            what: "PostgreSQL server binaries (postgres, initdb)".into(),
            looked: dir.display().to_string(),
            hint: "pass the `bin` folder of a PostgreSQL installation to --pg-bin-dir".into(),
        });
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !d.is_empty() {
            dirs.push(PathBuf::from(d));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in entries.flatten() {
            dirs.push(e.path().join("bin"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let mut found: Vec<PgInstall> = dirs.iter().filter_map(|d| probe(d)).collect();
    found.sort_by_key(|i| std::cmp::Reverse(i.major));
    let pick = match want_major {
        Some(m) => found.iter().find(|i| i.major == m).or(found.first()),
        None => found.first(),
    };
    pick.cloned().ok_or_else(|| EngineError::BinaryMissing {
        what: "PostgreSQL server binaries (postgres, initdb)".into(),
        looked: "pg_config --bindir, /usr/lib/postgresql/*/bin, PATH".into(),
        hint: "install them (Debian/Ubuntu: `apt-get install postgresql`) or pass --pg-bin-dir"
            .into(),
    })
}

/// Options for [`EphemeralPostgres::start`].
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    pub bin_dir: Option<PathBuf>,
    pub want_major: Option<u32>,
    /// Extra `-c name=value` server settings (a `port` one also names the socket file, which
    /// [`EphemeralPostgres::url`] then follows; `listen_addresses`, `ssl` and `hba_file` open it
    /// to TCP, as the TLS tests do).
    pub settings: Vec<(String, String)>,
    /// A cached data directory (see `engines::template`) to copy instead of running initdb.
    pub template: Option<PathBuf>,
}

/// A running throwaway cluster. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct EphemeralPostgres {
    ws: Workspace,
    child: Option<Child>,
    socket_dir: PathBuf,
    data_dir: PathBuf,
    user: Option<ServiceUser>,
    settings: Vec<(String, String)>,
    log_path: PathBuf,
    /// Whether the data directory was copied from a template instead of initdb.
    pub from_template: bool,
    pub install: PgInstall,
    /// `SHOW server_version` of the running server.
    pub server_version: String,
    /// How long initdb and start-up took.
    pub startup: Duration,
}

impl EphemeralPostgres {
    pub async fn start(opts: &PgOptions) -> Result<EphemeralPostgres, EngineError> {
        let began = Instant::now();
        process::reap_orphans();
        let install = find_install(opts.bin_dir.as_deref(), opts.want_major)?;
        let user: Option<ServiceUser> = if process::is_root() {
            Some(process::service_user(&["postgres", "nobody"]).ok_or_else(|| {
                EngineError::step("choosing a user for PostgreSQL", "running as root, but neither a `postgres` nor a `nobody` account exists (PostgreSQL refuses to run as root)")
            })?)
        } else {
            None
        };
        let mut ws = Workspace::create("postgres", libc::SIGINT)?;
        let data_dir = ws.subdir("data", user.as_ref(), 0o700)?;
        let socket_dir = ws.subdir("sock", user.as_ref(), 0o755)?;
        let log_path = ws.path.join("server.log");

        let from_template = match &opts.template {
            Some(t) => match crate::engines::template::copy_tree(t, &data_dir, user.as_ref()) {
                Ok(()) => true,
                Err(e) => {
                    ws.teardown(Duration::from_secs(1));
                    return Err(EngineError::Io(format!(
                        "copying the template {}: {e}",
                        t.display()
                    )));
                }
            },
            None => false,
        };
        if !from_template {
            let mut initdb = Command::new(install.bin_dir.join("initdb"));
            initdb
                .arg("-D")
                .arg(&data_dir)
                .args([
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ])
                .current_dir(&ws.path)
                .env_remove("PGDATA");
            if install.major >= 11 {
                // 1 MB WAL segments instead of 16: less to write now and to copy as a template
                initdb.arg("--wal-segsize=1");
            }
            if let Err(e) = process::run_setup(&mut initdb, user.as_ref(), "initdb") {
                ws.teardown(Duration::from_secs(1));
                return Err(e);
            }
        }

        let mut settings: Vec<(String, String)> = vec![
            ("listen_addresses".into(), String::new()),
            (
                "unix_socket_directories".into(),
                socket_dir.display().to_string(),
            ),
            ("fsync".into(), "off".into()),
            ("synchronous_commit".into(), "off".into()),
            ("full_page_writes".into(), "off".into()),
            ("max_connections".into(), "40".into()),
            ("shared_buffers".into(), "32MB".into()),
            ("logging_collector".into(), "off".into()),
        ];
        settings.extend(opts.settings.iter().cloned());
        let mut me = EphemeralPostgres {
            ws,
            child: None,
            socket_dir,
            data_dir,
            user,
            settings,
            log_path,
            from_template,
            install,
            server_version: String::new(),
            startup: began.elapsed(),
        };
        if let Err(e) = me.spawn().await {
            me.stop();
            return Err(e);
        }
        me.startup = began.elapsed();
        Ok(me)
    }

    /// Starts `postgres` on the data directory and waits until it accepts connections.
    async fn spawn(&mut self) -> Result<(), EngineError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| EngineError::Io(format!("{}: {e}", self.log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| EngineError::Io(e.to_string()))?;
        let mut cmd = Command::new(self.install.bin_dir.join("postgres"));
        cmd.arg("-D").arg(&self.data_dir);
        for (k, v) in &self.settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.current_dir(&self.ws.path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = process::spawn_server(&mut cmd, self.user.as_ref(), "postgres")?;
        let pid = child.id();
        self.child = Some(child);
        self.ws.set_server(pid)?;
        let log_path = self.log_path.clone();
        self.server_version = self.wait_ready(&log_path).await?;
        Ok(())
    }

    /// Stops the server cleanly, hands its data directory to `save` (e.g. to copy it into the
    /// template cache), and starts it again.
    pub async fn with_stopped_data_dir<T>(
        &mut self,
        save: impl FnOnce(&Path) -> T,
    ) -> Result<T, EngineError> {
        if let Some(mut child) = self.child.take() {
            process::send_signal(child.id(), libc::SIGINT);
            let _ = child.wait();
        }
        let out = save(&self.data_dir);
        self.spawn().await?;
        Ok(out)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<String, EngineError> {
        let opts = self.connect_options("postgres");
        let probe = || {
            let opts = opts.clone();
            async move {
                let mut conn = PgConnection::connect_with(&opts).await.ok()?;
                let v: Result<(String,), _> = sqlx::query_as("SHOW server_version")
                    .fetch_one(&mut conn)
                    .await;
                let _ = conn.close().await;
                v.ok().map(|(v,)| v)
            }
        };
        let poll = Duration::from_millis(25);
        process::wait_ready(
            self.child.as_mut(),
            log_path,
            "postgres",
            START_TIMEOUT,
            poll,
            probe,
        )
        .await
    }

    /// The port the server's socket file is named after (5432 unless a setting says otherwise).
    pub fn port(&self) -> u16 {
        self.settings
            .iter()
            .rev()
            .find(|(k, _)| k == "port")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(5432)
    }

    /// Connection options for database `db` over the private socket.
    pub fn connect_options(&self, db: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.socket_dir)
            .port(self.port())
            .username(SUPERUSER)
            .database(db)
    }

    pub async fn connect(&self, db: &str) -> Result<PgConnection, EngineError> {
        PgConnection::connect_with(&self.connect_options(db))
            .await
            .map_err(|e| EngineError::Connect {
                target: format!("ephemeral postgres database {db}"),
                message: e.to_string(),
            })
    }

    /// A libpq URL for tools such as pg_dump/psql (no password: trust auth on a private socket).
    pub fn url(&self, db: &str) -> String {
        let mut url = format!(
            "postgresql://{SUPERUSER}@/{db}?host={}",
            self.socket_dir.display()
        );
        if self.port() != 5432 {
            url.push_str(&format!("&port={}", self.port()));
        }
        url
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn workspace(&self) -> &Path {
        &self.ws.path
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Fast shutdown, then removal of every file.
    pub fn stop(&mut self) {
        self.ws.teardown(Duration::from_secs(10));
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for EphemeralPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
