//! Import: the Synthea Bundles posted to the base, the shared hospital and practitioner batches
//! first (one client), then the patient transactions from `clients` concurrent clients, each
//! with `Prefer: return=minimal`, as `blazectl upload -c N` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{Fhir, entry_succeeded};
use crate::load::percentile;
use crate::results::ImportRun;
use crate::synthea::Bundle;
use crate::target::Running;

/// Where the server put what was imported: the `Type/id/_history/vid` of every entry, by Bundle.
pub struct Imported {
    pub locations: Vec<Vec<String>>,
}

impl Imported {
    /// Every location of resources of `resource_type`.
    pub fn of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.locations
            .iter()
            .flatten()
            .filter(move |l| l.split('/').next() == Some(resource_type))
    }

    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.locations.iter().flatten()
    }
}

pub async fn run(
    running: &Running,
    bundles: Arc<Vec<Bundle>>,
    clients: usize,
) -> (ImportRun, Imported) {
    let fhir = Fhir::new(&running.base, clients);
    let cpu_before = running.cpu_seconds();
    let started = Instant::now();
    let mut locations: Vec<Vec<String>> = vec![Vec::new(); bundles.len()];
    let mut failed_entries = 0;
    let (shared, patients): (Vec<usize>, Vec<usize>) =
        (0..bundles.len()).partition(|&i| !bundles[i].transaction);
    for i in shared {
        let (found, failed) = post(&fhir, &bundles[i]).await;
        locations[i] = found;
        failed_entries += failed;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let patients = Arc::new(patients);
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (fhir, bundles, next, patients) = (
            fhir.clone(),
            bundles.clone(),
            next.clone(),
            patients.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = patients.get(n) else {
                    return done;
                };
                let sent = Instant::now();
                let (found, failed) = post(&fhir, &bundles[i]).await;
                done.push((i, sent.elapsed(), found, failed));
            }
        }));
    }
    let mut times: Vec<Duration> = Vec::new();
    for worker in workers {
        if let Ok(done) = worker.await {
            for (i, time, found, failed) in done {
                times.push(time);
                locations[i] = found;
                failed_entries += failed;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort_unstable();
    let resources: usize = bundles.iter().map(|b| b.resources).sum();
    let run = ImportRun {
        clients,
        resources,
        seconds,
        resources_per_second: (resources - failed_entries.min(resources)) as f64 / seconds,
        bundle_p50_ms: percentile(&times, 0.5),
        bundle_p99_ms: percentile(&times, 0.99),
        failed_entries,
        server_cpu_seconds: running.cpu_seconds() - cpu_before,
        peak_rss_mb: running.peak_rss_mb(),
        store_mb: running.store_bytes().await as f64 / 1_048_576.0,
    };
    (run, Imported { locations })
}

/// Posts one Bundle; answers the locations of its entries and how many entries failed.
async fn post(fhir: &Fhir, bundle: &Bundle) -> (Vec<String>, usize) {
    let answer = match fhir.post("", bundle.body.clone(), true).await {
        Ok(a) => a,
        Err(_) => return (Vec::new(), bundle.resources),
    };
    let Ok(answer) = answer.success() else {
        return (Vec::new(), bundle.resources);
    };
    let Ok(parsed) = answer.json() else {
        return (Vec::new(), bundle.resources);
    };
    let entries: &[Value] = parsed["entry"].as_array().map_or(&[], Vec::as_slice);
    let mut locations = Vec::with_capacity(entries.len());
    let mut failed = bundle.resources.saturating_sub(entries.len());
    for entry in entries {
        if !entry_succeeded(entry) {
            failed += 1;
            continue;
        }
        if let Some(location) = entry["response"]["location"]
            .as_str()
            .and_then(relative_location)
        {
            locations.push(location);
        }
    }
    (locations, failed)
}

/// `Type/id/_history/vid` (or `Type/id`) from a relative or absolute location.
pub fn relative_location(location: &str) -> Option<String> {
    let parts: Vec<&str> = location.trim_end_matches('/').split('/').collect();
    let n = parts.len();
    let start = if n >= 4 && parts[n - 2] == "_history" {
        n - 4
    } else if n >= 2 {
        n - 2
    } else {
        return None;
    };
    Some(parts[start..].join("/"))
}
