//! Search benchmark on the Synthea data of Blaze (92,114 resources in 122 bundles).
//!
//! Run it with `cargo bench -p fhir-server --bench search` (an optimised build). The data comes
//! from `SYNTHEA_DIR` (default `../shared/data/synthea-blaze` from the workspace root: the
//! `*.json.bz2` bundles, unpacked with the `bzip2` command); when it is missing, the bench says so
//! and exits successfully. `FHIR_BENCH_LOAD_CONCURRENCY` lists the numbers of writers to load
//! with, each into a new store, the last one kept for the rest (default `1,4`);
//! `FHIR_BENCH_QUERY_SECONDS` sets the time budget of each latency query (default 3). The stores
//! and the index are made in temporary directories (`TMPDIR`; about 400 MB at the peak): on a
//! tmpfs (`TMPDIR=/dev/shm`) the load is not bound by fsync, so say which one a figure is from.
//!
//! What it does and prints:
//! 1. **Load**: hospital and practitioner bundles first, then the patient transaction bundles.
//!    Bundles are not a server interaction yet, so the bench writes each entry through the store
//!    (`ResourceStore::update`, id = the uuid of the entry's `urn:uuid:` fullUrl), after rewriting
//!    `urn:uuid:` references to `Type/id` and conditional references (`Type?identifier=s|v`) to the
//!    resource loaded before with that identifier. Prints resources/s, the unresolved references,
//!    the database size.
//! 2. **Index catch-up**: `SearchIndex::open` on a fresh directory (from sequence 0): time,
//!    resources/s, index size on disk, and the peak RSS of the process (VmHWM).
//! 3. **Extraction**: `Extractor::r4().extract` over every resource (one thread, parsing not
//!    counted): µs per resource, overall and for the five most frequent types.
//! 4. **Searches** over HTTP against the in-process server (one client, sequential):
//!    - the patient-list budgets and the other single queries: warm-up, then up to 50 runs (at
//!      most `FHIR_BENCH_QUERY_SECONDS` per query); a table with the result count (Bundle.total of
//!      `_total=accurate`, else the matches of the first page), p50 and p99 in ms, and the HTTP
//!      status when it is not 200 (with the OperationOutcome text);
//!    - the search series (performance.md §3.6): `_summary=count` first (its time), then every page
//!      with `_count=1000` following `next` links (time, resources/s).
//!
//! Everything is printed; nothing about speed is asserted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fhir_core::ResourceStore;
use fhir_core::index::{IndexLocation, SearchIndex};
use fhir_core::search::extract::Extractor;
use fhir_server::{Application, Config};
use serde_json::Value;

mod synthea;

const TENANT: &str = fhir_core::store::DEFAULT_TENANT;

fn main() {
    let dir = synthea::data_dir();
    let files = match synthea::bundle_files(&dir) {
        Some(files) => files,
        None => {
            println!(
                "search bench: no Synthea bundles (*.json.bz2) in {}; set SYNTHEA_DIR. Nothing to do.",
                dir.display()
            );
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(files));
}

fn read_bundle(path: &Path) -> Value {
    serde_json::from_slice(&synthea::unpack(path)).expect("bundle JSON")
}

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn is_fhir_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// What the loader resolves references with.
#[derive(Default)]
struct Resolver {
    /// uuid (of a `urn:uuid:` fullUrl) → resource type.
    types: HashMap<String, String>,
    /// `Type|system|value` → id, from the identifiers of the hospital and practitioner bundles.
    identifiers: HashMap<String, String>,
    resolved: u64,
    unresolved_uuid: u64,
    unresolved_conditional: u64,
}

impl Resolver {
    fn rewrite(&mut self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if key == "reference"
                        && let Value::String(reference) = child
                    {
                        if let Some(new) = self.resolve(reference) {
                            *reference = new;
                        }
                        continue;
                    }
                    self.rewrite(child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.rewrite(item)),
            _ => {}
        }
    }

    fn resolve(&mut self, reference: &str) -> Option<String> {
        if let Some(uuid) = reference.strip_prefix("urn:uuid:") {
            return match self.types.get(uuid) {
                Some(ty) => {
                    self.resolved += 1;
                    Some(format!("{ty}/{uuid}"))
                }
                None => {
                    self.unresolved_uuid += 1;
                    None
                }
            };
        }
        let (ty, query) = reference.split_once('?')?;
        let found = query
            .strip_prefix("identifier=")
            .and_then(|ident| self.identifiers.get(&format!("{ty}|{ident}")));
        match found {
            Some(id) => {
                self.resolved += 1;
                Some(format!("{ty}/{id}"))
            }
            None => {
                self.unresolved_conditional += 1;
                None
            }
        }
    }
}

/// Values picked from the data for the queries.
#[derive(Default, Debug)]
struct Samples {
    patient_id: String,
    identifier: String,
    family: String,
    given: String,
    birthdate: String,
    gender: String,
    city: String,
    /// A patient with MedicationRequests.
    med_patient: Option<String>,
    /// Observation LOINC code → count.
    loinc: HashMap<String, u64>,
    /// Observation category → count.
    categories: HashMap<String, u64>,
    by_type: HashMap<String, u64>,
}

fn sample_patient(samples: &mut Samples, patient: &Value) {
    if !samples.patient_id.is_empty() {
        return;
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    samples.patient_id = s(&patient["id"]);
    if let Some(ident) = patient["identifier"].as_array().and_then(|a| a.first()) {
        samples.identifier = format!("{}|{}", s(&ident["system"]), s(&ident["value"]));
    }
    samples.family = s(&patient["name"][0]["family"]);
    samples.given = s(&patient["name"][0]["given"][0]);
    samples.birthdate = s(&patient["birthDate"]);
    samples.gender = s(&patient["gender"]);
    samples.city = s(&patient["address"][0]["city"]);
}

fn sample_resource(samples: &mut Samples, ty: &str, resource: &Value) {
    *samples.by_type.entry(ty.to_owned()).or_default() += 1;
    match ty {
        "Patient" => sample_patient(samples, resource),
        "Observation" => {
            for coding in resource["code"]["coding"].as_array().into_iter().flatten() {
                if coding["system"] == "http://loinc.org"
                    && let Some(code) = coding["code"].as_str()
                {
                    *samples.loinc.entry(code.to_owned()).or_default() += 1;
                }
            }
            for cat in resource["category"].as_array().into_iter().flatten() {
                for coding in cat["coding"].as_array().into_iter().flatten() {
                    if let Some(code) = coding["code"].as_str() {
                        *samples.categories.entry(code.to_owned()).or_default() += 1;
                    }
                }
            }
        }
        "MedicationRequest" if samples.med_patient.is_none() => {
            if resource.get("medicationReference").is_some()
                && let Some(r) = resource["subject"]["reference"].as_str()
            {
                samples.med_patient = r.strip_prefix("Patient/").map(str::to_owned);
            }
        }
        _ => {}
    }
}

/// Turns a bundle into `(type, id, resource)` with references rewritten. Registers the types of
/// its entries first (references may point forward).
fn prepare(
    bundle: Value,
    resolver: &mut Resolver,
    remember_identifiers: bool,
) -> Vec<(String, String, Value)> {
    let Value::Object(mut bundle) = bundle else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = bundle.remove("entry") else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(entries.len());
    for mut entry in entries {
        let Some(mut resource) = entry.get_mut("resource").map(Value::take) else {
            continue;
        };
        let ty = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = entry["fullUrl"]
            .as_str()
            .and_then(|u| u.strip_prefix("urn:uuid:"))
            .filter(|id| is_fhir_id(id))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if let Some(full) = entry["fullUrl"]
            .as_str()
            .and_then(|u| u.strip_prefix("urn:uuid:"))
        {
            resolver.types.insert(full.to_owned(), ty.clone());
        }
        resource["id"] = Value::String(id.clone());
        if remember_identifiers {
            for ident in resource["identifier"].as_array().into_iter().flatten() {
                if let (Some(system), Some(value)) =
                    (ident["system"].as_str(), ident["value"].as_str())
                {
                    resolver
                        .identifiers
                        .insert(format!("{ty}|{system}|{value}"), id.clone());
                }
            }
        }
        out.push((ty, id, resource));
    }
    for (_, _, resource) in &mut out {
        resolver.rewrite(resource);
    }
    out
}

/// A loaded store.
struct Loaded {
    dir: tempfile::TempDir,
    url: String,
    store: Arc<dyn ResourceStore>,
    samples: Samples,
    last_bundle_start: i64,
}

/// Loads every bundle into a new SQLite store with `concurrency` writers; prints the figures.
async fn load(files: &[PathBuf], concurrency: usize) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("fhir.db");
    let url = format!("sqlite:{}", db_path.display());
    let store: Arc<dyn ResourceStore> = fhir_core::store::open(&url).await.unwrap();

    // 1. Load through the store.
    let (tx, rx) = tokio::sync::mpsc::channel::<(String, String, Value)>(512);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let errors = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let rx = rx.clone();
        let store = store.clone();
        let errors = errors.clone();
        let written = written.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((ty, id, resource)) = next else {
                    break;
                };
                match store.update(TENANT, &ty, &id, resource, None).await {
                    Ok(_) => {
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("load error {ty}/{id}: {error}");
                        }
                    }
                }
            }
        }));
    }
    let mut resolver = Resolver::default();
    let mut samples = Samples::default();
    let mut parse_time = Duration::ZERO;
    let started = Instant::now();
    let mut last_bundle_start = None;
    for (i, file) in files.iter().enumerate() {
        if i + 1 == files.len() {
            // Resources written from here on are "recently updated".
            tokio::time::sleep(Duration::from_millis(20)).await;
            last_bundle_start = Some(fhir_core::time::now_millis());
        }
        let t = Instant::now();
        let path = file.clone();
        let bundle = tokio::task::spawn_blocking(move || read_bundle(&path))
            .await
            .unwrap();
        let prepared = prepare(bundle, &mut resolver, i < 2);
        parse_time += t.elapsed();
        for (ty, id, resource) in prepared {
            sample_resource(&mut samples, &ty, &resource);
            tx.send((ty, id, resource)).await.unwrap();
        }
    }
    drop(tx);
    for worker in workers {
        worker.await.unwrap();
    }
    let load_time = started.elapsed();
    let total = written.load(Ordering::Relaxed);
    let db_size: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db_path.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "\n== 1. load through ResourceStore::update, {concurrency} concurrent writer(s) (sqlite in {})",
        dir.path().display()
    );
    println!(
        "resources written      {total} ({} errors)",
        errors.load(Ordering::Relaxed)
    );
    println!(
        "load time              {:.2} s (bzip2 + parse + rewrite on the feeding task: {:.2} s)",
        load_time.as_secs_f64(),
        parse_time.as_secs_f64()
    );
    println!(
        "load rate              {:.0} resources/s",
        total as f64 / load_time.as_secs_f64()
    );
    println!(
        "references             {} resolved, {} urn:uuid unresolved, {} conditional unresolved (left as is)",
        resolver.resolved, resolver.unresolved_uuid, resolver.unresolved_conditional
    );
    println!(
        "database size          {:.1} MB ({:.0} bytes/resource; file + wal + shm)",
        mb(db_size),
        db_size as f64 / total.max(1) as f64
    );
    println!("peak RSS after load    {:.0} MB", vm_hwm_mb());
    let mut types: Vec<_> = samples.by_type.iter().collect();
    types.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "types                  {}",
        types
            .iter()
            .take(8)
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    drop(resolver);
    Loaded {
        dir,
        url,
        store,
        samples,
        last_bundle_start: last_bundle_start.unwrap_or(0),
    }
}

async fn run(files: Vec<PathBuf>) {
    let concurrencies: Vec<usize> = std::env::var("FHIR_BENCH_LOAD_CONCURRENCY")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let query_seconds: f64 = std::env::var("FHIR_BENCH_QUERY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    println!("== search bench: {} bundles", files.len());
    let mut loaded = None;
    for concurrency in &concurrencies {
        if let Some(Loaded { store, .. }) = loaded.take() {
            store.close().await;
        }
        loaded = Some(load(&files, *concurrency).await);
    }
    let Loaded {
        dir,
        url,
        store,
        samples,
        last_bundle_start,
    } = loaded.expect("a load");

    // 2. Index catch-up from sequence 0.
    let index_dir = dir.path().join("index");
    let head = store.head_seq().await.unwrap();
    let t = Instant::now();
    let index = SearchIndex::open(IndexLocation::Directory(index_dir.clone()), store.clone())
        .await
        .unwrap();
    let index_time = t.elapsed();
    println!("\n== 2. index catch-up: SearchIndex::open on an empty directory");
    println!(
        "changes applied        {} (head seq {head})",
        index.visible_seq()
    );
    println!("catch-up time          {:.2} s", index_time.as_secs_f64());
    println!(
        "indexing rate          {:.0} resources/s",
        head as f64 / index_time.as_secs_f64()
    );
    println!(
        "index size on disk     {:.1} MB ({:.0} bytes/resource)",
        mb(index.size_on_disk()),
        index.size_on_disk() as f64 / head.max(1) as f64
    );
    println!("peak RSS after index   {:.0} MB", vm_hwm_mb());
    drop(index);

    // 3. Extraction cost.
    let files_for_extract = files.clone();
    let (extract_total, extract_count, by_type) =
        tokio::task::spawn_blocking(move || extraction_cost(&files_for_extract))
            .await
            .unwrap();
    println!("\n== 3. Extractor::r4().extract, one thread, parsing not counted");
    println!("resources              {extract_count}");
    println!(
        "total                  {:.2} s",
        extract_total.as_secs_f64()
    );
    println!(
        "average                {:.1} µs/resource",
        extract_total.as_secs_f64() * 1e6 / extract_count.max(1) as f64
    );
    let mut by_type: Vec<_> = by_type.into_iter().collect();
    by_type.sort_by_key(|entry| std::cmp::Reverse(entry.1.1));
    for (ty, (time, n)) in by_type.iter().take(5) {
        println!(
            "  {ty:<22} {n:>6} resources {:>8.1} µs/resource",
            time.as_secs_f64() * 1e6 / *n as f64
        );
    }
    println!("peak RSS               {:.0} MB", vm_hwm_mb());

    // 4. The server and the searches.
    let mut config = Config::for_database(url.clone());
    config.index_dir = Some(index_dir);
    let t = Instant::now();
    let app = Application::with_store(config, store.clone())
        .await
        .unwrap();
    println!(
        "\nserver start (index already up to date): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let base = format!("http://{}/fhir", app.local_addr().unwrap());
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder().build().unwrap();
    let bench = Bench {
        client,
        base: base.clone(),
        query_seconds,
    };
    latency_queries(&bench, &samples, last_bundle_start).await;
    series(&bench, &samples).await;
    println!("\npeak RSS at the end     {:.0} MB", vm_hwm_mb());
    server.abort();
    store.close().await;
}

fn extraction_cost(files: &[PathBuf]) -> (Duration, u64, HashMap<String, (Duration, u64)>) {
    let extractor = Extractor::r4();
    let mut resolver = Resolver::default();
    let mut total = Duration::ZERO;
    let mut count = 0;
    let mut by_type: HashMap<String, (Duration, u64)> = HashMap::new();
    for (i, file) in files.iter().enumerate() {
        let prepared = prepare(read_bundle(file), &mut resolver, i < 2);
        for (ty, _, resource) in &prepared {
            let t = Instant::now();
            let values = extractor.extract(ty, resource);
            let elapsed = t.elapsed();
            std::hint::black_box(values);
            total += elapsed;
            count += 1;
            let slot = by_type.entry(ty.clone()).or_default();
            slot.0 += elapsed;
            slot.1 += 1;
        }
    }
    (total, count, by_type)
}

struct Bench {
    client: reqwest::Client,
    base: String,
    query_seconds: f64,
}

struct Response {
    status: u16,
    body: Value,
    elapsed: Duration,
    bytes: usize,
}

impl Bench {
    async fn get(&self, url: &str) -> Response {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}/{url}", self.base)
        };
        let started = Instant::now();
        let response = self
            .client
            .get(&url)
            .header("accept", "application/fhir+json")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let elapsed = started.elapsed();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Response {
            status,
            body,
            elapsed,
            bytes: bytes.len(),
        }
    }
}

fn matches(bundle: &Value) -> usize {
    bundle["entry"].as_array().map_or(0, |e| {
        e.iter().filter(|e| e["search"]["mode"] == "match").count()
    })
}

fn entries(bundle: &Value) -> usize {
    bundle["entry"].as_array().map_or(0, |e| {
        e.iter()
            .filter(|e| e["search"]["mode"] != "outcome")
            .count()
    })
}

fn outcome_text(body: &Value) -> String {
    let issues = if body["resourceType"] == "OperationOutcome" {
        body["issue"].as_array().cloned().unwrap_or_default()
    } else {
        body["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == "outcome")
            .flat_map(|e| {
                e["resource"]["issue"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    issues
        .iter()
        .map(|i| {
            format!(
                "{}: {}",
                i["severity"].as_str().unwrap_or(""),
                i["diagnostics"]
                    .as_str()
                    .or(i["details"]["text"].as_str())
                    .unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn with_param(query: &str, param: &str) -> String {
    if query.contains('?') {
        format!("{query}&{param}")
    } else {
        format!("{query}?{param}")
    }
}

fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn iso(millis: i64) -> String {
    fhir_core::time::format_instant(millis)
}

async fn latency_queries(bench: &Bench, s: &Samples, recent: i64) {
    let family = enc(&s.family);
    let given = enc(&s.given);
    let year = s.birthdate.get(..4).unwrap_or("1970");
    let year_n: i32 = year.parse().unwrap_or(1970);
    let med_patient = s
        .med_patient
        .clone()
        .unwrap_or_else(|| s.patient_id.clone());
    let city = enc(&s.city);
    let family_prefix = enc(&s.family.chars().take(3).collect::<String>().to_lowercase());
    let family_infix = enc(&s
        .family
        .chars()
        .skip(1)
        .take(4)
        .collect::<String>()
        .to_lowercase());
    let mut queries: Vec<(&str, String)> = vec![
        ("ui", format!("Patient?identifier={}", enc(&s.identifier))),
        ("ui", format!("Patient?family={family}&given={given}")),
        (
            "ui",
            format!("Patient?family={family}&birthdate={}", s.birthdate),
        ),
        ("ui", format!("Patient?name={family}")),
        ("ui", format!("Patient?family={family}&gender={}", s.gender)),
        ("ui", format!("Patient?address-city={city}&family={family}")),
        (
            "ui",
            format!(
                "Patient?birthdate=ge{}-01-01&birthdate=le{}-12-31&gender={}",
                year_n - 5,
                year_n + 5,
                s.gender
            ),
        ),
        (
            "ui",
            format!("Patient?_lastUpdated=gt{}", enc(&iso(recent))),
        ),
        ("ui", "Patient?_sort=-_lastUpdated&_count=10".to_owned()),
    ];
    for prefix in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"] {
        queries.push(("", format!("Patient?birthdate={prefix}1998-04-10")));
    }
    queries.extend([
        ("", format!("Patient?name={family_prefix}")),
        ("", format!("Patient?name:exact={family}")),
        ("", format!("Patient?name:contains={family_infix}")),
        ("", "Patient?name=Nonexistentname".to_owned()),
        ("", "Patient?name:contains=zzqxj".to_owned()),
        ("", format!("Patient?address={city}")),
        ("", format!("Patient?address:contains={}", enc(&s.city.chars().skip(1).take(4).collect::<String>()))),
        ("", "Patient?address=Nowhereville".to_owned()),
        ("", "Observation?category=laboratory&_count=50".to_owned()),
        ("", "Observation?code=http://loinc.org|8310-5".to_owned()),
        ("", "Observation?date=2019&_count=50".to_owned()),
        ("", "Encounter?date=ge2019-01-01&_count=50".to_owned()),
        ("", format!("Observation?subject=Patient/{}&_count=50", s.patient_id)),
        ("", format!("MedicationRequest?patient={med_patient}&_include=MedicationRequest:medication")),
        (
            "",
            format!(
                "Patient?identifier={}&_revinclude=Observation:subject&_revinclude=DiagnosticReport:patient",
                enc(&s.identifier)
            ),
        ),
        ("", "Observation?code=http://loinc.org|8310-5&_summary=count".to_owned()),
        ("", "Observation?_summary=count".to_owned()),
        ("", "Patient?gender=female&_summary=count".to_owned()),
        ("", "Observation?code=http://loinc.org|8310-5&_elements=subject".to_owned()),
        ("", "Observation?category=laboratory&_elements=subject&_count=1000".to_owned()),
        ("", "Observation?_count=10".to_owned()),
        ("", "Observation?_count=10&_sort=-date".to_owned()),
    ]);
    println!(
        "\n== 4a. single queries, one client, sequential (ui = patient-list budget of performance.md)"
    );
    println!(
        "(total: Bundle.total of _total=accurate; +Ni: entries included on the first page; hwm: peak RSS so far)"
    );
    println!(
        "{:<4} {:>7} {:>10} {:>9} {:>9} {:>9} {:>7}  query",
        "", "status", "total", "p50 ms", "p99 ms", "kB", "hwm MB"
    );
    for (tag, query) in &queries {
        // The count (and status) with _total=accurate.
        let first = bench.get(&with_param(query, "_total=accurate")).await;
        if first.status != 200 {
            println!(
                "{tag:<4} {:>7} {:>10} {:>9} {:>9} {:>9} {:>7}  {query}  -> {}",
                first.status,
                "-",
                "-",
                "-",
                "-",
                "-",
                outcome_text(&first.body)
            );
            continue;
        }
        let mut total = first.body["total"]
            .as_u64()
            .map_or_else(|| format!("{}m", matches(&first.body)), |t| t.to_string());
        let included = entries(&first.body) - matches(&first.body);
        if included > 0 {
            total = format!("{total}+{included}i");
        }
        // Warm-up, then up to 50 runs within the time budget.
        for _ in 0..2 {
            bench.get(query).await;
        }
        let mut times = Vec::new();
        let mut bytes = 0;
        let budget = Instant::now();
        let mut status = 200;
        while times.len() < 50 && budget.elapsed().as_secs_f64() < bench.query_seconds {
            let r = bench.get(query).await;
            status = status.max(r.status);
            bytes = r.bytes;
            times.push(r.elapsed);
        }
        times.sort_unstable();
        let warn = outcome_text(&first.body);
        println!(
            "{tag:<4} {status:>7} {total:>10} {:>9.2} {:>9.2} {:>9.1} {:>7.0}  {query}{}  (n={})",
            pct(&times, 0.5),
            pct(&times, 0.99),
            bytes as f64 / 1024.0,
            vm_hwm_mb(),
            if warn.is_empty() {
                String::new()
            } else {
                format!("  [{warn}]")
            },
            times.len()
        );
    }

    // Paging through next links.
    println!("\npaging: Observation?_count=10, first page + 5 next links");
    let mut url = "Observation?_count=10".to_owned();
    for page in 0..6 {
        let r = bench.get(&url).await;
        println!(
            "  page {page}: status {} entries {} {:.2} ms (hwm {:.0} MB)",
            r.status,
            entries(&r.body),
            r.elapsed.as_secs_f64() * 1000.0,
            vm_hwm_mb()
        );
        match next_link(&r.body) {
            Some(next) => url = next,
            None => break,
        }
    }
}

async fn series(bench: &Bench, s: &Samples) {
    let mut codes: Vec<_> = s.loinc.iter().collect();
    codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let ten: Vec<String> = codes
        .iter()
        .take(10)
        .map(|(c, _)| format!("http://loinc.org|{c}"))
        .collect();
    let mut queries = Vec::new();
    for code in ["8310-5", "55758-7", "72514-3"] {
        queries.push(format!("Observation?code=http://loinc.org|{code}"));
    }
    for code in ["8310-5", "55758-7", "72514-3"] {
        for year in ["2013", "2019", "2020"] {
            queries.push(format!(
                "Observation?code=http://loinc.org|{code}&date={year}"
            ));
        }
    }
    for value in ["26.8", "79.5", "183"] {
        queries.push(format!("Observation?code=http://loinc.org|29463-7&value-quantity=lt{value}|http://unitsofmeasure.org|kg"));
    }
    for category in ["laboratory", "vital-signs"] {
        for date in ["2019", "2020-01,2020-02"] {
            queries.push(format!("Observation?category={category}&date={date}"));
        }
    }
    queries.push(format!("Observation?code={}", ten.join(",")));
    for prefix in ["gt", "ge", "lt", "le"] {
        queries.push(format!("Patient?birthdate={prefix}1998-04-10"));
    }
    queries.push("Observation?code=http://loinc.org|8310-5&_elements=subject".to_owned());
    queries.push("Observation?category=laboratory&date=2019&_elements=subject".to_owned());
    queries.push("Observation?category=laboratory".to_owned());
    queries.push("Observation".to_owned());
    println!(
        "\n== 4b. search series (performance.md §3.6): _summary=count, then all pages with _count=1000"
    );
    println!(
        "ten codes: {}",
        ten.iter()
            .map(|c| c.trim_start_matches("http://loinc.org|"))
            .collect::<Vec<_>>()
            .join(",")
    );
    println!(
        "{:>7} {:>10} {:>9} {:>6} {:>11} {:>10} {:>9} {:>7}  query",
        "count", "count ms", "fetched", "pages", "download s", "res/s", "MB", "hwm MB"
    );
    for query in &queries {
        let q: String = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, v)) => format!("{k}={}", enc(v)),
                None => p.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        // Warm-up of the count.
        bench.get(&with_param(&q, "_summary=count")).await;
        let count = bench.get(&with_param(&q, "_summary=count")).await;
        if count.status != 200 {
            println!(
                "{:>7} {:>10}  {query}  -> status {} {}",
                "-",
                "-",
                count.status,
                outcome_text(&count.body)
            );
            continue;
        }
        let total = count.body["total"].as_u64().unwrap_or(0);
        let started = Instant::now();
        let mut url = with_param(&q, "_count=1000");
        let mut fetched = 0;
        let mut pages = 0;
        let mut bytes = 0;
        let mut error = None;
        loop {
            let r = bench.get(&url).await;
            pages += 1;
            bytes += r.bytes;
            if r.status != 200 {
                error = Some(format!(
                    "page {pages}: status {} {}",
                    r.status,
                    outcome_text(&r.body)
                ));
                break;
            }
            fetched += matches(&r.body);
            match next_link(&r.body) {
                Some(next) => url = next,
                None => break,
            }
            if pages > 500 {
                error = Some("stopped after 500 pages".into());
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{total:>7} {:>10.2} {fetched:>9} {pages:>6} {elapsed:>11.3} {:>10.0} {:>9.1} {:>7.0}  {query}{}",
            count.elapsed.as_secs_f64() * 1000.0,
            fetched as f64 / elapsed,
            mb(bytes as u64),
            vm_hwm_mb(),
            error.map(|e| format!("  !! {e}")).unwrap_or_default()
        );
    }
}
