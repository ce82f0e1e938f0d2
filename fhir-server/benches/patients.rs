//! Patient-list searches on a store of many generated Patients (the patient-ui load test of
//! Blaze: its median budgets are printed next to the figures).
//!
//! Run it with `cargo bench -p fhir-server --bench patients`. `FHIR_BENCH_PATIENTS` sets the
//! number of Patients (default 50,000), `FHIR_BENCH_QUERY_SECONDS` the time budget of each query
//! (default 3), `FHIR_BENCH_STORE_DIR` keeps the store there (reused when it already holds the
//! Patients, so the seeding is paid once) instead of a temporary directory (`TMPDIR`).
//!
//! The Patients are generated deterministically: family names drawn from 2,000 with a skewed
//! (Zipf-like) distribution, so the most common one has about 1% of the Patients, as the most
//! common surname of a real population; 300 given names, 100 cities, birth dates over a century,
//! both genders, one unique identifier each. The queries use the most common family name and
//! city, the worst case a user typing a common name meets.
//!
//! What it prints: the seeding rate (`ResourceStore::update` from 32 tasks, group commit), the
//! index catch-up time, then for each query the number of matches (`_total=accurate`), p50 and
//! p99 in ms over up to 50 sequential runs of one client, and the server's CPU time per query.
//! Nothing about speed is asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fhir_core::ResourceStore;
use fhir_core::index::{IndexLocation, SearchIndex};
use fhir_server::{Application, Config};
use serde_json::{Value, json};

const TENANT: &str = fhir_core::store::DEFAULT_TENANT;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Zipf-like over `0..n`: index `i` with weight about `1 / (i + 10)`.
    fn skewed(&mut self, n: u64) -> u64 {
        // Inverse of the cumulative `ln((i + 10) / 10)`.
        let total = ((n + 10) as f64 / 10.0).ln();
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (((u * total).exp() * 10.0 - 10.0) as u64).min(n - 1)
    }
}

const SYLLABLES: &[&str] = &[
    "ba", "ker", "son", "mil", "ler", "wil", "ton", "har", "ris", "mar", "tin", "lee", "gar",
    "cia", "rob", "ert", "wal", "ker", "hall", "ward", "ken", "ny", "ber", "gen", "stein", "ola",
    "fer", "nan", "dez", "ko", "wal", "ski", "ma", "da", "ro", "sa",
];

/// A name made of syllables from a number, capitalised.
fn name(mut n: u64, parts: usize) -> String {
    let mut out = String::new();
    for _ in 0..parts {
        out.push_str(SYLLABLES[(n % SYLLABLES.len() as u64) as usize]);
        n /= SYLLABLES.len() as u64;
    }
    let mut chars = out.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn family(i: u64) -> String {
    format!("{}{}", name(i, 2), name(i / 1296, 1).to_lowercase())
}

fn given(i: u64) -> String {
    name(i * 7 + 3, 2)
}

fn city(i: u64) -> String {
    format!("{} Falls", name(i * 13 + 5, 2))
}

fn patient(i: u64, rng: &mut Rng) -> Value {
    let gender = if rng.below(2) == 0 { "male" } else { "female" };
    let year = 1925 + rng.below(100);
    let birth = format!("{year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28));
    json!({
        "resourceType": "Patient",
        "id": format!("p{i}"),
        "identifier": [{
            "system": "http://hospital.example.org/mrn",
            "value": format!("MRN{i:08}"),
        }],
        "active": true,
        "name": [{
            "use": "official",
            "family": family(rng.skewed(2000)),
            "given": [given(rng.below(300)), given(rng.below(300))],
        }],
        "telecom": [{"system": "phone", "value": format!("555-{:04}", rng.below(10_000)), "use": "home"}],
        "gender": gender,
        "birthDate": birth,
        "address": [{
            "line": [format!("{} Main Street", 1 + rng.below(999))],
            "city": city(rng.skewed(100)),
            "state": "MA",
            "postalCode": format!("0{:04}", rng.below(10_000)),
            "country": "US",
        }],
    })
}

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time of this process (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

async fn seed(store: &Arc<dyn ResourceStore>, count: u64) {
    let existing = store
        .read(TENANT, "Patient", &format!("p{}", count - 1))
        .await
        .unwrap()
        .is_some();
    if existing {
        println!("store already holds the {count} Patients");
        return;
    }
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                // The same Patient for the same number, whichever task writes it.
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i + 1).wrapping_mul(0x1000_0000_01b3));
                rng.next();
                store
                    .update(
                        TENANT,
                        "Patient",
                        &format!("p{i}"),
                        patient(i, &mut rng),
                        None,
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {count} Patients in {elapsed:.1} s ({:.0}/s)",
        count as f64 / elapsed
    );
}

async fn run() {
    let count: u64 = std::env::var("FHIR_BENCH_PATIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000)
        .max(1);
    let query_seconds: f64 = std::env::var("FHIR_BENCH_QUERY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("FHIR_BENCH_STORE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("fhir.db").display());
    println!(
        "== patient-list bench: {count} Patients, sqlite in {}",
        dir.display()
    );
    let store: Arc<dyn ResourceStore> = fhir_core::store::open(&url).await.unwrap();
    seed(&store, count).await;

    let index_dir = dir.join("index");
    let t = Instant::now();
    let index = SearchIndex::open(IndexLocation::Directory(index_dir.clone()), store.clone())
        .await
        .unwrap();
    println!(
        "index catch-up         {:.1} s (seq {}), {:.1} MB on disk, peak RSS {:.0} MB",
        t.elapsed().as_secs_f64(),
        index.visible_seq(),
        index.size_on_disk() as f64 / 1e6,
        vm_hwm_mb()
    );
    drop(index);

    let mut config = Config::for_database(url.clone());
    config.index_dir = Some(index_dir);
    let app = Application::with_store(config, store.clone())
        .await
        .unwrap();
    let base = format!("http://{}/fhir", app.local_addr().unwrap());
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();

    // The most common family name and city (the skewed draw's index 0), a given name and a
    // birth date of a Patient with that family name.
    let fam = family(0);
    let cty = city(0);
    let sample: Value = client
        .get(format!("{base}/Patient?family={fam}&_count=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sample = &sample["entry"][0]["resource"];
    let giv = sample["name"][0]["given"][0]
        .as_str()
        .unwrap_or("Baba")
        .to_owned();
    let birth = sample["birthDate"]
        .as_str()
        .unwrap_or("1970-01-01")
        .to_owned();
    let ident = format!("http://hospital.example.org/mrn|MRN{:08}", count / 2);
    let year: i64 = birth[..4].parse().unwrap_or(1970);
    let queries: Vec<(f64, String)> = vec![
        (3.0, format!("Patient?identifier={ident}")),
        (20.0, format!("Patient?family={fam}&given={giv}")),
        (20.0, format!("Patient?family={fam}&birthdate={birth}")),
        (5.0, format!("Patient?name={fam}")),
        (60.0, format!("Patient?family={fam}&gender=female")),
        (30.0, format!("Patient?address-city={cty}&family={fam}")),
        (
            40.0,
            format!(
                "Patient?birthdate=ge{}-01-01&birthdate=le{}-12-31&gender=female",
                year - 5,
                year + 5
            ),
        ),
        (5.0, "Patient?_sort=-_lastUpdated&_count=10".to_owned()),
        (5.0, "Patient?_sort=-_lastUpdated".to_owned()),
    ];
    println!(
        "{:>8} {:>8} {:>8} {:>8} {:>9} {:>7}  query",
        "budget", "total", "p50 ms", "p99 ms", "cpu ms", "kB"
    );
    for (budget, query) in &queries {
        let url = format!("{base}/{}", query.replace('|', "%7C"));
        let first: Value = client
            .get(format!("{url}&_total=accurate"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let total = first["total"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        for _ in 0..2 {
            client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        let mut times = Vec::new();
        let mut bytes = 0;
        let cpu = cpu_time();
        let started = Instant::now();
        while times.len() < 50 && started.elapsed().as_secs_f64() < query_seconds {
            let t = Instant::now();
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{query}");
            bytes = response.bytes().await.unwrap().len();
            times.push(t.elapsed());
        }
        // The client's share is small next to a search; it is counted too.
        let cpu_ms = (cpu_time() - cpu).as_secs_f64() * 1000.0 / times.len() as f64;
        times.sort_unstable();
        let pct = |p: f64| {
            let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
            times[i].as_secs_f64() * 1000.0
        };
        println!(
            "{budget:>8.0} {total:>8} {:>8.2} {:>8.2} {cpu_ms:>9.2} {:>7.1}  {query}",
            pct(0.5),
            pct(0.99),
            bytes as f64 / 1024.0
        );
    }
    server.abort();
    store.close().await;
}
