//! Bulk-loading benchmark through the REST API: the Synthea data of Blaze (92,114 resources:
//! a hospital and a practitioner batch Bundle, then 120 patient transaction Bundles).
//!
//! Run it with `cargo bench -p fhir-server --bench import` (an optimised build). The data comes
//! from `SYNTHEA_DIR` (default `../shared/data/synthea-blaze` from the workspace root, unpacked
//! with the `bzip2` command); when it is missing the bench says so and exits successfully.
//!
//! For each backend (`FHIR_BENCH_BACKENDS`, default `sqlite,postgres`) and each number of
//! concurrent clients (`FHIR_BENCH_IMPORT_CLIENTS`, default `1,4,8`) it starts the release
//! `fhir-server` binary as a child process on a new, empty store (a SQLite file and an index
//! directory under `TMPDIR`; PostgreSQL: a new database on `FHIR_TEST_POSTGRES_URL`'s server, or
//! on a throw-away cluster the test harness starts), then:
//! 1. posts the hospital and the practitioner batch Bundles (one client), then the patient
//!    transactions from `clients` concurrent clients, each with `Prefer: return=minimal`;
//! 2. checks that every Bundle and every entry succeeded;
//! 3. measures the index catch-up: the time of `GET Observation?_summary=count` right after the
//!    last response (a search first makes every acknowledged write visible), and checks its
//!    total;
//! 4. prints resources/s (all resources over the whole load), the p50/max time per patient
//!    Bundle, the catch-up time, the CPU time the server used (load and catch-up), the database
//!    and index sizes and the server's peak RSS (VmHWM of the child process).
//!
//! The server inherits the bench's environment: `FHIR_SQLITE_SYNCHRONOUS=normal` runs SQLite with
//! `synchronous=NORMAL` (default `full`), for comparisons with servers configured that way.
//!
//! Everything is printed; nothing about speed is asserted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fhir_bench::target::{database_size, dir_size, process_cpu_seconds, process_status_kb};
use serde_json::Value;

mod synthea;

fn main() {
    let dir = synthea::data_dir();
    let Some(bundles) = load_bundles(&dir) else {
        println!(
            "import bench: no Synthea bundles (*.json.bz2) in {}; set SYNTHEA_DIR. Nothing to do.",
            dir.display()
        );
        return;
    };
    let backends = env_list("FHIR_BENCH_BACKENDS", "sqlite,postgres");
    let clients: Vec<usize> = env_list("FHIR_BENCH_IMPORT_CLIENTS", "1,4,8")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let total: usize = bundles.iter().map(|b| b.resources).sum();
    println!(
        "import bench: {} bundles, {total} resources, from {}",
        bundles.len(),
        dir.display()
    );
    println!(
        "SQLite synchronous: {}",
        std::env::var("FHIR_SQLITE_SYNCHRONOUS").unwrap_or_else(|_| "full".into())
    );
    println!(
        "| backend | clients | resources/s | load s | bundle p50 ms | bundle max ms | catch-up ms | server CPU s | database MB | index MB | peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let bundles = Arc::new(bundles);
    for backend in &backends {
        for &clients in &clients {
            let figures = runtime.block_on(run(backend, clients, bundles.clone()));
            match figures {
                Ok(f) => println!(
                    "| {backend} | {clients} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} |",
                    total as f64 / f.load.as_secs_f64(),
                    f.load.as_secs_f64(),
                    f.bundle_p50.as_secs_f64() * 1e3,
                    f.bundle_max.as_secs_f64() * 1e3,
                    f.catch_up.as_secs_f64() * 1e3,
                    f.cpu_seconds,
                    f.database_bytes as f64 / 1_048_576.0,
                    f.index_bytes as f64 / 1_048_576.0,
                    f.peak_rss_kb as f64 / 1024.0,
                ),
                Err(message) => println!("| {backend} | {clients} | failed: {message} |"),
            }
        }
    }
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One Bundle, unpacked.
struct Bundle {
    body: Arc<Vec<u8>>,
    resources: usize,
    observations: usize,
    transaction: bool,
}

/// The bundles in load order, unpacked.
fn load_bundles(dir: &Path) -> Option<Vec<Bundle>> {
    let bundles = synthea::bundle_files(dir)?
        .iter()
        .map(|path| {
            let text = synthea::unpack(path);
            let parsed: Value = serde_json::from_slice(&text).expect("bundle JSON");
            let entries = parsed["entry"].as_array().map_or(&[][..], |e| e.as_slice());
            Bundle {
                resources: entries.len(),
                observations: entries
                    .iter()
                    .filter(|e| e["resource"]["resourceType"] == "Observation")
                    .count(),
                transaction: parsed["type"] == "transaction",
                body: Arc::new(text),
            }
        })
        .collect();
    Some(bundles)
}

struct Figures {
    load: Duration,
    bundle_p50: Duration,
    bundle_max: Duration,
    catch_up: Duration,
    cpu_seconds: f64,
    database_bytes: u64,
    index_bytes: u64,
    peak_rss_kb: u64,
}

/// The server under test, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: the server (or a profiler wrapping it) stops cleanly.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(database_url: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `FHIR_BENCH_WRAPPER="perf record -g --"` runs the server under a profiler.
        let wrapper = std::env::var("FHIR_BENCH_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(env!("CARGO_BIN_EXE_fhir-server"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_fhir-server")),
        };
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            // The load measured is the FHIR path; bearer tokens are measured by read_wrk.sh.
            .env("FHIR_AUTH", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        let child = command.spawn().expect("start fhir-server");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}/fhir"),
            dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = client.get(format!("{}/metadata", server.base)).send().await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fhir-server did not start");
    }

    /// CPU seconds the server used so far (user + system).
    fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.child.id())
    }

    fn peak_rss_kb(&self) -> u64 {
        process_status_kb(self.child.id(), "VmHWM:") as u64
    }
}

async fn run(backend: &str, clients: usize, bundles: Arc<Vec<Bundle>>) -> Result<Figures, String> {
    let database_url = match backend {
        "sqlite" => None,
        "postgres" => Some(fhir_core::testing::postgres_url().await),
        other => return Err(format!("unknown backend {other}")),
    };
    let server = Server::start(database_url.as_deref()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    // The shared resources first, one at a time: the patients refer to them.
    let (shared, patients): (Vec<usize>, Vec<usize>) =
        (0..bundles.len()).partition(|&i| !bundles[i].transaction);
    for i in shared {
        post(&client, &server.base, &bundles[i]).await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let patients = Arc::new(patients);
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (client, base, bundles, next, patients) = (
            client.clone(),
            server.base.clone(),
            bundles.clone(),
            next.clone(),
            patients.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&bundle) = patients.get(i) else {
                    return Ok::<_, String>(times);
                };
                let sent = Instant::now();
                post(&client, &base, &bundles[bundle]).await?;
                times.push(sent.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for worker in workers {
        times.extend(worker.await.map_err(|e| e.to_string())??);
    }
    let load = started.elapsed();
    times.sort();
    let asked = Instant::now();
    let count = client
        .get(format!("{}/Observation?_summary=count", server.base))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let count: Value = serde_json::from_str(&count).map_err(|e| e.to_string())?;
    let catch_up = asked.elapsed();
    let cpu_seconds = server.cpu_seconds() - cpu_before;
    let expected: usize = bundles.iter().map(|b| b.observations).sum();
    if count["total"] != expected {
        return Err(format!(
            "the index counts {} Observations, expected {expected}",
            count["total"]
        ));
    }
    let database_bytes = match &database_url {
        None => ["fhir.db", "fhir.db-wal"]
            .iter()
            .map(|f| {
                std::fs::metadata(server.dir.path().join(f))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum(),
        Some(url) => database_size(url).await?,
    };
    Ok(Figures {
        load,
        bundle_p50: times.get(times.len() / 2).copied().unwrap_or_default(),
        bundle_max: times.last().copied().unwrap_or_default(),
        catch_up,
        cpu_seconds,
        database_bytes,
        index_bytes: dir_size(&server.dir.path().join("index")),
        peak_rss_kb: server.peak_rss_kb(),
    })
}

/// Posts one Bundle and checks that it and every entry succeeded.
async fn post(client: &reqwest::Client, base: &str, bundle: &Bundle) -> Result<(), String> {
    let response = client
        .post(base)
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(bundle.body.as_ref().clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", &text[..text.len().min(500)]));
    }
    let answer: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let failed = answer["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            !e["response"]["status"]
                .as_str()
                .is_some_and(|s| s.starts_with('2'))
        })
        .count();
    if failed > 0 {
        return Err(format!("{failed} entries failed"));
    }
    Ok(())
}
