//! The patient-list data: `n` generated Patients (deterministic: the same on every server and
//! every run), posted as batch Bundles of 500 from 4 clients, as Blaze's `patient-ui` test
//! seeds 100,000 Patients in bundles of 500.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use crate::http::{Fhir, entry_succeeded};
use crate::results::SeedRun;
use crate::target::Running;

const FAMILY_HEADS: [&str; 20] = [
    "Ander", "Bakh", "Carr", "Dunst", "Eller", "Fitz", "Gar", "Hall", "Iver", "Jans", "Kowal",
    "Lind", "Morr", "Nils", "Olaf", "Peder", "Quin", "Ross", "Stein", "Thom",
];
const FAMILY_TAILS: [&str; 10] = [
    "son", "berg", "ton", "ley", "man", "ski", "ez", "well", "ford", "wick",
];
const GIVEN_HEADS: [&str; 10] = [
    "Al", "Be", "Car", "Da", "El", "Fre", "Gi", "Ha", "Isa", "Jo",
];
const GIVEN_TAILS: [&str; 10] = [
    "na", "ric", "la", "vin", "ssa", "do", "mir", "bel", "ne", "ra",
];
const CITY_HEADS: [&str; 8] = [
    "North", "South", "East", "West", "Lake", "Mount", "Fair", "Green",
];
const CITY_TAILS: [&str; 8] = [
    "field", "haven", "brook", "port", "ville", "dale", "ridge", "wood",
];

/// The generated Patient number `i` (no id: the server assigns one).
pub fn patient(i: usize) -> Value {
    // A small multiplicative hash so neighbours differ in every field.
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let pick = |shift: u32, n: usize| ((h >> shift) as usize) % n;
    let family = format!("{}{}", FAMILY_HEADS[pick(0, 20)], FAMILY_TAILS[pick(5, 10)]);
    let given = format!("{}{}", GIVEN_HEADS[pick(9, 10)], GIVEN_TAILS[pick(13, 10)]);
    let city = format!("{}{}", CITY_HEADS[pick(17, 8)], CITY_TAILS[pick(20, 8)]);
    let gender = if pick(23, 2) == 0 { "female" } else { "male" };
    let year = 1930 + pick(24, 91);
    let month = 1 + pick(31, 12);
    let day = 1 + pick(35, 28);
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://example.org/fhir/mrn", "value": format!("MRN-{i:07}")}],
        "active": true,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": format!("{year}-{month:02}-{day:02}"),
        "address": [{"line": [format!("{} Main Street", 1 + pick(40, 999))], "city": city, "postalCode": format!("{:05}", pick(45, 99999)), "country": "US"}],
    })
}

pub async fn run(running: &Running, n: usize) -> SeedRun {
    const PER_BUNDLE: usize = 500;
    const CLIENTS: usize = 4;
    let fhir = Fhir::new(&running.base, CLIENTS);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let (fhir, next, failed) = (fhir.clone(), next.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(PER_BUNDLE, Ordering::Relaxed);
                if first >= n {
                    return;
                }
                let last = (first + PER_BUNDLE).min(n);
                let entries: Vec<Value> = (first..last)
                    .map(|i| {
                        json!({"resource": patient(i), "request": {"method": "POST", "url": "Patient"}})
                    })
                    .collect();
                let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
                let body = serde_json::to_vec(&bundle).unwrap_or_default();
                let answer = fhir.post("", body, true).await.and_then(|a| a.success());
                let ok = answer.and_then(|a| a.json()).map_or(0, |bundle| {
                    bundle["entry"]
                        .as_array()
                        .map_or(0, |e| e.iter().filter(|e| entry_succeeded(e)).count())
                });
                failed.fetch_add(last - first - ok.min(last - first), Ordering::Relaxed);
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    SeedRun {
        patients: n,
        seconds,
        resources_per_second: (n - failed.min(n)) as f64 / seconds,
        failed,
    }
}
