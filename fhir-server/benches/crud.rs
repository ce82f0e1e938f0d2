//! CRUD benchmark: create, read and update throughput and latency percentiles over real HTTP,
//! on SQLite and PostgreSQL, at concurrency 1 and 16. Prints a table; asserts nothing about speed.
//!
//! `cargo bench -p fhir-server --bench crud` (PostgreSQL: set `FHIR_TEST_POSTGRES_URL`, or let the
//! test harness start a cluster). `FHIR_BENCH_SECONDS` sets the duration of each phase (default 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fhir_core::ResourceStore;
use fhir_server::{Application, Config};
use serde_json::json;

#[derive(Clone, Copy)]
enum Phase {
    Create,
    Read,
    Update,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Read => "read",
            Phase::Update => "update",
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let seconds: u64 = std::env::var("FHIR_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
        println!("{:<9} {:<7} {:>5} {:>10} {:>9} {:>9} {:>9} {:>9}", "backend", "op", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors");
        for backend in ["sqlite", "postgres"] {
            let dir = tempfile::tempdir().unwrap();
            let url = match backend {
                "sqlite" => format!("sqlite:{}", dir.path().join("bench.db").display()),
                _ => fhir_core::testing::postgres_url().await,
            };
            let store: Arc<dyn ResourceStore> = fhir_core::store::open(&url).await.unwrap();
            let app = Application::with_store(Config::for_database(url.clone()), store.clone()).await.unwrap();
            let base = format!("http://{}/fhir", app.local_addr().unwrap());
            let server = tokio::spawn(app.run_until(std::future::pending()));
            let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
            // Resources to read and update.
            let ids: Arc<Vec<String>> = Arc::new(seed(&client, &base, 200).await);
            for concurrency in [1usize, 16] {
                for phase in [Phase::Create, Phase::Read, Phase::Update] {
                    let (count, errors, mut latencies) =
                        run_phase(&client, &base, &ids, phase, concurrency, Duration::from_secs(seconds)).await;
                    latencies.sort_unstable();
                    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                    println!(
                        "{backend:<9} {:<7} {concurrency:>5} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {errors:>9}",
                        phase.name(),
                        count as f64 / seconds as f64,
                        pct(0.50),
                        pct(0.95),
                        pct(0.99)
                    );
                }
            }
            server.abort();
            store.close().await;
        }
    });
}

async fn seed(client: &reqwest::Client, base: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let id = format!("bench-{i}");
        let response = client
            .put(format!("{base}/Patient/{id}"))
            .header("content-type", "application/fhir+json")
            .body(patient(Some(&id)).to_string())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        ids.push(id);
    }
    ids
}

fn patient(id: Option<&str>) -> serde_json::Value {
    let mut patient = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://example.org/mrn", "value": "12345"}],
        "active": true,
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
        "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}]
    });
    if let Some(id) = id {
        patient["id"] = json!(id);
    }
    patient
}

async fn run_phase(
    client: &reqwest::Client,
    base: &str,
    ids: &Arc<Vec<String>>,
    phase: Phase,
    concurrency: usize,
    duration: Duration,
) -> (usize, usize, Vec<Duration>) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let base = base.to_owned();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = worker;
            while Instant::now() < deadline {
                let id = &ids[n % ids.len()];
                n += concurrency;
                let started = Instant::now();
                let request = match phase {
                    Phase::Create => client
                        .post(format!("{base}/Patient"))
                        .header("content-type", "application/fhir+json")
                        .body(patient(None).to_string()),
                    Phase::Read => client.get(format!("{base}/Patient/{id}")),
                    Phase::Update => client
                        .put(format!("{base}/Patient/{id}"))
                        .header("content-type", "application/fhir+json")
                        .body(patient(Some(id)).to_string()),
                };
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(started.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, task_errors) = task.await.unwrap();
        all.extend(latencies);
        errors += task_errors;
    }
    (all.len(), errors, all)
}
