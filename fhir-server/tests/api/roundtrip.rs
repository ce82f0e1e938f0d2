//! Every one of the 5,306 resources of the official R4 package, PUT into a tenant, read back as
//! JSON and as XML, equals the original (ignoring `meta.versionId` and `meta.lastUpdated`),
//! except the 14 official examples that are invalid R4, which must be refused and not stored
//! (`fhir-core/tests/validate.rs` lists why each one is invalid; their JSON → XML → JSON
//! conversion is still proven by `conformance-tests`).

use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use crate::helpers::{Backend, Options, TestApp};

/// The pinned package (npm hl7.fhir.r4.examples@4.0.1), committed in fhir-core.
const PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fhir-core/definitions/hl7.fhir.r4.examples-4.0.1.tgz"
);

/// Official examples that break R4 rules, and the status their PUT must get.
const KNOWN_INVALID: &[(&str, u16)] = &[
    ("ig-r4.json", 422),
    ("ImplementationGuide-fhir.json", 422),
    ("Questionnaire-qs1.json", 422),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-author.json",
        422,
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-effective.json",
        422,
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-end.json",
        422,
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-keyword.json",
        422,
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-workflow.json",
        422,
    ),
    // Its id has 67 characters; ids have at most 64, so the URL itself is refused.
    (
        "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
        400,
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-author.json",
        422,
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-effective.json",
        422,
    ),
    ("SearchParameter-valueset-extensions-ValueSet-end.json", 422),
    (
        "SearchParameter-valueset-extensions-ValueSet-keyword.json",
        422,
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-workflow.json",
        422,
    ),
];

fn package_resources() -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(PACKAGE).expect("the pinned R4 package");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut resources = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if !path.ends_with(".json") || path == "package/package.json" {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        resources.push((path, bytes));
    }
    resources
}

/// Removes what the server sets on every write, so versions can be compared with the original.
fn without_version_meta(mut resource: Value) -> Value {
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            resource.as_object_mut().unwrap().remove("meta");
        }
    }
    resource
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_r4_example_round_trips_through_sqlite() {
    round_trip(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_r4_example_round_trips_through_postgres() {
    round_trip(Backend::Postgres).await;
}

async fn round_trip(backend: Backend) {
    let resources = package_resources();
    assert_eq!(
        resources.len(),
        5306,
        "the R4 package holds 5,306 resources"
    );
    let app = Arc::new(
        TestApp::spawn_with(
            backend,
            Options {
                max_body_bytes: 64 * 1024 * 1024,
                ..Options::default()
            },
        )
        .await,
    );
    app.store.create_tenant("examples").await.unwrap();
    let queue = Arc::new(std::sync::Mutex::new(resources));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        let queue = queue.clone();
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            loop {
                let next = queue.lock().unwrap().pop();
                let Some((path, bytes)) = next else { break };
                let name = path.trim_start_matches("package/");
                let refusal = KNOWN_INVALID
                    .iter()
                    .find(|(file, _)| *file == name)
                    .map(|(_, status)| *status);
                if let Err(message) = check_one(&app, &bytes, refusal).await {
                    failures.push(format!("{path}: {message}"));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of 5306 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The refused ones left nothing behind; everything else is stored once (the only type and id
    // that two files share, ImplementationGuide/fhir, is among the refused).
    let history = app
        .client
        .get(format!("{}/t/examples/fhir/_history?_count=0", app.origin))
        .send()
        .await
        .unwrap();
    let history: Value = serde_json::from_str(&history.text().await.unwrap()).unwrap();
    assert_eq!(history["total"], 5306 - KNOWN_INVALID.len() as u64);
}

async fn check_one(app: &TestApp, bytes: &[u8], refusal: Option<u16>) -> Result<(), String> {
    let original: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let resource_type = original["resourceType"].as_str().ok_or("no resourceType")?;
    let id = original["id"].as_str().ok_or("no id")?;
    let url = format!("{}/t/examples/fhir/{resource_type}/{id}", app.origin);
    let put = app
        .client
        .put(&url)
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(expected) = refusal {
        let status = put.status().as_u16();
        let body = put.text().await.unwrap_or_default();
        if status != expected || !body.contains("OperationOutcome") {
            return Err(format!(
                "expected a {expected} refusal, got {status}: {body}"
            ));
        }
        let read = app
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status()
            .as_u16();
        return if read == 404 || read == 400 {
            Ok(())
        } else {
            Err(format!("a refused PUT left something: read gave {read}"))
        };
    }
    if !put.status().is_success() {
        let status = put.status();
        return Err(format!(
            "PUT {status}: {}",
            put.text().await.unwrap_or_default()
        ));
    }
    let expected = without_version_meta(original);
    let json_text = app
        .client
        .get(&url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let as_json: Value = serde_json::from_str(&json_text).map_err(|e| e.to_string())?;
    if without_version_meta(as_json) != expected {
        return Err("JSON read differs from the original".into());
    }
    let xml_text = app
        .client
        .get(format!("{url}?_format=xml"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let from_xml = fhir_core::xml::from_xml(xml_text.as_bytes()).map_err(|e| e.message)?;
    if without_version_meta(from_xml) != expected {
        return Err("XML read differs from the original".into());
    }
    Ok(())
}
