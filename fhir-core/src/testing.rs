//! Test support (feature `testing`): a PostgreSQL harness.
//!
//! [`postgres_url`] returns the URL of a fresh, empty database for each call, so that tests are
//! independent. The server comes from the environment variable `FHIR_TEST_POSTGRES_URL` (a URL of
//! a superuser on any database of the server, e.g. `postgres://postgres@127.0.0.1:5433/postgres`;
//! CI sets it). Without it the harness starts one throw-away cluster per test process, lazily:
//! `initdb` into a new temporary directory (trust authentication, listening on 127.0.0.1 on a
//! free port), `pg_ctl start`. The binaries are taken from `FHIR_TEST_PG_BIN`, else
//! `/usr/lib/postgresql/15/bin`, else the `PATH`. PostgreSQL refuses to run as root, so as root
//! they run as the `postgres` user (`runuser -u postgres --`), who is given the directory.
//!
//! Stopping that cluster: the harness starts a small sentinel shell in its own session
//! (`setsid`), which polls the test process and, once it has exited (however it ended), runs
//! `pg_ctl -m immediate stop` and removes the directory. The sentinel is reaped by init.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::Connection;

/// The URL of a new, empty PostgreSQL database on the test server, owned by its superuser.
///
/// # Panics
///
/// When no server can be reached or started (this is test support: failing loudly is right).
pub async fn postgres_url() -> String {
    let server = server_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server {server}: {e}"));
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    let _ = conn.close().await;
    with_database(&server, &name)
}

/// The URL of the test server (from the environment, or a cluster started for this process).
pub fn server_url() -> String {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    if let Ok(url) = std::env::var("FHIR_TEST_POSTGRES_URL")
        && !url.is_empty()
    {
        return url;
    }
    match SERVER.get_or_init(start_cluster) {
        Ok(url) => url.clone(),
        Err(message) => panic!("cannot start a PostgreSQL test cluster: {message}"),
    }
}

/// Replaces the database of a `postgres://` URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("FHIR_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return debian.to_owned();
    }
    PathBuf::new()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command of the PostgreSQL binaries, as the `postgres` user when we are root.
fn pg_command(root: bool, program: &Path) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start_cluster() -> Result<String, String> {
    let bin = pg_bin();
    let root = is_root();
    let dir = std::env::temp_dir().join(format!(
        "fhir-test-pg-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if root {
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres").arg(&dir);
        run(chown, "chown")?;
    }
    let data = dir.join("data");
    let mut initdb = pg_command(root, &bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
    run(initdb, "initdb")?;
    let port = free_port()?;
    let mut pg_ctl = pg_command(root, &bin.join("pg_ctl"));
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .arg("-w")
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            dir.display()
        ))
        .arg("start");
    run(pg_ctl, "pg_ctl start")?;
    // The sentinel: stops the cluster and removes its directory when this process is gone.
    let stop = format!(
        "{}'{}' -D '{}' -m immediate stop",
        if root { "runuser -u postgres -- " } else { "" },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    let spawned = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!(
            "cannot start the sentinel of the PostgreSQL test cluster in {} ({e}); stop it with: {stop}",
            dir.display()
        );
    }
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5433/postgres", "t_1"),
            "postgres://postgres@127.0.0.1:5433/t_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t_2"),
            "postgres://u:p@h/t_2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t_3"), "postgres://h:1/t_3");
    }
}
