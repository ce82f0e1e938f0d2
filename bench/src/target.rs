//! The servers under test: ours (`fhir-server serve`) and Helios HFS (`hfs`), each on SQLite or
//! PostgreSQL, started as child processes on 127.0.0.1 on a free port with a new, empty store,
//! and what we read about them from `/proc` (CPU time, resident memory).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    Ours,
    Hfs,
}

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One server on one store, as named on the command line (`ours-sqlite`, `hfs-postgres`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub server: Server,
    pub backend: Backend,
}

impl Target {
    pub fn parse(name: &str) -> Result<Target, String> {
        let (server, backend) = name
            .split_once('-')
            .ok_or_else(|| format!("target {name:?}: expected SERVER-BACKEND"))?;
        let server = match server {
            "ours" => Server::Ours,
            "hfs" => Server::Hfs,
            other => return Err(format!("unknown server {other:?} (ours, hfs)")),
        };
        let backend = match backend {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => return Err(format!("unknown backend {other:?} (sqlite, postgres)")),
        };
        Ok(Target { server, backend })
    }

    pub fn name(&self) -> String {
        let server = match self.server {
            Server::Ours => "ours",
            Server::Hfs => "hfs",
        };
        let backend = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        format!("{server}-{backend}")
    }
}

/// How to start the servers.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Our release binary.
    pub ours_bin: PathBuf,
    /// The `hfs` binary.
    pub hfs_bin: PathBuf,
    /// A directory holding `search-parameters-r4.json` for HFS (its `--data-dir`).
    pub hfs_data_dir: PathBuf,
    /// A PostgreSQL server URL whose user may create databases (for the `postgres` targets).
    pub postgres_url: Option<String>,
    /// SQLite `synchronous` for our server: `normal` matches HFS (WAL + NORMAL).
    pub ours_sqlite_synchronous: String,
}

/// A running server, stopped (and its store dropped) when this is dropped.
pub struct Running {
    child: Child,
    /// The FHIR base URL, without a trailing slash.
    pub base: String,
    dir: tempfile::TempDir,
    database: Option<(String, String)>,
}

impl Running {
    /// Starts `target` on a new, empty store and waits until it answers `GET [base]/metadata`.
    pub async fn start(target: Target, launch: &Launch) -> Result<Running, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port()?;
        let database = match target.backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let server = launch
                    .postgres_url
                    .as_deref()
                    .ok_or("a postgres target needs --postgres-url")?;
                let name = format!("bench_{}_{}", target.name().replace('-', "_"), port);
                Some((server.to_owned(), create_database(server, &name).await?))
            }
        };
        let mut command = match target.server {
            Server::Ours => {
                let mut c = Command::new(&launch.ours_bin);
                c.arg("serve")
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--data-dir")
                    .arg(dir.path())
                    .env("FHIR_AUTH", "off")
                    .env("FHIR_SQLITE_SYNCHRONOUS", &launch.ours_sqlite_synchronous)
                    .env("RUST_LOG", "warn");
                if let Some((_, url)) = &database {
                    c.arg("--database-url").arg(url);
                }
                c
            }
            Server::Hfs => {
                let mut c = Command::new(&launch.hfs_bin);
                c.arg("--port")
                    .arg(port.to_string())
                    .arg("--host")
                    .arg("127.0.0.1")
                    .arg("--data-dir")
                    .arg(&launch.hfs_data_dir)
                    .arg("--log-level")
                    .arg("warn")
                    .env("HFS_BASE_URL", format!("http://127.0.0.1:{port}"))
                    .env("HFS_REQUEST_TIMEOUT", "600")
                    .env("HFS_UI_ENABLED", "false")
                    .current_dir(dir.path());
                match &database {
                    Some((_, url)) => {
                        c.env("HFS_STORAGE_BACKEND", "postgres")
                            .arg("--database-url")
                            .arg(url);
                    }
                    None => {
                        c.env("HFS_STORAGE_BACKEND", "sqlite")
                            .arg("--database-url")
                            .arg(dir.path().join("hfs.db"));
                    }
                }
                c
            }
        };
        let log =
            std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", target.name()))?;
        let base = match target.server {
            Server::Ours => format!("http://127.0.0.1:{port}/fhir"),
            Server::Hfs => format!("http://127.0.0.1:{port}"),
        };
        let mut running = Running {
            child,
            base,
            dir,
            database,
        };
        let client = reqwest::Client::new();
        // HFS seeds its search parameters before it answers; give it time on a busy machine.
        for _ in 0..2400 {
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!(
                    "{} exited at start ({status}): {}",
                    target.name(),
                    running.log_tail()
                ));
            }
            if let Ok(r) = client
                .get(format!("{}/metadata", running.base))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(running);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{} did not answer within 4 minutes: {}",
            target.name(),
            running.log_tail()
        ))
    }

    /// The last lines the server wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// CPU seconds (user + system) the server used so far.
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.child.id())
    }

    /// Resident memory now (`VmRSS`), MB.
    pub fn rss_mb(&self) -> f64 {
        self.status_kb("VmRSS:") / 1024.0
    }

    /// Peak resident memory (`VmHWM`), MB.
    pub fn peak_rss_mb(&self) -> f64 {
        self.status_kb("VmHWM:") / 1024.0
    }

    fn status_kb(&self, field: &str) -> f64 {
        process_status_kb(self.child.id(), field)
    }

    /// Bytes the store takes on disk: the data directory (SQLite file, WAL, search index), or
    /// the PostgreSQL database.
    pub async fn store_bytes(&self) -> u64 {
        match &self.database {
            None => dir_size(self.dir.path()),
            Some((_, url)) => database_size(url).await.unwrap_or(0),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SIGTERM first, so both servers stop cleanly; then SIGKILL.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((server, url)) = self.database.take() {
            let name = url.rsplit('/').next().unwrap_or_default().to_owned();
            // Dropping needs a runtime; a short one of its own, since Drop may run outside one.
            let drop = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_database(&server, &name));
                }
            });
            let _ = drop.join();
        }
    }
}

/// CPU seconds (user + system) process `pid` used so far, from `/proc/[pid]/stat`.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name (in parentheses), utime and stime are fields 12 and 13.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A `kB` field of `/proc/[pid]/status` (`VmRSS:`, `VmHWM:`), in kB.
pub fn process_status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Bytes of every file under `path`.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Creates database `name` on `server` and answers its URL.
async fn create_database(server: &str, name: &str) -> Result<String, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .map_err(|e| format!("connect to {server}: {e}"))?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let (prefix, _) = server
        .rsplit_once('/')
        .ok_or("the PostgreSQL URL has no database part")?;
    Ok(format!("{prefix}/{name}"))
}

async fn drop_database(server: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(server).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

/// `pg_database_size` of the database of `url`.
pub async fn database_size(url: &str) -> Result<u64, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(size as u64)
}
