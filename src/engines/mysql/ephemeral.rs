//! A throwaway MariaDB/MySQL server from the locally installed binaries: a fresh data directory
//! (`mariadb-install-db`, or `mysqld --initialize-insecure` for MySQL), the server on a Unix socket
//! in a private workspace with networking off and durability relaxed, run as the `mysql` account
//! when migsafe runs as root; stopped and removed on drop, on Ctrl-C, or by the next run.

use crate::engines::EngineError;
use crate::engines::process::{self, ServiceUser, Workspace};
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    Mysql,
}

#[derive(Debug, Clone)]
pub struct MyInstall {
    pub server: PathBuf,
    /// `mariadb-install-db` (MariaDB); MySQL initialises with the server binary itself.
    pub install_db: Option<PathBuf>,
    pub flavor: Flavor,
    pub version: String,
}

fn which(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = extra.iter().map(PathBuf::from).collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Finds `mariadbd` (or `mysqld`) and its initialiser.
pub fn find_install() -> Result<MyInstall, EngineError> {
    let sbin = ["/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"];
    let server = which("mariadbd", &sbin)
        .or_else(|| which("mysqld", &sbin))
        .ok_or_else(|| EngineError::BinaryMissing {
            what: "MariaDB/MySQL server (mariadbd or mysqld)".into(),
            looked: "/usr/sbin, /usr/local/sbin, PATH".into(),
            hint: "install it (Debian/Ubuntu: `apt-get install mariadb-server`)".into(),
        })?;
    let out = Command::new(&server)
        .arg("--version")
        .output()
        .map_err(|e| EngineError::step("mariadbd --version", e))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let flavor = if version.contains("MariaDB") {
        Flavor::MariaDb
    } else {
        Flavor::Mysql
    };
    let install_db = match flavor {
        Flavor::MariaDb => Some(
            which("mariadb-install-db", &["/usr/bin", "/usr/local/bin"])
                .or_else(|| which("mysql_install_db", &["/usr/bin", "/usr/local/bin"]))
                .ok_or_else(|| EngineError::BinaryMissing {
                    what: "mariadb-install-db".into(),
                    looked: "/usr/bin, PATH".into(),
                    hint: "install it (Debian/Ubuntu: `apt-get install mariadb-server`)".into(),
                })?,
        ),
        Flavor::Mysql => None,
    };
    Ok(MyInstall {
        server,
        install_db,
        flavor,
        version,
    })
}

/// A running throwaway server. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct EphemeralMysql {
    ws: Workspace,
    child: Option<Child>,
    socket: PathBuf,
    user: Option<ServiceUser>,
    data_dir: PathBuf,
    run_dir: PathBuf,
    tmp_dir: PathBuf,
    log_path: PathBuf,
    args: Vec<String>,
    /// Whether the data directory was copied from a template instead of initialised.
    pub from_template: bool,
    pub install: MyInstall,
    /// `SELECT VERSION()` of the running server.
    pub server_version: String,
    pub startup: Duration,
}

impl EphemeralMysql {
    pub async fn start() -> Result<EphemeralMysql, EngineError> {
        EphemeralMysql::start_from(None).await
    }

    /// Like [`EphemeralMysql::start`], copying the data directory from `template` (see
    /// `engines::template`) instead of initialising a new one.
    pub async fn start_from(template: Option<&Path>) -> Result<EphemeralMysql, EngineError> {
        EphemeralMysql::start_with(template, &[]).await
    }

    /// Like [`EphemeralMysql::start_from`], with extra server options (`--port=…` opens it to
    /// TCP, as the TLS tests do with `--ssl-cert`/`--require-secure-transport`).
    pub async fn start_with(
        template: Option<&Path>,
        args: &[String],
    ) -> Result<EphemeralMysql, EngineError> {
        let began = Instant::now();
        process::reap_orphans();
        let install = find_install()?;
        let user: Option<ServiceUser> = if process::is_root() {
            Some(process::service_user(&["mysql", "nobody"]).ok_or_else(|| {
                EngineError::step(
                    "choosing a user for MariaDB",
                    "running as root, but neither a `mysql` nor a `nobody` account exists",
                )
            })?)
        } else {
            None
        };
        let mut ws = Workspace::create("mysql", libc::SIGTERM)?;
        let data_dir = ws.subdir("data", user.as_ref(), 0o700)?;
        let run_dir = ws.subdir("run", user.as_ref(), 0o755)?;
        let tmp_dir = ws.subdir("tmp", user.as_ref(), 0o700)?;
        let socket = run_dir.join("mysqld.sock");
        let log_path = run_dir.join("error.log");

        let from_template = match template {
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
            let mut init = match (&install.flavor, &install.install_db) {
                (Flavor::MariaDb, Some(tool)) => {
                    let mut c = Command::new(tool);
                    c.arg("--no-defaults")
                        .arg(format!("--datadir={}", data_dir.display()))
                        .arg(format!("--tmpdir={}", tmp_dir.display()))
                        .args([
                            "--auth-root-authentication-method=normal",
                            "--skip-test-db",
                            "--skip-name-resolve",
                        ]);
                    // mariadb-install-db locates its SQL scripts relative to the server's base dir
                    if let Some(u) = &user {
                        c.arg(format!("--user={}", u.name));
                    }
                    c
                }
                _ => {
                    let mut c = Command::new(&install.server);
                    c.arg("--no-defaults")
                        .arg("--initialize-insecure")
                        .arg(format!("--datadir={}", data_dir.display()))
                        .arg(format!("--tmpdir={}", tmp_dir.display()));
                    c
                }
            };
            init.current_dir(&ws.path);
            // mariadb-install-db switches to --user itself and must start as root to chown
            let init_user = if install.flavor == Flavor::MariaDb {
                None
            } else {
                user.as_ref()
            };
            if let Err(e) = process::run_setup(
                &mut init,
                init_user,
                "initialising the MariaDB data directory",
            ) {
                ws.teardown(Duration::from_secs(1));
                return Err(e);
            }
        }

        let mut me = EphemeralMysql {
            ws,
            child: None,
            socket,
            user,
            data_dir,
            run_dir,
            tmp_dir,
            log_path,
            args: args.to_vec(),
            from_template,
            install,
            server_version: String::new(),
            startup: Duration::ZERO,
        };
        if let Err(e) = me.spawn().await {
            me.stop();
            return Err(e);
        }
        me.startup = began.elapsed();
        Ok(me)
    }

    /// Starts the server on the data directory and waits until it accepts connections.
    async fn spawn(&mut self) -> Result<(), EngineError> {
        let mut cmd = Command::new(&self.install.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir.display()))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!(
                "--pid-file={}",
                self.run_dir.join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", self.log_path.display()))
            .arg(format!("--tmpdir={}", self.tmp_dir.display()))
            .args(
                Some("--skip-networking")
                    .filter(|_| !self.args.iter().any(|a| a.starts_with("--port"))),
            )
            .args([
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
            ])
            .args(&self.args)
            .current_dir(&self.ws.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = process::spawn_server(&mut cmd, self.user.as_ref(), "mariadbd")?;
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
            process::send_signal(child.id(), libc::SIGTERM);
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
        let out = save(&self.data_dir);
        self.spawn().await?;
        Ok(out)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<String, EngineError> {
        let opts = self.connect_options(None);
        let socket = self.socket.clone();
        let probe = || {
            let (opts, socket) = (opts.clone(), socket.clone());
            async move {
                if !socket.exists() {
                    return None;
                }
                let mut conn = MySqlConnection::connect_with(&opts).await.ok()?;
                let v: Result<(String,), _> = sqlx::query_as("SELECT VERSION()")
                    .fetch_one(&mut conn)
                    .await;
                let _ = conn.close().await;
                v.ok().map(|(v,)| v)
            }
        };
        let poll = Duration::from_millis(50);
        process::wait_ready(
            self.child.as_mut(),
            log_path,
            "mariadbd",
            START_TIMEOUT,
            poll,
            probe,
        )
        .await
    }

    /// Connection options as root over the private socket, optionally into database `db`.
    pub fn connect_options(&self, db: Option<&str>) -> MySqlConnectOptions {
        let o = MySqlConnectOptions::new()
            .socket(&self.socket)
            .username("root");
        match db {
            Some(d) => o.database(d),
            None => o,
        }
    }

    pub async fn connect(&self, db: Option<&str>) -> Result<MySqlConnection, EngineError> {
        MySqlConnection::connect_with(&self.connect_options(db))
            .await
            .map_err(|e| EngineError::Connect {
                target: "ephemeral MariaDB".into(),
                message: e.to_string(),
            })
    }

    /// A URL for sqlx-style clients: `mysql://root@localhost/<db>?socket=<path>`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "mysql://root@localhost/{db}?socket={}",
            self.socket.display()
        )
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn workspace(&self) -> &Path {
        &self.ws.path
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn stop(&mut self) {
        self.ws.teardown(Duration::from_secs(20));
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for EphemeralMysql {
    fn drop(&mut self) {
        self.stop();
    }
}
