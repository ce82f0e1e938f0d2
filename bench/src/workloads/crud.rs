//! The CRUD mix, shaped like Health Samurai's `k6/crud.js`: every iteration creates a linked
//! Patient, Location, Organization, Practitioner, Encounter, Observation and MedicationRequest,
//! reads each, vreads each first version, updates each (PUT) and deletes them in reverse order,
//! so references never dangle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::Fhir;
use crate::load::Stats;
use crate::results::CrudRun;
use crate::target::Running;
use crate::workloads::import::relative_location;

#[derive(Default)]
struct Latencies {
    create: Vec<Duration>,
    read: Vec<Duration>,
    vread: Vec<Duration>,
    update: Vec<Duration>,
    delete: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(running: &Running, concurrency: &[usize], seconds: f64) -> Vec<CrudRun> {
    let mut runs = Vec::new();
    for &c in concurrency {
        let fhir = Fhir::new(&running.base, c);
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut workers = Vec::new();
        for worker in 0..c {
            let (fhir, stop) = (fhir.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let mut l = Latencies::default();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = iteration(&fhir, worker as u64 * 1_000_000 + i, &mut l).await {
                        l.errors += 1;
                        l.first_error.get_or_insert(e);
                    }
                    i += 1;
                }
                l
            }));
        }
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Latencies::default();
        for worker in workers {
            if let Ok(l) = worker.await {
                all.create.extend(l.create);
                all.read.extend(l.read);
                all.vread.extend(l.vread);
                all.update.extend(l.update);
                all.delete.extend(l.delete);
                all.errors += l.errors;
                if all.first_error.is_none() {
                    all.first_error = l.first_error;
                }
            }
        }
        let elapsed = started.elapsed();
        let stats = |v: Vec<Duration>| Stats::from_latencies(v, 0, elapsed, None);
        let every: Vec<Duration> = [&all.create, &all.read, &all.vread, &all.update, &all.delete]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        runs.push(CrudRun {
            concurrency: c,
            all: Stats::from_latencies(every, all.errors, elapsed, all.first_error.take()),
            create: stats(all.create),
            read: stats(all.read),
            vread: stats(all.vread),
            update: stats(all.update),
            delete: stats(all.delete),
        });
    }
    runs
}

/// One iteration; stops at the first wrong answer (the iteration then counts as one error).
async fn iteration(fhir: &Fhir, n: u64, l: &mut Latencies) -> Result<(), String> {
    let mut created: Vec<(String, String, Value)> = Vec::new(); // (type, id, body)
    let refer = |created: &[(String, String, Value)], i: usize| {
        format!("{}/{}", created[i].0, created[i].1)
    };
    for step in 0..7 {
        let body = match step {
            0 => {
                json!({"resourceType": "Patient", "name": [{"family": format!("Crud{n}"), "given": ["Kim"]}], "gender": "female", "birthDate": "1980-05-17"})
            }
            1 => {
                json!({"resourceType": "Location", "status": "active", "name": format!("Room {n}")})
            }
            2 => {
                json!({"resourceType": "Organization", "active": true, "name": format!("Clinic {n}")})
            }
            3 => {
                json!({"resourceType": "Practitioner", "active": true, "name": [{"family": format!("Doc{n}"), "given": ["Alex"]}]})
            }
            4 => json!({"resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": refer(&created, 0)},
                "participant": [{"individual": {"reference": refer(&created, 3)}}],
                "location": [{"location": {"reference": refer(&created, 1)}}],
                "serviceProvider": {"reference": refer(&created, 2)},
                "period": {"start": "2024-03-01T10:00:00Z", "end": "2024-03-01T10:30:00Z"}}),
            5 => json!({"resourceType": "Observation", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
                "subject": {"reference": refer(&created, 0)},
                "encounter": {"reference": refer(&created, 4)},
                "effectiveDateTime": "2024-03-01T10:05:00Z",
                "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}),
            _ => json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049630"}]},
                "subject": {"reference": refer(&created, 0)},
                "encounter": {"reference": refer(&created, 4)},
                "requester": {"reference": refer(&created, 3)},
                "authoredOn": "2024-03-01"}),
        };
        let resource_type = body["resourceType"].as_str().unwrap_or_default().to_owned();
        let sent = Instant::now();
        let answer = fhir
            .post(
                &resource_type,
                serde_json::to_vec(&body).unwrap_or_default(),
                false,
            )
            .await?
            .success()?;
        l.create.push(sent.elapsed());
        let id = answer
            .location
            .as_deref()
            .and_then(relative_location)
            .and_then(|loc| loc.split('/').nth(1).map(str::to_owned))
            .or_else(|| {
                answer
                    .json()
                    .ok()
                    .and_then(|b| b["id"].as_str().map(str::to_owned))
            })
            .ok_or("a create answered no Location and no id")?;
        created.push((resource_type, id, body));
    }
    for (t, id, _) in &created {
        let sent = Instant::now();
        fhir.get(&format!("{t}/{id}")).await?.success()?;
        l.read.push(sent.elapsed());
    }
    for (t, id, _) in &created {
        let sent = Instant::now();
        fhir.get(&format!("{t}/{id}/_history/1")).await?.success()?;
        l.vread.push(sent.elapsed());
    }
    for (t, id, body) in &mut created {
        body["id"] = json!(id);
        match t.as_str() {
            "Patient" => body["birthDate"] = json!("1980-05-18"),
            "Location" | "Organization" => body["name"] = json!(format!("Renamed {n}")),
            "Practitioner" => body["active"] = json!(false),
            "Encounter" => body["period"]["end"] = json!("2024-03-01T10:45:00Z"),
            "Observation" => body["valueQuantity"]["value"] = json!(75),
            _ => body["status"] = json!("completed"),
        }
        let sent = Instant::now();
        fhir.put(
            &format!("{t}/{id}"),
            serde_json::to_vec(body).unwrap_or_default(),
        )
        .await?
        .success()?;
        l.update.push(sent.elapsed());
    }
    for (t, id, _) in created.iter().rev() {
        let sent = Instant::now();
        fhir.delete(&format!("{t}/{id}")).await?.success()?;
        l.delete.push(sent.elapsed());
    }
    Ok(())
}
