//! TLS against real servers: a self-signed CA, a server and a client certificate made with the
//! `openssl` command at test time; an ephemeral PostgreSQL with `ssl=on` that accepts TCP only
//! over TLS (`hostssl`), and an ephemeral MariaDB with `require_secure_transport=ON`. Proves that
//! `sslmode`/`sslrootcert`/`sslcert`/`sslkey` (MySQL: `ssl-mode`/`ssl-ca`/`ssl-cert`/`ssl-key`)
//! are honoured by migsafe's own connections and by the dump tools it runs (`backup create`,
//! `restore --check`).

use crate::backup::{ok_json, run};
use crate::engines::rt;
use crate::support::have;
use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::{EphemeralPostgres, PgOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Certificates in a folder the server's service user can read.
pub(crate) struct Certs {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Certs {
    pub fn file(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed to make test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.crt`), a server certificate for localhost/127.0.0.1 (`server.*`), a client
/// certificate for `client_cn` (`client.*`), and a second CA that signed nothing (`other-ca.crt`).
/// Key files belong to `owner` (the server's service user) when given.
pub(crate) fn make_certs(client_cn: &str, owner: Option<(u32, u32)>) -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut a = vec!["req", "-x509", "-days", "2", "-subj"];
        let subj = format!("/CN=migsafe test {ca}");
        a.push(&subj);
        a.extend(ec);
        let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
        a.extend(["-keyout", &key, "-out", &crt]);
        a.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        a.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(p, &a);
    }
    for (name, cn, ext) in [
        (
            "server",
            "localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", client_cn, "extendedKeyUsage=clientAuth\n"),
    ] {
        let subj = format!("/CN={cn}");
        let (key, csr, crt, extf) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut a = vec!["req", "-subj", &subj];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr]);
        openssl(p, &a);
        std::fs::write(p.join(&extf), ext).unwrap();
        openssl(
            p,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &crt,
                "-extfile",
                &extf,
            ],
        );
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in std::fs::read_dir(p).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        if name.ends_with(".key")
            && let Some((uid, gid)) = owner
        {
            std::os::unix::fs::chown(f.path(), Some(uid), Some(gid)).unwrap();
        }
    }
    Certs {
        path: p.to_path_buf(),
        _dir: dir,
    }
}

/// A TCP port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The account PostgreSQL runs as when the tests run as root (it owns the server key).
fn pg_service_user() -> Option<(u32, u32)> {
    migsafe::engines::process::is_root().then(|| {
        let u = migsafe::engines::process::service_user(&["postgres", "nobody"]).unwrap();
        (u.uid, u.gid)
    })
}

/// The error text of a connection that must fail.
async fn refused(url: &str) -> String {
    match Conn::open(url).await {
        Ok(_) => panic!("{url} connected, but must not"),
        Err(e) => e.to_string(),
    }
}

/// The error of a connection to a server whose certificate the given CA did not sign.
fn assert_untrusted(e: &str) {
    let e = e.to_lowercase();
    assert!(
        e.contains("certificate") || e.contains("issuer"),
        "the error says the certificate is not trusted: {e}"
    );
    assert!(!e.contains("p@ss") && !e.contains("p%40ss"), "{e}");
}

/// The dump tool alone (`dump(url, out)`, no connection of migsafe's own) honours the URL's TLS
/// settings; then `backup create` and `restore --check` work over TLS with `full` and stop with
/// `other_ca`.
fn tools_over_tls(
    work: &Path,
    full: &str,
    other_ca: &str,
    dump: impl Fn(&str, &Path) -> Result<(), migsafe::engines::EngineError>,
    dumped: &str,
) {
    let out = work.join("schema.sql");
    dump(full, &out).unwrap();
    assert!(std::fs::read_to_string(&out).unwrap().contains(dumped));
    assert_untrusted(&dump(other_ca, &out).unwrap_err().to_string());
    let d = work.join("backups");
    let d = d.to_str().unwrap();
    let created = ok_json(&run(
        work,
        &[
            "backup",
            "create",
            "--database-url",
            full,
            "--dir",
            d,
            "--output",
            "json",
        ],
    ));
    assert_eq!(created["ok"], true, "{created}");
    assert_eq!(created["verified"], true, "{created}");
    let r = run(
        work,
        &[
            "restore",
            "latest",
            "--database-url",
            full,
            "--dir",
            d,
            "--check",
            "--output",
            "json",
        ],
    );
    let v = ok_json(&r);
    assert_eq!(v["status"], "checked", "{}", r.stdout);
    assert!(!r.stdout.contains("p@ss") && !r.stderr.contains("p@ss"));
    let r = run(
        work,
        &[
            "backup",
            "create",
            "--database-url",
            other_ca,
            "--dir",
            d,
            "--output",
            "json",
        ],
    );
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_untrusted(&(r.stdout + &r.stderr));
}

#[test]
fn postgres_over_tls_only() {
    if !have("postgres") {
        return;
    }
    let certs = make_certs("certuser", pg_service_user());
    let hba = certs.path.join("pg_hba.conf");
    // the private socket (which the test's setup and the readiness probe use) is trusted; over TCP
    // only TLS is accepted: `certuser` by its client certificate, everyone else by password
    std::fs::write(
        &hba,
        "local all all trust\n\
         hostssl all certuser 127.0.0.1/32 cert\n\
         hostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    std::fs::set_permissions(&hba, std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let settings = [
        ("listen_addresses", "127.0.0.1".to_string()),
        ("port", port.to_string()),
        ("ssl", "on".into()),
        ("ssl_cert_file", certs.file("server.crt")),
        ("ssl_key_file", certs.file("server.key")),
        ("ssl_ca_file", certs.file("ca.crt")),
        ("hba_file", hba.display().to_string()),
        ("password_encryption", "scram-sha-256".into()),
    ];
    let opts = PgOptions {
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..Default::default()
    };
    let work = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&opts).await.unwrap();
        let mut admin = Conn::open(&server.url("postgres")).await.unwrap();
        for sql in [
            "CREATE ROLE app LOGIN SUPERUSER PASSWORD 'p@ss/w?rd'",
            "CREATE ROLE certuser LOGIN",
            "CREATE DATABASE shop OWNER app",
        ] {
            admin.execute(sql).await.unwrap();
        }
        admin.close().await;
        let mut c = Conn::open(&server.url("shop")).await.unwrap();
        c.execute(crate::backup::PG_SCHEMA).await.unwrap();
        c.close().await;
        let base = format!("postgres://app:p%40ss%2Fw%3Frd@localhost:{port}/shop");

        // sslmode=require: encrypted, no certificate check
        let mut c = Conn::open(&format!("{base}?sslmode=require")).await.unwrap();
        let ssl = c
            .query_text("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .await
            .unwrap();
        assert_eq!(ssl.1[0][0].as_deref(), Some("true"), "the session is encrypted");
        c.close().await;
        // prefer (libpq's default) upgrades to TLS too; disable is refused by hostssl-only rules
        Conn::open(&format!("{base}?sslmode=prefer")).await.unwrap().close().await;
        let e = refused(&format!("{base}?sslmode=disable")).await;
        assert!(e.contains("no pg_hba.conf entry") || e.contains("pg_hba"), "{e}");
        assert!(!e.contains("p@ss") && !e.contains("p%40ss"), "{e}");

        // verify-full: the right CA connects, another CA is refused with a clear error
        let full = format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            certs.file("ca.crt")
        );
        Conn::open(&full).await.unwrap().close().await;
        Conn::open(&format!(
            "{base}?sslmode=verify-ca&sslrootcert={}",
            certs.file("ca.crt")
        ))
        .await
        .unwrap()
        .close()
        .await;
        let e = refused(&format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            certs.file("other-ca.crt")
        ))
        .await;
        assert_untrusted(&e);
        assert!(e.contains("name the CA that signed it"), "{e}");
        // a client certificate is the only way in for certuser
        let cert_url = format!(
            "postgres://certuser@localhost:{port}/shop?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            certs.file("ca.crt"),
            certs.file("client.crt"),
            certs.file("client.key")
        );
        let mut c = Conn::open(&cert_url).await.unwrap();
        let who = c.query_text("SELECT current_user::text").await.unwrap();
        assert_eq!(who.1[0][0].as_deref(), Some("certuser"));
        c.close().await;
        let e = refused(&format!(
            "postgres://certuser@localhost:{port}/shop?sslmode=require"
        ))
        .await;
        assert!(e.contains("certificate") || e.contains("certuser"), "{e}");

        // pg_dump gets the same settings: libpq reads them from the URL it is given
        let other_ca = format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            certs.file("other-ca.crt")
        );
        let pg_dump = |url: &str, out: &Path| {
            migsafe::engines::postgres::dry_run::dump_schema(&server.install, url, None, out)
        };
        tools_over_tls(work.path(), &full, &other_ca, pg_dump, "CREATE TABLE public.users");
    });
}

#[test]
fn mariadb_over_tls_only() {
    if !have("mysql") {
        return;
    }
    let owner = migsafe::engines::process::is_root().then(|| {
        let u = migsafe::engines::process::service_user(&["mysql", "nobody"]).unwrap();
        (u.uid, u.gid)
    });
    let certs = make_certs("certuser", owner);
    let port = free_port();
    let args: Vec<String> = vec![
        format!("--port={port}"),
        "--bind-address=127.0.0.1".into(),
        format!("--ssl-cert={}", certs.file("server.crt")),
        format!("--ssl-key={}", certs.file("server.key")),
        format!("--ssl-ca={}", certs.file("ca.crt")),
        "--require-secure-transport=ON".into(),
    ];
    let work = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let server = EphemeralMysql::start_with(None, &args).await.unwrap();
        let mut root = Conn::open(&server.url("mysql")).await.unwrap();
        for sql in [
            "CREATE DATABASE shop",
            "CREATE USER app@'%' IDENTIFIED BY 'p@ss/w?rd'",
            "GRANT ALL ON *.* TO app@'%' WITH GRANT OPTION",
            "CREATE USER certuser@'%' REQUIRE SUBJECT '/CN=certuser'",
            "GRANT SELECT ON shop.* TO certuser@'%'",
            "CREATE TABLE shop.users (id int PRIMARY KEY, email varchar(100) NOT NULL)",
            "INSERT INTO shop.users VALUES (1, 'a@example.com'), (2, 'b@example.com')",
        ] {
            root.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        root.close().await;
        let base = format!("mysql://app:p%40ss%2Fw%3Frd@127.0.0.1:{port}/shop");

        let mut c = Conn::open(&format!("{base}?ssl-mode=REQUIRED")).await.unwrap();
        let cipher = c
            .query_text("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'")
            .await
            .unwrap();
        assert!(
            cipher.1[0][0].as_deref().is_some_and(|v| !v.is_empty()),
            "the session is encrypted: {cipher:?}"
        );
        c.close().await;
        // require_secure_transport refuses a plain TCP session (the same account and password
        // got in over TLS just above)
        let e = refused(&format!("{base}?ssl-mode=DISABLED")).await;
        assert!(
            e.contains("secure transport") || e.contains("3159") || e.contains("1045"),
            "{e}"
        );
        assert!(!e.contains("p@ss") && !e.contains("p%40ss"), "{e}");

        let full = format!(
            "{base}?ssl-mode=VERIFY_IDENTITY&ssl-ca={}",
            certs.file("ca.crt")
        );
        Conn::open(&full).await.unwrap().close().await;
        let e = refused(&format!(
            "{base}?ssl-mode=VERIFY_CA&ssl-ca={}",
            certs.file("other-ca.crt")
        ))
        .await;
        assert_untrusted(&e);
        assert!(e.contains("name the CA that signed it"), "{e}");

        // certuser gets in with its client certificate only
        let cert_url = format!(
            "mysql://certuser@127.0.0.1:{port}/shop?ssl-mode=VERIFY_IDENTITY&ssl-ca={}&ssl-cert={}&ssl-key={}",
            certs.file("ca.crt"),
            certs.file("client.crt"),
            certs.file("client.key")
        );
        let mut c = Conn::open(&cert_url).await.unwrap();
        let n = c.query_text("SELECT CAST(COUNT(*) AS CHAR) FROM users").await.unwrap();
        assert_eq!(n.1[0][0].as_deref(), Some("2"));
        c.close().await;
        let e = refused(&format!(
            "mysql://certuser@127.0.0.1:{port}/shop?ssl-mode=REQUIRED"
        ))
        .await;
        assert!(e.contains("Access denied") || e.contains("1045"), "{e}");

        // mariadb-dump gets the same TLS settings through its option file: it checks the CA
        // (without them MariaDB's tools encrypt but verify nothing)
        let other_ca = format!(
            "{base}?ssl-mode=VERIFY_CA&ssl-ca={}",
            certs.file("other-ca.crt")
        );
        let dump = |url: &str, out: &Path| migsafe::engines::mysql::dry_run::dump_schema(url, None, out);
        tools_over_tls(work.path(), &full, &other_ca, dump, "CREATE TABLE `users`");
    });
}
